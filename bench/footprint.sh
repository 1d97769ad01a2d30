#!/usr/bin/env bash
# Footprint: time from JVM start to /readyz 200 (wall, and the CPU the JVM spent getting there),
# RSS idle (and how much of it is anonymous, i.e. the guard's own, and file-backed, i.e. the JVM's
# library and the class-data archive, shareable and reclaimable), threads and loaded classes, RSS
# under load (wrk at saturation on tools/call) and after it; on Java 25 and 17.
#
# Configurations:
#   image             sidecar/Dockerfile's Java runtime (its jlink line, from this JDK) and
#                     ENTRYPOINT flags, AOT cache included, made by the Dockerfile's training run
#                     (--training-run) with the same runtime; plus the chart's 384Mi memory limit
#                     (-XX:MaxRAM, see image_java_opts in lib.sh). On 17: the JDK itself, with a
#                     dynamic class-data archive in the cache's place.
#   image-cds         (25) the image with a dynamic class-data archive instead of the AOT cache
#   image-no-cache    the image without cache or archive (what it buys)
#   image-jdk         (25) the image's flags and cache on the whole JDK instead of the image's
#                     runtime (what the linked runtime buys)
#   image-c1          the image with C1 alone (-XX:TieredStopAtLevel=1): the JIT's share
#   bare              the whole JDK, no flags at all on this machine (24 GiB: a large heap, G1)
#   custom            the image's runtime with the flags in $CUSTOM_FLAGS, when CONFIGS names it
#   floor-jvm         not the guard: a Java program that only sleeps, on the image's runtime and
#                     flags with a cache of its own (FloorApp in bench/): the runtime's own floor
#   floor-javalin     not the guard: one Javalin app answering GET /readyz, with the guard's jar
#                     on the class path (its Javalin, Jetty and logging), the image's runtime and
#                     flags and a cache of its own: the web framework's floor, under which no guard
#                     built on it can go. Idle figures only; for floor-jvm no ready time.
# The policy is a file as the operator writes it (JSON, with its hash). The guard runs on core 1
# (the chart's CPU limit is 1), the nginx upstream and wrk on core 0, as in proxy.sh.
#
# Usage: bench/footprint.sh      (env: RUNS=3 LOAD_SECONDS=10 IDLE_SECONDS=10 JVMS="25 17"
#                                      CONFIGS="image image-cds image-no-cache image-jdk image-c1 bare floor-jvm
#                                      floor-javalin")
source "$(dirname "$0")/lib.sh"
need nginx:nginx wrk:wrk taskset:util-linux curl:curl
need_jvms
build_guard
build_bench
FLOOR_JAR=$(ls "$ROOT"/bench/target/session-guard-bench-*.jar) # FloorApp, without dependencies

RUNS=${RUNS:-3}
LOAD_SECONDS=${LOAD_SECONDS:-10}
IDLE_SECONDS=${IDLE_SECONDS:-10} # long enough for the image's native-memory trim to have run
JVMS=${JVMS:-25 17}
CONFIGS=${CONFIGS:-image image-cds image-no-cache image-jdk image-c1 bare floor-jvm floor-javalin}
UP=18281 GRD=18283 ADM=18293
out="$RESULTS/footprint.txt"
CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'

nginx_fixed_upstream footprint-upstream "$UP"
wait_status "http://127.0.0.1:$UP/mcp" 200
cat >"$WORK/footprint-policy.json" <<JSON
{"schemaVersion": 1, "name": "bench-footprint", "generation": 1,
 "hash": "5b1e2c0d9a8f7e6d5c4b3a29181716151413121110f0e0d0c0b0a09080706050",
 "upstream": {"host": "127.0.0.1", "port": $UP, "path": "/mcp"},
 "guard": {"port": $GRD, "adminPort": $ADM},
 "identity": {"source": "Address", "anonymous": "PerAddress"},
 "sessions": {"max": 100000, "perClient": 100000, "idleTimeout": "1h", "maxLifetime": "24h"},
 "requests": {"maxInFlight": 10000, "perClientInFlight": 10000}}
JSON
cat >"$WORK/footprint-call.lua" <<LUA
wrk.method = "POST"
wrk.body = '$CALL'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "bench-1"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
LUA

