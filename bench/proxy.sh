#!/usr/bin/env bash
# Proxy overhead, same run, same upstream: POST tools/call on an established session, direct to an
# nginx upstream that answers a fixed JSON-RPC result, through nginx as a plain keep-alive reverse
# proxy, through the guard, and through a second guard that keeps its sessions in Redis (a real
# redis-server on core 0; every request looks its session up there). The proxy under test always
# runs on core 1; wrk, the fixed-rate generator and the upstream on core 0. Throughput at saturation (wrk), then latency percentiles
# at a fixed rate below saturation (OpenLoad, open model), runs alternated, warm-up discarded.
#
# Usage: bench/proxy.sh     (env: ROUNDS=5 SECONDS_PER_RUN=10 WARMUP_SECONDS=40 CONNECTIONS=32
#                                 RATES="r1 r2" RATE_SECONDS=10 GUARD_JDK=..
#                                 MODES="direct nginx guard guard-redis" REDIS_PORT=18379
#                                 OUT=bench/results/proxy.txt FLIP_ORDER=: every other round
#                                 runs the ways in the reverse order)
# A mode guard-b runs a second guard beside the first, from GUARD_B_JAR (default: the same jar)
# with the image's flags and GUARD_B_EXTRA after them: bench/ab.sh compares two builds that way.
source "$(dirname "$0")/lib.sh"
need nginx:nginx wrk:wrk taskset:util-linux curl:curl
need_jvms
build_bench
build_guard

ROUNDS=${ROUNDS:-5}
DURATION=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP_SECONDS:-40} # 20 s left the JIT compiling into the first two rounds
CONNECTIONS=${CONNECTIONS:-32}
RATE_SECONDS=${RATE_SECONDS:-10}
MODES=${MODES:-direct nginx guard guard-redis}
[[ " $MODES " != *" guard-redis "* ]] || need redis-server:redis-server redis-cli:redis-tools
GUARD_JDK=${GUARD_JDK:-$JAVA25} # the image's runtime is linked from it (see image_java in lib.sh)
GUARD_JAVA=$(image_java "$GUARD_JDK")
GUARD_OPTS=${GUARD_OPTS:-$(image_java_opts "$GUARD_JDK")}
UP=18081 NGX=18082 GRD=18083 ADM=18093 GRD_REDIS=18084 ADM_REDIS=18094 REDIS_PORT=${REDIS_PORT:-18379}
GRD_B=18085 ADM_B=18095
GUARD_B_JAR=${GUARD_B_JAR:-$GUARD_JAR}
out=${OUT:-$RESULTS/proxy.txt}
PROTOCOL=2025-11-25
CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'

declare -A URL=(
  [direct]="http://127.0.0.1:$UP/mcp"
  [nginx]="http://127.0.0.1:$NGX/mcp"
  [guard]="http://127.0.0.1:$GRD/mcp"
  [guard-redis]="http://127.0.0.1:$GRD_REDIS/mcp"
  [guard-b]="http://127.0.0.1:$GRD_B/mcp"
)

# The upstream: a fixed result, and a session id so that initialize through the guard records one.
nginx_fixed_upstream upstream "$UP"
# nginx as a plain keep-alive reverse proxy.
nginx_start proxy 1 "  upstream mcp { server 127.0.0.1:$UP; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$NGX backlog=4096;
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"

