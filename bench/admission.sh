#!/usr/bin/env bash
# Admission cost (JMH): the decision and its release, and a full session cycle, with one and
# two threads, allocation per operation from -prof gc. Usage: bench/admission.sh
source "$(dirname "$0")/lib.sh"
build_bench
out="$RESULTS/admission.txt"
{
  echo "# $(date -u +%FT%TZ) — $(machine)"
  for threads in 1 2; do
    java -jar "$JAR" AdmissionBenchmark -t "$threads" -prof gc -rf text -rff "$RESULTS/admission-t$threads.jmh.txt" \
      | grep -E '^Benchmark|AdmissionBenchmark\.[a-zA-Z]+ +avgt|gc.alloc.rate.norm ' | sed "s/^/threads=$threads  /"
  done
} | tee "$out"
