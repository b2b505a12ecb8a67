"""Adaptive attackers: each reconstructs on the ANN, lowers its loss on the SNN victim, and sees
only the Observation; the analytic features are exact; the landscape diagnostics run."""

import dataclasses
import inspect

import pytest
import torch

from snnleak import data, leakage, metrics
from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion, observed_features
from snnleak.attacks.decoders import MLPSettings
from snnleak.attacks.inverting import InvertingConfig, InvertingGradients
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy, smooth_copy, spiking_neurons
from snnleak.attacks.victims import model_features
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.models import LeNet, LeNet5SNN
from snnleak.threat import Observation

FAST_PROXY = ProxyConfig(alphas=(1.0, 4.0), stage_steps=6, polish_steps=4, max_iter=10)
ATTACKS = {
    "proxy": lambda: SmoothProxy(FAST_PROXY),
    "ig": lambda: InvertingGradients(InvertingConfig(adam_steps=120, restarts=1)),
    "analytic": lambda: AnalyticInversion(AnalyticConfig(feature_steps=5, proxy=FAST_PROXY)),
}


def _observation(model_kind: str, item: int = 3, timesteps: int = 4, dtype=torch.float32):
    x, y = data.load("digits", "train")[item]
    gen = torch.Generator().manual_seed(item)
    if model_kind == "ann":
        model = LeNet((1, 28, 28), 10, rng=gen)
    else:
        model = LeNet5SNN((1, 28, 28), 10, timesteps, backend="fused", rng=gen)
    model = model.to(dtype)
    return observe(model, x.unsqueeze(0).to(dtype), torch.tensor([y]), "image"), x


@pytest.mark.compat
@pytest.mark.parametrize("name", ["proxy", "analytic"])
def test_the_adaptive_attacks_reconstruct_on_the_ann(name):
    obs, x = _observation("ann")
    rec = ATTACKS[name]().reconstruct(obs, torch.Generator().manual_seed(0))
    assert metrics.ssim(rec.x[0].clamp(0, 1), x) >= 0.9
    assert rec.losses[-1] < 1e-2 * rec.losses[0]


def test_inverting_gradients_moves_towards_the_ann_input():
    obs, x = _observation("ann")
    rec = ATTACKS["ig"]().reconstruct(obs, torch.Generator().manual_seed(0))
    start = metrics.ssim(torch.full_like(x, 0.5), x)
    assert metrics.ssim(rec.x[0], x) > start + 0.3 and rec.losses[-1] < rec.losses[0]


@pytest.mark.parametrize("name", ["proxy", "ig", "analytic"])
def test_the_adaptive_attacks_lower_the_loss_on_the_snn_victim(name):
    obs, _ = _observation("snn")
    rec = ATTACKS[name]().reconstruct(obs, torch.Generator().manual_seed(0))
    assert len(rec.losses) >= 2 and rec.losses[-1] < rec.losses[0], rec.losses
    assert int(rec.label[0]) == int(obs.gradients[-2].sum(1).argmin())  # the iDLG label


@pytest.mark.parametrize("name", ["proxy", "ig", "analytic"])
def test_the_adaptive_attacks_see_only_the_observation(name, monkeypatch):
    attack = ATTACKS[name]()
    params = list(inspect.signature(attack.reconstruct).parameters)
    assert params[:2] == ["obs", "rng"] and set(params) <= {"obs", "rng", "init"}
    assert [f.name for f in dataclasses.fields(Observation)] == [
        "model",
        "gradients",
        "batch_size",
        "input_shape",
        "num_classes",
        "modality",
        "timesteps",
        "local",  # the federation's local-training hyperparameters, not the client's data
    ]
    obs, _ = _observation("snn", timesteps=2)

    def no_data(*args, **kwargs):
        raise AssertionError("an attack read a dataset")

    monkeypatch.setattr(data, "load", no_data)
    monkeypatch.setattr(data, "get_dataset", no_data)
    rec = attack.reconstruct(obs, torch.Generator().manual_seed(0))
    assert rec.x.shape == (1, 1, 28, 28)


