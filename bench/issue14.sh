#!/bin/sh
# The issue-14 run for docs/performance.md: every row of the issue's table and the new
# scenarios, chatd and ngIRCd side by side in one run (5 s windows, medians of 3), then the
# sweeps behind the pictures. Output: bench/issue14-*.json, .txt and .svg.
set -e
cd "$(dirname "$0")/.."
run() {
  name=$1; shift
  python -m chatd.bench "$@" --wait-idle 300 --json > "bench/issue14-$name.json" 2> "bench/issue14-$name.log"
  python -m chatd.bench --render "bench/issue14-$name.json" > "bench/issue14-$name.txt"
}
run all --compare --scenario all --repeat 3 --duration 5
run tls --compare --scenario tls --clients eager --repeat 3 --duration 5
run realistic --compare --scenario realistic --repeat 1 --duration 10
run cluster --cluster 2 --scenario fanout -N 100 -S 10 --clients eager --repeat 3 --duration 5
run rates --compare --scenario rates -N 1000 --rates 50,100,200,400,800 --repeat 1 --duration 5
run sizes --compare --scenario sizes --sizes 10,30,100,300,1000 --repeat 1 --duration 5
for f in rates sizes all; do python -m chatd.bench --plot "bench/issue14-$f.json"; done
