"""The README's headline table is what its shipped records give: rebuilt from
results/headline without running a trial, it equals the published table."""

import gzip
import shutil
from pathlib import Path

from snnleak.reporting import to_markdown
from snnleak.reproduce import Run, load_preset, reproduce
from snnleak.reproduce.preset import with_samples

SHIPPED = Path(__file__).parents[1] / "results" / "headline"


def test_the_shipped_records_rebuild_the_headline_table(tmp_path):
    out = tmp_path / "headline"
    out.mkdir()
    with (
        gzip.open(SHIPPED / "records.jsonl.gz", "rb") as src,
        open(out / "records.jsonl", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    shutil.copytree(SHIPPED / "arrays", out / "arrays")
    preset = with_samples(load_preset("quick"), 8)  # `make headline`: --samples 8
    result = reproduce(Run("adaptive", preset, out, cache_dir=tmp_path / "none", tables_only=True))
    assert result.new_records == 0 and result.records == 240
    (table,) = result.tables
    assert to_markdown(table).strip() == (SHIPPED / "adaptive.md").read_text().strip()
    assert (out / "figures" / "adaptive-neighbours-mnist-5k.png").exists()
