"""Does matching the exact features more closely bring the features decoder's image nearer
the item? (docs/results.md, "Toward exact recovery".)

For the first N SNN-LeNet clients of round 0 (mnist-5k test items, the quick preset's victims),
the features decoder's reconstruction is refined by Adam on
``||h(x) - h_observed||^2 / ||h_observed||^2 + tv * TV(x)``, through the spiking victim
(surrogate gradients) or through the attacker's smooth copy at ``--alpha``. Prints, per item,
the feature error and SSIM before and after. Needs the decoder fits of
``snnleak reproduce adaptive --preset quick`` in the cache (else it fits them first).

    python experiments/feature_refinement.py --items 6 --lr 3e-3 --steps 100
"""

from __future__ import annotations

import argparse
import statistics

import torch

from snnleak import data, metrics
from snnleak.attacks import build_attack, spec_of
from snnleak.attacks.analytic import observed_features
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import smooth_copy
from snnleak.attacks.victims import model_features
from snnleak.client import observe
from snnleak.io import cache_root
from snnleak.models.victims import build_victim
from snnleak.seeding import victim_rng
from snnleak.trials.loop import sample_order

BROADCASTS = 4


def feature_error(model, x, target) -> float:
    with torch.no_grad():
        h = model_features(model, x, 1)[0]
    return float(((h - target) ** 2).sum() / (target**2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=6)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--tv", type=float, default=0.0)
    ap.add_argument("--alpha", type=float, default=None, help="through the smooth copy")
    args = ap.parse_args()
    split, public = data.load("mnist-5k", "test"), data.load("mnist-5k", "train")
    spec = spec_of(
        "learned",
        "snn",
        "mnist-5k",
        decoder="features",
        victims="round",
        broadcasts=BROADCASTS,
        split="test",
    )
    attack = build_attack(spec, public, cache_root() / "decoders")
    before, after = [], []
    # round 0's clients, in the order `snnleak attack --samples N` takes them (seed 0)
    clients = [i for i in sample_order(len(split), 0) if i % BROADCASTS == 0][: args.items]
    for i in clients:
        x, y = split[i]
        model = build_victim(spec.victim, split.info, victim_rng(0, i, "round", BROADCASTS))
        obs = observe(model, x[None], torch.tensor([y]), "image")
        target = observed_features(obs).detach()
        x0 = attack.reconstruct(obs, torch.Generator().manual_seed(0)).x.detach().float()
        net = obs.model if args.alpha is None else smooth_copy(obs.model, args.alpha)
        xv = x0.clone().requires_grad_(True)
        opt = torch.optim.Adam([xv], lr=args.lr)
        for _ in range(args.steps):
            h = model_features(net, xv, 1)[0]
            loss = ((h - target) ** 2).sum() / (target**2).sum() + args.tv * total_variation(xv)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                xv.clamp_(0, 1)
        x1 = xv.detach()
        before.append(metrics.ssim(x0[0], x))
        after.append(metrics.ssim(x1[0], x))
        print(
            f"item {i}: feature error {feature_error(obs.model, x0, target):.4f} -> "
            f"{feature_error(obs.model, x1, target):.4f}, SSIM {before[-1]:.3f} -> {after[-1]:.3f}"
        )
    print(f"median SSIM {statistics.median(before):.3f} -> {statistics.median(after):.3f}")


if __name__ == "__main__":
    main()
