#!/usr/bin/env bash
# GPU readiness in one command, under 8 minutes on one modern GPU: the NCCL path of torchrun (one process per
# GPU; one GPU is enough to run it), the quick suite on the GPU, and the throughput benchmarks. Everything it
# prints goes to OUT (default gpu-check/), one log per step plus summary.txt; a failing step is recorded and
# the next one runs.
#   bash benchmarks/gpu_check.sh [OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
GPUS=$($PYTHON -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -lt 1 ]; then
    echo "no CUDA GPU visible: this check needs one" | tee "$OUT/summary.txt"
    exit 2
fi
export DEEPBENCH_CACHE="$OUT/cache"
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, and record the outcome and wall time
    local name=$1 limit=$2; shift 2
    local started=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local status=$?
    echo "$name: exit $status in $((SECONDS - started)) s" | tee -a "$OUT/summary.txt"
}
: > "$OUT/summary.txt"
$PYTHON -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0), 'GPUs:', torch.cuda.device_count())" \
    | tee -a "$OUT/summary.txt"
step nccl-generate 120 torchrun --standalone --nproc_per_node="$GPUS" -m benchmark.cli -q generate \
    --dataset embedded --generator dcgan --epochs 1 --num-samples 64 --out "$OUT/runs/ddp"
step nccl-detect 120 torchrun --standalone --nproc_per_node="$GPUS" -m benchmark.cli -q detect \
    --run "$OUT/runs/ddp" --epochs 1 --perturbation none
step quick-suite 240 $PYTHON -m benchmark.cli -q run --out "$OUT/runs/quick"
step train-throughput 60 $PYTHON benchmarks/train_throughput.py --steps 20 --rounds 2
step inception-throughput 60 $PYTHON benchmarks/inception_throughput.py --count 256 --size 32
step ddp-throughput 60 $PYTHON benchmarks/ddp_throughput.py --steps 20
cat "$OUT/summary.txt"
