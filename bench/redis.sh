#!/usr/bin/env bash
# Admission on Redis against admission in memory, in one run (JMH, RegistryBenchmark): the
# registry's part of a session (admit, record, end) and of every later POST on it (post: looked up
# and started in one step, then finished; lookup: the blocking path's lookup alone), as
# latency percentiles (one thread) and throughput (one and eight threads), on the guard's own
# registries; Redis is a real redis-server on loopback started for the run. Also the memory Redis
# holds per live session. Usage: bench/redis.sh    (env: REDIS_PORT=18379)
source "$(dirname "$0")/lib.sh"
need redis-server:redis-server redis-cli:redis-tools
build_bench
PORT=${REDIS_PORT:-18379}
out="$RESULTS/redis.txt"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
started $!
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
URL="redis://127.0.0.1:$PORT"
{
  echo "# $(date -u +%FT%TZ) — $(machine); $(redis-server --version | cut -d' ' -f1-3); $(load_note)"
  echo "## latency per operation (sample time, 1 thread, µs)"
  java -jar "$JAR" RegistryBenchmark -p redisUrl="$URL" -bm sample -tu us -t 1 \
    | grep -E '^Benchmark|RegistryBenchmark\.[a-zA-Z]+(:p0\.(50|99|999)0*)? ' || true
  for threads in 1 8; do
    echo "## throughput ($threads thread(s), operations/s)"
    java -jar "$JAR" RegistryBenchmark -p redisUrl="$URL" -bm thrpt -tu s -t "$threads" \
      | grep -E '^Benchmark|RegistryBenchmark\.[a-zA-Z]+ .* thrpt ' || true
  done
  echo "## Redis memory per live session"
  java -cp "$JAR" dev.sessionguard.bench.RedisFill "$URL" 10000 | grep 'sessions held'
} | sed "s| *redis://127.0.0.1:$PORT||; s| *(redisUrl)||" | tee "$out"
