"""Metrics against hand-computed values, and SSIM against scikit-image itself."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from snnleak import metrics


def test_mse_psnr_l2_by_hand():
    x = torch.tensor([[[0.0, 0.5], [1.0, 0.25]]])
    x_hat = torch.tensor([[[0.5, 0.5], [0.0, 0.25]]])
    assert metrics.mse(x_hat, x) == pytest.approx((0.25 + 1.0) / 4)
    assert metrics.psnr(x_hat, x) == pytest.approx(10 * math.log10(4 / 1.25))
    assert metrics.l2(x_hat, x) == pytest.approx(math.sqrt(1.25))
    assert metrics.psnr(x, x) == math.inf


def test_ssim_of_constant_images_by_hand():
    # local means a and b, no variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 1)^2
    a, b, c1 = 0.3, 0.6, 1e-4
    x = torch.full((1, 16, 16), a)
    y = torch.full((1, 16, 16), b)
    assert metrics.ssim(x, y) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-6)
    assert metrics.ssim(y, y) == pytest.approx(1.0)


def test_ssim_is_scikit_image_on_a_known_pair():
    rng = np.random.default_rng(0)
    gray = rng.random((28, 28))
    noisy = np.clip(gray + 0.1 * rng.standard_normal((28, 28)), 0, 1)
    want = structural_similarity(noisy, gray, data_range=1.0)
    assert metrics.ssim(torch.tensor(noisy[None]), torch.tensor(gray[None])) == pytest.approx(want)
    rgb, rgb_noisy = rng.random((3, 32, 32)), rng.random((3, 32, 32))
    want = structural_similarity(rgb_noisy, rgb, data_range=1.0, channel_axis=0)
    got = metrics.ssim(torch.tensor(rgb_noisy), torch.tensor(rgb))
    assert got == pytest.approx(want) and got < 0.1  # channel-aware, and unrelated images


def test_asr_by_hand():
    assert metrics.asr([1, 2, 3], [1, 0, 3]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        metrics.asr([], [])


def test_mean_ci():
    assert metrics.mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    mean, low, high = metrics.mean_ci([0.0, 1.0] * 50)
    assert mean == 0.5 and 0.35 < low < 0.5 < high < 0.65
    assert all(math.isnan(v) for v in metrics.mean_ci([None, math.nan]))


def test_class_l2_statistics_by_hand():
    # points on a line: class 0 at 0 and 1, class 1 at 3 and 10
    x = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    y = torch.tensor([0, 0, 1, 1])
    stats = metrics.class_l2_statistics(x, y)
    # intra: class 0 {1}, class 1 {7}: per-class means 1 and 7, std 0; min 1, max 7
    assert stats["intra"] == pytest.approx((4.0, 0.0, 1.0, 7.0))
    # inter: class 0 {3, 10, 2, 9}, class 1 {3, 2, 10, 9}: mean 6, std sqrt(12.5) each
    assert stats["inter"] == pytest.approx((6.0, math.sqrt(12.5), 2.0, 10.0))
