#!/usr/bin/env bash
# Footprint: time from JVM start to /readyz 200, RSS idle, RSS under load (wrk at saturation on
# tools/call) and after it, on Java 25 and 17. "image" is the JVM flags of sidecar/Dockerfile with
# the chart's 384Mi memory limit (-XX:MaxRAM); variations on it: a small heap and thread stacks,
# class-data sharing (AppCDS, from a training run), and on 25 the AOT cache (JEP 483/514); "bare"
# is no flags at all on this 24 GiB machine. The guard runs on core 1 (the chart's CPU limit is 1),
# the nginx upstream and wrk on core 0, as in proxy.sh.
#
# Usage: bench/footprint.sh      (env: RUNS=3 LOAD_SECONDS=10 JVMS="25 17")
source "$(dirname "$0")/lib.sh"
need nginx:nginx wrk:wrk taskset:util-linux curl:curl
need_jvms
build_guard

RUNS=${RUNS:-3}
LOAD_SECONDS=${LOAD_SECONDS:-10}
JVMS=${JVMS:-25 17}
UP=18281 GRD=18283 ADM=18293
out="$RESULTS/footprint.txt"
IMAGE_OPTS=$(image_java_opts)
TUNED="-XX:+UseSerialGC -Xms8m -Xmx96m -Xss256k -XX:ReservedCodeCacheSize=32m"
CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'

nginx_start footprint-upstream 0 "  server {
    listen 127.0.0.1:$UP backlog=4096;
    location / {
      default_type application/json;
      add_header Mcp-Session-Id bench-1 always;
      return 200 '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}],\"isError\":false}}';
    }
  }"
wait_status "http://127.0.0.1:$UP/mcp" 200
cat >"$WORK/footprint-policy.yaml" <<YAML
name: bench-footprint
upstream: {host: 127.0.0.1, port: $UP, path: /mcp}
guard: {port: $GRD, adminPort: $ADM}
identity: {source: Address, anonymous: PerAddress}
sessions: {max: 100000, perClient: 100000, idleTimeout: 1h, maxLifetime: 24h}
requests: {maxInFlight: 10000, perClientInFlight: 10000}
YAML
cat >"$WORK/footprint-call.lua" <<LUA
wrk.method = "POST"
wrk.body = '$CALL'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "bench-1"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
LUA

# guard_start JVM OPTS: starts the guard on core 1, sets GUARD and READY_MS (launch to /readyz 200).
guard_start() {
  local t0 code
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  taskset -c 1 "$1" $2 -jar "$GUARD_JAR" --policy "$WORK/footprint-policy.yaml" >"$WORK/footprint-guard.log" 2>&1 &
  GUARD=$!
  started "$GUARD"
  until code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADM/readyz") && [ "$code" = 200 ]; do
    kill -0 "$GUARD" 2>/dev/null || { echo "guard died:"; cat "$WORK/footprint-guard.log"; exit 1; }
    sleep 0.005
  done
  READY_MS=$((($(date +%s%N) - t0) / 1000000))
  # CPU the JVM spent getting there: on a shared core the wall time above mostly measures the queue
  READY_CPU_MS=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$GUARD/stat")
}

# Some traffic for a training run (CDS, AOT), then a clean stop so the archive is written.
train() {
  guard_start "$1" "$2"
  curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$INIT" "http://127.0.0.1:$GRD/mcp"
  taskset -c 0 wrk -t1 -c8 -d3s -s "$WORK/footprint-call.lua" "http://127.0.0.1:$GRD/mcp" >/dev/null
  curl -s -o /dev/null "http://127.0.0.1:$ADM/metrics"
  stop "$GUARD"
}

measure() { # jvm-version config-name java opts
  local v=$1 name=$2 java=$3 opts=$4 r peak rss rps
  for r in $(seq "$RUNS"); do
    guard_start "$java" "$opts"
    sleep 5
    local idle idle_threads
    idle=$(rss_mb "$GUARD")
    idle_threads=$(threads_of "$GUARD")
    curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$INIT" "http://127.0.0.1:$GRD/mcp"
    taskset -c 0 wrk -t1 -c32 -d"${LOAD_SECONDS}s" -s "$WORK/footprint-call.lua" "http://127.0.0.1:$GRD/mcp" >"$WORK/footprint-wrk.out" 2>&1 &
    local w=$!
    peak=0
    while kill -0 "$w" 2>/dev/null; do
      rss=$(rss_mb "$GUARD")
      peak=$(awk -v a="$peak" -v b="$rss" 'BEGIN{print (b > a ? b : a)}')
      sleep 0.5
    done
    wait "$w" || true
    rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' "$WORK/footprint-wrk.out")
    sleep 2
    echo "footprint jvm=$v config=$name run=$r ready_ms=$READY_MS ready_cpu_ms=$READY_CPU_MS idle_rss_mb=$idle idle_threads=$idle_threads load_rss_mb=$peak load_rps=$rps after_rss_mb=$(rss_mb "$GUARD") load_threads=$(threads_of "$GUARD")" | tee -a "$WORK/footprint.lines"
    stop "$GUARD"
  done
}

log_to "$out"
: >"$WORK/footprint.lines"
echo "# $(date -u +%FT%TZ) — $(machine); $(load_note)"
echo "# guard on core 1 (taskset), upstream nginx and wrk on core 0; $RUNS starts per configuration; load: wrk -t1 -c32 -d${LOAD_SECONDS}s"
echo "# image: '$IMAGE_OPTS' (sidecar/Dockerfile + the pod's memory limit); tuned: image + '$TUNED'"
for v in $JVMS; do
  java_bin=JAVA$v
  java=${!java_bin}
  echo "# jvm=$v: $("$java" -version 2>&1 | head -1)"
  measure "$v" bare "$java" ""
  measure "$v" image "$java" "$IMAGE_OPTS"
  measure "$v" tuned "$java" "$IMAGE_OPTS $TUNED"
  jsa="$WORK/guard-$v.jsa"
  rm -f "$jsa"
  if [ "$v" -ge 19 ]; then
    cds="-XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=$jsa"
    train "$java" "$IMAGE_OPTS $TUNED $cds"
  else
    train "$java" "$IMAGE_OPTS $TUNED -XX:ArchiveClassesAtExit=$jsa"
    cds="-XX:SharedArchiveFile=$jsa"
  fi
  measure "$v" tuned+cds "$java" "$IMAGE_OPTS $TUNED $cds"
  if [ "$v" -ge 25 ]; then
    aot="$WORK/guard-$v.aot"
    rm -f "$aot"
    train "$java" "$IMAGE_OPTS $TUNED -XX:AOTCacheOutput=$aot"
    measure "$v" tuned+aot "$java" "$IMAGE_OPTS $TUNED -XX:AOTCache=$aot"
  fi
done
for v in $JVMS; do
  for name in bare image tuned tuned+cds tuned+aot; do
    lines=$(grep "^footprint jvm=$v config=$name " "$WORK/footprint.lines" || true)
    [ -n "$lines" ] || continue
    printf "summary jvm=%s config=%s" "$v" "$name"
    for f in ready_ms ready_cpu_ms idle_rss_mb load_rss_mb load_rps idle_threads; do
      printf " %s=%s" "$f" "$(echo "$lines" | field "$f" | stats | cut -d' ' -f1)"
    done
    echo
  done
done
echo "# targets: ready <= 1000 ms, idle RSS <= 64 MB"
"$ROOT/bench/report.sh"
