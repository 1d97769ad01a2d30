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
