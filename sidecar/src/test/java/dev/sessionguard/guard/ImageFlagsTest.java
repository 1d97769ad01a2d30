package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * The image's ahead-of-time cache is usable only by a JVM started with compatible flags: the
 * Dockerfile's training run must use the entry point's, and write the cache the entry point maps.
 * Its Java runtime holds only the modules the jlink line names, which must be enough for the guard.
 * (The Dockerfile is read, not built.)
 */
class ImageFlagsTest {
  private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");

  @Test
  void the_training_run_writes_the_cache_the_entry_point_maps_with_the_same_flags()
      throws Exception {
    List<String> lines = Files.readAllLines(Path.of("Dockerfile"));
    List<String> entryPoint = args(lines, "ENTRYPOINT ");
    List<String> training = args(lines, "RUN [\"java\"");

    assertThat(training).contains("--training-run");
    String cache = value(entryPoint, "-XX:AOTCache=");
    assertThat(value(training, "-XX:AOTCacheOutput=")).isEqualTo(cache);
    assertThat(jvmFlags(training))
        .as("the training run's flags: the entry point's, MaxRAM added, the cache written")
        .containsExactlyElementsOf(
            jvmFlags(entryPoint).stream()
                .map(f -> f.replace("-XX:AOTCache=", "-XX:AOTCacheOutput="))
                .toList());
    assertThat(training).filteredOn(f -> f.startsWith("-XX:MaxRAM=")).hasSize(1);
    assertThat(training.get(training.indexOf("-jar") + 1))
        .isEqualTo(entryPoint.get(entryPoint.indexOf("-jar") + 1));
  }

  @Test
  void the_image_runtime_has_every_module_the_guard_and_its_libraries_use() throws Exception {
    ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        jdeps.run(
            new PrintWriter(out),
            new PrintWriter(err),
            "--print-module-deps",
            "--ignore-missing-deps",
            "--multi-release",
            String.valueOf(Runtime.version().feature()),
            "--recursive",
            "--class-path",
            Files.readString(Path.of("target", "runtime-classpath.txt")).strip(),
            "target/classes");
    assertThat(code).as(err.toString()).isZero();

    assertThat(imageModules()).containsAll(List.of(out.toString().strip().split(",")));
  }

  @Test
  void the_guard_runs_on_the_modules_of_the_image_runtime() throws Exception {
    String modules = String.join(",", imageModules());
    assertThat(imageModules()).contains("java.base").doesNotContain("jdk.localedata");

    // A JVM that sees no other module runs the training run: start, a session, drain.
    TestGuards.Exited run =
        TestGuards.runToExit(
            TestGuards.process(List.of("--limit-modules", modules), TrainingRun.FLAG));

    assertThat(run.code()).as(run.output()).isZero();
    assertThat(run.output()).contains("training run: ok").doesNotContain("Exception");
  }

  /** The modules of the Dockerfile's jlink line. */
  private static List<String> imageModules() throws IOException {
    List<String> jlink = args(Files.readAllLines(Path.of("Dockerfile")), "RUN [\"jlink\"");
    return List.of(jlink.get(jlink.indexOf("--add-modules") + 1).split(","));
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