# What runs (PROGRAM, set by config: the guard with the policy, or a floor), and where it says it
# is ready (READY_URL; empty for the floor-jvm program, which says nothing).
GUARD_PROGRAM=(-jar "$GUARD_JAR" --policy "$WORK/footprint-policy.json")

# guard_start JVM OPTS: starts the guard (or a floor) on core 1, sets GUARD and READY_MS (launch to
# /readyz 200; empty without READY_URL).
guard_start() {
  local t0 code
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  taskset -c 1 "$1" $2 "${PROGRAM[@]}" >"$WORK/footprint-guard.log" 2>&1 &
  GUARD=$!
  started "$GUARD"
  READY_MS= READY_CPU_MS=
  [ -n "$READY_URL" ] || return 0
  until code=$(curl -s -o /dev/null -w '%{http_code}' "$READY_URL") && [ "$code" = 200 ]; do
    kill -0 "$GUARD" 2>/dev/null || { echo "guard died:"; cat "$WORK/footprint-guard.log"; exit 1; }
    sleep 0.005
  done
  READY_MS=$((($(date +%s%N) - t0) / 1000000))
  # CPU the JVM spent getting there: on a shared core the wall time above mostly measures the queue
  READY_CPU_MS=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$GUARD/stat")
}

kb_mb() { awk '/^'"$1"':/{printf "%.1f", $2/1024}' "/proc/$2/status"; } # FIELD PID

# classes JVM OPTS: one more start, logging class loading: classes loaded by the time of ready, and
# how many of them came from a class-data archive.
classes() {
  local log="$WORK/footprint-classes.log"
  rm -f "$log"
  guard_start "$1" "$2 -Xlog:class+load=info:file=$log"
  [ -n "$READY_URL" ] || sleep "$IDLE_SECONDS"
  CLASSES=$(grep -c ' source: ' "$log" || true)
  SHARED=$(grep -c 'source: shared objects file' "$log" || true)
  stop "$GUARD"
}

measure() { # jvm-version config-name java opts
  local v=$1 name=$2 java=$3 opts=$4 r peak rss rps
  classes "$java" "$opts"
  for r in $(seq "$RUNS"); do
    guard_start "$java" "$opts"
    sleep "$IDLE_SECONDS"
    local idle anon file idle_threads
    idle=$(rss_mb "$GUARD")
    anon=$(kb_mb RssAnon "$GUARD")
    file=$(kb_mb RssFile "$GUARD")
    idle_threads=$(threads_of "$GUARD")
    if [ -n "$FLOOR" ]; then # idle only
      echo "footprint jvm=$v config=$name run=$r${READY_MS:+ ready_ms=$READY_MS ready_cpu_ms=$READY_CPU_MS} idle_rss_mb=$idle idle_anon_mb=$anon idle_file_mb=$file idle_threads=$idle_threads classes=$CLASSES shared_classes=$SHARED load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/footprint.lines"
      stop "$GUARD"
      continue
    fi
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
    echo "footprint jvm=$v config=$name run=$r ready_ms=$READY_MS ready_cpu_ms=$READY_CPU_MS idle_rss_mb=$idle idle_anon_mb=$anon idle_file_mb=$file idle_threads=$idle_threads classes=$CLASSES shared_classes=$SHARED load_rss_mb=$peak load_rps=$rps after_rss_mb=$(rss_mb "$GUARD") load_threads=$(threads_of "$GUARD") load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/footprint.lines"
    stop "$GUARD"
  done
}

