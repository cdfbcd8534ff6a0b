#!/usr/bin/env bash
# The GPU figures issues 10 and 11 ask for, in one go on a lent CUDA machine (about 8 minutes on one
# H200). Nothing here runs without a GPU: it says so in one line and exits 0.
#
# The data does not travel by itself: copy it into a folder of the checkout that git ignores, and
# carry it (emoji 39 MB + MNIST 12 MB fit the 64 MiB limit with the 4 MB tree):
#   mkdir -p .gpu-data && cp -r ../shared/data/emoji ../shared/data/mnist .gpu-data/
#   grep -qx .gpu-data .git/info/exclude || echo .gpu-data >> .git/info/exclude
#   then on the machine: pip install -e . && GANFORGE_DATA=.gpu-data OUT=$OUT bash bench/gpu_checks.sh
# Results: $OUT/*.json and $OUT/gpu_checks.log; copy the figures into bench/folder.md and bench/README.md.
set -u
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
log() { echo "$*" | tee -a "$OUT/gpu_checks.log"; }
if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device here: bench/gpu_checks.sh measures nothing on a CPU machine"; exit 0
fi
: "${GANFORGE_DATA:?set GANFORGE_DATA to a folder holding emoji/ and mnist/ (see the header)}"
export GANFORGE_DATA
log "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader) | torch $(python -c 'import torch; print(torch.__version__, torch.version.cuda)')"

# Issue 11: the bf16 and fp32 matmul peaks the step figures are shares of.
log "$(timeout 120 python - <<'EOF'
import time, torch
for dtype in (torch.bfloat16, torch.float32):
    a = torch.randn(8192, 8192, device="cuda", dtype=dtype); b = torch.randn_like(a)
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(20): a @ b
    torch.cuda.synchronize()
    print(f"matmul peak {dtype}: {20 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12:.1f} TFLOP/s")
EOF
)"

# Issue 11: one full 60k-image epoch of dcgan-mnist (goal <= 1 s), and the default preset's step.
timeout 240 python bench/epoch.py --json > "$OUT/epoch_dcgan-mnist.log" 2>&1
log "dcgan-mnist epoch: $(tail -1 "$OUT/epoch_dcgan-mnist.log")"
timeout 240 python bench/epoch.py --preset default --dataset mnist --json > "$OUT/epoch_default.log" 2>&1
log "default epoch: $(tail -1 "$OUT/epoch_default.log")"

# Issue 10: the 128 px curve (emoji are 64 px files, resized up: the network's size, not new detail).
E=folder:$(realpath "$GANFORGE_DATA/emoji")
timeout 300 python bench/recipe_curve.py --preset folder64 --set image_size=128 --set dataset="$E" \
  --set labels=csv:labels.csv:category --set conditional=true --budget 180 --every 60 \
  --judge-labels csv:labels.csv:category --eval-device cuda --json "$OUT/folder_curve_folder64_emoji128_gpu.json" \
  > "$OUT/folder128.log" 2>&1
log "128 px curve: $(grep -E '^ +[0-9.]+s' "$OUT/folder128.log" | tr '\n' '|')"
log "done"
