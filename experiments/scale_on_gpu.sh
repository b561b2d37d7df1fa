#!/usr/bin/env bash
# One prepared run on a GPU machine: the CUDA unit tests and the learner benchmark, then every variant
# trained in parallel on the experiment datasets for MINUTES minutes (default 6). Needs the datasets in
# .exp/ (experiments/collect.py) and, where rosbags is not installed, its wheels in .whl/. Final
# checkpoints and logs are written to $OUT (or out/gpu); evaluate them anywhere with experiments/evaluate.py.
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT" runs logs
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src/actionable_models:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
nproc >> "$OUT/machine.txt"
python3 -c "import torch; print('torch', torch.__version__)" >> "$OUT/machine.txt"
timeout 120 python3 -m pytest -q -p no:cacheprovider src/actionable_models/test/test_learning.py -k cuda 2>&1 |
  tail -n 3 | tee "$OUT/cuda_tests.txt"
timeout 90 python3 benchmarks/learner_speed.py --device cuda --updates 50 --batch 64 2>&1 | tail -n 12 |
  tee "$OUT/learner_speed.txt"
for spec in "play200 full" "play200 gcbc" "play200 no_negatives" "play200 no_chaining" "reach200 full" "reach200 gcbc"; do
  set -- $spec
  python3 experiments/train.py ".exp/$1.npz" --variant "$2" --steps 100000 --batch-size 128 \
    --checkpoint-every 5000 --device cuda --threads 2 --minutes "${MINUTES:-6}" --out "runs/$1_$2" \
    > "logs/$1_$2.log" 2>&1 &
done
wait
for run in runs/*; do
  last=$(ls "$run"/checkpoint-*.safetensors | sort | tail -n 1)
  mkdir -p "final/$(basename "$run")"
  cp "$last" "$run/metrics.jsonl" "$run/config.json" "final/$(basename "$run")/"
done
tar cf "$OUT/play_runs.tar" final/play200_*
tar cf "$OUT/reach_runs.tar" final/reach200_*
tar cf "$OUT/logs.tar" logs
tail -n 3 logs/*.log
ls -la "$OUT"
