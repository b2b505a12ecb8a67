"""The options of ``snnleak attack`` that make its :class:`~snnleak.attacks.AttackSpec` (the
victim, the attack's settings, the client), and the spec they make: the command only parses."""

from __future__ import annotations

import click

from snnleak.attacks.config import (
    CLAMPS,
    DECODERS,
    GRNN_GENERATORS,
    GRNN_WASSERSTEIN,
    LINE_SEARCHES,
    LOSS_NORMS,
    SPLITS,
    THRESHOLD_MODES,
    VICTIM_PROTOCOLS,
)
from snnleak.models.lenet import INITS
from snnleak.models.lenet_snn import ENCODINGS
from snnleak.models.victims import NEURONS, SURROGATE_FAMILIES
from snnleak.neurons import BACKENDS

OPTIONS = [
    click.option(
        "--accelerate",
        is_flag=True,
        help="Your own model's SpikingJelly multi-step IF/LIF neurons on snnleak's fused op "
        "where they compute exactly the same (snnleak.accelerate); one line per neuron.",
    ),
    click.option(
        "--backend",
        default="fused",
        show_default=True,
        type=click.Choice(tuple(BACKENDS)),
        help="Neuron backend of the SNN victim.",
    ),
    click.option(
        "--split",
        type=click.Choice(SPLITS),
        default="train",
        show_default=True,
        help="Where the attacked items come from (the paper: a client's training items).",
    ),
    click.option(
        "--neuron",
        type=click.Choice(NEURONS),
        default="if",
        show_default=True,
        help="The SNN victim's neuron (LIF: tau 2).",
    ),
    click.option(
        "--surrogate-alpha",
        type=click.FloatRange(min=0, min_open=True),
        default=2.0,
        show_default=True,
        help="The SNN victim's ATan surrogate sharpness.",
    ),
    click.option(
        "--surrogate",
        type=click.Choice(SURROGATE_FAMILIES),
        default="atan",
        show_default=True,
        help="The SNN victim's surrogate family (all but atan: --backend reference).",
    ),
    click.option(
        "--encoding",
        type=click.Choice(ENCODINGS),
        default="direct",
        show_default=True,
        help="The SNN victim's image code (poisson: rate coding, draw unknown to the attacker).",
    ),
    click.option(
        "--timesteps",
        type=int,
        default=20,
        show_default=True,
        help="T of the spiking victim on images (event data bring their own).",
    ),
    click.option(
        "--iterations",
        type=int,
        default=None,
        help="Optimiser steps (default: DLG/iDLG 300, GRNN 1000).",
    ),
    click.option(
        "--threshold",
        type=float,
        default=None,
        help="Binarise spike reconstructions at this value in (0, 1).",
    ),
    click.option(
        "--threshold-mode",
        default="post",
        show_default=True,
        type=click.Choice(THRESHOLD_MODES),
        help="post (Algorithm 1) or in (Algorithm 2).",
    ),
    click.option(
        "--lbfgs-max-iter",
        type=int,
        default=20,
        show_default=True,
        help="L-BFGS evaluations per step.",
    ),
    click.option("--lr", type=float, default=1.0, show_default=True, help="L-BFGS learning rate."),
    click.option(
        "--line-search",
        type=click.Choice(LINE_SEARCHES),
        default=None,
        help="L-BFGS line search [default: none (DLG's) for our victims, strong_wolfe for a "
        "plug-in --model, whose matching loss DLG's fixed step does not bring down].",
    ),
    click.option(
        "--loss-norm",
        type=click.Choice(LOSS_NORMS),
        default="global",
        show_default=True,
        help="Weighing of the matching loss's layers: global divides it by the observed update's "
        "squared norm (scale-free); none is DLG's plain sum.",
    ),
    click.option(
        "--clamp",
        type=click.Choice(CLAMPS),
        default="final",
        show_default=True,
        help="DLG/iDLG: keep image dummies in [0, 1] once at the end (as DLG's code) or after "
        "every optimiser step (stalls L-BFGS on real digits: docs/fidelity.md, B9).",
    ),
    click.option(
        "--aux-items",
        type=int,
        default=0,
        show_default=True,
        help="learned, learned-proxy: public items that train the decoder (0: all of the split "
        "the victims' items are not from, less its 32 rehearsal items).",
    ),
    click.option(
        "--decoder",
        type=click.Choice(DECODERS),
        default="mlp",
        show_default=True,
        help="learned, learned-proxy: Learning To Invert's MLP on the update, its ridge "
        "baseline, or features: an MLP on the exact last-layer features the update gives, "
        "trained on deformed public items (B > 1: each item's features separated first).",
    ),
    click.option("--victim-init", type=click.Choice(INITS), default="dlg", help="DLG's or torch's"),
    click.option(
        "--victims",
        type=click.Choice(VICTIM_PROTOCOLS),
        default="fresh",
        show_default=True,
        help="fresh: a victim model per trial (the paper's); round: every trial is a client of a "
        "federation round, sharing its broadcast model.",
    ),
    click.option(
        "--broadcasts",
        type=int,
        default=1,
        show_default=True,
        help="--victims round: the broadcast models (rounds) the clients spread over; trial i "
        "attacks model i mod N.",
    ),
    click.option(
        "--grnn-wasserstein",
        default="original",
        show_default=True,
        type=click.Choice(GRNN_WASSERSTEIN),
        help="original (the GRNN code's) or sorted (W2 between the gradients' distributions).",
    ),
    click.option(
        "--grnn-generator",
        default="glu",
        show_default=True,
        type=click.Choice(GRNN_GENERATORS),
        help="glu (the published GRNN generator) or upsample (snnleak's smaller one).",
    ),
    click.option(
        "--batch",
        type=int,
        default=1,
        show_default=True,
        help="The client's batch size B: its update is the mean gradient of B private items.",
    ),
    click.option(
        "--local-epochs",
        type=int,
        default=1,
        show_default=True,
        help="FedAvg: the client's local epochs over its batch (1 with --local-batch 0: FedSGD).",
    ),
    click.option(
        "--local-batch",
        type=int,
        default=0,
        show_default=True,
        help="FedAvg: the client's mini-batch size (0: its whole batch).",
    ),
    click.option(
        "--local-lr", type=float, default=0.1, show_default=True, help="FedAvg: client SGD lr."
    ),
    click.option(
        "--update-attack",
        type=click.Choice(("simulate", "approx")),
        default="simulate",
        show_default=True,
        help="A multi-step update: run the client's local steps on the dummy, or treat "
        "delta / (lr * steps) as one gradient.",
    ),
    click.option(
        "--defense",
        default="none",
        show_default=True,
        metavar="[none|dp:CLIP:SIGMA|topk:FRACTION|quant:BITS]",
        help="The client's defense, applied to its update before the server sees it.",
    ),
]


def spec_options(command):
    """Every option of :data:`OPTIONS` on ``command``, in the order listed."""
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def spec_from_options(attack: str, model: str, dataset: str, o: dict):
    """The :class:`~snnleak.attacks.AttackSpec` the options ``o`` (by parameter name) make."""
    from snnleak.attacks import LBFGSConfig, Thresholding, spec_of

    threshold = (
        None if o["threshold"] is None else Thresholding(o["threshold"], o["threshold_mode"])
    )
    line_search = o["line_search"] or ("strong_wolfe" if ":" in model else "none")
    lbfgs = LBFGSConfig(lr=o["lr"], max_iter=o["lbfgs_max_iter"], line_search=line_search)
    direct = {k: v for k, v in o.items() if k not in SPEC_PARTS}
    return spec_of(attack, model, dataset, threshold=threshold, lbfgs=lbfgs, **direct)


# options that are parts of a field of the spec, not fields of their own
SPEC_PARTS = ("threshold", "threshold_mode", "lr", "lbfgs_max_iter", "line_search")
