#!/usr/bin/env bash
# Writes docs/benchmarks.md and its plots (docs/img/*.png, gnuplot) from bench/results/*.txt.
# Every bench/*.sh calls it at the end; run it alone to regenerate the page. Usage: bench/report.sh
source "$(dirname "$0")/lib.sh"
need gnuplot:gnuplot-nox
DOC="$ROOT/docs/benchmarks.md"
IMG="$ROOT/docs/img"
mkdir -p "$IMG" "$WORK/plot"
rm -f "$IMG"/proxy-latency*.png
R="$RESULTS"

header_of() { sed -n '1s/^# //p' "$1"; } # first line: date — machine; load
has() { [ -s "$R/$1" ]; }

# --- plots -----------------------------------------------------------------------------------
plot_proxy() {
  local d="$WORK/plot"
  grep '^summary-throughput' "$R/proxy.txt" | awk '{for(i=2;i<=NF;i++){split($i,kv,"=");v[kv[1]]=kv[2]}; print v["mode"], v["median"], v["min"], v["max"]}' >"$d/tp.dat"
  gnuplot <<GP
set terminal pngcairo size 720,420 font "sans,10"
set output "$IMG/proxy-throughput.png"
set title "Throughput at saturation (wrk -t1 -c32, median and min-max of runs)"
set ylabel "requests/s"; set yrange [0:*]; set style fill solid 0.6; set boxwidth 0.6
set grid ytics; unset key
plot "$d/tp.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa", "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
GP
  local rate m plots
  for rate in $(proxy_rates); do
    plots=""
    for m in $(cut -d' ' -f1 "$d/tp.dat"); do
      grep "^summary-latency mode=$m rate=$rate " "$R/proxy.txt" | awk '{for(i=2;i<=NF;i++){split($i,kv,"=");v[kv[1]]=kv[2]}; p=v["pct"]; sub("_us","",p); sub("p999","p99.9",p); print NR-1, p, v["median"], v["min"], v["max"]}' >"$d/lat-$m.dat"
      plots="$plots${plots:+, }\"$d/lat-$m.dat\" using 1:3:4:5:xtic(2) with yerrorlines title \"$m\""
    done
    gnuplot <<GP
set terminal pngcairo size 720,420 font "sans,10"
set output "$IMG/proxy-latency-$rate.png"
set title "Latency at $rate requests/s (open model, median and min-max of runs)"
set ylabel "microseconds (log)"; set logscale y; set grid ytics; set key top left
set xrange [-0.3:3.3]
plot $plots
GP
  done
}
proxy_rates() { sed -n 's/^summary-latency .* rate=\([0-9]*\) .*/\1/p' "$R/proxy.txt" | awk '!seen[$0]++'; }

streams_runs() { sed -n 's/^\(jvm=[0-9]* mem=[0-9a-z]*\) .*/\1/p' "$R/streams.txt" | awk '!seen[$0]++'; }

plot_streams() {
  local d="$WORK/plot" run name plots_rss="" plots_thr=""
  while read -r run; do
    name=$(echo "$run" | sed 's/jvm=\([0-9]*\) mem=\(.*\)/Java \1, \2/')
    local dat="$d/streams-$(echo "$run" | tr ' =' '__').dat"
    { grep "^$run sessions " "$R/streams.txt" | awk '{for(i=3;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; print 0, x["rss_mb"], x["threads"]}'
      grep "^$run streams=" "$R/streams.txt" | awk '{for(i=3;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; if (x["rss_mb"] > 0) print x["open"], x["rss_mb"], x["threads"]}'
    } >"$dat"
    plots_rss="$plots_rss${plots_rss:+, }\"$dat\" using 1:2 with linespoints title \"$name\""
    plots_thr="$plots_thr${plots_thr:+, }\"$dat\" using 1:3 with linespoints title \"$name\""
  done < <(streams_runs)
  gnuplot <<GP
set terminal pngcairo size 720,420 font "sans,10"
set output "$IMG/streams-rss.png"
set title "Guard RSS with open SSE streams"
set xlabel "open streams"; set ylabel "RSS (MB)"; set yrange [0:*]; set grid; set key top left
plot $plots_rss
set output "$IMG/streams-threads.png"
set title "Guard threads with open SSE streams"
set ylabel "threads"
plot $plots_thr
GP
}

