"""The numbers the paper reports (Tables II, IV, V and VI), to print beside ours.

Transcribed from "Privacy in Federated Learning with Spiking Neural Networks"; keys use
snnleak's names (attack ``dlg``, ``idlg``, ``grnn``; model ``ann`` for LeNet, ``snn`` for
SNN-LeNet). These are the paper's
measurements on its data (MNIST, CIFAR-100, LFW, DVS128 Gesture, 1,000 samples per cell), not
ours, and every table labels them so.
"""

from __future__ import annotations

# Table II: paper dataset -> (judge, test accuracy %)
TABLE2 = {
    "MNIST": ("LeNet", 97.75),
    "CIFAR-100": ("LeNet", 24.62),
    "LFW": ("ResNet-50 (IMAGENET1K_V1) + ArcFace", 100.0),
    "DVS128 Gesture": ("DVSGestureSNN", 92.80),
}

# Table IV: (attack, paper dataset, model) -> (ASR %, MSE, SSIM, PSNR dB)
TABLE4 = {
    ("dlg", "MNIST", "ann"): (79.40, 0.07, 0.77, 29.94),
    ("dlg", "MNIST", "snn"): (37.20, 0.15, 0.39, 9.48),
    ("dlg", "CIFAR-100", "ann"): (68.80, 0.05, 0.67, 30.29),
    ("dlg", "CIFAR-100", "snn"): (24.40, 0.14, 0.11, 9.46),
    ("dlg", "LFW", "ann"): (92.50, 0.05, 0.57, 25.34),
    ("dlg", "LFW", "snn"): (83.80, 0.16, 0.05, 8.06),
    ("idlg", "MNIST", "ann"): (88.30, 0.04, 0.86, 28.03),
    ("idlg", "MNIST", "snn"): (37.80, 0.11, 0.41, 9.99),
    ("idlg", "CIFAR-100", "ann"): (82.60, 0.03, 0.81, 33.77),
    ("idlg", "CIFAR-100", "snn"): (22.80, 0.08, 0.18, 11.85),
    ("idlg", "LFW", "ann"): (97.30, 0.01, 0.91, 33.95),
    ("idlg", "LFW", "snn"): (32.20, 0.07, 0.28, 11.89),
    ("grnn", "MNIST", "ann"): (85.80, 0.02, 0.69, 19.36),
    ("grnn", "MNIST", "snn"): (9.60, 0.21, 0.00, 6.78),
    ("grnn", "CIFAR-100", "ann"): (69.30, 0.01, 0.66, 19.48),
    ("grnn", "CIFAR-100", "snn"): (10.70, 0.11, 0.07, 10.16),
    ("grnn", "LFW", "ann"): (88.10, 0.01, 0.66, 18.85),
    ("grnn", "LFW", "snn"): (55.10, 0.11, 0.39, 9.66),
}

# Table V: (threshold, attack) -> (post ASR %, post l2, in ASR %, in l2)
TABLE5 = {
    (0.1, "dlg"): (9.41, 504.03, 9.60, 457.2643),
    (0.1, "idlg"): (9.19, 508.09, 9.60, 457.2764),
    (0.25, "dlg"): (7.67, 257.75, 7.10, 100.1694),
    (0.25, "idlg"): (8.54, 270.65, 7.80, 100.1893),
    (0.5, "dlg"): (8.04, 127.36, 8.50, 42.5694),
    (0.5, "idlg"): (8.29, 130.44, 8.50, 42.5694),
    (0.75, "dlg"): (9.41, 87.52, 8.50, 42.5647),
    (0.75, "idlg"): (9.65, 85.45, 8.50, 42.5647),
    (0.9, "dlg"): (8.54, 75.47, 8.50, 42.5647),
    (0.9, "idlg"): (10.64, 72.33, 8.50, 42.5647),
    (0.95, "dlg"): (8.42, 72.50, 8.50, 42.5647),
    (0.95, "idlg"): (10.52, 69.21, 8.50, 42.5647),
}
TABLE5_CLASSES = 11  # DVS128 Gesture: chance ASR 9.1%

# Table VI: kind -> (mean, std, min, max) of l2 distances on DVS128 Gesture
TABLE6 = {
    "intra": (60.34, 13.80, 0.00, 106.64),
    "inter": (60.80, 11.51, 14.93, 105.15),
}