# guard_start MODE PORT ADMIN [POLICY LINES]: a guard on core 1, its session bench-1 established
# (the guard-b mode: $GUARD_B_JAR on its own copy of the image's runtime and cache).
guard_start() {
  cat >"$WORK/proxy-policy-$1.yaml" <<YAML
name: bench-proxy
upstream: {host: 127.0.0.1, port: $UP, path: /mcp}
guard: {port: $2, adminPort: $3}
identity: {source: Address, anonymous: PerAddress}
sessions: {max: 100000, perClient: 100000, idleTimeout: 1h, maxLifetime: 24h}
requests: {maxInFlight: 10000, perClientInFlight: 10000}
${4:-}
YAML
  local java=$GUARD_JAVA opts=$GUARD_OPTS jar=$GUARD_JAR
  if [ "$1" = guard-b ]; then
    java=$(GUARD_JAR=$GUARD_B_JAR WORK=$WORK/b image_java "$GUARD_JDK")
    opts="$(GUARD_JAR=$GUARD_B_JAR WORK=$WORK/b image_java_opts "$GUARD_JDK") ${GUARD_B_EXTRA:-}"
    jar=$GUARD_B_JAR
  fi
  # shellcheck disable=SC2086
  taskset -c 1 "$java" $opts -jar "$jar" --policy "$WORK/proxy-policy-$1.yaml" \
    >"$WORK/proxy-$1.log" 2>&1 &
  GUARD_PID=$!
  started "$GUARD_PID"
  wait_status "http://127.0.0.1:$3/readyz" 200 60
  curl -s -D "$WORK/init.headers" -o /dev/null -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -d "$INIT" "${URL[$1]}"
  grep -qi '^mcp-session-id: bench-1' "$WORK/init.headers" || { echo "initialize through $1 failed:"; cat "$WORK/init.headers"; exit 1; }
}
PROXY_NGINX=$NGINX_PID
wait_status "http://127.0.0.1:$UP/mcp" 200
wait_status "http://127.0.0.1:$NGX/mcp" 200
declare -A PROXY_PID=([nginx]=$(pgrep -P "$PROXY_NGINX" | head -1)) # nginx: its worker
if [[ " $MODES " == *" guard "* ]]; then
  guard_start guard "$GRD" "$ADM"
  PROXY_PID[guard]=$GUARD_PID
fi
if [[ " $MODES " == *" guard-redis "* ]]; then
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" >"$WORK/proxy-redis-server.log" 2>&1 &
  started $!
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  guard_start guard-redis "$GRD_REDIS" "$ADM_REDIS" "store: {type: Redis, redis: {url: 'redis://127.0.0.1:$REDIS_PORT'}}"
  PROXY_PID[guard-redis]=$GUARD_PID
fi
if [[ " $MODES " == *" guard-b "* ]]; then
  guard_start guard-b "$GRD_B" "$ADM_B"
  PROXY_PID[guard-b]=$GUARD_PID
fi

cat >"$WORK/call.lua" <<LUA
wrk.method = "POST"
wrk.body = '$CALL'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "bench-1"
wrk.headers["MCP-Protocol-Version"] = "$PROTOCOL"
LUA
for m in $MODES; do # every way answers the call with 200 before anything is measured
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'Mcp-Session-Id: bench-1' -H "MCP-Protocol-Version: $PROTOCOL" -d "$CALL" "${URL[$m]}")
  [ "$code" = 200 ] || { echo "$m answered $code"; exit 1; }
done

# CPU time (clock ticks) and context switches of a process, all its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/{s += $2} END{print s}'; }

wrk_run() { # mode seconds -> "rps=… non2xx=… sat_p99=… cpu_us_per_req=… ctxsw_per_req=…" (of the proxy)
  local pid=${PROXY_PID[$1]:-} c0 s0 c1 s1
  [ -z "$pid" ] || { c0=$(cpu_ticks "$pid"); s0=$(ctx_switches "$pid"); }
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"$2s" --latency -s "$WORK/call.lua" "${URL[$1]}" >"$WORK/wrk.out" 2>&1
  [ -z "$pid" ] || { c1=$(cpu_ticks "$pid"); s1=$(ctx_switches "$pid"); }
  awk -v cpu="${c1:-0}" -v cpu0="${c0:-0}" -v cs="${s1:-0}" -v cs0="${s0:-0}" -v hz="$(getconf CLK_TCK)" -v d="$2" \
    '/Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF} /^ +99%/{p99=$2} /Socket errors/{err=$0}
     END{printf "rps=%s non2xx=%d sat_p99=%s", rps, bad, p99
         if (cpu > 0) printf " cpu_us_per_req=%.1f ctxsw_per_req=%.2f", (cpu - cpu0) / hz * 1e6 / (rps * d), (cs - cs0) / (rps * d)
         printf "%s\n", (err ? " errors=yes" : "")}' "$WORK/wrk.out"
}