plot_footprint() {
  local d="$WORK/plot"
  # a floor has no load figures, floor-jvm no ready time: NaN, which gnuplot leaves out
  grep '^summary ' "$R/footprint.txt" | awk 'function v(k){return (k in x) ? x[k] : "NaN"}
    {split("", x); for(i=2;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; print x["jvm"] "/" x["config"], v("ready_ms"), v("idle_rss_mb"), v("load_rss_mb"), v("ready_cpu_ms")}' >"$d/fp.dat"
  gnuplot <<GP
set terminal pngcairo size 760,420 font "sans,10"
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.6
set grid ytics; set xtics rotate by -30; set yrange [0:*]; set rmargin 8
set output "$IMG/footprint-ready.png"
set title "From JVM start to /readyz 200: wall and CPU time (median)"; set ylabel "ms"
plot "$d/fp.dat" using 2:xtic(1) title "wall time to ready", "" using 5 title "CPU time to ready", 1000 with lines dt 2 lc rgb "red" title "target 1 s"
set output "$IMG/footprint-rss.png"
set title "RSS idle and under load (median)"; set ylabel "MB"
plot "$d/fp.dat" using 3:xtic(1) title "idle", "" using 4 title "under load (peak)", 64 with lines dt 2 lc rgb "red" title "target idle 64 MB"
GP
}

# --- tables ----------------------------------------------------------------------------------
proxy_section() {
  local f="$R/proxy.txt"
  echo "## 1. Proxy overhead: direct vs nginx vs the guard"
  echo
  echo "Reproduce: \`bench/proxy.sh\` — $(header_of "$f")."
  echo
  sed -n '2,3s/^# /- /p' "$f"
  echo "- Fixed rates: half of nginx's saturation throughput, and half of the guard's (below every way's saturation: the rate of the p99 target)."
  echo "- Upstream: nginx \`return 200\` with a fixed JSON-RPC result and \`Mcp-Session-Id: bench-1\`;"
  echo "  requests: POST \`tools/call\` on session \`bench-1\` (established through the guard with \`initialize\`)."
  echo "- nginx proxy: one worker, \`proxy_http_version 1.1\`, \`Connection \"\"\`, \`keepalive 64\` upstream pool."
  if grep -q '^summary-throughput mode=guard-redis ' "$f"; then
    echo "- guard-redis: a second guard, the same policy with \`store: {type: Redis}\`; a redis-server on loopback (core 0) holds its sessions, so every request looks its session up there."
  fi
  echo
  echo "| way | throughput req/s (median) | min–max | vs nginx | proxy CPU µs/request | proxy context switches/request |"
  echo "|---|---:|---:|---:|---:|---:|"
  local n
  n=$(grep '^summary-throughput mode=nginx ' "$f" | field median)
  grep '^summary-throughput' "$f" | awk -v n="$n" '{delete x; for(i=2;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; printf "| %s | %d | %d–%d | %s | %s | %s |\n", x["mode"], x["median"], x["min"], x["max"], (n ? sprintf("%.2f×", x["median"]/n) : ""), ("cpu_us_per_req" in x ? x["cpu_us_per_req"] : "—"), ("ctxsw_per_req" in x ? x["ctxsw_per_req"] : "—")}'
  echo
  local rate m
  for rate in $(proxy_rates); do
    echo "Latency at $rate requests/s, microseconds from the intended send time (median of runs, min–max in brackets):"
    echo
    echo "| way | p50 | p90 | p99 | p99.9 |"
    echo "|---|---:|---:|---:|---:|"
    for m in $(grep '^summary-throughput' "$f" | field mode); do
      printf "| %s " "$m"
      for p in p50_us p90_us p99_us p999_us; do
        grep "^summary-latency mode=$m rate=$rate pct=$p " "$f" | awk '{for(i=2;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; printf "| %d (%d–%d) ", x["median"], x["min"], x["max"]}'
      done
      echo "|"
    done
    echo
    echo "![latency at $rate/s](img/proxy-latency-$rate.png)"
    echo
  done
  if grep -q '^target ' "$f"; then
    echo "Targets:"
    echo
    sed -n 's/^target \(.*\)/- \1/p; s/^info \(.*\)/- (for information) \1/p' "$f"
    echo
  fi
  sed -n 's/^\(guard[a-z-]*\) RSS after the run: \(.*\)/`\1` after the run: \2./p' "$f"
  echo
  echo "![throughput](img/proxy-throughput.png)"
  echo
  echo "Raw runs: \`bench/results/proxy.txt\`."
  echo
}

streams_section() {
  local f="$R/streams.txt"
  echo "## 4. Open SSE streams held through the guard"
  echo
  echo "Reproduce: \`bench/streams.sh\` — $(header_of "$f")."
  echo
  sed -n '2s/^# /- /p' "$f"
  echo "- Upstream: \`SseUpstream\` (one NIO thread; a new session id per \`initialize\`; GET streams never end, one event every 5 s on each)."
  echo "- Client: \`OpenStreams\` (JDK HttpClient): initializes the sessions, opens their GET streams in steps; one client address, caps raised to allow it."
  echo
  echo "| JVM | pod memory | streams open (of wanted) | failed | RSS MB | threads | new initialize while held | tools/call while held | streams still receiving events | ended |"
  echo "|---|---|---:|---:|---:|---:|---|---|---|---|"
  local run
  while read -r run; do
    local last probe ticks ended v mem
    v=$(echo "$run" | field jvm); mem=$(echo "$run" | field mem)
    last=$(grep -E "^$run (streams=|held )" "$f" | awk '{for(i=3;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; if (x["rss_mb"] > 0) l=$0} END{print l}')
    probe=$(grep "^$run probe" "$f" | tail -1 || true)
    ticks=$(grep "^$run streams_with_new_events" "$f" | tail -1 || true)
    ended=$(grep -E "^$run (guard exited|stalled|guard: )" "$f" | sed "s/^$run //" | head -2 | tr '\n' ' ' || true)
    printf "| %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n" "$v" "$mem" \
      "$(echo "$last" | field open)" "$(sed -n 's/^# streams=\([0-9]*\).*/\1/p' "$f")" "$(echo "$last" | field failed)" \
      "$(echo "$last" | field rss_mb)" "$(echo "$last" | field threads)" \
      "$(echo "$probe" | awk '{for(i=3;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; if (x["initialize"]) printf "%s in %s ms", x["initialize"], x["initialize_ms"]; else print "—"}')" \
      "$(echo "$probe" | awk '{for(i=3;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; if (x["call"]) printf "%s in %s ms", x["call"], x["call_ms"]; else print "—"}')" \
      "$(echo "$ticks" | sed -n 's/.*streams_with_new_events=\([0-9]*\) of open=\([0-9]*\).*/\1 of \2/p')" \
      "${ended:-held to the end}"
  done < <(streams_runs)
  echo
  echo "RSS and threads are the last sample with the guard alive. Largest heap classes with all streams held"
  echo "(\`jcmd GC.class_histogram\`), where the guard survived:"
  echo
  echo '```'
  grep ' histogram ' "$f" | sed 's/^\(jvm=[0-9]* mem=[0-9a-z]*\) histogram /\1 /' | grep -E ' +(num|Total|[1-9]:|10:)' || true
  echo '```'
  echo
  echo "![rss](img/streams-rss.png)"
  echo "![threads](img/streams-threads.png)"
  echo
  echo "Raw steps: \`bench/results/streams.txt\`."
  echo
}

footprint_section() {
  local f="$R/footprint.txt"
  echo "## 6. Footprint: start-up and memory"
  echo
  echo "Reproduce: \`bench/footprint.sh\` — $(header_of "$f")."
  echo
  sed -n '2,3s/^# /- /p' "$f"
  sed -n 's/^# jvm=\([0-9]*\): \(.*\)/- Java \1: \2/p' "$f"
  echo
  echo "| JVM | configuration | ready ms (wall) | CPU ms until ready | idle RSS MB | of it anonymous MB | classes loaded (from the cache or archive) | RSS under load MB | req/s under load | idle threads |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  grep '^summary ' "$f" | awk 'function v(k){return (k in x) ? x[k] : "–"}
    {split("", x); for(i=2;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; printf "| %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s |\n", v("jvm"), v("config"), v("ready_ms"), v("ready_cpu_ms"), v("idle_rss_mb"), v("idle_anon_mb"), v("classes"), v("shared_classes"), v("load_rss_mb"), v("load_rps"), v("idle_threads")}'
  echo
  echo "Targets: ready ≤ 1000 ms, idle RSS ≤ 64 MB (medians of the starts; all runs in \`bench/results/footprint.txt\`)."
  echo "Anonymous memory is the guard's own; the rest of the RSS is file-backed (the JVM's library, the jar,"
  echo "AOT cache or class-data archive): shared between guards on a node and reclaimable under memory pressure."
  if grep -q '^summary jvm=[0-9]* config=floor-' "$f"; then
    echo "The floor rows are not the guard: on the same runtime, flags and core, each with an AOT cache (on 17 an"
    echo "archive) of its own, \`floor-jvm\` is a Java program that only sleeps, \`floor-javalin\` one Javalin app"
    echo "answering \`GET /readyz\` with the guard's Javalin, Jetty and logging (the guard's jar on its class path):"
    echo "the memory the runtime, and the web framework the guard is built on, take before any of the guard's code."
  fi
  echo
  echo "![ready](img/footprint-ready.png)"
  echo "![rss](img/footprint-rss.png)"
  echo
}

# The issue's numeric targets, each against the figure of the section that measures it.
targets_section() {
  local p="$R/proxy.txt" fp="$R/footprint.txt" mem="$R/memory.txt"
  echo "## Targets at a glance"
  echo
  echo "Each row is computed from the section named, on the run published below; sections 2, 4, 5, 7"
  echo "and 8 have no numeric target (their figures are the published answer)."
  echo
  echo "| target | measured | met | section |"
  echo "|---|---|---|---|"
  if has proxy.txt; then
    local g n
    g=$(grep '^summary-throughput mode=guard ' "$p" | field median)
    n=$(grep '^summary-throughput mode=nginx ' "$p" | field median)
    # ratio and verdict as proxy.sh judged them in its "target" lines
    grep '^target throughput ' "$p" | sed 's/^target throughput guard\/nginx=\([0-9.]*\) .* \(PASS\|FAIL\)$/\1 \2/' |
      while read -r ratio verdict; do
        echo "| proxy throughput ≥ 0.70× nginx | ${ratio}× ($g against $n req/s, medians) | $([ "$verdict" = PASS ] && echo yes || echo no) | 1 |"
      done
    grep '^target p99@' "$p" | sed 's/^target p99@\([0-9]*\) guard\/nginx=\([0-9.]*\) .* \(PASS\|FAIL\)$/\1 \2 \3/' |
      while read -r rate ratio verdict; do
        local gp np
        gp=$(grep "^summary-latency mode=guard rate=$rate pct=p99_us " "$p" | field median)
        np=$(grep "^summary-latency mode=nginx rate=$rate pct=p99_us " "$p" | field median)
        echo "| p99 at a fixed rate below saturation ≤ 2× nginx's | ${ratio}× ($gp against $np µs at $rate req/s) | $([ "$verdict" = PASS ] && echo yes || echo no) | 1 |"
      done
  fi
  if has footprint.txt; then
    local floor
    floor=$(grep '^summary jvm=25 config=floor-javalin ' "$fp" | field idle_rss_mb)
    grep '^summary jvm=25 config=image ' "$fp" | awk -v floor="$floor" '{for(i=2;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}
      printf "| ready ≤ 1 s (Java 25, the image) | %d ms | %s | 6 |\n", x["ready_ms"], (x["ready_ms"] <= 1000 ? "yes" : "no")
      printf "| idle RSS ≤ 64 MB (Java 25, the image) | %.1f MB (%.1f MB of it anonymous)%s | %s | 6 |\n", x["idle_rss_mb"], x["idle_anon_mb"], (floor == "" ? "" : sprintf("; Javalin alone, same runtime and flags: %.1f MB", floor)), (x["idle_rss_mb"] <= 64 ? "yes" : "no")}'
  fi
  if has memory.txt; then
    grep '^sessions=' "$mem" | awk '{for(i=1;i<=NF;i++){split($i,kv,"=");x[kv[1]]=kv[2]}; b=b (b ? ", " : "") sprintf("%.0f B at %d", x["bytes_per_session_beyond_id"], x["sessions"]); if (x["bytes_per_session_beyond_id"] > 300) bad=1}
      END{if (b) printf "| ≤ 300 B per tracked session beyond its id | %s | %s | 3 |\n", b, (bad ? "no" : "yes")}'
  fi
  echo
}

raw_section() { # title file command
  has "$2" || return 0
  echo "## $1"
  echo
  echo "Reproduce: \`$3\`."
  echo
  echo '```'
  sed "s|$ROOT/||g" "$R/$2"
  echo '```'
  echo
}

# A run still in progress (or cut short) leaves a results file without its summary: skip its plots.
if has proxy.txt && grep -q '^summary-' "$R/proxy.txt"; then plot_proxy || echo "proxy plots failed" >&2; fi
if has streams.txt && grep -q ' streams=' "$R/streams.txt"; then plot_streams || echo "streams plots failed" >&2; fi
if has footprint.txt && grep -q '^summary ' "$R/footprint.txt"; then plot_footprint || echo "footprint plots failed" >&2; fi
{
  echo "# Benchmarks"
  echo
  echo "Generated by \`bench/report.sh\` from \`bench/results/*.txt\`; each section names the command that"
  echo "reproduces it. Benchmarks are not tests: nothing here is asserted by the build."
  echo
  echo "Machine: $(machine | sed 's/;.*//'), $(uname -sr); nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
  echo "Each section's first line says when it ran and the load average then: figures taken while"
  echo "the machine was shared with other builds (load average ≥ 1) are marked so and are noisy."
  echo "To judge a change to the request path, compare two builds in one run, in alternated rounds:"
  echo "\`bench/ab.sh A.jar B.jar\` (section 1's setup; its figures are not published here)."
  echo
  targets_section || true
  if has proxy.txt; then proxy_section || true; fi
  raw_section "2. Admission cost (JMH)" admission.txt "bench/admission.sh"
  raw_section "3. Memory per tracked session" memory.txt "bench/memory.sh"
  if has streams.txt; then streams_section || true; fi
  raw_section "5. Reaper cost" reaper.txt "bench/reaper.sh"
  if has footprint.txt; then footprint_section || true; fi
  raw_section "7. Admission with Redis against memory (JMH)" redis.txt "bench/redis.sh"
  raw_section "8. Memory per kept-alive client connection" connections.txt "bench/connections.sh"
  if [ -f "$ROOT/bench/findings.md" ]; then cat "$ROOT/bench/findings.md"; fi
} >"$DOC"
echo "wrote $DOC"
