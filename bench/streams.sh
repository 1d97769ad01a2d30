#!/usr/bin/env bash
# Open streams: many concurrent standalone SSE streams (GET with Mcp-Session-Id on sessions admitted
# through the guard) held through the guard, on Java 25 and on Java 17. After each step of streams:
# the guard's RSS, threads and file descriptors; with all of them open: does the guard still admit
# an initialize and forward a call, and do all streams still get the upstream's events?
#
# Each stream costs the guard two file descriptors (client side and upstream side), so the number
# of streams is capped by the open-files limit: min(STREAMS, (ulimit -Hn - 200) / 2).
#
# The guard runs with the image's JVM flags on core 1 (the chart's CPU limit is 1); the upstream
# and the client on core 0.
#
# Each JVM runs twice: with the pod's memory limit (the chart's 384Mi, as -XX:MaxRAM) and with
# 2g, to see where memory, not the JVM, is the limit. A heap histogram is taken with all streams held.
#
# Standalone GET streams hold stream permits: the policy raises maxStreams to let them all in. On
# Java 17 each open stream holds a thread, so the guard itself caps streams at what its pool holds
# beyond maxInFlight (1,000 here): the rest are refused with 503 instead of stalling the guard.
#
# Usage: bench/streams.sh  (env: STREAMS=10000 STEP=1000 JVMS="25 17" MEMORIES="384m 2g" STEP_TIMEOUT=90)
source "$(dirname "$0")/lib.sh"
need taskset:util-linux curl:curl
need_jvms
build_bench
build_guard

WANT=${STREAMS:-10000}
STEP=${STEP:-1000}
JVMS=${JVMS:-25 17}
UP=18181 GRD=18183 ADM=18193
out="$RESULTS/streams.txt"
ulimit -n "$(ulimit -Hn)"
LIMIT=$(ulimit -n)
N=$(( WANT < (LIMIT - 200) / 2 ? WANT : (LIMIT - 200) / 2 ))
MEMORIES=${MEMORIES:-384m 2g}

cat >"$WORK/streams-policy.yaml" <<YAML
name: bench-streams
upstream: {host: 127.0.0.1, port: $UP, path: /mcp}
guard: {port: $GRD, adminPort: $ADM}
identity: {source: Address, anonymous: PerAddress}
sessions: {max: 50000, perClient: 50000, idleTimeout: 1h, maxLifetime: 24h}
requests: {maxInFlight: 1000, perClientInFlight: 1000, maxStreams: 50000, perClientStreams: 50000}
YAML

log_to "$out"
echo "# $(date -u +%FT%TZ) — $(machine); $(load_note)"
echo "# streams=$N (wanted $WANT; open-files limit $LIMIT, two per stream in the guard); guard opts='$(POD_MEMORY='<mem>' image_java_opts)'"
for mem in $MEMORIES; do
for v in $JVMS; do
  java_bin=JAVA$v
  GUARD_OPTS=$(POD_MEMORY=$mem image_java_opts "${!java_bin}")
  taskset -c 0 "$JAVA25" -XX:+UseSerialGC -cp "$JAR" dev.sessionguard.bench.SseUpstream "$UP" 5 \
    >"$WORK/streams-upstream-$v.log" 2>&1 &
  up=$!
  started "$up"
  # shellcheck disable=SC2086
  taskset -c 1 "$(image_java "${!java_bin}")" $GUARD_OPTS -jar "$GUARD_JAR" --policy "$WORK/streams-policy.yaml" \
    >"$WORK/streams-guard-$v.log" 2>&1 &
  guard=$!
  started "$guard"
  wait_status "http://127.0.0.1:$ADM/readyz" 200 60
  taskset -c 0 "$JAVA25" -cp "$JAR" dev.sessionguard.bench.OpenStreams --url "http://127.0.0.1:$GRD/mcp" \
    --pid "$guard" --streams "$N" --step "$STEP" --step-timeout "${STEP_TIMEOUT:-90}" --tick 5 \
    --at-held "$(dirname "${!java_bin}")/jcmd $guard GC.class_histogram | sed -n '1,16p;/^Total/p' | sed 's/^/histogram /'" \
    2>&1 | sed "s/^/jvm=$v mem=$mem /" || true
  grep -m1 -h 'OutOfMemoryError' "$WORK/streams-guard-$v.log" | sed "s/^/jvm=$v mem=$mem guard: /" || true
  echo "jvm=$v mem=$mem guard log: $(grep -c 'connect timed out' "$WORK/streams-guard-$v.log" || true) upstream connect timeouts (502)"
  stop "$guard" "$up"
done
done
"$ROOT/bench/report.sh"