openload() { # mode rate
  taskset -c 0 "$JAVA25" -XX:+UseSerialGC -Xmx512m -cp "$JAR" dev.sessionguard.bench.OpenLoad \
    --url "${URL[$1]}" --rate "$2" --seconds "$RATE_SECONDS" --warmup 3 --body "$CALL" \
    --header 'Content-Type: application/json' --header 'Accept: application/json, text/event-stream' \
    --header 'Mcp-Session-Id: bench-1' --header "MCP-Protocol-Version: $PROTOCOL"
}

log_to "$out"
LINES="$WORK/proxy.lines"
: >"$LINES"
echo "# $(date -u +%FT%TZ) — $(machine); $(load_note)"
echo "# guard: $("$GUARD_JAVA" -version 2>&1 | head -1) opts='$(echo "$GUARD_OPTS" | sed "s|$WORK/image-[^/]*/|/app/|g")' (the image's runtime, flags and cache, the pod's memory limit); proxies on core 1, wrk/OpenLoad/upstream on core 0"
echo "# wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds alternated after a ${WARMUP}s warm-up of each; OpenLoad ${RATE_SECONDS}s per run (+3s discarded)"
for m in $MODES; do rec "warmup mode=$m $(wrk_run "$m" "$WARMUP")"; done
for r in $(seq "$ROUNDS"); do
  order=$MODES
  if [ -n "${FLIP_ORDER:-}" ] && [ $((r % 2)) = 0 ]; then # every other round the other way round
    order=$(echo "$MODES" | tr ' ' '\n' | tac | tr '\n' ' ')
  fi
  for m in $order; do rec "throughput round=$r mode=$m $(wrk_run "$m" "$DURATION")"; done
done
for m in $MODES; do
  rec "summary-throughput mode=$m $(grep "^throughput .*mode=$m " "$LINES" | field rps | stats | awk '{printf "median=%.0f min=%.0f max=%.0f", $1, $2, $3}')$(
    grep "^throughput .*mode=$m .*cpu_us_per_req" "$LINES" >/dev/null && printf " cpu_us_per_req=%s ctxsw_per_req=%s" \
      "$(grep "^throughput .*mode=$m " "$LINES" | field cpu_us_per_req | stats | cut -d' ' -f1)" \
      "$(grep "^throughput .*mode=$m " "$LINES" | field ctxsw_per_req | stats | cut -d' ' -f1)")"
done
med() { grep "^$1 mode=$2 ${3:-}" "$LINES" | field median; }

# Fixed rates: half of nginx's saturation throughput, and half of the guard's (the p99 target's rate)
# (its overhead when it is not overloaded); or RATES="r1 r2 ...".
if [ -z "${RATES:-}" ]; then
  RATES=$(awk -v r="$(med summary-throughput nginx)" 'BEGIN{h = r / 2; printf "%d", (h >= 1000 ? int(h / 100) * 100 : int(h / 10) * 10)}')
  if [[ " $MODES " == *" guard "* ]]; then
    RATES="$RATES $(awk -v r="$(med summary-throughput guard)" 'BEGIN{h = r / 2; printf "%d", (h >= 1000 ? int(h / 100) * 100 : int(h / 10) * 10)}')"
  fi
