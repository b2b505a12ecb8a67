"""L-BFGS for K independent problems at once: ``torch.optim.LBFGS`` on each row of ``v [K, n]``.

:class:`RowLBFGS` is torch's L-BFGS (with or without its strong-Wolfe line search) written
as a state machine over evaluation **rounds**: in a round the trials still in their step are
evaluated together at their rows of ``v`` (one call of ``evaluate``; a trial that has finished
costs nothing more), then each advances to the point where it next needs an evaluation, or
finishes its step.

torch branches on a few numbers per trial (losses, directional derivatives, step lengths, the
line search's bracket, counts), Python floats. Here they are ``[K]`` float64 arrays on the
host, and each branch is a mask over them. The vectors (iterates, gradients, directions, the
curvature pairs) stay ``[K, n]`` tensors on ``v``'s device, written only for the trials a
branch selects: all of them as one operation, a subset as one indexed operation, none at no
cost. So the operations a round dispatches do not depend on K (a test counts them), and a
trial's round costs about what torch's own bookkeeping costs. A round brings its losses and
three reductions of its gradients to the host in one transfer, a new direction two more: on a
GPU these are the only syncs.

Per trial the arithmetic is torch's, in torch's order, so each row follows a solo
``torch.optim.LBFGS`` up to float rounding (the batched dot products sum in another order;
tested in float64).
"""

from __future__ import annotations

import numpy as np
import torch

from snnleak.attacks.config import LBFGSConfig
from snnleak.attacks.linesearch import DONE, PLAIN, START, WolfeRounds
from snnleak.attacks.rows import Evaluate, Rows, dot, host, pair_products, two_loop


class RowLBFGS:
    """K independent ``torch.optim.LBFGS`` (see the module docstring) on the rows of ``v``,
    which :meth:`step` updates in place."""

    def __init__(self, v: torch.Tensor, cfg: LBFGSConfig) -> None:
        if v.dim() != 2:
            raise ValueError("RowLBFGS optimises the rows of a [K, n] tensor")
        self.v, self.cfg = v, cfg
        self.max_eval = cfg.max_iter * 5 // 4  # torch's default
        self.line_search = cfg.line_search == "strong_wolfe"
        # a trial evaluates at most max_eval + 1 times in a step (a line search may overrun)
        self.max_rounds = self.max_eval + 1
        self.reset()

    def reset(self) -> None:
        """Forget every trial's state, as ``optimizer.state.clear()`` does."""
        v, k = self.v, self.v.shape[0]
        self.n_iter = np.zeros(k, np.int64)  # torch's state["n_iter"]
        self.func_evals = np.zeros(k, np.int64)
        self.t, self.prev_loss, self.h_diag = np.zeros(k), np.zeros(k), np.ones(k)
        self.d_max = np.zeros(k)  # max |d|
        self.d, self.prev_flat_grad = torch.zeros_like(v), torch.zeros_like(v)
        # the curvature pairs: up to history_size slots per trial, oldest first, grown on demand
        self.dirs, self.stps = v.new_zeros(k, 0, v.shape[1]), v.new_zeros(k, 0, v.shape[1])
        self.ro, self.sy = v.new_zeros(k, 0), v.new_zeros(k, 0, 0)  # sy[i, j]: s_i . y_j
        self.count = np.zeros(k, np.int64)

    def tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=self.v.dtype, device=self.v.device)

    def step(self, evaluate: Evaluate, active: torch.Tensor | None = None) -> torch.Tensor:
        """One ``LBFGS.step`` of every trial in ``active`` (``[K]`` bool; default all); the
        others keep their rows. Returns every trial's loss at the start of the step (the
        first round evaluates all), as ``step`` returns it."""
        v = self.v
        k = v.shape[0]
        chosen = np.ones(k, bool) if active is None else active.detach().cpu().numpy()
        s = _StepState(self, chosen.astype(bool))
        orig_loss = None
        with np.errstate(all="ignore"):  # torch's float arithmetic: inf and NaN as they come
            for round_ in range(self.max_rounds):
                running = Rows(s.phase != DONE, v.device)
                if round_ and not running:
                    break
                if not round_ or running.all:
                    loss_e, grad_e = (t.to(v.dtype) for t in evaluate(None))
                else:  # the running trials only
                    loss_r, grad_r = evaluate(running.index)
                    loss_e = v.new_full((k,), float("nan"))
                    loss_e = loss_e.index_copy(0, running.index, loss_r.to(v.dtype))
                    grad_e = torch.zeros_like(v).index_copy(0, running.index, grad_r.to(v.dtype))
                if not round_:
                    orig_loss = loss_e.detach()
                s.advance(loss_e, grad_e)
        return orig_loss

    def push(self, rows: Rows, y: torch.Tensor, s: torch.Tensor, ys, yy) -> None:
        """The trials ``rows`` store the curvature pair (y, s), as torch's ``ys > 1e-10``
        branch does: the oldest pair of a full history goes. Each trial's pairs lie oldest
        first in its first ``count`` slots, as torch's lists do."""
        idx, history = rows.idx, self.cfg.history_size
        size = self.dirs.shape[1]
        if size < history and (self.count[idx] == size).any():  # room for one more
            new = min(history, max(2 * size, 4))
            pad = (0, 0, 0, new - size)
            self.dirs = torch.nn.functional.pad(self.dirs, pad)
            self.stps = torch.nn.functional.pad(self.stps, pad)
            self.ro = torch.nn.functional.pad(self.ro, (0, new - size))
            self.sy = torch.nn.functional.pad(self.sy, (0, new - size, 0, new - size))
        full = Rows(rows.mask & (self.count == history), self.v.device)
        if full:  # the oldest pair goes: every slot moves down one
            for pairs in (self.dirs, self.stps, self.ro):
                full.put(pairs, full.take(pairs).roll(-1, 1))
            full.put(self.sy, full.take(self.sy).roll((-1, -1), (1, 2)))
        self.count[idx] = np.minimum(self.count[idx] + 1, history)
        slot = self.count - 1
        rows.put_at(self.dirs, slot, y)
        rows.put_at(self.stps, slot, s)
        rows.put_at(self.ro, slot, self.tensor(1.0 / ys))
        pair_products(self.sy, rows, slot, self.stps, self.dirs, s, y)
        self.h_diag[idx] = ys / yy

    def direction(self, rows: Rows, g: torch.Tensor) -> torch.Tensor:
        """The L-BFGS direction of the trials ``rows`` (none at their first iteration) from
        their gradients ``g``: the two-loop recursion over the slots any of them holds."""
        m = int(self.count[rows.idx].max())
        return two_loop(
            g.neg(),
            rows.take(self.stps)[:, :m],
            rows.take(self.dirs)[:, :m],
            rows.take(self.ro)[:, :m],
            self.tensor(self.h_diag[rows.idx]),
            rows.take(self.sy)[:, :m, :m],
        )


