# Shared by the bench/*.sh scripts: build the benchmark jar once, describe the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="$ROOT/bench/results"
JAR="$ROOT/bench/target/session-guard-bench.jar"
mkdir -p "$RESULTS"

build_bench() {
  if [ ! -f "$JAR" ] || [ -n "$(find "$ROOT/sidecar/src" "$ROOT/bench/src" -newer "$JAR" -name '*.java' | head -1)" ]; then
    (cd "$ROOT" && ./mvnw -q -B -pl bench -am package -DskipTests)
  fi
}

machine() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(java -version 2>&1 | head -1)"
}

# --- shared by proxy.sh, streams.sh, footprint.sh: tools, JVMs, the guard, nginx, cleanup ---
JAVA17="${JAVA17:-$(ls -d /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -1)}"
JAVA25="${JAVA25:-$(ls -d /usr/lib/jvm/temurin-25-jdk-*/bin/java 2>/dev/null | head -1)}"
GUARD_JAR="${GUARD_JAR:-$ROOT/sidecar/target/session-guard-sidecar.jar}"
WORK="$RESULTS/tmp" # scratch: nginx prefixes, policies, logs (git-ignored)
mkdir -p "$WORK"

# Installs the Debian packages a benchmark needs when a command is missing (as root), or stops.
need() {
  local missing=()
  for pair in "$@"; do # command:package
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})" >&2
    exit 1
  fi
}

need_jvms() {
  [ -x "$JAVA17" ] || { echo "no Java 17 (set JAVA17=/path/to/bin/java)" >&2; exit 1; }
  [ -x "$JAVA25" ] || { echo "no Java 25 (set JAVA25=/path/to/bin/java)" >&2; exit 1; }
}

build_guard() {
  if [ "$GUARD_JAR" = "$ROOT/sidecar/target/session-guard-sidecar.jar" ] && { [ ! -f "$GUARD_JAR" ] || [ -n "$(find "$ROOT/sidecar/src/main" "$ROOT/crds/src/main" -newer "$GUARD_JAR" -type f | head -1)" ]; }; then
    (cd "$ROOT" && ./mvnw -q -B -pl sidecar -am package -DskipTests)
  fi
  [ -f "$GUARD_JAR" ] || { echo "no guard jar at $GUARD_JAR" >&2; exit 1; }
}

# Processes started by a benchmark, stopped on exit (by pid, never by name).
STARTED=()
started() { STARTED+=("$1"); }
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
  STARTED=()
}
trap cleanup EXIT
stop() { # stop PID...: ends processes this benchmark started, and forgets them
  local pid keep=()
  kill "$@" 2>/dev/null || true
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do [[ " $* " == *" $pid "* ]] || keep+=("$pid"); done
  STARTED=("${keep[@]}")
}
# rec LINE: prints a result line and keeps it in $LINES, which the script reads back (the log
# written through tee may lag behind)
rec() { echo "$*"; echo "$*" >>"$LINES"; }
# log_to FILE: from here on, everything printed also goes to FILE (no subshell: cleanup still runs)
log_to() { exec > >(tee "$1") 2>&1; }

# nginx NAME CPU CONF_BODY: one nginx (one worker, pinned to CPU) in $WORK/NAME; sets NGINX_PID.
nginx_start() {
  local name=$1 cpu=$2 body=$3 dir="$WORK/$1"
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $( [ "$cpu" = 0 ] && echo 01 || echo 10 );
worker_rlimit_nofile 16384;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
$body
}
CONF
  taskset -c "$cpu" /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" &
  NGINX_PID=$!
  started "$NGINX_PID"
}

# nginx_fixed_upstream NAME PORT: nginx on core 0 answering every request with one fixed
# JSON-RPC result and the session id bench-1, so that the upstream is never the bottleneck.
nginx_fixed_upstream() {
  nginx_start "$1" 0 "  server {
    listen 127.0.0.1:$2 backlog=4096;
    location / {
      default_type application/json;
      add_header Mcp-Session-Id bench-1 always;
      return 200 '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}],\"isError\":false}}';
    }
  }"
}

# wait_status URL STATUS [seconds]: polls until URL answers STATUS.
wait_status() {
  local url=$1 want=$2 deadline=$((SECONDS + ${3:-30}))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $want from $url" >&2; return 1; }
    sleep 0.05
  done
}

rss_mb() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
threads_of() { awk '/^Threads:/{print $2}' "/proc/$1/status"; }

