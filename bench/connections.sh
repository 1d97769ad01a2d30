#!/usr/bin/env bash
# Heap per kept-alive client connection: N clients each send three tools/call on one connection
# and keep it open; the guard's heap after full GCs, before and with them, gives the bytes each
# connection holds (Jetty's connection, parser and buffers, and the guard's share). With the image's
# flags, on Java 25. Usage: bench/connections.sh   (env: CONNECTIONS=500)
source "$(dirname "$0")/lib.sh"
need nginx:nginx curl:curl
need_jvms
build_bench
build_guard

N=${CONNECTIONS:-500}
UP=18381 GRD=18383 ADM=18393
out="$RESULTS/connections.txt"
JCMD="$(dirname "$JAVA25")/jcmd"
nginx_fixed_upstream connections-upstream "$UP"
cat >"$WORK/connections-policy.yaml" <<YAML
name: bench-connections
upstream: {host: 127.0.0.1, port: $UP, path: /mcp}
guard: {port: $GRD, adminPort: $ADM}
identity: {source: Address, anonymous: PerAddress}
sessions: {max: 100000, perClient: 100000, idleTimeout: 1h, maxLifetime: 24h}
requests: {maxInFlight: 10000, perClientInFlight: 10000}
YAML
log_to "$out"
echo "# $(date -u +%FT%TZ) — $(machine); $(load_note)"
GUARD_OPTS=$(POD_MEMORY=2g image_java_opts "$JAVA25")
echo "# guard opts='$GUARD_OPTS' (2g: the heap must not be the limit here)"
# shellcheck disable=SC2086
"$(image_java "$JAVA25")" $GUARD_OPTS -jar "$GUARD_JAR" --policy "$WORK/connections-policy.yaml" >"$WORK/connections-guard.log" 2>&1 &
guard=$!
started "$guard"
wait_status "http://127.0.0.1:$ADM/readyz" 200 60
curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
  "http://127.0.0.1:$GRD/mcp"
heap_kb() { # used heap after a full GC
  "$JCMD" "$guard" GC.run >/dev/null
  "$JCMD" "$guard" GC.heap_info | grep -o 'used [0-9]*K' | head -1 | tr -dc 0-9
}
before=$(heap_kb)
rm -f "$WORK/connections-hold"
mkfifo "$WORK/connections-hold"
"$JAVA25" -cp "$JAR" dev.sessionguard.bench.KeptAlive 127.0.0.1 "$GRD" bench-1 "$N" <"$WORK/connections-hold" >"$WORK/connections-client.out" 2>&1 &
client=$!
started "$client"
exec 7>"$WORK/connections-hold" # keeps the client's input open
until grep -q '^held=' "$WORK/connections-client.out"; do
  kill -0 "$client" 2>/dev/null || { cat "$WORK/connections-client.out"; exit 1; }
  sleep 0.2
done
with=$(heap_kb)
echo "connections=$N heap_before_kb=$before heap_with_kb=$with bytes_per_connection=$(( (with - before) * 1024 / N ))"
exec 7>&-
wait "$client" || true