def test_the_proxy_is_the_victim_with_smooth_spikes():
    obs, x = _observation("snn", dtype=torch.float64)
    proxy = smooth_copy(obs.model, 4.0)
    assert all(n.params.smooth and n.params.alpha == 4.0 for n in spiking_neurons(proxy))
    assert not any(n.params.smooth for n in spiking_neurons(obs.model))  # the victim untouched
    for a, b in zip(proxy.parameters(), obs.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # as alpha grows the smooth spike approaches the step: the proxy's logits approach the victim's
    xb = x.unsqueeze(0).double()
    with torch.no_grad():
        gaps = [
            float((smooth_copy(obs.model, a)(xb) - obs.model(xb)).abs().max()) for a in (1, 16, 256)
        ]
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.parametrize("kind", ["ann", "snn"])
def test_the_analytic_features_are_exact(kind):
    obs, x = _observation(kind, dtype=torch.float64)
    features = model_features(obs.model, x.unsqueeze(0).double(), 1)[0]
    torch.testing.assert_close(observed_features(obs), features, rtol=1e-8, atol=1e-10)


def test_landscape_diagnostics_run(tmp_path):
    from click.testing import CliRunner

    from snnleak.cli import cli

    out = tmp_path / "diag"
    args = ["diagnose", "--dataset", "digits", "--samples", "2", "--timesteps", "2"]
    args += ["--basin-steps", "1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "landscape.md").read_text()
    assert (
        "uses the ground truth" in text and "| LeNet | 2 |" in text and "| SNN-LeNet | 2 |" in text
    )
    assert (out / "landscape.png").read_bytes()[:4] == b"\x89PNG"
    basin = (out / "basin.md").read_text()  # the exact basin, per model and sigma
    assert "truth + N(0, sigma^2)" in basin and basin.count("| SNN-LeNet | 2 |") == 4


def test_reproduce_adaptive_writes_its_table_and_figure(tmp_path):
    from dataclasses import replace

    from snnleak.judges import load_judge
    from snnleak.reproduce import Run, adaptive, load_preset, reproduce
    from snnleak.reproduce.preset import AdaptivePlan, FigurePlan

    quick = load_preset("quick")
    tiny = replace(
        quick,
        table4=replace(
            quick.table4,
            timesteps=2,
            lbfgs_max_iter=3,
            iterations=(("dlg", 2), ("idlg", 2), ("grnn", 2)),
            datasets=(("MNIST", "digits"),),
        ),
        # the MLP: minutes; one rehearsal item per attack gives the rehearsed pick
        adaptive=AdaptivePlan(samples=1, iterations=1, decoder="ridge", rehearse=1),
        figures=FigurePlan(1),
    )
    load_judge("digits", cache_dir=tmp_path / "cache", log=lambda m: None)
    result = reproduce(Run("adaptive", tiny, tmp_path / "out", cache_dir=tmp_path / "cache"))
    (table,) = result.tables
    assert table.name == "adaptive" and len(table.rows) == (5 + 3 + 2) * 2
    priors = [r for r in table.rows if r[0] in (leakage.LABEL_ONLY, leakage.ORACLE)]
    assert len(priors) == 4  # label only and the oracle, per model
    col = {c: i for i, c in enumerate(table.columns)}
    assert all(r[col["SSIM"]] is not None and r[col["Top-1 id (%)"]] is None for r in priors)
    table = replace(table, rows=tuple(r for r in table.rows if r not in priors))
    rehearsed = {r[0] for r in table.rows if r[0].startswith(adaptive.REHEARSED)}
    assert len(rehearsed) in (1, 2)  # "Rehearsed pick (<the attack chosen>)", per model
    assert {r[0] for r in table.rows} - rehearsed == {
        "iDLG",
        "Smooth proxy",
        "Inverting Gradients",
        "Analytic + proxy",
        "Learned decoder",
        adaptive.PICK,
        adaptive.UPPER,
    }
    snn_rows = [r for r in table.rows if r[3] == "SNN-LeNet"]
    assert all(r[-2] is not None for r in snn_rows)  # the ANN - SNN gap, paired by item
    assert any(n.startswith("MNIST: iDLG: SNN median SSIM") for n in table.notes)
    assert any(
        "Rehearsal: 1 of the attacker's own public items (test split)" in n for n in table.notes
    )
    assert any(n.startswith("Victims: every trial attacks a victim of its") for n in table.notes)
    assert any("public items of the other split, which no client holds" in n for n in table.notes)
    assert (tmp_path / "out" / "tables" / "adaptive.md").exists()
    assert (tmp_path / "out" / "figures" / "adaptive.png").read_bytes()[:4] == b"\x89PNG"
    near = tmp_path / "out" / "figures" / "adaptive-neighbours-digits.png"
    assert near.read_bytes()[:4] == b"\x89PNG" and near in result.files


def _learned(then_proxy: bool = False, decoder: str = "ridge") -> LearnedInversion:
    public = data.load("digits", "test")  # the attacker's public data; victims are train items
    fast = MLPSettings(hidden=64, epochs=40, lr=1e-3)
    cfg = LearnedConfig(
        aux_items=64, decoder=decoder, mlp=fast, then_proxy=then_proxy, proxy=FAST_PROXY
    )
    return LearnedInversion(cfg, public)


def _clients_of_one_round(kind: str, items=range(6)):
    """Observations of several clients of one model (a round), and their items."""
    gen = torch.Generator().manual_seed(0)
    if kind == "ann":
        model = LeNet((1, 28, 28), 10, rng=gen)
    else:
        model = LeNet5SNN((1, 28, 28), 10, 4, backend="fused", rng=gen)
    split = data.load("digits", "train")
    pairs = [split[i] for i in items]
    return [(observe(model, x.unsqueeze(0), torch.tensor([y]), "image"), x) for x, y in pairs]


@pytest.mark.compat
@pytest.mark.parametrize("decoder", ["ridge", "mlp"])
def test_the_learned_decoder_reconstructs_on_the_ann_and_beats_grey_on_the_snn(decoder):
    """Over the clients of one round (one fit each model), the decoder's mean SSIM clears
    uniform grey's by a margin: a property of the mean over items, not of one chaotic fit."""
    margin = {"ann": 0.3, "snn": 0.1}
    for kind in ("ann", "snn"):
        attack = _learned(decoder=decoder)
        got, grey = [], []
        for obs, x in _clients_of_one_round(kind):
            rec = attack.reconstruct(obs, torch.Generator().manual_seed(0))
            got.append(metrics.ssim(rec.x[0], x))
            grey.append(metrics.ssim(torch.full_like(x, 0.5), x))
        assert sum(got) / len(got) > sum(grey) / len(grey) + margin[kind], (kind, got)
    if decoder == "ridge":
        piped = _learned(then_proxy=True).reconstruct(obs, torch.Generator().manual_seed(0))
        assert piped.losses[-1] <= piped.losses[0]  # the proxy never ends worse on the victim


def test_the_learned_decoder_is_exact_on_its_own_training_data():
    """With a tiny ridge and as many public items as it is fitted on, the decoder maps each
    public item's update back to the item (a check of the regression, not of the attack)."""
    from snnleak.attacks.decoders import RidgeDecoder, public_updates

    obs, _ = _observation("ann", dtype=torch.float64)
    public = data.load("digits", "test")
    items = [public[i] for i in range(8)]
    updates, targets = public_updates(obs.model, items, "image")
    decoded = RidgeDecoder(updates, targets, 1e-9)(updates[3])
    torch.testing.assert_close(decoded, items[3][0].reshape(-1).double(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", ["ann", "snn"])
def test_stacked_public_updates_equal_one_item_at_a_time(kind):
    """The public items' updates through K stacked copies of the observed model are each item's
    own gradient (float64)."""
    from snnleak.attacks.decoders import public_updates
    from snnleak.gradients import parameter_gradients

    obs, _ = _observation(kind, dtype=torch.float64)
    items = [data.load("digits", "test")[i] for i in range(5)]
    updates, targets = public_updates(obs.model, items, "image")
    for (x, y), got, target in zip(items, updates, targets, strict=True):
        want = parameter_gradients(obs.model, x.unsqueeze(0).double(), torch.tensor([y]))
        torch.testing.assert_close(got, torch.cat([g.reshape(-1) for g in want]))
        assert torch.equal(target, x.reshape(-1).double())


def test_the_decoder_is_fitted_once_per_observed_model(monkeypatch):
    from snnleak.attacks import learned

    calls = []
    real = learned.public_updates
    monkeypatch.setattr(learned, "public_updates", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(learned, "_LAST_FIT", {})
    attack = _learned()
    obs, _ = _observation("ann")
    first = [attack.reconstruct(obs, torch.Generator().manual_seed(s)).x for s in (0, 1)]
    assert len(calls) == 1 and attack.fit_seconds > 0  # two clients on one model: one fit
    again = _learned().reconstruct(obs, torch.Generator().manual_seed(1)).x
    assert len(calls) == 1  # a new attack object (the next unit of a run) reuses the fit
    torch.testing.assert_close(again, first[1], rtol=0, atol=0)
    monkeypatch.setattr(learned, "_LAST_FIT", {})
    fresh = _learned().reconstruct(obs, torch.Generator().manual_seed(1)).x
    torch.testing.assert_close(fresh, first[1], rtol=0, atol=0)  # the fit's own seed: same
    other, _ = _observation("ann", item=9)
    attack.reconstruct(other, torch.Generator().manual_seed(0))
    assert len(calls) == 3  # another model: another fit


def test_victims_drawn_from_one_seed_do_not_share_a_decoder():
    """A LeNet and an SNN-LeNet drawn from one generator seed have the same weights; so do one
    SNN at two T. Their updates differ, and so must their decoders' keys (a shared fit decoded
    SNN clients with the ANN's decoder)."""
    from snnleak.attacks.learned import model_key

    def draw(kind, timesteps=4):
        gen = torch.Generator().manual_seed(0)
        if kind == "ann":
            return LeNet((1, 28, 28), 10, rng=gen)
        return LeNet5SNN((1, 28, 28), 10, timesteps, backend="fused", rng=gen)

    ann, snn, snn8 = draw("ann"), draw("snn"), draw("snn", 8)
    assert all(torch.equal(a, b) for a, b in zip(ann.parameters(), snn.parameters(), strict=True))
    assert len({model_key(ann), model_key(snn), model_key(snn8)}) == 3
    assert model_key(draw("snn")) == model_key(snn)  # the same victim: one fit


def test_round_victims_share_one_model_and_fresh_ones_do_not():
    from snnleak.attacks import spec_of
    from snnleak.models.victims import build_victim
    from snnleak.seeding import victim_rng

    info = data.load("digits", "train").info
    victim = spec_of("learned", "snn", "digits", timesteps=2).victim

    def weights(index: int, victims: str) -> torch.Tensor:
        model = build_victim(victim, info, victim_rng(0, index, victims))
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    assert torch.equal(weights(1, "round"), weights(2, "round"))
    assert not torch.equal(weights(1, "fresh"), weights(2, "fresh"))


def test_reproduce_ablations_varies_one_factor_at_a_time(tmp_path):
    from dataclasses import replace

    from snnleak.judges import load_judge
    from snnleak.reproduce import Run, load_preset, reproduce
    from snnleak.reproduce.ablations import ablation_cells
    from snnleak.reproduce.preset import AblationPlan

    quick = load_preset("quick")
    tiny = replace(
        quick,
        table4=replace(
            quick.table4, lbfgs_max_iter=2, iterations=(("dlg", 1), ("idlg", 1), ("grnn", 1))
        ),
        ablations=AblationPlan(
            samples=1,
            timesteps=(1, 2),
            neurons=("if", "lif"),
            alphas=(2.0,),
            attacks=("idlg",),
            surrogates=("atan", "triangle"),
            encodings=("poisson",),
            inits=("torch",),
            resets=("detached",),
            forwards=("smooth",),
        ),
    )
    cells = ablation_cells(tiny, "fused")
    victims = {
        (c.spec.victim.timesteps, c.spec.victim.neuron, c.spec.victim.surrogate) for c in cells
    }
    assert victims == {
        (1, "if", "atan"),
        (2, "if", "atan"),
        (20, "if", "atan"),
        (20, "lif", "atan"),
        (20, "if", "triangle"),
    }
    assert sum(c.spec.victim.encoding == "poisson" for c in cells) == 1
    assert sum(c.spec.victim.init == "torch" for c in cells) == 1
    assert sum(c.spec.victim.detach_reset for c in cells) == 1
    assert sum(c.spec.victim.smooth_forward for c in cells) == 1
    assert len(cells) == 9 and all(c.spec.model == "snn" for c in cells)
    assert {c.spec.victim.backend for c in cells if c.spec.victim.surrogate == "triangle"} == {
        "reference"
    }
    load_judge("mnist-5k", cache_dir=tmp_path / "cache", log=lambda m: None)
    result = reproduce(Run("ablations", tiny, tmp_path / "out", cache_dir=tmp_path / "cache"))
    (table,) = result.tables
    assert [(r[0], r[1]) for r in table.rows] == [
        ("T", 1),
        ("T", 2),
        ("neuron", "IF"),
        ("neuron", "LIF"),
        ("alpha", "2"),
        ("surrogate", "atan"),
        ("surrogate", "triangle"),
        ("encoding", "poisson"),
        ("init", "torch"),
        ("reset", "detached"),
        ("forward", "smooth"),
        ("prior", "-"),
        ("prior", "-"),
    ]
    assert all(r[3] == 1 for r in table.rows)  # every point attacked
    assert (tmp_path / "out" / "figures" / "ablations.png").read_bytes()[:4] == b"\x89PNG"


def test_poisson_coding_hides_the_clients_draw_from_the_server():
    x, y = data.load("digits", "train")[3]
    model = LeNet5SNN(
        (1, 28, 28),
        10,
        4,
        backend="fused",
        rng=torch.Generator().manual_seed(0),
        encoding="poisson",
        rate_rng=torch.Generator().manual_seed(7),
    )
    xb = x.unsqueeze(0)
    seq = model.encode(xb)
    assert set(seq.unique().tolist()) <= {0.0, 1.0}  # spikes
    # the straight-through code: the gradient reaches the pixels
    xr = xb.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xr).sum(), xr)
    assert g.abs().sum() > 0
    obs = observe(model, xb, torch.tensor([y]), "image")
    client_next = model.encode(xb)
    server_next = obs.model.encode(xb)
    assert not torch.equal(client_next, server_next)  # the server draws its own spikes


def test_the_spec_builds_the_victim_it_names():
    from snnleak.attacks import spec_of
    from snnleak.models.victims import build_victim
    from snnleak.seeding import trial_rng

    info = data.load("digits", "train").info
    spec = spec_of(
        "idlg",
        "snn",
        "digits",
        backend="reference",
        timesteps=3,
        neuron="lif",
        surrogate_alpha=4.0,
        surrogate="triangle",
        encoding="poisson",
    )
    victim = build_victim(spec.victim, info, trial_rng(0, 1, "victim"))
    p = victim.neuron_params
    assert (victim.timesteps, p.kind, p.alpha, p.surrogate) == (3, "lif", 4.0, "triangle")
    assert victim.encoding == "poisson" and victim.backend == "reference"


def test_the_learned_attacks_train_on_all_public_items_unless_told(monkeypatch):
    from snnleak.attacks import learned, spec_of
    from snnleak.attacks.factory import build_attack, check_public

    public = data.public_split("digits", "train")
    assert public.split == "test" and len(public) == 359  # the split no victim item is from
    seen = []
    real = learned.public_updates
    monkeypatch.setattr(
        learned,
        "public_updates",
        lambda m, items, *a: seen.append(len(items)) or real(m, items, *a),
    )
    obs, _ = _observation("ann")
    for aux, want in ((0, 359 - 32), (16, 16)):  # all but the 32 rehearsal items
        spec = spec_of("learned", "ann", "digits", aux_items=aux, decoder="ridge")
        build_attack(spec, public).reconstruct(obs, torch.Generator().manual_seed(0))
        assert seen[-1] == want
    with pytest.raises(
        ConfigError, match="holds 327 items besides its rehearsal items; pass at most that, or 0"
    ):
        check_public(spec_of("learned", "ann", "digits", aux_items=1000), public)
    with pytest.raises(ConfigError, match="--aux-items must be 0"):
        spec_of("learned", "ann", "digits", aux_items=1)


def test_the_ablations_vary_the_public_set_of_the_learned_attacks_only():
    from dataclasses import replace

    from snnleak.reproduce import load_preset
    from snnleak.reproduce.ablations import ablation_cells
    from snnleak.reproduce.preset import AblationPlan

    quick = load_preset("quick")
    plan = AblationPlan(
        timesteps=(20,), neurons=("if",), alphas=(2.0,), surrogates=("atan",),
        encodings=("direct",), inits=("dlg",), resets=("gradient",), forwards=("spiking",),
        attacks=("idlg", "learned"), public_items=(64, 0),
    )  # fmt: skip
    cells = ablation_cells(replace(quick, ablations=plan), "fused")
    publics = sorted((c.spec.attack, c.spec.settings.aux_items) for c in cells)
    assert publics == [("idlg", 0), ("learned", 0), ("learned", 64)]


def test_the_observable_pick_reads_the_mismatch_and_the_bound_reads_the_truth():
    from snnleak.attacks.picks import observable_pick
    from snnleak.reproduce.adaptive import best_by_ssim

    def r(mismatch, ssim):
        return {"relative_mismatch": mismatch, "ssim": ssim}

    # two attacks on two items: the better-explaining reconstruction is not the closer one
    per = {"proxy": {0: r(0.1, 0.2), 1: r(0.9, 0.9)}, "learned": {0: r(0.5, 0.8), 1: r(0.3, 0.1)}}
    pick, bound = observable_pick(per), best_by_ssim(per)
    assert [pick[i]["ssim"] for i in (0, 1)] == [0.2, 0.1]  # by mismatch, whatever the SSIM
    assert [bound[i]["ssim"] for i in (0, 1)] == [0.8, 0.9]


def test_the_paired_gap_and_its_interval():
    from snnleak.metrics import paired_difference_ci

    a, b = [0.9, 1.0, 1.0, 0.8], [0.1, 0.0, 0.2, 0.1]
    diff, low, high = paired_difference_ci(a, b, "median")
    assert diff == pytest.approx(0.95 - 0.1) and low <= diff <= high
    assert paired_difference_ci([1.0, None], [0.0, 0.5], "mean")[0] == 1.0  # a missing pair out


def test_the_victim_options_reach_the_records(tmp_path):
    from click.testing import CliRunner

    from snnleak.cli import cli
    from snnleak.trials.records import read_records

    args = "attack --attack idlg --model snn --dataset digits --samples 2 --iterations 1"
    args += " --timesteps 2 --victim-init torch --victims round --device cpu --out"
    result = CliRunner().invoke(cli, [*args.split(), str(tmp_path)])
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == 2
    assert all(r["config"]["victim_init"] == "torch" for r in records)
    assert all(r["config"]["victims"] == "round" for r in records)


def test_the_public_subset_is_a_sample_of_every_class():
    from snnleak.attacks.learned import public_subset

    public = data.public_split("mnist-5k", "test")  # 4,000 items, stored in class order
    chosen = public_subset(len(public), 256)
    assert len(set(chosen.tolist())) == 256
    assert {int(public[int(i)][1]) for i in chosen} == set(range(10))
    assert torch.equal(public_subset(len(public), 256), chosen)  # seeded
    assert torch.equal(public_subset(10, 20), torch.tensor([0, 1, 2, 3, 4, 7, 8, 9]))


def test_no_decoder_trains_on_the_rehearsal_items_and_a_rehearsal_attacks_them():
    """The rehearsal items (the attacker's own clients) are outside every public subset; a
    rehearsal cell attacks exactly them, and its learned attack's public split is its own."""
    from snnleak.attacks import spec_of
    from snnleak.attacks.factory import public_of
    from snnleak.attacks.learned import public_subset, rehearsal_items
    from snnleak.trials.loop import Cell, chosen_items

    kept = rehearsal_items(4000)
    assert len(kept) == 32 and not set(kept) & set(public_subset(4000, 4000).tolist())
    assert len(public_subset(4000, 4000)) == 3968 and rehearsal_items(10) == [5, 6]
    spec = spec_of("learned", "snn", "mnist-5k", split="train", rehearsal=True)
    assert chosen_items(Cell(spec, 8), 4000, seed=3) == kept[:8]
    assert public_of(spec).split == "train"  # its own split, less the items it attacks
    client = spec_of("learned", "snn", "mnist-5k", split="test")
    assert public_of(client).split == "train" and client.config_id() != spec.config_id()
    with pytest.raises(ConfigError, match="8 rehearsal items asked, mnist-5k keeps 2"):
        chosen_items(Cell(spec, 8), 10, seed=0)
