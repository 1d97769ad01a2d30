package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The image's class-data archive is usable only by a JVM started with compatible flags: the
 * Dockerfile's training run must use the entry point's, and write the archive the entry point maps.
 * (The Dockerfile is read, not built.)
 */
class ImageFlagsTest {
  private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");

  @Test
  void the_training_run_writes_the_archive_the_entry_point_maps_with_the_same_flags()
      throws Exception {
    List<String> lines = Files.readAllLines(Path.of("Dockerfile"));
    List<String> entryPoint = args(lines, "ENTRYPOINT ");
    List<String> training = args(lines, "RUN [\"java\"");

    assertThat(training).contains("--training-run");
    String archive = value(entryPoint, "-XX:SharedArchiveFile=");
    assertThat(value(training, "-XX:ArchiveClassesAtExit=")).isEqualTo(archive);
    assertThat(jvmFlags(training))
        .as("the training run's flags: the entry point's, MaxRAM added, the archive written")
        .containsExactlyElementsOf(
            jvmFlags(entryPoint).stream()
                .map(f -> f.replace("-XX:SharedArchiveFile=", "-XX:ArchiveClassesAtExit="))
                .toList());
    assertThat(training).filteredOn(f -> f.startsWith("-XX:MaxRAM=")).hasSize(1);
    assertThat(training.get(training.indexOf("-jar") + 1))
        .isEqualTo(entryPoint.get(entryPoint.indexOf("-jar") + 1));
  }

  private static List<String> args(List<String> lines, String start) {
    String line = lines.stream().filter(l -> l.startsWith(start)).reduce((a, b) -> b).orElseThrow();
    List<String> args = new ArrayList<>();
    Matcher m = QUOTED.matcher(line);
    while (m.find()) {
      args.add(m.group(1));
    }
    return args;
  }

  /** The -X options, without the one that sizes the heap from the machine. */
  private static List<String> jvmFlags(List<String> args) {
    return args.stream().filter(a -> a.startsWith("-X") && !a.startsWith("-XX:MaxRAM=")).toList();
  }

  private static String value(List<String> args, String prefix) {
    return args.stream()
        .filter(a -> a.startsWith(prefix))
        .map(a -> a.substring(prefix.length()))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + prefix + " in " + args));
  }
}
