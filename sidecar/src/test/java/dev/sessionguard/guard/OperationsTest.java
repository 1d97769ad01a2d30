package dev.sessionguard.guard;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.PolicyJson;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Live reload, DryRun, the metrics and /sessions of a running guard. */
class OperationsTest {
  @TempDir Path dir;
  FastUpstream upstream;
  Guard guard;

  @BeforeEach
  void upstream() throws Exception {
    upstream = new FastUpstream();
  }

  @AfterEach
  void stop() {
    if (guard != null) {
      guard.close();
    }
    upstream.close();
  }

  static String policy(String spec) {
    return "name: ops\nguard: {port: 4484, adminPort: 9484}\n" + spec;
  }

  Guard watched(Path file) throws Exception {
    String text = Files.readString(file);
    guard = TestGuards.start(upstream.mcpUrl(), text.substring(text.indexOf("\n", 10) + 1));
    guard.watch(
        file,
        Files.readAllBytes(file),
        TestGuards.overrides(upstream.mcpUrl()),
        Duration.ofMillis(100));
    return guard;
  }

  JsonNode admin(String path) throws Exception {
    return PolicyJson.json()
        .readTree(
            send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guard.adminPort() + path))
                    .build())
                .body());
  }

  String scrape() {
    return send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + guard.adminPort() + "/metrics"))
            .build())
        .body();
  }

  static double sample(String scrape, String name) {
    for (String line : scrape.split("\n")) {
      if (line.startsWith(name + " ")) {
        return Double.parseDouble(line.substring(name.length() + 1).trim());
      }
    }
    throw new AssertionError("no sample " + name);
  }

  int initializeStatus() {
    return send(initialize(guard, 1)).statusCode();
  }

  @Test
  void reloads_by_write_rename_and_symlink_swap_keep_sessions_and_reject_invalid_files()
      throws Exception {
    // A ConfigMap volume: policy.json -> ..data/policy.json, ..data -> a timestamped dir.
    Path v1 = Files.createDirectory(dir.resolve("..2026_01"));
    Files.writeString(v1.resolve("policy.json"), policy("sessions: {max: 2, perClient: 2}\n"));
    Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
    Path file = dir.resolve("policy.json");
    Files.createSymbolicLink(file, Path.of("..data/policy.json"));
    watched(file);
    assertThat(initializeStatus()).isEqualTo(200);
    assertThat(initializeStatus()).isEqualTo(200);
    assertThat(initializeStatus()).isEqualTo(503);

    // symlink swap: max 3
    Path v2 = Files.createDirectory(dir.resolve("..2026_02"));
    Files.writeString(v2.resolve("policy.json"), policy("sessions: {max: 3, perClient: 3}\n"));
    Path tmp = dir.resolve("..data_tmp");
    Files.createSymbolicLink(tmp, v2.getFileName());
    Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 3);
    assertThat(initializeStatus()).isEqualTo(200);
    assertThat(initializeStatus()).isEqualTo(503);

    // a plain file, written in place: max 1 (lowering a cap never evicts)
    Path plain = dir.resolve("plain.yaml");
    Files.writeString(plain, policy("sessions: {max: 5, perClient: 5}\n"));
    guard.close();
    upstream.close();
    upstream = new FastUpstream();
    watched(plain);
    assertThat(initializeStatus()).isEqualTo(200);
    assertThat(initializeStatus()).isEqualTo(200);
    Files.writeString(plain, policy("sessions: {max: 1, perClient: 1}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 1);
    assertThat(guard.sessions().active()).isEqualTo(2);
    assertThat(initializeStatus()).isEqualTo(503);

    // by rename: max 4
    Path next = dir.resolve("next.yaml");
    Files.writeString(next, policy("sessions: {max: 4, perClient: 4}\n"));
    Files.move(next, plain, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 4);
    assertThat(initializeStatus()).isEqualTo(200);

    // invalid, and a newer schema: both rejected, max 4 still enforced
    Files.writeString(plain, policy("sessions: {max: 0}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(
            () -> sample(scrape(), "sessionguard_policy_reloads_total{result=\"rejected\"}") == 1);
    Files.writeString(plain, "schemaVersion: 99\n" + policy("sessions: {max: 9}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(
            () -> sample(scrape(), "sessionguard_policy_reloads_total{result=\"rejected\"}") == 2);
    assertThat(initializeStatus()).isEqualTo(200);
    assertThat(initializeStatus()).isEqualTo(503);
    assertThat(sample(scrape(), "sessionguard_policy_reloads_total{result=\"applied\"}"))
        .isEqualTo(2);
    assertThat(admin("/policy").get("name").asText()).isEqualTo("ops");
    // the command line's ports (0) still won over the file's: nothing waits for a restart
    assertThat(guard.policy().get().listen().port()).isZero();
    assertThat(guard.policy().restartPending()).isEmpty();
  }

  @Test
  void settings_read_only_at_start_are_reported_as_waiting_for_a_restart() throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy("sessions: {max: 5, perClient: 5}\n"));
    watched(file);
    assertThat(admin("/policy").get("restartPending")).isEmpty();

    Files.writeString(file, policy("sessions: {max: 6, perClient: 5}\ntimeouts: {connect: 7s}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 6);
    assertThat(admin("/policy").get("restartPending"))
        .extracting(JsonNode::asText)
        .containsExactly("timeouts.connect");

    // back to what it started with: nothing waits any more
    Files.writeString(file, policy("sessions: {max: 7, perClient: 5}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 7);
    assertThat(admin("/policy").get("restartPending")).isEmpty();
  }

  /**
   * A pod made for start settings its guard did not start with (its mounted policy caught up
   * later): the guard restarts once the policy has them, and only then.
   */
  @Test
  void a_guard_restarts_when_the_start_settings_its_pod_was_made_for_arrive() throws Exception {
    Path file = dir.resolve("policy.yaml");
    String stale = policy("sessions: {max: 5, perClient: 5}\n");
    Files.writeString(file, stale);
    var wanted = new dev.sessionguard.policy.SessionPolicySpec();
    wanted.timeouts.connect = "7s";
    String text = stale.substring(stale.indexOf("\n", 10) + 1);
    guard =
        Guard.start(
            TestGuards.config(upstream.mcpUrl(), text),
            java.time.Clock.systemUTC(),
            Map.of(Guard.START_SETTINGS_ENV, PolicyHash.ofStartSettings(wanted)));
    AtomicInteger restarts = new AtomicInteger();
    guard.onRestartNeeded(restarts::incrementAndGet);
    guard.watch(
        file,
        Files.readAllBytes(file),
        TestGuards.overrides(upstream.mcpUrl()),
        Duration.ofMillis(100));

    // another start setting than the pod's: a rollout replaces this pod, no restart
    Files.writeString(file, policy("sessions: {max: 6, perClient: 5}\ntimeouts: {connect: 9s}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 6);
    assertThat(restarts.get()).isZero();

    Files.writeString(file, policy("sessions: {max: 7, perClient: 5}\ntimeouts: {connect: 7s}\n"));
    await().atMost(Duration.ofSeconds(10)).until(() -> restarts.get() == 1);
    // once: later reloads with the same settings do not ask again
    Files.writeString(file, policy("sessions: {max: 8, perClient: 5}\ntimeouts: {connect: 7s}\n"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 8);
    assertThat(restarts.get()).isEqualTo(1);
  }

  /** A pod whose guard started with its settings: a port change is the rollout's, not a restart. */
  @Test
  void a_guard_that_started_with_its_pods_settings_does_not_restart_for_a_port_change()
      throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy("sessions: {max: 5, perClient: 5}\n"));
    String text = Files.readString(file);
    guard =
        Guard.start(
            TestGuards.config(upstream.mcpUrl(), text.substring(text.indexOf("\n", 10) + 1)),
            java.time.Clock.systemUTC(),
            Map.of(
                Guard.START_SETTINGS_ENV,
                PolicyHash.ofStartSettings(new dev.sessionguard.policy.SessionPolicySpec())));
    AtomicInteger restarts = new AtomicInteger();
    guard.onRestartNeeded(restarts::incrementAndGet);
    // the ports as the file says (the guard keeps those it bound): they wait for a restart
    guard.watch(
        file,
        Files.readAllBytes(file),
        new dev.sessionguard.guard.config.GuardConfig.Overrides(
            upstream.mcpUrl(), null, null, "127.0.0.1"),
        Duration.ofMillis(100));

    Files.writeString(
        file,
        "name: ops\nguard: {port: 5484, adminPort: 9485}\nsessions: {max: 6, perClient: 5}\n");
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> guard.policy().get().sessionCaps().max() == 6);
    assertThat(guard.policy().restartPending()).isNotEmpty();
    assertThat(restarts.get()).isZero();
  }

  @Test
  void a_start_setting_changed_back_to_what_the_guard_runs_waits_for_nothing() {
    guard = TestGuards.start(upstream.mcpUrl(), "timeouts: {connect: 2s}\n");
    var logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(Guard.class);
    var logged =
        new ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent>();
    logged.start();
    logger.addAppender(logged);
    try {
      var overrides = TestGuards.overrides(upstream.mcpUrl());
      assertThat(guard.reload(TestGuards.policy("timeouts: {connect: 7s}\n"), overrides)).isTrue();
      assertThat(restartWarnings(logged)).containsExactly("timeouts.connect");
      assertThat(guard.policy().restartPending()).containsExactly("timeouts.connect");

      assertThat(guard.reload(TestGuards.policy("timeouts: {connect: 2s}\n"), overrides)).isTrue();
      assertThat(guard.policy().restartPending()).isEmpty();
      assertThat(restartWarnings(logged)).containsExactly("timeouts.connect"); // none more
      // nor does a cap change say it waits for a restart where nothing holds the caps lower
      assertThat(
              guard.reload(
                  TestGuards.policy("timeouts: {connect: 2s}\nrequests: {maxInFlight: 50}\n"),
                  overrides))
          .isTrue();
      assertThat(restartWarnings(logged)).hasSize(1);
    } finally {
      logger.detachAppender(logged);
    }
  }

  private static java.util.List<String> restartWarnings(
      ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged) {
    return logged.list.stream()
        .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
        .filter(m -> m.endsWith("it takes effect only after a restart"))
        .map(m -> m.substring("reload: ".length(), m.indexOf(" changed;")))
        .toList();
  }

  @Test
  void dry_run_forwards_over_cap_traffic_counts_would_be_refusals_and_a_reload_enforces()
      throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(
        file,
        policy(
            "mode: DryRun\nidentity: {source: Header, header: {name: X-User}}\n"
                + "sessions: {max: 10, perClient: 1}\norigins: {allowed: []}\n"));
    watched(file);
    assertThat(send(initialize(guard, 1, "X-User", "a")).statusCode()).isEqualTo(200);
    assertThat(send(initialize(guard, 2, "X-User", "a")).statusCode()).isEqualTo(200);
    assertThat(send(initialize(guard, 3, "X-User", "b", "Origin", "https://evil")).statusCode())
        .isEqualTo(200);
    String s = scrape();
    assertThat(sample(s, "sessionguard_dryrun_refusals_total{reason=\"client_sessions\"}"))
        .isEqualTo(1);
    assertThat(sample(s, "sessionguard_dryrun_refusals_total{reason=\"origin\"}")).isEqualTo(1);
    assertThat(sample(s, "sessionguard_refusals_total{reason=\"client_sessions\"}")).isZero();
    assertThat(s).contains("sessionguard_policy_info{hash=").contains("mode=\"DryRun\"");

    Files.writeString(file, Files.readString(file).replace("DryRun", "Enforce"));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> admin("/policy").get("mode").asText().equals("Enforce"));
    assertThat(send(initialize(guard, 4, "X-User", "a")).statusCode()).isEqualTo(429);
    assertThat(scrape()).contains("mode=\"Enforce\"").doesNotContain("mode=\"DryRun\"");
  }

  @Test
  void metrics_and_sessions_after_a_scripted_scenario() throws Exception {
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}}\n"
                + "sessions: {max: 3, perClient: 2}\n");
    String a1 =
        send(initialize(guard, 1, "X-User", "alice"))
            .headers()
            .firstValue("Mcp-Session-Id")
            .orElseThrow();
    send(initialize(guard, 2, "X-User", "alice"));
    assertThat(send(initialize(guard, 3, "X-User", "alice")).statusCode()).isEqualTo(429);
    send(initialize(guard, 4, "X-User", "bob"));
    assertThat(send(initialize(guard, 5, "X-User", "carol")).statusCode()).isEqualTo(503);
    assertThat(
            send(HttpRequest.newBuilder(TestGuards.mcp(guard))
                    .header("X-User", "alice") // a session belongs to its client
                    .header("Mcp-Session-Id", a1)
                    .DELETE()
                    .build())
                .statusCode())
        .isEqualTo(200);
    String adopted = upstream.preexisting();
    assertThat(
            send(HttpRequest.newBuilder(TestGuards.mcp(guard))
                    .header("X-User", "carol")
                    .header("Mcp-Session-Id", adopted)
                    .header("Content-Type", "application/json")
                    .POST(
                        HttpRequest.BodyPublishers.ofString(
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"))
                    .build())
                .statusCode())
        .isEqualTo(200);
    await().until(() -> guard.requests().total() == 0);

    String s = scrape();
    assertThat(sample(s, "sessionguard_sessions_active")).isEqualTo(3);
    assertThat(sample(s, "sessionguard_sessions_limit{scope=\"global\"}")).isEqualTo(3);
    assertThat(sample(s, "sessionguard_sessions_limit{scope=\"per_client\"}")).isEqualTo(2);
    assertThat(sample(s, "sessionguard_inflight_requests")).isZero();
    assertThat(sample(s, "sessionguard_streams_active")).isZero();
    assertThat(sample(s, "sessionguard_admissions_total{kind=\"new\"}")).isEqualTo(3);
    assertThat(sample(s, "sessionguard_admissions_total{kind=\"adopted\"}")).isEqualTo(1);
    assertThat(sample(s, "sessionguard_refusals_total{reason=\"client_sessions\"}")).isEqualTo(1);
    assertThat(sample(s, "sessionguard_refusals_total{reason=\"global_sessions\"}")).isEqualTo(1);
    assertThat(sample(s, "sessionguard_refusals_total{reason=\"draining\"}")).isZero();
    assertThat(sample(s, "sessionguard_sessions_ended_total{reason=\"client\"}")).isEqualTo(1);
    assertThat(sample(s, "sessionguard_sessions_ended_total{reason=\"idle\"}")).isZero();
    assertThat(sample(s, "sessionguard_upstream_request_duration_seconds_count{era=\"session\"}"))
        .isEqualTo(5);
    assertThat(sample(s, "sessionguard_policy_reloads_total{result=\"applied\"}")).isZero();
    assertThat(s).contains("sessionguard_policy_info{hash=\"").contains("name=\"test\"");
    assertThat(sample(s, "sessionguard_upstream_delete_failures_total")).isZero();

    JsonNode sessions = admin("/sessions");
    assertThat(sessions.get("active").asInt()).isEqualTo(3);
    assertThat(sessions.get("clients").asInt()).isEqualTo(3);
    assertThat(sessions.get("topHolders")).hasSize(3);
    assertThat(sessions.toString())
        .doesNotContain("alice")
        .doesNotContain("carol")
        .doesNotContain(adopted);
    assertThat(sessions.at("/topHolders/0/sessions").asInt()).isEqualTo(1);
  }
}
