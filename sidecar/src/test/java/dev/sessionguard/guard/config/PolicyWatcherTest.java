package dev.sessionguard.guard.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.policy.PolicyFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicyWatcherTest {
  @TempDir Path dir;
  final List<PolicyFile> applied = new CopyOnWriteArrayList<>();
  final List<List<String>> rejected = new CopyOnWriteArrayList<>();
  PolicyWatcher watcher;

  final PolicyWatcher.Listener listener =
      new PolicyWatcher.Listener() {
        @Override
        public void applied(PolicyFile policy) {
          applied.add(policy);
        }

        @Override
        public void rejected(List<String> problems) {
          rejected.add(problems);
        }
      };

  static String policy(int max) {
    return "name: p\nsessions: {max: " + max + ", perClient: 1}\n";
  }

  PolicyWatcher watch(Path file) throws Exception {
    watcher =
        new PolicyWatcher(file, Files.readAllBytes(file), Duration.ofMillis(200), listener).start();
    return watcher;
  }

  @AfterEach
  void stop() {
    if (watcher != null) {
      watcher.close();
    }
  }

  @Test
  void sees_a_write_in_place() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    watch(file);
    Files.writeString(file, policy(6));
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
    assertThat(applied.get(0).spec().sessions.max).isEqualTo(6);
  }

  /**
   * The first lines of a policy are often a policy of their own (defaults fill the rest): a file
   * written in place line by line is acted on once it holds still, never half-written.
   */
  @Test
  void a_version_is_acted_on_only_once_it_holds_still() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    String half = "name: p\nsessions:\n";
    String whole =
        half + "  max: 7\n  perClient: 1\nidentity: {source: Header, header: {name: X}}\n";
    java.util.Iterator<String> versions = List.of(half, whole, whole, whole).iterator();
    watcher =
        new PolicyWatcher(
            file,
            Files.readAllBytes(file),
            Duration.ofMillis(200),
            listener,
            d -> null,
            f -> versions.next().getBytes(StandardCharsets.UTF_8));

    watcher.check(); // read half, and again, once it had settled: whole
    assertThat(applied).isEmpty();
    assertThat(rejected).isEmpty();
    watcher.check(); // whole, twice
    assertThat(applied)
        .singleElement()
        .satisfies(p -> assertThat(p.spec().sessions.max).isEqualTo(7));
    assertThat(rejected).isEmpty();
  }

  @Test
  void a_file_that_cannot_be_used_is_reported_once_while_the_policy_in_force_stays()
      throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    watcher = new PolicyWatcher(file, Files.readAllBytes(file), Duration.ofMillis(200), listener);
    var logger =
        (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(PolicyWatcher.class);
    var logged =
        new ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent>();
    logged.start();
    logger.addAppender(logged);
    try {
      Files.delete(file);
      watcher.check(); // (a rename may leave it absent for a moment: not yet)
      assertThat(logged.list).isEmpty();
      watcher.check();
      watcher.check();
      assertThat(logged.list)
          .extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
          .singleElement()
          .asString()
          .contains("cannot be read", "NoSuchFileException", "the policy in force stays");
      Files.writeString(file, "");
      watcher.check();
      watcher.check();
      assertThat(logged.list).hasSize(2);
      assertThat(logged.list.get(1).getFormattedMessage()).contains("it is empty");

      Files.writeString(file, policy(8));
      watcher.check();
      assertThat(logged.list.get(2).getFormattedMessage()).contains("can be read again");
      assertThat(applied)
          .singleElement()
          .satisfies(p -> assertThat(p.spec().sessions.max).isEqualTo(8));
    } finally {
      logger.detachAppender(logged);
    }
  }

  @Test
  void a_directory_that_cannot_be_watched_is_read_periodically() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    watcher =
        new PolicyWatcher(
                file,
                Files.readAllBytes(file),
                Duration.ofMillis(200),
                listener,
                d -> {
                  throw new java.io.IOException("User limit of inotify instances reached");
                })
            .start();
    Files.writeString(file, policy(6));
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
    assertThat(applied.get(0).spec().sessions.max).isEqualTo(6);
  }

  @Test
  void a_reload_that_throws_does_not_stop_the_watching() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    AtomicInteger calls = new AtomicInteger();
    watcher =
        new PolicyWatcher(
                file,
                Files.readAllBytes(file),
                Duration.ofMillis(200),
                new PolicyWatcher.Listener() {
                  @Override
                  public void applied(PolicyFile policy) {
                    if (calls.incrementAndGet() == 1) {
                      throw new IllegalStateException("the first apply fails");
                    }
                    applied.add(policy);
                  }

                  @Override
                  public void rejected(List<String> problems) {
                    rejected.add(problems);
                  }
                })
            .start();

    Files.writeString(file, policy(6));
    await().atMost(Duration.ofSeconds(10)).until(() -> calls.get() == 1);
    Files.writeString(file, policy(7));

    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
    assertThat(applied.get(0).spec().sessions.max).isEqualTo(7);
  }

  @Test
  void sees_a_new_file_renamed_over_the_old_one() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    watch(file);
    Path tmp = Files.writeString(dir.resolve(".policy.yaml.tmp"), policy(7));
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
    assertThat(applied.get(0).spec().sessions.max).isEqualTo(7);
  }

  @Test
  void sees_a_configmap_volume_swap_its_data_symlink() throws Exception {
    // The kubelet's layout: policy.json -> ..data/policy.json, ..data -> ..<timestamp>/
    Path v1 = Files.createDirectory(dir.resolve("..2026_01_01_00_00_00.1"));
    Files.writeString(v1.resolve("policy.json"), policy(5));
    Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
    Path file = Files.createSymbolicLink(dir.resolve("policy.json"), Path.of("..data/policy.json"));
    watch(file);

    Path v2 = Files.createDirectory(dir.resolve("..2026_01_01_00_01_00.2"));
    Files.writeString(v2.resolve("policy.json"), policy(8));
    Path tmpLink = Files.createSymbolicLink(dir.resolve("..data_tmp"), v2.getFileName());
    Files.move(tmpLink, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
    Files.walk(v1).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());

    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
    assertThat(applied.get(0).spec().sessions.max).isEqualTo(8);
  }

  @Test
  void reports_an_invalid_or_newer_version_and_applies_the_next_good_one() throws Exception {
    Path file = Files.writeString(dir.resolve("policy.yaml"), policy(5));
    watch(file);
    Files.writeString(file, "name: p\nsessions: {max: 0}\n");
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(rejected).hasSize(1));
    assertThat(rejected.get(0)).contains("sessions.max (0) must be between 1 and 1000000");

    Files.writeString(file, "schemaVersion: 9\n" + policy(5), StandardCharsets.UTF_8);
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(rejected).hasSize(2));
    assertThat(rejected.get(1).get(0)).contains("schemaVersion 9 is newer");
    assertThat(applied).isEmpty();

    Files.writeString(file, policy(9));
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(applied).hasSize(1));
  }
}
