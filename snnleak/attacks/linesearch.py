"""torch's strong-Wolfe line search (``torch.optim.lbfgs._strong_wolfe``) for K trials at once,
as the rounds of :class:`~snnleak.attacks.lbfgs.RowLBFGS`: each trial's search is a phase
(bracketing, then zooming) and its numbers (steps, losses, directional derivatives, the
bracket) are ``[K]`` float64 arrays on the host, as torch's are Python floats; the gradients
at the bracket's ends are a ``[K, 2, n]`` tensor, written only for the trials a branch
selects."""

from __future__ import annotations

import numpy as np
import torch

from snnleak.attacks.rows import Rows, cubic_interpolate, maximum, minimum

# torch's strong-Wolfe constants; its line search keeps its own default tolerance_change
C1, C2, TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9
# a trial's phase within an L-BFGS step: the evaluation it waits for, or done
START, PLAIN, BRACKET, ZOOM, DONE = range(5)


class WolfeRounds:
    """The line search's part of an L-BFGS step's state (mixed into the step's state, which
    provides ``opt``, ``phase``, ``flat_grad``, ``loss``, ``grad_max``, ``rows``,
    ``_accept`` and ``_request``)."""

    def _search_variables(self, v: torch.Tensor) -> None:
        """torch's ``_strong_wolfe`` variables, for every trial of ``v [K, n]``."""
        k = v.shape[0]
        self.x_init, self.g_prev = torch.zeros_like(v), torch.zeros_like(v)
        self.bg = v.new_zeros(k, 2, v.shape[1])  # the bracket's gradients
        self.d_norm, self.f, self.gtd = np.zeros(k), np.zeros(k), np.zeros(k)
        self.t_prev, self.f_prev, self.gtd_prev = np.zeros(k), np.zeros(k), np.zeros(k)
        self.g_prev_max = np.zeros(k)
        self.ls_iter, self.ls_evals = np.zeros(k, np.int64), np.zeros(k, np.int64)
        self.max_ls, self.low = np.zeros(k, np.int64), np.zeros(k, np.int64)
        self.done, self.insuf = np.zeros(k, bool), np.zeros(k, bool)
        # the bracket's ends: step, loss, directional derivative, max |gradient|
        self.bt, self.bf, self.bgtd, self.bg_max = (np.zeros((k, 2)) for _ in range(4))

    def _start_search(self, rows: Rows, v: torch.Tensor, g, d_max, gtd) -> None:
        """torch's ``_strong_wolfe`` from its first evaluation, for the trials ``rows``
        (``g``: their gradients; ``d_max``, ``gtd``: their max |d| and g.d)."""
        idx, loss = rows.idx, self.loss[rows.idx]
        rows.put(self.x_init, rows.take(v))
        rows.put(self.g_prev, g)
        self.d_norm[idx], self.f[idx], self.gtd[idx] = d_max, loss, gtd
        self.t_prev[idx], self.f_prev[idx], self.gtd_prev[idx] = 0.0, loss, gtd
        self.g_prev_max[idx] = self.grad_max[idx]
        self.ls_iter[idx], self.ls_evals[idx] = 0, 0
        self.max_ls[idx] = self.opt.max_eval - self.current_evals[idx]
        self.done[idx], self.insuf[idx] = False, False
        self._request(rows, self.opt.t, BRACKET)

    def _set_bracket(self, mask, pos, t, f, gtd, g_max, grad) -> None:
        """Bracket end ``pos`` (``[K]``, or 0 or 1 for all) of the trials in ``mask`` := (t, f,
        gtd, max |g|, g); the numbers ``[K]`` or one for all; ``grad``: a ``[K, n]`` tensor,
        or a function giving the rows' own."""
        if not mask.any():
            return
        rows = self.rows(mask)
        idx = rows.idx
        at = pos if isinstance(pos, int) else pos[idx]
        for ends, value in ((self.bt, t), (self.bf, f), (self.bgtd, gtd), (self.bg_max, g_max)):
            ends[idx, at] = value if isinstance(value, float) else value[idx]
        if isinstance(pos, int):
            pos = np.full(len(mask), pos)
        rows.put_at(self.bg, pos, grad(rows) if callable(grad) else rows.take(grad))

    def _order(self, mask) -> None:
        """torch's low_pos: the bracket end with the lower loss (the first unless the first's
        is not <= the second's)."""
        self.low[mask] = ~(self.bf[mask, 0] <= self.bf[mask, 1])

    def _line_search(self, f_new, gtd_new, g_max, g_new: torch.Tensor) -> np.ndarray:
        """The line search's evaluations of this round: the trials whose search ended, ready
        for the end-of-iteration checks. A part no trial is in is skipped."""
        opt, none = self.opt, np.zeros_like(self.done)
        t = opt.t.copy()
        new = (t, f_new, gtd_new, g_max, g_new)
        armijo_fails = f_new > self.f + C1 * t * self.gtd
        curvature = np.abs(gtd_new) <= -C2 * self.gtd
        bracketing, zooming = self.phase == BRACKET, self.phase == ZOOM
        ended, to_bracket = none, none
        if bracketing.any():  # torch's first loop
            ended, to_bracket = self._bracketing(bracketing, new, armijo_fails, curvature)
        if zooming.any():  # torch's second loop: this round's evaluations update the bracket
            self._zooming(zooming, new, armijo_fails, curvature)
        head = to_bracket | zooming
        if head.any():  # the zoom loop's head: go on, or end the search
            ended = ended | self._zoom_head(head)
        done = self.rows(ended)
        if done:  # the search's end: the bracket's low end
            idx, low, rows = done.idx, self.low, np.arange(len(t))
            opt.t[idx] = self.bt[idx, low[idx]]
            self._accept(done, self.bf[rows, low], self.bg_max[rows, low],
                         lambda r: r.take_at(self.bg, low))  # fmt: skip
            self._request(done, opt.t)  # x_init + t d
            self.current_evals[idx] += self.ls_evals[idx]
            opt.func_evals[idx] += self.ls_evals[idx]
        return ended

    def _bracketing(self, bracketing, new, armijo_fails, curvature):
        """torch's first loop, for the trials ``bracketing``: a bracket, a Wolfe point, or a
        longer step to try. Returns the searches that ended and those that bracketed."""
        t, f_new, gtd_new, g_max, g_new = new
        self.ls_evals += bracketing
        exhausted = bracketing & (self.ls_iter >= self.max_ls)
        live = bracketing & ~exhausted
        to_bracket = live & (armijo_fails | ((self.ls_iter > 1) & (f_new >= self.f_prev)))
        wolfe = live & ~to_bracket & curvature
        to_bracket = to_bracket | (live & ~to_bracket & ~wolfe & (gtd_new >= 0))
        onward = live & ~to_bracket & ~wolfe
        # ... out of evaluations: the bracket [0, t]
        self._set_bracket(exhausted, 0, 0.0, self.f, self.gtd, self.grad_max, self.flat_grad)
        self._set_bracket(exhausted, 1, *new)
        # ... a bracket around a Wolfe point
        previous = (self.t_prev, self.f_prev, self.gtd_prev, self.g_prev_max, self.g_prev)
        self._set_bracket(to_bracket, 0, *previous)
        self._set_bracket(to_bracket, 1, *new)
        self._order(exhausted | to_bracket)
        # ... a Wolfe point itself: the bracket [t]
        self._set_bracket(wolfe, 0, *new)
        self.low[wolfe] = 0
        self.done |= wolfe
        self.insuf &= ~to_bracket
        ahead = self.rows(onward)
        if ahead:  # ... or extrapolate
            t_next = cubic_interpolate(
                self.t_prev, self.f_prev, self.gtd_prev, t, f_new, gtd_new,
                t + 0.01 * (t - self.t_prev), t * 10,
            )  # fmt: skip
            self.t_prev[onward], self.f_prev[onward] = t[onward], f_new[onward]
            self.gtd_prev[onward], self.g_prev_max[onward] = gtd_new[onward], g_max[onward]
            ahead.put(self.g_prev, ahead.take(g_new))
            self.ls_iter += onward
            self._request(ahead, t_next, BRACKET)
        return exhausted | wolfe, to_bracket

    def _zooming(self, zooming, new, armijo_fails, curvature) -> None:
        """torch's second loop after an evaluation, for the trials ``zooming``: the new point
        replaces one end of the bracket."""
        t, f_new, gtd_new = new[:3]
        self.ls_evals += zooming
        rows, low = np.arange(len(t)), self.low.copy()
        high = 1 - low
        raise_high = zooming & (armijo_fails | (f_new >= self.bf[rows, low]))
        lower = zooming & ~raise_high
        self.done |= lower & curvature
        collapse = lower & ~curvature & (gtd_new * (self.bt[rows, high] - self.bt[rows, low]) >= 0)
        self._set_bracket(raise_high, high, *new)
        self._order(raise_high)
        self._set_bracket(
            collapse, high, self.bt[rows, low], self.bf[rows, low], self.bgtd[rows, low],
            self.bg_max[rows, low], lambda r: r.take_at(self.bg, low),
        )  # fmt: skip
        self._set_bracket(lower, low, *new)

    def _zoom_head(self, head) -> np.ndarray:
        """The zoom loop's head for the trials ``head``: the searches that end, and the next
        step of the others (asked for). Returns those that end."""
        tiny = np.abs(self.bt[:, 1] - self.bt[:, 0]) * self.d_norm < TOLERANCE_CHANGE
        ended = head & (self.done | (self.ls_iter >= self.max_ls) | tiny)
        zoom = head & ~ended
        if not zoom.any():
            return ended
        t_zoom = cubic_interpolate(
            self.bt[:, 0], self.bf[:, 0], self.bgtd[:, 0],
            self.bt[:, 1], self.bf[:, 1], self.bgtd[:, 1],
        )  # fmt: skip
        b_max, b_min = maximum(self.bt[:, 0], self.bt[:, 1]), minimum(self.bt[:, 0], self.bt[:, 1])
        eps = 0.1 * (b_max - b_min)
        near = minimum(b_max - t_zoom, t_zoom - b_min) < eps
        at_edge = self.insuf | (t_zoom >= b_max) | (t_zoom <= b_min)
        moved = np.where(np.abs(t_zoom - b_max) < np.abs(t_zoom - b_min), b_max - eps, b_min + eps)
        t_zoom = np.where(near & at_edge, moved, t_zoom)
        self.insuf = np.where(zoom, near & ~at_edge, self.insuf)
        self.ls_iter += zoom
        self._request(self.rows(zoom), t_zoom, ZOOM)
        return ended
