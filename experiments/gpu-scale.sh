#!/usr/bin/env bash
# The GPU half of "fill a GPU with trials", prepared as one command for a session lent a GPU
# (../shared/gpu/README.md: `bash ../shared/gpu/prepare.sh` here, then on the device, with
# carry [".whl", ".gpu"]: `CMD="bash experiments/gpu-scale.sh" bash .gpu/on-device.sh`).
# About 10 minutes on an H200; everything lands in $OUT.
set -u
OUT=${OUT:-/tmp/out}
# 1. correctness first: the CUDA kernels, a CUDA attack against the CPU, batched against solo
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_device.py \
  tests/test_batched.py -k "not events" 2>&1 | tail -5
# 2. the scaling curve: trials per hour against K (iDLG, strong-Wolfe iDLG, the proxy)
timeout 200 bash -c "snnleak bench attacks --device cuda --attack idlg,grnn --trials 1,16,64 \
  --samples 64 --iterations 2 --rounds 1 --out $OUT/bench-none" 2>&1 | tail -12
timeout 150 bash -c "snnleak bench attacks --device cuda --attack idlg --line-search strong_wolfe \
  --trials 1,16,64 --samples 64 --iterations 2 --rounds 1 --out $OUT/bench-wolfe" 2>&1 | tail -8
timeout 100 bash -c "snnleak bench attacks --device cuda --attack idlg --trials 256 \
  --samples 256 --iterations 2 --rounds 1 --out $OUT/bench-256" 2>&1 | tail -6
# 3. the fused neuron kernels' achieved bandwidth against the card's peak (bench kernels' figure)
timeout 60 python3 -c "import json, torch; from snnleak.bench import bandwidth; \
from snnleak.bench.kernels import KernelBenchConfig, fused_op_case; \
print(json.dumps(bandwidth.measure(fused_op_case(KernelBenchConfig(device='cuda')), \
torch.device('cuda'), 20)))" 2>&1 | tail -3
# 4. the estimate the issue asks for, with K = auto on this card
timeout 150 bash -c "snnleak reproduce all --preset paper --dry-run --device cuda" 2>&1 | tail -40
