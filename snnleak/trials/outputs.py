"""Reconstruction files and the summary table of an attack run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from snnleak.io import write_atomic
from snnleak.reporting import ci_text, median


def reconstruction_name(record: dict) -> str:
    return (
        f"{record['attack']}-{record['model']}-{record['backend']}-{record['dataset']}"
        f"-seed{record['seed']}-item{record['sample_index']}"
    )


def reconstruction_path(out_dir: Path, record: dict, image: bool) -> Path:
    suffix = ".png" if image else ".npz"
    return out_dir / "reconstructions" / f"{reconstruction_name(record)}{suffix}"


class ReconstructionFiles:
    """The loop's outputs for ``snnleak attack``: one file per trial (see
    :func:`save_reconstruction`), written before the record that names it."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)

    def paths(self, cell, record: dict) -> list[Path]:
        from snnleak import data

        image = data.get_dataset(record["dataset"]).modality == "image"
        return [reconstruction_path(self.out_dir, record, image)]

    def write(self, cell, trial) -> None:
        save_reconstruction(self.out_dir, trial.record, trial.truth, trial.reconstruction)


def save_reconstruction(
    out_dir: Path, record: dict, truth: torch.Tensor, recon: torch.Tensor
) -> Path:
    """PNG (ground truth | reconstruction) for images, ``.npz`` for spike tensors."""
    batch = record.get("config", {}).get("batch", 1) > 1  # images [B, C, H, W], matched
    image = truth.dim() == 3 or batch
    path = reconstruction_path(out_dir, record, image)
    if image:  # truth | reconstruction (a batch: the truths above their reconstructions)
        from torchvision.utils import make_grid, save_image

        truths = truth if batch else truth.unsqueeze(0)
        recons = recon.detach().float().clamp(0, 1)[: len(truths)]
        grid = make_grid(
            torch.cat([truths, recons]),
            nrow=len(truths) if batch else 2,
            padding=2,
            pad_value=1.0,
        )
        return write_atomic(path, lambda f: save_image(grid, f, format="png"))
    arrays = {"truth": truth.numpy(), "reconstruction": recon[:, 0].detach().float().numpy()}
    return write_atomic(path, lambda f: np.savez_compressed(f, **arrays))


def _g(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def summary_table(records: list[dict]) -> str:
    """Markdown: one row per (attack, model, backend, dataset), means with 95% bootstrap CIs
    (the last iterate's metrics), the item-level columns (:mod:`snnleak.leakage`), the median
    final/initial matching loss and the trials that stalled (final/initial above 0.5); under
    each, the prior baselines of its items as rows (label only; label + public set, oracle)."""
    from snnleak import leakage
    from snnleak.reporting import text

    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["attack"], r["model"], r["backend"], r["dataset"]), []).append(r)
    lines = [
        "| attack | model | backend | dataset | n | ASR (%) | MSE | PSNR | SSIM | l2 "
        "| top-1 id (%) | top-5 id (%) | chance top-1/top-5 (%) | beats oracle prior "
        "| label acc (%) | loss final/initial | stalled | diverged | s/trial |",
        "|---|---|---|---|---:|---|---|---|---|---|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for (attack, model, backend, dataset), rs in sorted(groups.items()):
        synth = " (SYNTHETIC)" if rs[0].get("synthetic") else ""
        success = [float(r["success"]) for r in rs if r["success"] is not None]
        ident = " | ".join(text(v) for v in leakage.id_cells(rs))
        lines.append(
            f"| {attack} | {model} | {backend} | {dataset}{synth} | {len(rs)} "
            f"| {ci_text(success, 100)} | {ci_text([r['mse'] for r in rs])} "
            f"| {ci_text([r['psnr'] for r in rs])} | {ci_text([r['ssim'] for r in rs])} "
            f"| {ci_text([r['l2'] for r in rs])} | {ident} "
            f"| {ci_text([float(r['label_correct']) for r in rs], 100)} "
            f"| {_g(median([r.get('loss_ratio') for r in rs]))} "
            f"| {sum(bool(r.get('stalled')) for r in rs)} "
            f"| {sum(r['diverged'] for r in rs)} "
            f"| {sum(r['seconds'] for r in rs) / len(rs):.1f} |"
        )
        for name, p in leakage.prior_summary(rs).items():
            lines.append(
                f"| {name} | {model} | - | {dataset}{synth} | {p['n']} | {text(p['asr'])} "
                f"| {text(p['mse'])} | - | {text(p['ssim'])} | - | - | - | - | - | - | - | - "
                "| - | - |"
            )
    return "\n".join(lines)
