#!/bin/bash
# `ganforge evaluate` beside a running `ganforge train` (issue 11): its own time with 2 threads pinned
# (OMP_NUM_THREADS=2, how it ran before) and fitted to the free cores (threads.py); alone first.
# Run it alone on the machine: bash bench/evaluate_beside.sh
cd "$(dirname "$0")/.."
export GANFORGE_DATA=${GANFORGE_DATA:-../shared/data}
T=$(mktemp -d); R=$T/run
ganforge train --set subset=2048 --epochs 2 --no-progress --set tensorboard=false --out $R > /dev/null 2>&1
ganforge evaluate $R --n 2000 > /dev/null 2>&1   # warm the judge/reference cache
for mode in alone-fit alone-pinned beside-pinned beside-fit beside-pinned beside-fit; do
  if [[ $mode == beside* ]]; then
    ganforge train --set subset=2048 --epochs 1000 --no-progress --set tensorboard=false --out $T/bg > /dev/null 2>&1 &
    BG=$!; sleep 12
  fi
  if [[ $mode == *pinned ]]; then env OMP_NUM_THREADS=2 /usr/bin/time -f "%e" ganforge evaluate $R --n 2000 2>$T/t >/dev/null
  else /usr/bin/time -f "%e" ganforge evaluate $R --n 2000 2>$T/t >/dev/null; fi
  secs=$(tail -1 $T/t)
  if [[ $mode == beside* ]]; then
    kill $BG; wait $BG 2>/dev/null
    echo "$mode evaluate ${secs}s; the train run (its first 12 s alone included): $(python -c "
import json; r=[json.loads(l) for l in open('$T/bg/metrics.jsonl') if l.endswith('}\n')]; e=[x for x in r if 'img_per_s' in x][1:]
print(round(sum(x['img_per_s'] for x in e)/max(len(e),1)), 'img/s mean over', len(e), 'epochs')")"
    rm -rf $T/bg
  else echo "$mode evaluate ${secs}s"; fi
done
