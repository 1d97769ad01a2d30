#!/usr/bin/env bash
# Heap per tracked session (indexes included, beyond the session id string), after full GCs,
# with 100,000 and 1,000,000 sessions. Usage: bench/memory.sh
source "$(dirname "$0")/lib.sh"
build_bench
out="$RESULTS/memory.txt"
{
  echo "# $(date -u +%FT%TZ) — $(machine)"
  java -Xmx3g -XX:+UseG1GC -cp "$JAR" dev.sessionguard.bench.SessionFootprint 100000 1000000
} | tee "$out"
