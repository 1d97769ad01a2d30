package dev.sessionguard.helm;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** The chart in helm/session-guard, run through Helm 3 in-process (offline, no cluster). */
final class Chart {

  static final Path DIR = Path.of("session-guard");
  static final String RELEASE = "sg";
  static final String NAMESPACE = "session-guard";

  /** Helm's default is 1.20, older than the chart's kubeVersion; pin one it supports. */
  private static final String KUBE_VERSION = "1.31.0";

  /** Stands in for helm.sh/hook, so that Helm renders hook objects as ordinary ones. */
  static final String RENDERED_HOOK = "test.sessionguard.dev/hook";

  private Chart() {}

  static LintResult lint() {
    return new Helm(DIR).lint().strict().call();
  }

  /** {@code helm template} with these values (YAML); hooks and tests are left out, as Helm does. */
  static Rendered template(String valuesYaml) {
    return Rendered.parse(render(DIR, valuesYaml));
  }

  /**
   * {@code helm template} of a copy of the chart whose hook annotations are renamed, so the hook
   * Job, its RBAC and the {@code helm test} Pod render too (helm-java never renders hooks). The
   * hook annotations survive under {@link #RENDERED_HOOK}.
   */
  static Rendered templateWithHooks(String valuesYaml) {
    Path copy = temp("session-guard-chart");
    Path chart = copy.resolve("session-guard");
    try (Stream<Path> files = Files.walk(DIR)) {
      for (Path source : files.toList()) {
        Path target = chart.resolve(DIR.relativize(source).toString());
        if (Files.isDirectory(source)) {
          Files.createDirectories(target);
        } else if (source.startsWith(DIR.resolve("templates"))) {
          Files.writeString(
              target, Files.readString(source).replace("helm.sh/hook", RENDERED_HOOK));
        } else {
          Files.copy(source, target);
        }
      }
      return Rendered.parse(render(chart, valuesYaml));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      deleteTree(copy); // a stale copy left behind would look like a second chart
    }
  }

  /** NOTES.txt as {@code helm install --dry-run} prints it with these values. */
  static String notes(String valuesYaml) {
    Path values = valuesFile(valuesYaml);
    String output;
    try {
      output =
          new Helm(DIR)
              .install()
              .withName(RELEASE)
              .withNamespace(NAMESPACE)
              .withKubeVersion(KUBE_VERSION)
              .withValuesFile(values)
              .dryRun()
              .clientOnly()
              .call()
              .getOutput();
    } finally {
      deleteTree(values.getParent());
    }
    int notes = output.indexOf("NOTES:");
    return notes < 0 ? "" : output.substring(notes);
  }

  private static String render(Path chart, String valuesYaml) {
    Path values = valuesFile(valuesYaml);
    try {
      return new Helm(chart)
          .template()
          .withName(RELEASE)
          .withNamespace(NAMESPACE)
          .withKubeVersion(KUBE_VERSION)
          .withValuesFile(values)
          .call();
    } finally {
      deleteTree(values.getParent());
    }
  }

  /** Removes a temporary directory this class made, and all in it. */
  private static void deleteTree(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path valuesFile(String valuesYaml) {
    try {
      Path file = Files.createTempFile(temp("session-guard-values"), "values", ".yaml");
      Files.writeString(file, valuesYaml.isBlank() ? "{}\n" : valuesYaml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path temp(String prefix) {
    try {
      Path dir = Path.of("target", "helm-tmp");
      Files.createDirectories(dir);
      return Files.createTempDirectory(dir, prefix);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