fi
for rate in $RATES; do
  [ "$rate" -gt 0 ] || continue
  echo "# fixed rate $rate req/s"
  for m in $MODES; do rec "warmup-rate mode=$m $(openload "$m" "$rate")"; done
  for r in $(seq "$ROUNDS"); do
    for m in $MODES; do rec "latency round=$r mode=$m $(openload "$m" "$rate")"; done
  done
  for m in $MODES; do
    for p in p50_us p90_us p99_us p999_us; do
      rec "summary-latency mode=$m rate=$rate pct=$p $(grep "^latency .*mode=$m rate=$rate " "$LINES" | field "$p" | stats | awk '{printf "median=%.0f min=%.0f max=%.0f", $1, $2, $3}')"
    done
  done
done

# The targets: throughput, and p99 at a fixed rate below saturation — the lowest rate, half of the
# guard's saturation, below every way's (at half of nginx's the guard, at about 0.5x nginx, would be
# saturated itself: queueing, which the fixed-rate run is there to keep out). The p99 ratio at the
# other rates is printed for information. A ratio counts only where nginx kept up with the rate
# without queueing (the fixed-rate generator shares core 0 with the upstream and may itself fall
# behind first).
if [[ " $MODES " == *" guard "* && " $MODES " == *" nginx "* ]]; then
  awk -v g="$(med summary-throughput guard)" -v n="$(med summary-throughput nginx)" 'BEGIN{
      t = g / n
      printf "target throughput guard/nginx=%.2f (>= 0.70) %s\n", t, (t >= 0.7 ? "PASS" : "FAIL")
    }'
  # shellcheck disable=SC2086
  first=$(printf '%s\n' $RATES | sort -n | head -1)
  for rate in $RATES; do
    kept=$(grep "^latency .*mode=nginx rate=$rate " "$LINES" | field achieved | stats | cut -d' ' -f1)
    awk -v rate="$rate" -v first="$first" -v kept="$kept" \
      -v gl="$(med summary-latency guard "rate=$rate pct=p99_us")" -v nl="$(med summary-latency nginx "rate=$rate pct=p99_us")" 'BEGIN{
        l = gl / nl
        if (kept < 0.98 * rate) {
          verdict = sprintf("not measured: nginx fell behind the rate (median %d req/s)", kept)
        } else if (nl > 100000) {
          verdict = sprintf("not measured: nginx queued at this rate (p99 %.0f ms)", nl / 1000)
        } else {
          verdict = (l <= 2 ? "PASS" : "FAIL")
        }
        printf "%s p99@%s guard/nginx=%.2f (<= 2.00) %s\n", (rate == first ? "target" : "info"), rate, l, verdict
      }'
  done
fi
if [[ " $MODES " == *" guard "* && " $MODES " == *" guard-b "* ]]; then
  # Per round, guard-b against the guard in the same round; then the median of those ratios.
  for r in $(seq "$ROUNDS"); do
    a=$(grep "^throughput round=$r mode=guard " "$LINES")
    b=$(grep "^throughput round=$r mode=guard-b " "$LINES")
    echo "$(echo "$b" | field rps) $(echo "$a" | field rps) $(echo "$b" | field cpu_us_per_req) $(echo "$a" | field cpu_us_per_req)"
  done | awk '{printf "round %d guard-b/guard throughput=%.3f cpu_us_per_req %s against %s\n", NR, $1 / $2, $3, $4}' | tee "$WORK/ab.rounds"
  echo "compare guard-b/guard throughput median=$(awk '{sub("throughput=", "", $4); print $4}' "$WORK/ab.rounds" | stats | awk '{printf "%.3f min=%.3f max=%.3f", $1, $2, $3}')"
fi
for m in guard guard-b guard-redis; do
  [ -z "${PROXY_PID[$m]:-}" ] || echo "$m RSS after the run: $(rss_mb "${PROXY_PID[$m]}") MB, threads $(threads_of "${PROXY_PID[$m]}")"
done
[ "$out" != "$RESULTS/proxy.txt" ] || "$ROOT/bench/report.sh"
