package dev.sessionguard.bench;

import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.RedisSessionRegistry;
import dev.sessionguard.guard.admission.SessionCaps;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import io.lettuce.core.RedisClient;
import java.time.Clock;
import java.time.Duration;
import java.util.UUID;

/**
 * What Redis holds per live session: admits N sessions (UUID ids, 100 clients) through the guard's
 * Redis registry and prints Redis's used_memory growth per session while they are held. Usage:
 * {@code java -cp session-guard-bench.jar dev.sessionguard.bench.RedisFill redis://HOST:PORT N}.
 */
public final class RedisFill {
  private RedisFill() {}

  public static void main(String[] args) {
    String url = args[0];
    int n = Integer.parseInt(args[1]);
    var caps = new SessionCaps(n, n, false);
    var client = RedisClient.create(url);
    try (var connection = client.connect()) {
      var redis = connection.sync();
      long before = usedMemory(redis.info("memory"));
      var registry =
          new RedisSessionRegistry(
              new RedisStore(
                  url,
                  null,
                  Duration.ofSeconds(30),
                  FailureMode.Closed,
                  RedisStore.keyPrefix("fill"),
                  RedisStore.DEFAULT_COMMAND_TIMEOUT),
              "fill-guard",
              Clock.systemUTC());
      registry.start();
      for (int i = 0; i < n; i++) {
        var a = (Admission.Admitted) registry.admit("client-" + (i % 100), caps, false, false);
        registry.confirm(a.reservation(), UUID.randomUUID().toString());
      }
      long held = usedMemory(redis.info("memory"));
      System.out.printf(
          "%d sessions held: used_memory +%d bytes/session (UUID ids, 100 clients)%n",
          n, (held - before) / n);
      registry.close(); // gives up the lease: the sessions go with it
    } finally {
      client.shutdown();
    }
  }

  private static long usedMemory(String info) {
    return info.lines()
        .filter(l -> l.startsWith("used_memory:"))
        .mapToLong(l -> Long.parseLong(l.substring("used_memory:".length()).trim()))
        .findFirst()
        .orElseThrow();
  }
}
