package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class PolicyHashTest {
  static String startSettings(Consumer<SessionPolicySpec> change) {
    var spec = new SessionPolicySpec();
    change.accept(spec);
    return PolicyHash.ofStartSettings(spec);
  }

  static void redis(SessionPolicySpec s) {
    s.store.redis = new SessionPolicySpec.Redis();
    s.store.redis.url = "redis://redis:6379";
  }

  @Test
  void only_what_the_guard_reads_at_start_changes_the_start_settings() {
    String defaults = startSettings(s -> {});
    assertThat(defaults).hasSize(16);
    // the same values written otherwise, or settings the guard does not read at start
    assertThat(startSettings(s -> s.timeouts.connect = "2000ms")).isEqualTo(defaults);
    assertThat(startSettings(s -> s.limits.maxHeaderBytes = "16384")).isEqualTo(defaults);
    assertThat(startSettings(PolicyHashTest::redis)).isEqualTo(defaults); // still Memory
    assertThat(startSettings(s -> s.sessions.max = 7)).isEqualTo(defaults);

    assertThat(startSettings(s -> s.timeouts.connect = "3s")).isNotEqualTo(defaults);
    assertThat(startSettings(s -> s.limits.maxHeaderBytes = "32Ki")).isNotEqualTo(defaults);
    String onRedis =
        startSettings(
            s -> {
              redis(s);
              s.store.type = StoreType.Redis;
            });
    assertThat(onRedis).isNotEqualTo(defaults);
    assertThat(
            startSettings(
                s -> {
                  redis(s);
                  s.store.type = StoreType.Redis;
                  s.store.redis.failureMode = FailureMode.Closed;
                }))
        .isNotEqualTo(onRedis);
  }
}