# config JAVA VERSION CONFIG: sets RUN_JAVA and RUN_OPTS of a configuration (RUN_OPTS empty: not
# run on this JVM)
config() {
  local java=$1 v=$2 image dir training
  image=$(image_java_opts "$java")
  dir=$(image_dir "$java")
  training=$(dockerfile_flags '^RUN \["java".*--training-run' "$dir")
  RUN_JAVA=$(image_java "$java")
  RUN_OPTS=
  PROGRAM=("${GUARD_PROGRAM[@]}")
  READY_URL="http://127.0.0.1:$ADM/readyz"
  FLOOR=
  case $3 in
    image) RUN_OPTS="$image" ;;
    image-cds)
      [ "$v" -ge 25 ] || return 0
      train "$RUN_JAVA" "$training" "$dir/guard.jsa" -XX:ArchiveClassesAtExit
      RUN_OPTS=$(echo "$image" | sed "s|-XX:AOTCache=[^ ]*|-XX:SharedArchiveFile=$dir/guard.jsa|")
      ;;
    image-no-cache) RUN_OPTS=$(echo "$image" | sed 's/-XX:\(AOTCache\|SharedArchiveFile\)=[^ ]* //') ;;
    image-jdk)
      [ "$v" -ge 25 ] || return 0
      RUN_JAVA=$java
      train "$RUN_JAVA" "$training" "$dir/jdk.aot" -XX:AOTCacheOutput
      RUN_OPTS=$(echo "$image" | sed "s|-XX:AOTCache=[^ ]*|-XX:AOTCache=$dir/jdk.aot|")
      ;;
    image-c1) RUN_OPTS="$image -XX:TieredStopAtLevel=1" ;;
    bare) RUN_JAVA=$java RUN_OPTS=" " ;;
    custom) RUN_OPTS="${CUSTOM_FLAGS:- }" ;;
    floor-jvm | floor-javalin)
      local kind=${3#floor-} cache flag
      FLOOR=$kind
      PROGRAM=(-cp "$GUARD_JAR:$FLOOR_JAR" dev.sessionguard.bench.FloorApp "$kind")
      if [ "$kind" = javalin ]; then PROGRAM+=("$ADM"); else READY_URL=; fi
      # the image's flags with the floor's own cache (an archive on a JVM without the AOT cache)
      if [[ $image == *-XX:AOTCache=* ]]; then
        cache="$dir/$3.aot" flag=-XX:AOTCacheOutput
      else
        cache="$dir/$3.jsa" flag=-XX:ArchiveClassesAtExit
      fi
      train "$RUN_JAVA" "$(echo "$training" | without_aot "$java")" "$cache" "$flag" "${PROGRAM[@]:0:4}"
      RUN_OPTS=$(echo "$image" | sed -E "s#-XX:(AOTCache|SharedArchiveFile)=[^ ]*#-XX:\1=$cache#")
      ;;
  esac
}

log_to "$out"
: >"$WORK/footprint.lines"
echo "# $(date -u +%FT%TZ) — $(machine); $(load_note)"
echo "# guard on core 1 (taskset), upstream nginx and wrk on core 0; $RUNS starts per configuration; idle: ${IDLE_SECONDS} s after ready; load: wrk -t1 -c32 -d${LOAD_SECONDS}s"
echo "# image: '$(image_java_opts | sed "s|$WORK/image-[^/]*/|/app/|g")' (sidecar/Dockerfile's ENTRYPOINT, its cache from the Dockerfile's training run with the same runtime, the pod's memory limit) on the runtime of its jlink line"
[[ " $CONFIGS " != *" custom "* ]] || echo "# custom: '${CUSTOM_FLAGS:-}'"
for v in $JVMS; do
  java_bin=JAVA$v
  java=${!java_bin}
  echo "# jvm=$v: $("$java" -version 2>&1 | head -1)"
  for name in $CONFIGS; do
    config "$java" "$v" "$name"
    [ -n "$RUN_OPTS" ] || continue
    measure "$v" "$name" "$RUN_JAVA" "$RUN_OPTS"
  done
done
for v in $JVMS; do
  for name in $CONFIGS; do
    lines=$(grep "^footprint jvm=$v config=$name " "$WORK/footprint.lines" || true)
    [ -n "$lines" ] || continue
    printf "summary jvm=%s config=%s" "$v" "$name"
    for f in ready_ms ready_cpu_ms idle_rss_mb idle_anon_mb idle_file_mb load_rss_mb load_rps idle_threads classes shared_classes; do
      values=$(echo "$lines" | field "$f")
      [ -z "$values" ] || printf " %s=%s" "$f" "$(echo "$values" | stats | cut -d' ' -f1)"
    done
    echo
  done
done
echo "# targets: ready <= 1000 ms, idle RSS <= 64 MB"
"$ROOT/bench/report.sh"
