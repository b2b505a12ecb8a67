"""K independent GRNN trials as one batched computation.

Each trial keeps everything of its own, as :class:`~snnleak.attacks.grnn.GRNN` gives it: its
victim (stacked into one :class:`~snnleak.models.stacked.StackedLeNet`), its generator (the K
generators' parameters stacked and run with ``torch.func.vmap``; batch norm uses each trial's own
batch statistics), its noise, its RMSprop state (RMSprop is elementwise, so one optimiser over
the stacked parameters is K independent ones) and its iterate bookkeeping. A step runs every
trial's generator, victim forward, parameter gradients, GRNN loss and the gradient to the
generators in one pass. A trial that stops (a non-finite loss) keeps its parameters from then on.
The same draws as solo trials, in the same order: results agree with solo runs up to float
rounding (tested).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from snnleak.attacks.config import GRNNConfig
from snnleak.attacks.graphs import graphed_call
from snnleak.attacks.iterates import BatchedTracker, finish
from snnleak.attacks.priors import grnn_total_variation
from snnleak.attacks.rows import where_rows
from snnleak.attacks.victims import StackedVictims, check_alike
from snnleak.threat import Observation, Reconstruction


def reconstruct_batched(
    cfg: GRNNConfig,
    observations: list[Observation],
    rngs: list[torch.Generator],
    build_generator,
) -> list[Reconstruction]:
    """``build_generator(obs, generator) -> (net, z)``: one trial's generator network and noise,
    drawn exactly as a solo trial draws them."""
    check_alike(observations)
    obs0, k = observations[0], len(observations)
    events = obs0.modality == "events"
    victims, victim_params, true, order = StackedVictims(observations)
    pairs = [build_generator(o, g) for o, g in zip(observations, rngs, strict=True)]
    nets, zs = [n for n, _ in pairs], [z for _, z in pairs]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    z = torch.stack(zs)

    def one(p, b, noise):
        return functional_call(base, (p, b), (noise,))

    generate = vmap(one, in_dims=(0, 0, 0), randomness="error")
    leaves = list(params.values())
    opt = torch.optim.RMSprop(leaves, lr=cfg.lr, momentum=cfg.momentum)
    flat_true = torch.cat([true[j].reshape(k, -1) for j in order], 1)
    if cfg.wasserstein == "sorted":
        sorted_true = torch.sort(flat_true, dim=1).values

    def losses() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, probs = generate(params, buffers, z)  # [K, ...item batch], [K, B, classes]
        logits = victims(x.transpose(0, 1) if events else x)  # [K, B, classes]
        ce = torch.sum(-probs * F.log_softmax(logits, -1), -1).mean(1)
        grads = torch.autograd.grad(ce.sum(), victim_params, create_graph=True)
        dist = sum(((grads[j] - true[j]) ** 2).reshape(k, -1).sum(1) for j in order)
        if cfg.wasserstein == "sorted":
            flat = torch.cat([grads[j].reshape(k, -1) for j in order], 1)
            diff = torch.sort(flat, dim=1).values - sorted_true
            wd = torch.sqrt((diff**2).mean(1) + 1e-30)
        else:  # the published code's ||a - b||_2
            wd = torch.sqrt(dist + 1e-30)
        return dist + wd + cfg.tv_weight * grnn_total_variation(x, k), x, probs

    def evaluate() -> tuple[torch.Tensor, ...]:
        """A step's computation: every trial's loss, output and gradients to its generator."""
        loss, x, probs = losses()
        grads = torch.autograd.grad(loss.sum(), leaves)
        return loss.detach(), x.detach(), probs.detach(), *grads

    with torch.no_grad():
        x0, p0 = generate(params, buffers, z)
    track = BatchedTracker(k, x0.device)
    steps = torch.zeros(k, dtype=torch.long, device=x0.device)
    active = torch.ones(k, dtype=torch.bool, device=x0.device)
    evaluate = graphed_call(evaluate, z)
    for step in range(cfg.iterations):
        opt.zero_grad(set_to_none=True)
        loss, x, probs, *grads = evaluate()
        active = track.observe(loss, (x.detach().clone(), probs.detach().clone()), active)
        steps = torch.where(active, step + 1, steps)
        if not bool(active.any()):
            break
        kept = {n: t.detach().clone() for n, t in params.items()}
        for leaf, g in zip(leaves, grads, strict=True):
            leaf.grad = g
        opt.step()
        with torch.no_grad():  # a stopped trial keeps its parameters
            for n, t in params.items():
                t.copy_(where_rows(active, t, kept[n]))
    tracks, steps = track.trackers(), steps.tolist()
    return [
        finish(tracks[i], steps[i], cfg.threshold, (x0[i], p0[i]), obs0.modality) for i in range(k)
    ]
