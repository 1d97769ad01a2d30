package dev.sessionguard.bench;

import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.RedisSessionRegistry;
import dev.sessionguard.guard.admission.Session;
import dev.sessionguard.guard.admission.SessionCaps;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The registry behind admission, in memory and on Redis, in one run (bench/redis.sh): {@code
 * sessionCycle} admits a session, records it and ends it — the registry's part of an initialize and
 * its DELETE; {@code post} is what every later POST on a session costs on the fast path, {@code
 * lookup} what the blocking path's lookup costs. The Redis registry is the guard's own, talking to
 * a real redis-server on loopback ({@code redisUrl}). Modes and units come from the script: sample
 * time for percentiles, throughput for operations per second, each with one and several threads.
 */
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RegistryBenchmark {
  private static final SessionCaps CAPS = new SessionCaps(1_000_000, 1_000_000, false);
  private static final int EXISTING = 10_000;

  @Param({"memory", "redis"})
  public String store;

  @Param("redis://127.0.0.1:6379")
  public String redisUrl;

  private SessionRegistry registry;
  private final AtomicLong ids = new AtomicLong();

  @Setup(Level.Trial)
  public void fill() {
    if (store.equals("redis")) {
      var redis =
          new RedisSessionRegistry(
              new RedisStore(
                  redisUrl,
                  null,
                  Duration.ofSeconds(30),
                  FailureMode.Closed,
                  RedisStore.keyPrefix("bench-" + System.nanoTime()),
                  RedisStore.DEFAULT_COMMAND_TIMEOUT),
              "bench-guard",
              Clock.systemUTC());
      redis.start();
      registry = redis;
    } else {
      registry = new MemorySessionRegistry(Clock.systemUTC());
    }
    for (int i = 0; i < EXISTING; i++) {
      var a = (Admission.Admitted) registry.admit("client-" + (i % 100), CAPS, false, false);
      registry.confirm(a.reservation(), "existing-" + i);
    }
  }

  @TearDown(Level.Trial)
  public void close() {
    for (int i = 0; i < EXISTING; i++) {
      registry.end("existing-" + i, EndReason.CLIENT);
    }
    if (registry instanceof RedisSessionRegistry redis) {
      redis.close();
    }
  }

  @Benchmark
  public Object sessionCycle() {
    String id = "s-" + ids.incrementAndGet();
    var a =
        (Admission.Admitted) registry.admit("client-" + (id.hashCode() & 63), CAPS, false, false);
    registry.confirm(a.reservation(), id);
    return registry.end(id, EndReason.CLIENT);
  }

  @Benchmark
  public Object lookup() {
    return registry.lookup("existing-" + (ids.incrementAndGet() % EXISTING));
  }

  /**
   * A POST on a live session as the fast path takes it: the session looked up and the POST started
   * in one step (awaited), then finished (sent without waiting for Redis's reply).
   */
  @Benchmark
  public Object post() throws Exception {
    long i = ids.incrementAndGet() % EXISTING;
    Session session =
        registry
            .startRequest("existing-" + i, "client-" + (i % 100), true)
            .toCompletableFuture()
            .get(5, TimeUnit.SECONDS)
            .orElseThrow();
    registry.requestFinished(session, true);
    return session;
  }
}
