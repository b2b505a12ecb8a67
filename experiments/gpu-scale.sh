#!/usr/bin/env bash
# The GPU half of "fill a GPU with trials", prepared as one command for a session lent a GPU
# (../shared/gpu/README.md: `bash ../shared/gpu/prepare.sh` here, then on the device, with
# carry [".whl", ".gpu"]: `CMD="bash experiments/gpu-scale.sh" bash .gpu/on-device.sh`).
# Steps run most important first, each bounded by its timeout (590 s in all, under the
# device tool's 600 s per command); everything lands in $OUT.
set -u
OUT=${OUT:-/tmp/out}
# 1. correctness first: the CUDA kernels, a CUDA attack against the CPU, batched against solo,
#    and CUDA-graph replay against eager (tests/test_graphs.py's GPU half)
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_fused.py tests/test_device.py \
  tests/test_graphs.py tests/test_stacked.py tests/test_batched.py -k "not events" 2>&1 | tail -6
# 2. the scaling curve, each K eagerly and with CUDA graphs side by side (iDLG and GRNN)
timeout 120 bash -c "snnleak bench attacks --device cuda --attack idlg,grnn --trials 1,16,128 \
  --samples 128 --iterations 2 --rounds 1 --out $OUT/bench-none" 2>&1 | tail -14
# 3. the estimate the issue asks for, with K = auto on this card (CUDA graphs on)
timeout 90 bash -c "snnleak reproduce all --preset paper --dry-run --device cuda" 2>&1 | tail -30
# 4. Table V's event-sized step (dvs-synth, 2x128x128 per time step): fp32 NCHW against
#    channels-last, and against TF32 + cuDNN autotuning; then the attack's outcome, fp32 and TF32
for mode in "--no-tf32" "--channels-last" "--tf32 --cudnn-benchmark --channels-last"; do
  timeout 35 bash -c "snnleak bench attacks --device cuda $mode --dataset dvs-synth \
    --attack idlg --trials 1,8 --samples 8 --iterations 1 --timesteps 8 --rounds 1 \
    --out '$OUT/events$mode'" 2>&1 | tail -4
done
for mode in "--no-tf32" "--tf32 --cudnn-benchmark"; do
  timeout 35 bash -c "snnleak attack --device cuda $mode --attack idlg --model snn \
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
# 5. the fused neuron kernels' achieved bandwidth against the card's peak (bench kernels' figure)
timeout 25 python3 -c "import json, torch; from snnleak.bench import bandwidth; \
from snnleak.bench.kernels import KernelBenchConfig, fused_op_case; \
print(json.dumps(bandwidth.measure(fused_op_case(KernelBenchConfig(device='cuda')), \
torch.device('cuda'), 20)))" 2>&1 | tail -3
# 6. strong-Wolfe iDLG and the proxy, eager and CUDA graphs
timeout 60 bash -c "snnleak bench attacks --device cuda --attack idlg,proxy \
  --line-search strong_wolfe --trials 1,16 --samples 16 --iterations 1 --rounds 1 \
  --out $OUT/bench-wolfe" 2>&1 | tail -10
