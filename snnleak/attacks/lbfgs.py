"""L-BFGS with one state per trial, for trials evaluated together in one batched computation.

:meth:`TrialLBFGS.step` is ``torch.optim.LBFGS.step`` (no line search) written as a coroutine on
one flat tensor of a trial's variables: where torch calls the closure, it yields and receives
``(loss, flat_grad)``. The tensor operations are torch's own, in torch's order, so a trial fed
the same evaluations takes bitwise the same steps as a solo ``torch.optim.LBFGS``; each trial
keeps its own history, step count and stopping state. :func:`run_step` drives one ``step`` of
every trial, evaluating all pending trials with one call per round.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import torch

from snnleak.attacks.config import LBFGSConfig

Evaluation = tuple[torch.Tensor, torch.Tensor]  # (loss, flat gradient) of one trial


class TrialLBFGS:
    def __init__(self, v: torch.Tensor, cfg: LBFGSConfig) -> None:
        self.v = v  # the trial's flat variables, updated in place
        self.cfg = cfg
        self.max_eval = cfg.max_iter * 5 // 4  # torch's default
        self.state: dict = {"func_evals": 0, "n_iter": 0}

    def step(self) -> Generator[None, Evaluation, torch.Tensor]:
        cfg, state = self.cfg, self.state
        lr, max_iter, history_size = cfg.lr, cfg.max_iter, cfg.history_size
        tolerance_grad, tolerance_change = cfg.tolerance_grad, cfg.tolerance_change
        orig_loss, flat_grad = yield
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        opt_cond = flat_grad.abs().max() <= tolerance_grad
        if opt_cond:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = flat_grad.neg()
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q.add_(old_dirs[i], alpha=-al[i])
                d = r = torch.mul(q, h_diag)
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r.add_(old_stps[i], alpha=al[i] - be_i)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss
            t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break
            ls_func_evals = 0
            self.v.add_(d, alpha=t)
            if n_iter != max_iter:
                loss_t, flat_grad = yield
                loss = float(loss_t)
                opt_cond = flat_grad.abs().max() <= tolerance_grad
                ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= self.max_eval or opt_cond:
                break
            if d.mul(t).abs().max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break
        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss


def run_step(
    trials: list[TrialLBFGS],
    active: list[bool],
    evaluate: Callable[[], tuple[torch.Tensor, torch.Tensor]],
) -> list[float | None]:
    """One L-BFGS step of every active trial. ``evaluate()`` returns every trial's loss ``[K]``
    and flat gradient ``[K, n]`` at the trials' current variables; trials that have finished
    their step are evaluated too (one batched call) and ignore the result."""
    coroutines: dict[int, Generator] = {}
    for k, trial in enumerate(trials):
        if active[k]:
            coroutines[k] = trial.step()
            next(coroutines[k])
    orig: list[float | None] = [None] * len(trials)
    while coroutines:
        losses, grads = evaluate()
        for k in list(coroutines):
            try:
                coroutines[k].send((losses[k], grads[k]))
            except StopIteration as stop:
                orig[k] = float(stop.value)
                del coroutines[k]
    return orig