# The guard image's Java and its settings, as sidecar/Dockerfile writes them: the runtime its jlink
# line links, the "-X…" options of its ENTRYPOINT, and those of the training run (the RUN line with
# --training-run) that writes the ahead-of-time cache when the image is built. /app/… names files
# here: the jar is $GUARD_JAR, the runtime and the cache one per JDK in $WORK/image-<jdk>/.
# -XX:MaxRAM=$POD_MEMORY is added to ENTRYPOINT's: in the pod the JVM sizes itself from the
# container's memory limit (the chart's default is 384Mi), not from this machine's memory.
# The image is Java 25; on an older JVM (17, for comparison) there is no AOT cache and no linked
# runtime: the same flags run that JVM with a dynamic class-data archive in the cache's place.
POD_MEMORY=${POD_MEMORY:-384m}
IMAGE_JAVA_FEATURE=$(sed -n 's/^FROM eclipse-temurin:\([0-9]*\)-jdk AS build$/\1/p' "$ROOT/sidecar/Dockerfile")
java_feature() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
# without_aot JAVA: on a JVM older than the AOT cache, its flags become a dynamic archive's
without_aot() {
  if [ "$(java_feature "$1")" -ge 25 ]; then cat; else
    sed 's/-XX:AOTCacheOutput=\([^ ]*\)\.aot/-XX:ArchiveClassesAtExit=\1.jsa/; s/-XX:AOTCache=\([^ ]*\)\.aot/-XX:SharedArchiveFile=\1.jsa/'
  fi
}
dockerfile_args() { # PATTERN: the quoted arguments of the Dockerfile line matching PATTERN, one per line
  grep -E -e "$1" "$ROOT/sidecar/Dockerfile" | grep -o '"[^"]*"' | tr -d '"'
}
dockerfile_flags() { # PATTERN DIR: the -X options of the Dockerfile line matching PATTERN, /app/ -> DIR/
  dockerfile_args "$1" | grep -- '^-X' | sed "s|/app/|$2/|g" | tr '\n' ' '
}
image_dir() { echo "$WORK/image-$(basename "$(dirname "$(dirname "$1")")")"; } # JAVA
# image_java JAVA: the java binary the image runs, for JAVA's version: with the image's version, the
# runtime the Dockerfile's jlink line links from JAVA's JDK (made once per line); otherwise JAVA.
image_java() {
  local java=$1 dir line
  if [ "$(java_feature "$java")" != "$IMAGE_JAVA_FEATURE" ]; then
    echo "$java"
    return
  fi
  dir=$(image_dir "$java")
  line=$(dockerfile_args '^RUN \["jlink"' | tail -n +2 | tr '\n' ' ')
  if [ ! -x "$dir/java/bin/java" ] || [ "$(cat "$dir/java.line" 2>/dev/null)" != "$line" ]; then
    mkdir -p "$dir"
    rm -rf "$dir/java" "$dir/java.line"
    # shellcheck disable=SC2046
    "$(dirname "$java")/jlink" $(echo "$line" | sed "s|--output [^ ]*|--output $dir/java|") >"$dir/jlink.log" 2>&1 ||
      { echo "jlink failed:" >&2; cat "$dir/jlink.log" >&2; exit 1; }
    echo "$line" >"$dir/java.line"
  fi
  echo "$dir/java/bin/java"
}
# made_for_these_jars FILE ARG...: FILE exists and was made from the jars ARG... name (as -jar J or
# -cp J1:J2) as they are now (an archive made from other jars would be refused at start, silently
# but for a warning).
made_for_these_jars() { [ -f "$1" ] && [ "$(cat "$1.jar" 2>/dev/null)" = "$(jar_stamp "${@:2}")" ]; }
jar_stamp() { # ARG...: each jar the arguments name, with its size and time
  local arg jar
  for arg in "$@"; do
    for jar in ${arg//:/ }; do
      [[ $jar != *.jar ]] || echo "$jar $(stat -c '%s %Y' "$jar")"
    done
  done
}
# train JAVA OPTS FILE [FLAG [PROGRAM...]]: the image's training run on JAVA with OPTS, which write
# FILE (with FLAG, -XX:AOTCacheOutput or -XX:ArchiveClassesAtExit, the output OPTS name becomes
# FLAG=FILE), unless FILE is there, made from PROGRAM's jars as they are and newer than JAVA.
# PROGRAM (default: the guard's jar) is what runs, with --training-run after it.
train() {
  local java=$1 opts=$2 file=$3 flag=${4:-}
  local program=("${@:5}")
  [ ${#program[@]} -gt 0 ] || program=(-jar "$GUARD_JAR")
  made_for_these_jars "$file" "${program[@]}" && [ "$file" -nt "$java" ] && return 0
  [ -z "$flag" ] || opts=$(echo "$opts" | sed -E "s#-XX:(AOTCacheOutput|ArchiveClassesAtExit)=[^ ]*#$flag=$file#")
  mkdir -p "$(dirname "$file")"
  rm -f "$file"
  # shellcheck disable=SC2086
  "$java" $opts "${program[@]}" --training-run >"$file.log" 2>&1 ||
    { echo "training run for $file failed:" >&2; cat "$file.log" >&2; exit 1; }
  jar_stamp "${program[@]}" >"$file.jar"
}
# image_archive JAVA: runs the image's training run with the image's java for JAVA, as the image
# build does, unless its cache (or archive) is there, made from this jar and this runtime.
image_archive() {
  local java=$1 dir archive
  dir=$(image_dir "$java")
  archive=$(dockerfile_flags '^ENTRYPOINT' "$dir" | without_aot "$java" | grep -o -- '-XX:\(SharedArchiveFile\|AOTCache\)=[^ ]*' | cut -d= -f2)
  [ -n "$archive" ] || return 0
  train "$(image_java "$java")" "$(dockerfile_flags '^RUN \["java".*--training-run' "$dir" | without_aot "$java")" "$archive"
}
# image_java_opts [JAVA]: the image's ENTRYPOINT flags for JAVA (default: Java 25), its cache made;
# run them with $(image_java JAVA).
image_java_opts() {
  local java=${1:-$JAVA25}
  image_archive "$java"
  echo "$(dockerfile_flags '^ENTRYPOINT' "$(image_dir "$java")" | without_aot "$java")-XX:MaxRAM=$POD_MEMORY"
}

load_note() {
  local l1; l1=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$l1" 'BEGIN{exit !(l >= 1)}'; then
    echo "taken under load: load average $l1 at start (the machine was shared)"
  else
    echo "load average $l1 at start"
  fi
}

# stats: numbers on stdin -> "median min max"
stats() { sort -g | awk '{v[NR]=$1} END{if(NR==0){print "nan nan nan"; exit}; m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'; }
# field KEY: the value of KEY=value in each line of stdin
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
