"""Event datasets, framed with ``tonic.transforms.ToFrame`` into ``[T, 2, H, W]`` counts.

- ``dvsgesture``: ``tonic.datasets.DVSGesture`` (``ROOT/DVSGesture/ibmGesture{Train,Test}/``,
  the extracted ``.npy`` layout), ``ToFrame(sensor_size=(128, 128, 2), n_time_bins=20)``.
"""

from __future__ import annotations

import numpy as np
import torch

from snnleak.data.base import (
    DatasetInfo,
    DataUnavailable,
    LoadRequest,
    Split,
    download_hint,
    require_root,
)

TIME_BINS = 20
DVS_GESTURE_CLASSES = (
    "hand clap",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter clockwise",
    "left arm clockwise",
    "left arm counter clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gestures",
)


def frame(events: np.ndarray, sensor_size: tuple[int, int, int], bins: int) -> torch.Tensor:
    """tonic-style structured events ``(x, y, t, p)`` -> float ``[bins, 2, H, W]`` counts."""
    from tonic.transforms import ToFrame

    frames = ToFrame(sensor_size=sensor_size, n_time_bins=bins)(events)
    return torch.from_numpy(np.asarray(frames, dtype=np.float32))


def load_dvsgesture(req: LoadRequest) -> Split:
    from tonic.datasets import DVSGesture

    root = require_root(req, "dvsgesture")
    train = req.split == "train"
    folder = root / "DVSGesture"
    extracted = folder / ("ibmGestureTrain" if train else "ibmGestureTest")
    archive = folder / (DVSGesture.train_filename if train else DVSGesture.test_filename)
    # tonic's own test (archive present, >= 100 .npy files); it would download otherwise
    present = archive.exists() and len(list(extracted.glob("**/*.npy"))) >= 100
    if not req.download and not present:
        raise DataUnavailable(
            f"dvsgesture not found under {extracted} (tonic's archive and extracted .npy "
            f"files); fetch it with '{download_hint('dvsgesture', root)}', or use the "
            "embedded 'dvs-synth' set"
        )
    ds = DVSGesture(str(root), train=train)
    sensor = DVSGesture.sensor_size
    info = DatasetInfo(
        "dvsgesture",
        (TIME_BINS, 2, sensor[1], sensor[0]),
        11,
        DVS_GESTURE_CLASSES,
        "events",
        False,
        f"tonic DVSGesture, ToFrame(n_time_bins={TIME_BINS})",
        items="paper",
    )

    def get(i: int) -> tuple[torch.Tensor, int]:
        events, label = ds[i]
        return frame(events, sensor, TIME_BINS), int(label)

    return Split(info, len(ds), get)
