"""How much faster one gradient-matching evaluation runs on a user's SpikingJelly model once
``snnleak.accelerate`` has put its neurons on the fused op (docs/own-models.md).

The model is the convolutional SNN of SpikingJelly's tutorials, written as its users write it
(two conv + max-pool + multi-step ``LIFNode(tau=2, ATan)`` layers, a linear read-out averaged
over T, ``functional.reset_net`` at the start of ``forward``). One evaluation is what an attack
runs every optimiser step: the forward, the parameter gradients with their graph, the matching
loss and its gradient to the dummy (second order). Original and accelerated run interleaved in
one process; prints the medians and their ratio.

    python experiments/accelerate_speed.py --timesteps 8 --rounds 15
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from snnleak.accelerate import accelerate
from snnleak.gradients import dummy_gradients, gradient_distance


def csnn(timesteps: int) -> nn.Module:
    from spikingjelly.activation_based import functional, neuron, surrogate

    class CSNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.timesteps = timesteps
            lif = dict(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")
            self.c1, self.n1 = nn.Conv2d(1, 12, 5), neuron.LIFNode(**lif)
            self.c2, self.n2 = nn.Conv2d(12, 64, 5), neuron.LIFNode(**lif)
            self.fc = nn.Linear(64 * 4 * 4, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            functional.reset_net(self)
            t, b = self.timesteps, x.shape[0]
            h = F.max_pool2d(self.c1(x), 2).unsqueeze(0).repeat(t, 1, 1, 1, 1)
            h = F.max_pool2d(self.c2(self.n1(h).flatten(0, 1)), 2).reshape(t, b, 64, 4, 4)
            return self.fc(self.n2(h).flatten(2)).mean(0)

    return CSNN()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = csnn(args.timesteps).train()
    fast, report = accelerate(model)
    for replaced in report:
        print(replaced.line())
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([3])
    true = [g.detach() for g in dummy_gradients(model, x, y)]

    def evaluation(m: nn.Module) -> float:
        dummy = torch.rand(1, 1, 28, 28, requires_grad=True)
        start = time.perf_counter()
        torch.autograd.grad(gradient_distance(dummy_gradients(m, dummy, y), true), dummy)
        return time.perf_counter() - start

    evaluation(model), evaluation(fast)  # warm-up: oneDNN's kernels, the fused extension
    times = {"original": [], "accelerated": []}
    for _ in range(args.rounds):
        times["original"].append(evaluation(model))
        times["accelerated"].append(evaluation(fast))
    o, a = (statistics.median(times[k]) for k in ("original", "accelerated"))
    print(
        f"one evaluation at T={args.timesteps}, {torch.get_num_threads()} threads: original "
        f"{o * 1000:.1f} ms, accelerated {a * 1000:.1f} ms, {o / a:.2f}x"
    )


if __name__ == "__main__":
    main()
