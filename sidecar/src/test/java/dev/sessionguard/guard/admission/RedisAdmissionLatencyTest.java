package dev.sessionguard.guard.admission;

import java.time.Clock;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * What one admission costs on Redis against memory (docs/redis.md). Run on demand: {@code ./mvnw
 * -pl sidecar -am verify -Dtest=RedisAdmissionLatencyTest -Dsessionguard.bench=true
 * -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@EnabledIfSystemProperty(named = "sessionguard.bench", matches = "true")
class RedisAdmissionLatencyTest {
  static final int ROUNDS = 10_000;
  static final SessionCaps CAPS = new SessionCaps(100_000, 100_000, false);

  @Test
  void admission_and_confirm_latency_on_redis_and_in_memory() {
    try (var redis = new RedisFixture()) {
      var shared = redis.guard("bench", Clock.systemUTC());
      measure("memory", new MemorySessionRegistry(Clock.systemUTC()));
      measure("redis", shared);
      long before = usedMemory(redis);
      for (int i = 0; i < ROUNDS; i++) {
        var a = (Admission.Admitted) shared.admit("client-" + (i % 100), CAPS, false, false);
        shared.confirm(a.reservation(), "mcp-session-" + java.util.UUID.randomUUID());
      }
      System.out.printf(
          "redis memory per live session: %d bytes%n", (usedMemory(redis) - before) / ROUNDS);
      redis.redis().flushall();
    }
  }

  static long usedMemory(RedisFixture redis) {
    return redis
        .redis()
        .info("memory")
        .lines()
        .filter(l -> l.startsWith("used_memory:"))
        .mapToLong(l -> Long.parseLong(l.substring("used_memory:".length()).trim()))
        .findFirst()
        .orElseThrow();
  }

  static void measure(String name, SessionRegistry registry) {
    run(registry, "warm-" + name, ROUNDS / 2);
    long[][] nanos = run(registry, name, ROUNDS);
    System.out.printf(
        "%-6s admit+confirm p50 %6.1f us  p99 %6.1f us | lookup p50 %6.1f us  p99 %6.1f us%n",
        name,
        percentile(nanos[0], 50),
        percentile(nanos[0], 99),
        percentile(nanos[1], 50),
        percentile(nanos[1], 99));
  }

  static long[][] run(SessionRegistry registry, String prefix, int rounds) {
    long[] admit = new long[rounds];
    long[] lookup = new long[rounds];
    for (int i = 0; i < rounds; i++) {
      String id = prefix + "-" + i;
      long t0 = System.nanoTime();
      var admitted = (Admission.Admitted) registry.admit("client-" + (i % 100), CAPS, false, false);
      registry.confirm(admitted.reservation(), id);
      long t1 = System.nanoTime();
      registry.lookup(id);
      long t2 = System.nanoTime();
      admit[i] = t1 - t0;
      lookup[i] = t2 - t1;
    }
    for (int i = 0; i < rounds; i++) {
      registry.end(prefix + "-" + i, EndReason.CLIENT);
    }
    return new long[][] {admit, lookup};
  }

  static double percentile(long[] nanos, int p) {
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    return sorted[(int) Math.min(sorted.length - 1, (long) sorted.length * p / 100)] / 1_000.0;
  }
}
