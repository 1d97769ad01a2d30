#!/usr/bin/env bash
# Two builds of the guard (or one build with other JVM flags) compared on the fast path, in one
# run: both guards start as the image would run them (each with its own training run's cache) in
# front of bench/proxy.sh's nginx upstream, on core 1, and wrk drives them in alternated rounds
# from core 0 — throughput and CPU per request, per round and the median of the rounds' ratios.
# Every other round B runs first. The two places are not quite equal (on the benchmark host the same
# jar in both gave 0.98-1.03): run it both ways, A B then B A, and take the geometric mean of
# B/A and 1/(A/B) from the two runs; a difference inside that spread is no difference.
#
# Usage: bench/ab.sh A.jar B.jar   (env: ROUNDS=6 SECONDS_PER_RUN=15 WARMUP_SECONDS=30,
#                                        GUARD_B_EXTRA="-Xmn16m": JVM flags for B only)
# Writes bench/results/ab.txt (not part of docs/benchmarks.md).
set -euo pipefail
[ $# -eq 2 ] && [ -f "$1" ] && [ -f "$2" ] || { echo "usage: $0 A.jar B.jar" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
GUARD_JAR=$(realpath "$1") GUARD_B_JAR=$(realpath "$2") MODES="guard guard-b" RATES=0 FLIP_ORDER=1 \
  ROUNDS=${ROUNDS:-6} SECONDS_PER_RUN=${SECONDS_PER_RUN:-15} WARMUP_SECONDS=${WARMUP_SECONDS:-30} \
  OUT="$here/results/ab.txt" exec "$here/proxy.sh"
