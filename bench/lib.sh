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
