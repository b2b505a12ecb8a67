r"""``dvs-synth``: a DVS pixel model applied to digits moving along distinct trajectories.

No package ships DVS recordings, so this set synthesises them (and says so wherever results are
printed). A scene is rendered at ``RATE`` samples per second; each pixel of the sensor keeps the
log intensity :math:`L = \log(I + \epsilon)` at its last event, and emits

- an ON event when :math:`L - L_{ref} \ge C` and an OFF event when :math:`L - L_{ref} \le -C`,
  one event per whole multiple of the contrast threshold C crossed, after which
  :math:`L_{ref}` moves by that many multiples of C;
- nothing while it is inside its refractory period after its last event (its reference is then
  left where it was, so the change is reported once the period ends).

Events are tonic-style structured arrays ``(x, y, t, p)`` with ``t`` in microseconds, framed by
the same ``ToFrame`` as the real DVS Gesture set. A class is a trajectory: the digit (scikit-
learn's digits, upscaled) enters and crosses the sensor along one of ``TRAJECTORIES``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from snnleak.data.base import DatasetInfo, LoadRequest, Split, seeded_indices, tensor_split
from snnleak.data.events import TIME_BINS, frame
from snnleak.io import cache_root, save_atomic

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
SENSOR = 32  # pixels per side
TRAJECTORIES = (
    "left-to-right",
    "right-to-left",
    "top-to-bottom",
    "bottom-to-top",
    "clockwise circle",
    "counter-clockwise circle",
)
PER_CLASS = 40


@dataclass(frozen=True)
class PixelModel:
    contrast: float = 0.3  # C, in log intensity
    refractory_us: int = 2_000
    eps: float = 0.05  # log(I + eps): dark pixels stay finite


def dvs_events(frames: np.ndarray, times_us: np.ndarray, model: PixelModel) -> np.ndarray:
    """Events of a pixel array watching ``frames`` (``[S, H, W]`` intensities in [0, 1]) sampled
    at ``times_us``; the first frame sets every pixel's reference (no events)."""
    log = np.log(frames.astype(np.float64) + model.eps)
    ref = log[0].copy()
    last = np.full(ref.shape, -np.iinfo(np.int64).max // 2, dtype=np.int64)
    out = []
    for s in range(1, len(frames)):
        t = int(times_us[s])
        ready = (t - last) >= model.refractory_us
        steps = np.trunc((log[s] - ref) / model.contrast).astype(np.int64)
        fire = ready & (steps != 0)
        if not fire.any():
            continue
        ys, xs = np.nonzero(fire)
        n = np.abs(steps[ys, xs])
        ev = np.empty(int(n.sum()), dtype=EVENT_DTYPE)
        ev["x"], ev["y"] = np.repeat(xs, n), np.repeat(ys, n)
        ev["t"] = t
        ev["p"] = np.repeat((steps[ys, xs] > 0).astype(np.int8), n)
        out.append(ev)
        ref[ys, xs] += steps[ys, xs] * model.contrast
        last[ys, xs] = t
    return np.concatenate(out) if out else np.empty(0, dtype=EVENT_DTYPE)


def trajectory(kind: int, phase: np.ndarray, size: int, sprite: int) -> np.ndarray:
    """Top-left corner ``[S, 2]`` (row, col) of the sprite along trajectory ``kind`` at
    ``phase`` in [0, 1]."""
    span = size - sprite
    mid = span / 2
    if kind < 4:
        sweep = phase * span if kind in (0, 2) else (1 - phase) * span
        rows = sweep if kind in (2, 3) else np.full_like(phase, mid)
        cols = sweep if kind in (0, 1) else np.full_like(phase, mid)
        return np.stack([rows, cols], 1)
    angle = 2 * math.pi * phase * (1 if kind == 4 else -1)
    radius = span / 2 * 0.8
    return np.stack([mid + radius * np.sin(angle), mid + radius * np.cos(angle)], 1)


def render(digit: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
    """Frames ``[S, size, size]``: a dim background with the digit at sub-pixel corners
    (bilinear interpolation of the sprite's position)."""
    sprite = digit.shape[0]
    rows = np.arange(size)[None, :, None] - corners[:, 0, None, None]  # [S, size, 1]
    cols = np.arange(size)[None, None, :] - corners[:, 1, None, None]  # [S, 1, size]
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    padded = np.pad(digit, 1)  # index -1 and sprite read zeros

    def at(r, c):
        inside = (r >= -1) & (r <= sprite) & (c >= -1) & (c <= sprite)
        return np.where(
            inside, padded[np.clip(r + 1, 0, sprite + 1), np.clip(c + 1, 0, sprite + 1)], 0.0
        )

    value = (
        (1 - fr) * (1 - fc) * at(r0, c0)
        + (1 - fr) * fc * at(r0, c0 + 1)
        + fr * (1 - fc) * at(r0 + 1, c0)
        + fr * fc * at(r0 + 1, c0 + 1)
    )
    return np.clip(0.1 + 0.9 * value, 0, 1)


def sample(
    digit: np.ndarray,
    kind: int,
    rng: np.random.Generator,
    model: PixelModel = PixelModel(),
    duration_us: int = 1_000_000,
    rate: int = 100,
) -> np.ndarray:
    """Events of one digit crossing the sensor along trajectory ``kind`` (with jitter)."""
    n = duration_us * rate // 1_000_000
    times = np.linspace(0, duration_us - 1, n).astype(np.int64)
    phase = np.clip(np.linspace(0, 1, n) * rng.uniform(0.85, 1.0) + rng.uniform(0, 0.1), 0, 1)
    corners = trajectory(kind, phase, SENSOR, digit.shape[0]) + rng.normal(0, 0.3, (n, 2))
    corners = np.clip(corners, 0, SENSOR - digit.shape[0])
    return dvs_events(render(digit, corners, SENSOR), times, model)


# bump when the generator changes: it keys the on-disk cache
VERSION = 1


@functools.cache
def _dataset(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The framed set, generated once and cached under ``$SNNLEAK_CACHE_DIR/data``."""
    path = cache_root() / "data" / f"dvs-synth-v{VERSION}-seed{seed}.pt"
    if path.exists():
        try:
            cached = torch.load(path, weights_only=True)
            return cached["x"].float(), cached["y"]
        except Exception:  # a corrupt cache is regenerated
            path.unlink(missing_ok=True)
    x, y = _generate(seed)
    save_atomic({"x": x.to(torch.uint8), "y": y}, path)
    return x, y


def _generate(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from skimage.transform import resize
    from sklearn.datasets import load_digits

    digits = load_digits().images / 16.0
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for kind in range(len(TRAJECTORIES)):
        for _ in range(PER_CLASS):
            digit = resize(digits[rng.integers(len(digits))], (12, 12), order=1)
            events = sample(digit, kind, rng)
            xs.append(frame(events, (SENSOR, SENSOR, 2), TIME_BINS).clamp_(max=255))
            ys.append(kind)
    return torch.stack(xs), torch.tensor(ys, device="cpu")


def load_dvs_synth(req: LoadRequest) -> Split:
    info = DatasetInfo(
        "dvs-synth",
        (TIME_BINS, 2, SENSOR, SENSOR),
        len(TRAJECTORIES),
        TRAJECTORIES,
        "events",
        True,
        "SYNTHETIC: DVS pixel model on moving digits, tonic ToFrame",
        "dvsgesture",
        items="stand-in",
    )
    x, y = _dataset(req.seed)
    idx = seeded_indices(len(y), req.seed)[req.split]
    return tensor_split(info, x[idx], y[idx])