class _StepState(WolfeRounds):
    """The per-step variables of every trial, and the transitions of one round."""

    def __init__(self, opt: RowLBFGS, active: np.ndarray) -> None:
        self.opt, v = opt, opt.v
        k = v.shape[0]
        self.phase = np.where(active, START, DONE)
        self.loss, self.grad_max = np.full(k, np.nan), np.zeros(k)
        self.flat_grad = torch.zeros_like(v)
        self.opt_cond = np.zeros(k, bool)
        self.current_evals, self.local_iter = np.zeros(k, np.int64), np.zeros(k, np.int64)
        if opt.line_search:
            self._search_variables(v)

    def rows(self, mask: np.ndarray) -> Rows:
        return Rows(mask, self.opt.v.device)

    def advance(self, loss_e: torch.Tensor, grad_e: torch.Tensor) -> None:
        opt, cfg = self.opt, self.opt.cfg
        f_new, gtd_new, g_max = host(
            torch.stack([loss_e, dot(grad_e, opt.d), grad_e.abs().amax(1)])
        )
        phase = self.phase.copy()
        # the step's first evaluation
        first = direction = phase == START
        if first.any():  # (most rounds have no trial at its first evaluation)
            self._accept(self.rows(first), f_new, g_max, grad_e)
            self.current_evals[first] = 1
            opt.func_evals += first
            self.phase[first & self.opt_cond] = DONE
            direction = first & ~self.opt_cond
        if opt.line_search:
            check = self._line_search(f_new, gtd_new, g_max, grad_e)
        else:  # the fixed step's evaluation
            check = phase == PLAIN
            self._accept(self.rows(check), f_new, g_max, grad_e)
            self.current_evals += check
            opt.func_evals += check
        if check.any():  # the end of an iteration: torch's stopping conditions
            stop = (
                (self.local_iter == cfg.max_iter)
                | (self.current_evals >= opt.max_eval)
                | self.opt_cond
                | (np.abs(opt.t) * opt.d_max <= cfg.tolerance_change)  # max |d t|
                | (np.abs(self.loss - opt.prev_loss) < cfg.tolerance_change)
            )
            self.phase[check & stop] = DONE
            direction = direction | (check & ~stop)
        self._direction(direction)

    def _accept(self, rows: Rows, loss, g_max, grad) -> None:
        """The trials ``rows`` take (loss, gradient) as their current point; ``grad``: a
        ``[K, n]`` tensor, or a function giving the rows' own."""
        mask = rows.mask
        self.loss[mask], self.grad_max[mask] = loss[mask], g_max[mask]
        self.opt_cond[mask] = g_max[mask] <= self.opt.cfg.tolerance_grad
        if rows:
            rows.put(self.flat_grad, grad(rows) if callable(grad) else rows.take(grad))

    def _direction(self, mask: np.ndarray) -> None:
        """The start of an iteration for the trials in ``mask``: the L-BFGS direction, the
        initial step, and the first evaluation it asks for."""
        opt, cfg, k, dev = self.opt, self.opt.cfg, len(mask), self.opt.v.device
        go = self.rows(mask)
        if not go:
            return
        idx = go.idx
        self.local_iter[idx] += 1
        opt.n_iter[idx] += 1
        first = opt.n_iter[idx] == 1
        g = go.take(self.flat_grad)
        d = g.neg()
        if not first.all():  # the later iterations: a curvature pair, then the two loops
            later = Rows.at(idx[~first], k, dev)
            g_later = later.take(self.flat_grad)
            y = g_later - later.take(opt.prev_flat_grad)
            s = later.take(opt.d) * opt.tensor(opt.t[later.idx])[:, None]
            ys, yy = host(torch.stack([dot(y, s), dot(y, y)]))
            push = ys > 1e-10
            if push.any():
                among = Rows(push, dev)
                pushed = Rows.at(later.idx[push], k, dev)
                opt.push(pushed, among.take(y), among.take(s), ys[push], yy[push])
            Rows(~first, dev).put(d, opt.direction(later, g_later))
        go.put(opt.d, d)
        go.put(opt.prev_flat_grad, g)
        opt.prev_loss[idx] = self.loss[idx]
        opt.t[idx] = cfg.lr
        if first.any():  # torch's min(1, 1 / |g|_1) * lr, at the first iteration
            inverse = 1.0 / host(g.abs().sum(1))
            opt.t[idx] = np.where(first, np.where(inverse < 1.0, inverse, 1.0) * cfg.lr, cfg.lr)
        gtd, d_max = host(torch.stack([dot(g, d), d.abs().amax(1)]))
        opt.d_max[idx] = d_max
        flat = gtd > -cfg.tolerance_change
        self.phase[idx[flat]] = DONE
        if flat.all():
            return
        steep = Rows(~flat, dev)
        go, g, d, d_max, gtd = (
            Rows.at(idx[~flat], k, dev),
            steep.take(g),
            steep.take(d),
            d_max[~flat],
            gtd[~flat],
        )
        idx, v = go.idx, opt.v
        if opt.line_search:
            self._start_search(go, v, g, d_max, gtd)
            return
        go.put(v, torch.addcmul(go.take(v), opt.tensor(opt.t[idx])[:, None], d))
        last = self.local_iter[idx] == cfg.max_iter  # torch evaluates no more in the last
        self.phase[idx] = np.where(last, DONE, PLAIN)

    def _request(self, rows: Rows, t: np.ndarray, phase: int | None = None) -> None:
        """The trials ``rows`` step to x_init + t d (the line search asks for its loss there,
        in ``phase``; or the search ended there)."""
        if not rows:
            return
        opt = self.opt
        opt.t[rows.idx] = t[rows.idx]
        step = opt.tensor(opt.t[rows.idx])[:, None]
        rows.put(opt.v, torch.addcmul(rows.take(self.x_init), step, rows.take(opt.d)))
        if phase is not None:
            self.phase[rows.idx] = phase
