#!/usr/bin/env bash
# Reaper cost: 1,000,000 sessions with 1% idle past the timeout; wall and CPU time of the
# pass that ends them, then of a pass with nothing to do. Usage: bench/reaper.sh [sessions]
source "$(dirname "$0")/lib.sh"
build_bench
out="$RESULTS/reaper.txt"
{
  echo "# $(date -u +%FT%TZ) — $(machine)"
  for run in 1 2 3; do
    java -Xmx3g -cp "$JAR" dev.sessionguard.bench.ReaperCost "${1:-1000000}"
  done
} | tee "$out"
