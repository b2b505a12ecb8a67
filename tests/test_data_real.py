"""Each real loader reads a small dataset written here in its library's real on-disk format,
through the real torchvision / tonic classes. (CIFAR-100 and LFW verify the MD5 of the
official archives, which a hand-made file cannot match: only that check is bypassed.)"""

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from snnleak import data
from snnleak.data import DataUnavailable


def _idx(path, array: np.ndarray, magic: int):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    for prefix in ("train", "t10k"):
        _idx(raw / f"{prefix}-images-idx3-ubyte", images, 0x00000803)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 0x00000801)
    split = data.load("mnist", "train", root=tmp_path)
    x, y = split[2]
    assert len(split) == 5 and split.info.input_shape == (1, 28, 28) and y == 4
    torch.testing.assert_close(x, torch.from_numpy(images[2]).float().unsqueeze(0) / 255)


def test_cifar100_pickles(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 3 * 32 * 32), dtype=np.uint8)
    # the official pickles come from Python 2; torchvision reads them with latin1, giving str keys
    batch = {"data": images, "fine_labels": [7, 0, 99, 42], "coarse_labels": [0, 0, 0, 0]}
    for name in ("train", "test"):
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [f"class{i}" for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names}))
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    split = data.load("cifar100", "test", root=tmp_path)
    x, y = split[2]
    assert split.info.num_classes == 100 and split.info.class_names[42] == "class42"
    assert y == 99 and x.shape == (3, 32, 32)
    torch.testing.assert_close(x, torch.from_numpy(images[2]).reshape(3, 32, 32).float() / 255)


def test_lfw_people_folder(tmp_path, monkeypatch):
    from PIL import Image
    from torchvision.datasets import LFWPeople

    base = tmp_path / "lfw-py"
    people = {"Ada_Lovelace": 3, "Alan_Turing": 2}
    for name, n in people.items():
        (base / "lfw_funneled" / name).mkdir(parents=True)
        for k in range(1, n + 1):
            arr = np.full((40, 30, 3), 40 * k, dtype=np.uint8)
            Image.fromarray(arr).save(base / "lfw_funneled" / name / f"{name}_{k:04d}.jpg")
    fold = "\n".join(f"{name}\t{n}" for name, n in people.items())
    (base / "people.txt").write_text(f"1\n{len(people)}\n{fold}\n")
    (base / "lfw-names.txt").write_text("\n".join(f"{n}\t{c}" for n, c in people.items()))
    monkeypatch.setattr(LFWPeople, "_check_integrity", lambda self: True)
    train = data.load("lfw", "train", root=tmp_path, seed=0)
    test = data.load("lfw", "test", root=tmp_path, seed=0)
    assert len(train) + len(test) == 5 and len(train) == 4
    assert train.info.num_classes == 2 and train.info.class_names == tuple(people)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.min() >= 0 and x.max() <= 1 and y in (0, 1)


def test_dvsgesture_npy_layout(tmp_path):
    from tonic.datasets import DVSGesture

    folder = tmp_path / "DVSGesture"
    extracted = folder / "ibmGestureTest"
    rng = np.random.default_rng(0)
    for user in range(10):
        d = extracted / f"user{user + 1:02d}_fluorescent"
        d.mkdir(parents=True)
        for label in range(10):
            n = 300
            ev = np.stack(
                [
                    rng.integers(0, 128, n),
                    rng.integers(0, 128, n),
                    rng.integers(0, 2, n),
                    np.sort(rng.integers(0, 6000, n)),
                ],
                1,
            )
            np.save(d / f"{label}.npy", ev.astype(np.float64))
    (folder / DVSGesture.test_filename).write_bytes(b"")  # the archive tonic expects beside it
    split = data.load("dvsgesture", "test", root=tmp_path)
    x, y = split[0]
    assert len(split) == 100 and split.info.num_classes == 11
    # ToFrame's last bin is open at the end: the final event of a recording may fall outside
    assert x.shape == (20, 2, 128, 128) and 299 <= x.sum() <= 300 and 0 <= y < 10


@pytest.mark.parametrize(
    ("name", "alternative"),
    [
        ("mnist", "mnist-5k"),
        ("cifar100", "patches"),
        ("lfw", "lfw-subset"),
        ("dvsgesture", "dvs-synth"),
    ],
)
def test_missing_real_dataset_names_path_download_and_alternative(tmp_path, name, alternative):
    with pytest.raises(DataUnavailable) as info:
        data.load(name, "train", root=tmp_path / "empty")
    message = str(info.value)
    assert str(tmp_path / "empty") in message
    assert f"snnleak data download {name} --data-root {tmp_path / 'empty'}" in message
    assert f"'{alternative}'" in message and "\n" not in message
