#!/usr/bin/env bash
# The GPU half of "fill a GPU with trials", prepared as one command for a session lent a GPU
# (../shared/gpu/README.md: `bash ../shared/gpu/prepare.sh` here, then on the device, with
# carry [".whl", ".gpu"]: `CMD="bash experiments/gpu-scale.sh" bash .gpu/on-device.sh`).
# About 10 minutes on an H200, each step bounded by its timeout; everything lands in $OUT.
set -u
OUT=${OUT:-/tmp/out}
# 1. correctness first: the CUDA kernels, a CUDA attack against the CPU, batched against solo,
#    and CUDA-graph replay against eager (tests/test_graphs.py's GPU half)
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_device.py \
  tests/test_graphs.py tests/test_batched.py -k "not events" 2>&1 | tail -6
# 2. the scaling curve: trials per hour against K; on a GPU each K runs eagerly and with CUDA
#    graphs, side by side (iDLG and GRNN; then strong-Wolfe iDLG and the proxy)
timeout 200 bash -c "snnleak bench attacks --device cuda --attack idlg,grnn --trials 1,16,128 \
  --samples 128 --iterations 2 --rounds 1 --out $OUT/bench-none" 2>&1 | tail -14
timeout 120 bash -c "snnleak bench attacks --device cuda --attack idlg,proxy \
  --line-search strong_wolfe --trials 1,16 --samples 16 --iterations 2 --rounds 1 \
  --out $OUT/bench-wolfe" 2>&1 | tail -10
# 3. Table V's event-sized step (dvs-synth, 2x128x128 per time step): fp32 against TF32 and
#    cuDNN autotuning, the speed, then the attack's outcome under each precision
for mode in "--no-tf32" "--tf32 --cudnn-benchmark"; do
  timeout 60 bash -c "snnleak bench attacks --device cuda $mode --dataset dvs-synth \
    --attack idlg --trials 1,8 --samples 8 --iterations 1 --timesteps 8 --rounds 1 \
    --out '$OUT/events$mode'" 2>&1 | tail -5
  timeout 60 bash -c "snnleak attack --device cuda $mode --attack idlg --model snn \
    --dataset dvs-synth --samples 8 --batch-trials 8 --iterations 20 --timesteps 8 \
    --out '$OUT/outcome$mode'" 2>&1 | tail -2
done
python3 - "$OUT" <<'PY' 2>&1 | tail -4
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
for name in ("outcome--no-tf32", "outcome--tf32 --cudnn-benchmark"):
    rows = [json.loads(line) for line in (out / name / "records.jsonl").read_text().splitlines()]
    print(name, "median mse", statistics.median(r["mse"] for r in rows),
          "median loss_ratio", statistics.median(r["loss_ratio"] for r in rows))
PY
# 4. the fused neuron kernels' achieved bandwidth against the card's peak (bench kernels' figure)
timeout 60 python3 -c "import json, torch; from snnleak.bench import bandwidth; \
from snnleak.bench.kernels import KernelBenchConfig, fused_op_case; \
print(json.dumps(bandwidth.measure(fused_op_case(KernelBenchConfig(device='cuda')), \
torch.device('cuda'), 20)))" 2>&1 | tail -3
# 5. the estimate the issue asks for, with K = auto on this card (CUDA graphs on)
timeout 120 bash -c "snnleak reproduce all --preset paper --dry-run --device cuda" 2>&1 | tail -40
