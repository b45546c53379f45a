#!/bin/sh
# Reference run for docs/performance.md: every scenario, 10 s windows, medians of 3.
#   bench/reference.sh ngircd        -> bench/ngircd-all.json, bench/ngircd-all.txt
#   bench/reference.sh chatd         -> bench/chatd-all.json, ...
#   bench/reference.sh compare       -> chatd and ngIRCd in one run, with ratios
# On a shared machine each run first waits (up to 10 min) until the machine is idle.
set -e
cd "$(dirname "$0")/.."
what=${1:-compare}
case "$what" in
  compare) args="--server chatd --compare" ;;
  *) args="--server $what" ;;
esac
python -m chatd.bench $args --repeat 3 --duration 10 --wait-idle 600 --json \
  > "bench/$what-all.json" 2> "bench/$what-all.log"
python -m chatd.bench --render "bench/$what-all.json" | tee "bench/$what-all.txt"
