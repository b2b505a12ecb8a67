"""L-BFGS for K independent problems at once: ``torch.optim.LBFGS`` on each row of ``v [K, n]``.

:class:`RowLBFGS` is torch's L-BFGS (with or without its strong-Wolfe line search) written
as a state machine over evaluation **rounds**: in a round every trial's loss and gradient are
evaluated at its current row of ``v`` (one batched call of ``evaluate`` on the trials still
in their step: a trial that has finished costs nothing more), then every trial advances to the
point where it next needs an evaluation, or finishes its step. Each trial keeps
its own history, step length, line-search bracket, evaluation counts and stopping state, as
``[K]`` and ``[K, n]`` tensors; every branch of torch's code is a mask, so the operations a
round dispatches do not depend on K or on the trials' data (a test counts them). The one host
read is which trials still run, once per round (``early_exit``; without it every round
evaluates every trial, and a step runs its bounded number of rounds,
:attr:`RowLBFGS.max_rounds`).

Per trial the arithmetic is torch's, in torch's order, so each row follows a solo
``torch.optim.LBFGS`` up to float rounding (the batched dot products sum in another order;
tested in float64).
"""

from __future__ import annotations

import torch

from snnleak.attacks.config import LBFGSConfig
from snnleak.attacks.rows import (
    Evaluate,
    cubic_interpolate,
    dot,
    maximum,
    minimum,
    pair_products,
    two_loop,
    where_rows,
)

# torch's strong-Wolfe constants
C1, C2 = 1e-4, 0.9
# a trial's phase within a step: the evaluation it waits for, or done
START, PLAIN, BRACKET, ZOOM, DONE = range(5)


class RowLBFGS:
    """K independent ``torch.optim.LBFGS`` (see the module docstring) on the rows of ``v``,
    which :meth:`step` updates in place."""

    def __init__(self, v: torch.Tensor, cfg: LBFGSConfig, early_exit: bool = True) -> None:
        if v.dim() != 2:
            raise ValueError("RowLBFGS optimises the rows of a [K, n] tensor")
        self.v, self.cfg, self.early_exit = v, cfg, early_exit
        self.max_eval = cfg.max_iter * 5 // 4  # torch's default
        self.line_search = cfg.line_search == "strong_wolfe"
        # a trial evaluates at most max_eval + 1 times in a step (a line search may overrun)
        self.max_rounds = self.max_eval + 1
        self.reset()

    def reset(self) -> None:
        """Forget every trial's state, as ``optimizer.state.clear()`` does."""
        v, k = self.v, self.v.shape[0]
        long = dict(dtype=torch.long, device=v.device)
        self.n_iter = torch.zeros(k, **long)  # torch's state["n_iter"]
        self.func_evals = torch.zeros(k, **long)
        self.d, self.t = torch.zeros_like(v), v.new_zeros(k)
        self.prev_flat_grad, self.prev_loss = torch.zeros_like(v), v.new_zeros(k)
        self.h_diag = v.new_ones(k)
        # the curvature pairs: a ring of history_size slots per trial, grown on demand
        self.dirs, self.stps = v.new_zeros(k, 0, v.shape[1]), v.new_zeros(k, 0, v.shape[1])
        self.ro, self.sy = v.new_zeros(k, 0), v.new_zeros(k, 0, 0)  # sy[i, j]: s_i . y_j
        self.head, self.count = torch.zeros(k, **long), torch.zeros(k, **long)
        self.pairs_bound = 0  # host-side bound on every trial's count, without reading it

    def _grow(self) -> None:
        """Room for one more pair in every trial's ring: below history_size slots no ring has
        wrapped (each trial's head equals its count), so the slots are copied as they are."""
        size = self.dirs.shape[1]
        if self.pairs_bound < size or size == self.cfg.history_size:
            return
        new = min(self.cfg.history_size, max(2 * size, 4))
        pad = (0, 0, 0, new - size)
        self.dirs = torch.nn.functional.pad(self.dirs, pad)
        self.stps = torch.nn.functional.pad(self.stps, pad)
        self.ro = torch.nn.functional.pad(self.ro, (0, new - size))
        self.sy = torch.nn.functional.pad(self.sy, (0, new - size, 0, new - size))

    def step(self, evaluate: Evaluate, active: torch.Tensor | None = None) -> torch.Tensor:
        """One ``LBFGS.step`` of every trial in ``active`` (``[K]`` bool; default all); the
        others keep their rows. Returns every trial's loss at the start of the step (the
        first round evaluates all), as ``step`` returns it."""
        v = self.v
        k = v.shape[0]
        if active is None:
            active = torch.ones(k, dtype=torch.bool, device=v.device)
        s = _StepState(self, active)
        for round_ in range(self.max_rounds):
            rows = None  # every trial
            if round_ and self.early_exit:
                rows = torch.nonzero(s.phase != DONE).flatten()
                if not len(rows):
                    break
                if len(rows) == k:
                    rows = None
            if rows is None:
                loss_e, grad_e = (t.to(v.dtype) for t in evaluate(None))
            else:  # the running trials only: a finished one costs nothing more
                loss_r, grad_r = evaluate(rows)
                loss_e = v.new_full((k,), float("nan")).index_copy(0, rows, loss_r.to(v.dtype))
                grad_e = torch.zeros_like(v).index_copy(0, rows, grad_r.to(v.dtype))
            if not round_:
                s.orig_loss = loss_e.detach()
            s.advance(loss_e, grad_e)
        return s.orig_loss


