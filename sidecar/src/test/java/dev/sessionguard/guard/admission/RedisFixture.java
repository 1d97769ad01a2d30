package dev.sessionguard.guard.admission;

import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.guard.testing.RedisServer;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** One real Redis for a test class, and the guards (registries) a test starts against it. */
final class RedisFixture implements AutoCloseable {
  static final String SCOPE = "test-policy";

  final RedisServer server = RedisServer.start();
  private final RedisClient client = RedisClient.create(server.url());
  private StatefulRedisConnection<String, String> connection;
  private final List<RedisSessionRegistry> guards = new ArrayList<>();

  RedisStore store(Duration leaseTtl, FailureMode mode) {
    return store(server.url(), leaseTtl, mode);
  }

  RedisStore store(String url, Duration leaseTtl, FailureMode mode) {
    return new RedisStore(
        url, null, leaseTtl, mode, RedisStore.keyPrefix(SCOPE), RedisStore.DEFAULT_COMMAND_TIMEOUT);
  }

  RedisSessionRegistry guard(String name, Clock clock, Duration leaseTtl, FailureMode mode) {
    return guard(name, clock, store(leaseTtl, mode));
  }

  RedisSessionRegistry guard(String name, Clock clock, RedisStore store) {
    var registry = new RedisSessionRegistry(store, name, clock);
    registry.start();
    guards.add(registry);
    return registry;
  }

  RedisSessionRegistry guard(String name, Clock clock) {
    return guard(name, clock, Duration.ofSeconds(30), FailureMode.Open);
  }

  /** A connection of the test's own, to look at what the guards wrote. */
  synchronized RedisCommands<String, String> redis() {
    if (connection == null || !connection.isOpen()) {
      connection = client.connect();
    }
    return connection.sync();
  }

  /**
   * Keys that hold a count: everything but tombstones, leases and the guard list. Empty when
   * nothing is admitted.
   */
  List<String> countingKeys() {
    return redis().keys(RedisStore.keyPrefix(SCOPE) + "*").stream()
        .map(k -> k.substring(RedisStore.keyPrefix(SCOPE).length()))
        .filter(RedisServer::countingKey)
        .sorted()
        .toList();
  }

  /** Closes the guards started so far and empties Redis. */
  void reset() {
    guards.forEach(RedisSessionRegistry::close);
    guards.clear();
    redis().flushall();
  }

  @Override
  public void close() {
    guards.forEach(RedisSessionRegistry::close);
    if (connection != null) {
      connection.close();
    }
    client.shutdown();
    server.close();
  }
}
