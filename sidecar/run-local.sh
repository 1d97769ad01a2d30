#!/usr/bin/env bash
# Builds the guard if needed, starts the real server-everything on a free port and the guard
# in front of it on loopback with examples/policy.yaml, prints the URL for an MCP client, and
# stops both on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

jar=sidecar/target/session-guard-sidecar.jar
if [ ! -f "$jar" ] || [ -n "$(find sidecar/src crds/src -newer "$jar" -type f -print -quit)" ]; then
  echo "building the guard…"
  ./mvnw -q -pl sidecar -am package -DskipTests
fi
if [ ! -d sidecar/node/node_modules ]; then
  echo "installing the pinned MCP server (npm ci)…"
  npm ci --prefix sidecar/node --no-audit --no-fund --loglevel=error
fi

upstream_out="$(mktemp)"
# The guard stops first, as in a pod: SIGTERM, then its drain (requests in progress finish
# against the server, still up), then the server. Returns once both are gone.
cleanup() {
  trap - EXIT INT TERM
  if [ -n "${guard_pid:-}" ] && kill -0 "$guard_pid" 2>/dev/null; then
    echo "stopping the guard (it drains first)…"
    kill -TERM "$guard_pid" 2>/dev/null || true
    wait "$guard_pid" 2>/dev/null || true
  fi
  [ -n "${upstream_pid:-}" ] && kill "$upstream_pid" 2>/dev/null || true
  rm -f "$upstream_out"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

node sidecar/node/everything.mjs --port 0 >"$upstream_out" 2>/dev/null &
upstream_pid=$!
for _ in $(seq 1 100); do
  grep -q '"listening"' "$upstream_out" && break
  sleep 0.1
done
upstream_url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$upstream_out" | head -1)"
[ -n "$upstream_url" ] || { echo "server-everything did not start" >&2; exit 1; }

port="${GUARD_PORT:-4484}"
admin_port="${GUARD_ADMIN_PORT:-9484}"
java -jar "$jar" --policy examples/policy.yaml --upstream "$upstream_url" \
  --host 127.0.0.1 --port "$port" --admin-port "$admin_port" &
guard_pid=$!

echo
echo "  MCP server (server-everything): $upstream_url"
echo "  guarded MCP endpoint:           http://127.0.0.1:$port/mcp   <- point your MCP client here"
echo "  admin:                          http://127.0.0.1:$admin_port/metrics  /policy  /sessions  /readyz"
echo "  Ctrl-C stops both."
echo
wait "$guard_pid"