class _StepState:
    """The per-step variables of every trial, and the transitions of one round."""

    def __init__(self, opt: RowLBFGS, active: torch.Tensor) -> None:
        self.opt, v = opt, opt.v
        k, dev = v.shape[0], v.device
        long = dict(dtype=torch.long, device=dev)
        self.phase = torch.where(active, START, DONE).to(**long)
        nan = v.new_full((k,), float("nan"))
        self.orig_loss, self.loss = nan.clone(), nan.clone()  # orig_loss: the first round's
        self.flat_grad = torch.zeros_like(v)
        self.opt_cond = torch.zeros(k, dtype=torch.bool, device=dev)
        self.current_evals = torch.zeros(k, **long)
        self.local_iter = torch.zeros(k, **long)  # torch's n_iter within the step
        if opt.line_search:  # the line search's variables (torch's _strong_wolfe)
            self.x_init, self.d_norm = torch.zeros_like(v), v.new_zeros(k)
            self.f, self.gtd = v.new_zeros(k), v.new_zeros(k)
            self.t_prev, self.f_prev, self.gtd_prev = v.new_zeros(k), v.new_zeros(k), v.new_zeros(k)
            self.g_prev = torch.zeros_like(v)
            self.ls_iter, self.ls_evals = torch.zeros(k, **long), torch.zeros(k, **long)
            self.max_ls = torch.zeros(k, **long)
            self.done = torch.zeros(k, dtype=torch.bool, device=dev)
            self.insuf = torch.zeros(k, dtype=torch.bool, device=dev)
            self.bt, self.bf, self.bgtd = v.new_zeros(k, 2), v.new_zeros(k, 2), v.new_zeros(k, 2)
            self.bg = v.new_zeros(k, 2, v.shape[1])
            self.low = torch.zeros(k, **long)
            self.ends = torch.arange(2, **long)  # a bracket's two ends

    def advance(self, loss_e: torch.Tensor, grad_e: torch.Tensor) -> None:
        opt, cfg = self.opt, self.opt.cfg
        phase = self.phase
        # the step's first evaluation
        first = phase == START
        self._accept(first, loss_e, grad_e)
        self.current_evals = torch.where(first, 1, self.current_evals)
        opt.func_evals += first
        self._finish(first & self.opt_cond)
        direction = first & ~self.opt_cond
        if opt.line_search:
            check = self._line_search(loss_e, grad_e)
        else:  # the fixed step's evaluation
            check = phase == PLAIN
            self._accept(check, loss_e, grad_e)
            self.current_evals += check
            opt.func_evals += check
        # the end of an iteration: torch's stopping conditions
        stop = (
            (self.local_iter == cfg.max_iter)
            | (self.current_evals >= opt.max_eval)
            | self.opt_cond
            | ((opt.d * opt.t[:, None]).abs().amax(1) <= cfg.tolerance_change)
            | ((self.loss - opt.prev_loss).abs() < cfg.tolerance_change)
        )
        self._finish(check & stop)
        self._direction(direction | (check & ~stop))

    def _accept(self, mask, loss, grad) -> None:
        self.loss = torch.where(mask, loss, self.loss)
        self.flat_grad = where_rows(mask, grad, self.flat_grad)
        self.opt_cond = torch.where(
            mask, grad.abs().amax(1) <= self.opt.cfg.tolerance_grad, self.opt_cond
        )

    def _finish(self, mask) -> None:
        self.phase = torch.where(mask, DONE, self.phase)

    def _direction(self, go: torch.Tensor) -> None:
        """The start of an iteration for the trials in ``go``: the L-BFGS direction, the
        initial step, and the first evaluation it asks for."""
        opt, cfg = self.opt, self.opt.cfg
        self.local_iter += go
        opt.n_iter += go
        first = opt.n_iter == 1
        flat_grad = self.flat_grad
        y = flat_grad - opt.prev_flat_grad
        s = opt.d * opt.t[:, None]
        ys = dot(y, s)
        push = go & ~first & (ys > 1e-10)
        opt.pairs_bound += 1
        opt._grow()
        slot = opt.head.remainder(opt.dirs.shape[1])
        rows = torch.arange(len(slot), device=slot.device)
        opt.dirs[rows, slot] = where_rows(push, y, opt.dirs[rows, slot])
        opt.stps[rows, slot] = where_rows(push, s, opt.stps[rows, slot])
        opt.ro[rows, slot] = torch.where(push, 1.0 / ys, opt.ro[rows, slot])
        pair_products(opt.sy, rows, slot, push, opt.stps, opt.dirs)
        opt.h_diag = torch.where(push, ys / dot(y, y), opt.h_diag)
        opt.head = torch.where(push, (opt.head + 1) % cfg.history_size, opt.head)
        opt.count = torch.where(push, (opt.count + 1).clamp(max=cfg.history_size), opt.count)
        # the two-loop recursion, over the slots any trial may hold, newest pair first
        # (column j: each trial's j-th newest pair), as two unit-triangular solves
        size = opt.dirs.shape[1]
        n_pairs = min(opt.pairs_bound, size)
        back = torch.arange(n_pairs, device=slot.device)
        order = (opt.head[:, None] - 1 - back).remainder(cfg.history_size).clamp(max=size - 1)
        r = two_loop(
            flat_grad.neg(),
            opt.stps[rows[:, None], order],
            opt.dirs[rows[:, None], order],
            opt.ro[rows[:, None], order],
            opt.h_diag,
            opt.sy[rows[:, None, None], order[:, :, None], order[:, None, :]],
        )
        d = torch.where(first[:, None], flat_grad.neg(), r)
        opt.d = where_rows(go, d, opt.d)
        opt.prev_flat_grad = where_rows(go, flat_grad, opt.prev_flat_grad)
        opt.prev_loss = torch.where(go, self.loss, opt.prev_loss)
        t_first = minimum(torch.ones_like(opt.t), 1.0 / flat_grad.abs().sum(1)) * cfg.lr
        opt.t = torch.where(go, torch.where(first, t_first, cfg.lr), opt.t)
        gtd = dot(flat_grad, opt.d)
        flat = go & (gtd > -cfg.tolerance_change)
        self._finish(flat)
        go = go & ~flat
        v = opt.v
        if not opt.line_search:
            v.copy_(where_rows(go, v + opt.t[:, None] * opt.d, v))
            last = self.local_iter == cfg.max_iter  # torch evaluates no more in the last one
            self.phase = torch.where(go, torch.where(last, DONE, PLAIN), self.phase)
            return
        # torch's _strong_wolfe, from its first evaluation
        self.x_init = where_rows(go, v, self.x_init)
        self.d_norm = torch.where(go, opt.d.abs().amax(1), self.d_norm)
        self.f = torch.where(go, self.loss, self.f)
        self.gtd = torch.where(go, gtd, self.gtd)
        self.t_prev = torch.where(go, 0.0, self.t_prev)
        self.f_prev = torch.where(go, self.loss, self.f_prev)
        self.g_prev = where_rows(go, flat_grad, self.g_prev)
        self.gtd_prev = torch.where(go, gtd, self.gtd_prev)
        self.ls_iter, self.ls_evals = (torch.where(go, 0, n) for n in (self.ls_iter, self.ls_evals))
        self.max_ls = torch.where(go, opt.max_eval - self.current_evals, self.max_ls)
        self.done, self.insuf = self.done & ~go, self.insuf & ~go
        self._request(go, opt.t, BRACKET)

    def _request(self, mask: torch.Tensor, t: torch.Tensor, phase: int) -> None:
        """The line search asks for the loss at x_init + t d."""
        opt = self.opt
        opt.t = torch.where(mask, t, opt.t)
        opt.v.copy_(where_rows(mask, self.x_init + opt.t[:, None] * opt.d, opt.v))
        self.phase = torch.where(mask, phase, self.phase)

    def _set_bracket(self, mask, pos, t, f, g, gtd) -> None:
        """Bracket end ``pos`` (``[K]``: 0 or 1) of the trials in ``mask`` := (t, f, g, gtd)."""
        at = mask[:, None] & (self.ends == pos[:, None])  # [K, 2]: the entries set
        self.bt = torch.where(at, t[:, None], self.bt)
        self.bf = torch.where(at, f[:, None], self.bf)
        self.bg = torch.where(at[:, :, None], g[:, None, :], self.bg)
        self.bgtd = torch.where(at, gtd[:, None], self.bgtd)

    def _order(self, mask) -> None:
        """torch's low_pos: the bracket end with the lower loss (the first on a tie)."""
        self.low = torch.where(mask, (self.bf[:, 0] > self.bf[:, 1]).long(), self.low)

    def _line_search(self, f_new: torch.Tensor, g_new: torch.Tensor) -> torch.Tensor:
        """The line search's evaluations of this round: the trials whose search ended, ready
        for the end-of-iteration checks."""
        opt = self.opt
        t, d = opt.t, opt.d
        zeros, ones = torch.zeros_like(self.low), torch.ones_like(self.low)
        gtd_new = dot(g_new, d)
        armijo_fails = f_new > self.f + C1 * t * self.gtd
        curvature = gtd_new.abs() <= -C2 * self.gtd
        # bracketing (torch's first loop)
        bracketing = self.phase == BRACKET
        self.ls_evals += bracketing
        exhausted = bracketing & (self.ls_iter >= self.max_ls)
        live = bracketing & ~exhausted
        to_bracket = live & (armijo_fails | ((self.ls_iter > 1) & (f_new >= self.f_prev)))
        wolfe = live & ~to_bracket & curvature
        to_bracket = to_bracket | (live & ~to_bracket & ~wolfe & (gtd_new >= 0))
        onward = live & ~to_bracket & ~wolfe
        # ... out of evaluations: the bracket [0, t]
        self._set_bracket(exhausted, zeros, torch.zeros_like(t), self.f, self.flat_grad, self.gtd)
        self._set_bracket(exhausted, ones, t, f_new, g_new, gtd_new)
        # ... a bracket around a Wolfe point
        self._set_bracket(to_bracket, zeros, self.t_prev, self.f_prev, self.g_prev, self.gtd_prev)
        self._set_bracket(to_bracket, ones, t, f_new, g_new, gtd_new)
        self._order(exhausted | to_bracket)
        # ... a Wolfe point itself: the bracket [t]
        self._set_bracket(wolfe, zeros, t, f_new, g_new, gtd_new)
        self.low = torch.where(wolfe, 0, self.low)
        self.done = self.done | wolfe
        self.insuf = self.insuf & ~to_bracket
        # ... or extrapolate
        t_next = cubic_interpolate(
            self.t_prev, self.f_prev, self.gtd_prev, t, f_new, gtd_new,
            t + 0.01 * (t - self.t_prev), t * 10,
        )  # fmt: skip
        self.t_prev = torch.where(onward, t, self.t_prev)
        self.f_prev = torch.where(onward, f_new, self.f_prev)
        self.g_prev = where_rows(onward, g_new, self.g_prev)
        self.gtd_prev = torch.where(onward, gtd_new, self.gtd_prev)
        self.ls_iter += onward
        # zoom (torch's second loop): this round's zoom evaluations update the bracket
        zooming = self.phase == ZOOM
        self.ls_evals += zooming
        rows = torch.arange(len(self.low), device=self.low.device)
        low, high = self.low, 1 - self.low
        raise_high = zooming & (armijo_fails | (f_new >= self.bf[rows, low]))
        lower = zooming & ~raise_high
        self.done = self.done | (lower & curvature)
        collapse = lower & ~curvature & (gtd_new * (self.bt[rows, high] - self.bt[rows, low]) >= 0)
        self._set_bracket(raise_high, high, t, f_new, g_new, gtd_new)
        self._order(raise_high)
        self._set_bracket(
            collapse, high, self.bt[rows, low], self.bf[rows, low], self.bg[rows, low],
            self.bgtd[rows, low],
        )  # fmt: skip
        self._set_bracket(lower, low, t, f_new, g_new, gtd_new)
        # the zoom loop's head: go on, or end the search
        head = to_bracket | zooming
        tiny = (self.bt[:, 1] - self.bt[:, 0]).abs() * self.d_norm < opt.cfg.tolerance_change
        ended = head & (self.done | (self.ls_iter >= self.max_ls) | tiny)
        zoom = head & ~ended
        t_zoom = cubic_interpolate(
            self.bt[:, 0], self.bf[:, 0], self.bgtd[:, 0],
            self.bt[:, 1], self.bf[:, 1], self.bgtd[:, 1],
        )  # fmt: skip
        b_max, b_min = maximum(self.bt[:, 0], self.bt[:, 1]), minimum(self.bt[:, 0], self.bt[:, 1])
        eps = 0.1 * (b_max - b_min)
        near = minimum(b_max - t_zoom, t_zoom - b_min) < eps
        at_edge = self.insuf | (t_zoom >= b_max) | (t_zoom <= b_min)
        moved = torch.where(
            (t_zoom - b_max).abs() < (t_zoom - b_min).abs(), b_max - eps, b_min + eps
        )
        t_zoom = torch.where(near & at_edge, moved, t_zoom)
        self.insuf = torch.where(zoom, near & ~at_edge, self.insuf)
        self.ls_iter += zoom
        self._request(onward, t_next, BRACKET)
        self._request(zoom, t_zoom, ZOOM)
        # the search's end: the bracket's low end
        ended = ended | exhausted | wolfe
        low = self.low
        opt.t = torch.where(ended, self.bt[rows, low], opt.t)
        self._accept(ended, self.bf[rows, low], self.bg[rows, low])
        opt.v.copy_(where_rows(ended, self.x_init + opt.t[:, None] * d, opt.v))
        self.current_evals += torch.where(ended, self.ls_evals, 0)
        opt.func_evals += torch.where(ended, self.ls_evals, 0)
        return ended
