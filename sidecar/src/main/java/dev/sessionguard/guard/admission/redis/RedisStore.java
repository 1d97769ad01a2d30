package dev.sessionguard.guard.admission.redis;

import dev.sessionguard.policy.Durations;
import dev.sessionguard.policy.SessionPolicySpec;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import java.time.Duration;
import java.util.Objects;

/**
 * Where and how the guards of one policy share their session registry.
 *
 * @param url {@code redis://} or {@code rediss://} URL, without the password
 * @param password the password from the policy's Secret, or null
 * @param leaseTtl how long a guard's records outlive it when it stops renewing
 * @param failureMode what admission does while Redis is unreachable
 * @param keyPrefix every key of the policy starts with it; it carries a hash tag so a Redis Cluster
 *     keeps them in one slot, as the scripts require
 * @param commandTimeout how long a request waits for Redis before the store counts as down
 * @param username the Redis ACL user to log in as, or null for the default user
 */
public record RedisStore(
    String url,
    String password,
    Duration leaseTtl,
    FailureMode failureMode,
    String keyPrefix,
    Duration commandTimeout,
    String username) {

  public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(1);

  /** A store logging in as the default user. */
  public RedisStore(
      String url,
      String password,
      Duration leaseTtl,
      FailureMode failureMode,
      String keyPrefix,
      Duration commandTimeout) {
    this(url, password, leaseTtl, failureMode, keyPrefix, commandTimeout, null);
  }

  public RedisStore {
    Objects.requireNonNull(url, "url");
    Objects.requireNonNull(failureMode, "failureMode");
    Objects.requireNonNull(keyPrefix, "keyPrefix");
    if (leaseTtl.compareTo(Duration.ofSeconds(1)) < 0) {
      throw new IllegalArgumentException("leaseTtl must be at least 1s");
    }
    if (commandTimeout.isNegative() || commandTimeout.isZero()) {
      throw new IllegalArgumentException("commandTimeout must be positive");
    }
  }

  /**
   * The store of a policy's {@code store.redis} settings.
   *
   * @param scope names the policy among all that share the Redis (for example {@code
   *     namespace/name}); it must not contain braces
   * @param password read from the Secret the operator mounts, or null
   */
  public static RedisStore of(String scope, SessionPolicySpec.Redis redis, String password) {
    return new RedisStore(
        redis.url,
        password,
        Durations.parse(redis.leaseTtl),
        redis.failureMode,
        keyPrefix(scope),
        DEFAULT_COMMAND_TIMEOUT,
        redis.username);
  }

  /** {@code sessionguard:{<scope>}:} — the braces are the Redis Cluster hash tag. */
  public static String keyPrefix(String scope) {
    if (scope.isEmpty() || scope.contains("{") || scope.contains("}")) {
      throw new IllegalArgumentException("scope must be non-empty and without braces: " + scope);
    }
    return "sessionguard:{" + scope + "}:";
  }

  @Override
  public String toString() {
    return "RedisStore[url="
        + url
        + ", username="
        + username
        + ", password="
        + (password == null ? "none" : "***")
        + ", leaseTtl="
        + leaseTtl
        + ", failureMode="
        + failureMode
        + ", keyPrefix="
        + keyPrefix
        + "]";
  }
}
