package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The chart's default images are what the Dockerfiles' build instructions (and the README's)
 * produce; the images are built the way DESIGN.md asks. No container engine runs here, so the
 * Dockerfiles are read, not built.
 */
class ImagesTest {

  private static final Pattern BUILD =
      Pattern.compile("docker build -f (\\S+/Dockerfile) -t (\\S+):(\\S+) \\.");

  /** 0.1.0-SNAPSHOT while developing; the images and the chart carry the release, 0.1.0. */
  private static final String RELEASE =
      System.getProperty("project.version", "unset").replace("-SNAPSHOT", "");

  @Test
  void chart_app_version_is_the_project_version() throws Exception {
    JsonNode chart = Rendered.YAML.readTree(Chart.DIR.resolve("Chart.yaml").toFile());

    assertThat(chart.path("appVersion").asText()).isEqualTo(RELEASE);
    assertThat(chart.path("version").asText()).isEqualTo(RELEASE);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "operator/Dockerfile, ghcr.io/sessionguard/session-guard-operator",
    "sidecar/Dockerfile, ghcr.io/sessionguard/session-guard-sidecar"
  })
  void dockerfile_builds_the_image_the_chart_runs_by_default(String dockerfile, String image)
      throws Exception {
    Rendered chart = Chart.template("");
    String expected = image + ":" + RELEASE;
    String chartDefault =
        dockerfile.startsWith("operator")
            ? chart.operator().at("/spec/template/spec/containers/0/image").asText()
            : chart.operatorEnv("GUARD_IMAGE");
    // built and pushed to the user's own registry, under the name and tag the chart expects
    String built = "$REGISTRY" + image.substring(image.lastIndexOf('/')) + ":" + RELEASE;

    assertThat(buildCommands(Path.of("..", dockerfile)))
        .as("%s's build instruction", dockerfile)
        .containsExactly(dockerfile + " " + built);
    assertThat(buildCommands(Path.of("..", "README.md")))
        .as("README's build instructions")
        .contains(dockerfile + " " + built);
    assertThat(Files.readString(Path.of("..", "README.md"))).contains("docker push " + built);
    assertThat(chartDefault).isEqualTo(expected);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "operator, session-guard-operator.jar",
    "sidecar, session-guard-sidecar.jar",
  })
  void image_is_multi_stage_on_java_25_with_a_numeric_non_root_user_and_only_what_runs(
      String module, String jar) throws Exception {
    List<String> lines = Files.readAllLines(Path.of("..", module, "Dockerfile"));
    List<String> from = lines.stream().filter(l -> l.startsWith("FROM ")).toList();
    int runtimeStage = lines.indexOf(from.get(from.size() - 1));
    List<String> runtime = lines.subList(runtimeStage, lines.size());

    assertThat(from).as("a build stage and a runtime stage").hasSize(2);
    assertThat(from.get(0)).contains(" AS build");
    assertThat(runtime)
        .contains("COPY --from=build /src/" + module + "/target/" + jar + " /app/" + jar);
    if (module.equals("sidecar")) {
      // The guard brings its own Java 25 runtime, linked in the build stage (see ImageFlagsTest).
      assertThat(from.get(0)).startsWith("FROM eclipse-temurin:25-jdk ");
      assertThat(from.get(1)).isEqualTo("FROM ubuntu:24.04");
      assertThat(runtime)
          .filteredOn(l -> l.startsWith("COPY "))
          .containsExactly(
              "COPY --from=build /guard-java /opt/java",
              "COPY --from=build /src/sidecar/target/" + jar + " /app/" + jar);
      assertThat(runtime).contains("ENV JAVA_HOME=/opt/java PATH=/opt/java/bin:$PATH LANG=C.UTF-8");
    } else {
      assertThat(from.get(1)).isEqualTo("FROM eclipse-temurin:25-jre");
      assertThat(runtime).filteredOn(l -> l.startsWith("COPY ")).hasSize(1);
    }
    assertThat(runtime)
        .filteredOn(l -> l.startsWith("USER "))
        .singleElement()
        .satisfies(
            user -> {
              Matcher id = Pattern.compile("USER (\\d+)(:(\\d+))?").matcher(user);
              assertThat(id.matches()).as("numeric: %s", user).isTrue();
              assertThat(Integer.parseInt(id.group(1))).isPositive();
            });
    assertThat(runtime)
        .filteredOn(l -> l.startsWith("ENTRYPOINT "))
        .singleElement()
        .asString()
        .contains("\"-jar\", \"/app/" + jar + "\"");
    // Nothing is installed or built in the runtime stage; the guard's one RUN is its training run,
    // which writes the ahead-of-time cache with the very JVM that maps it at every start.
    List<String> runs = runtime.stream().filter(l -> l.startsWith("RUN ")).toList();
    if (module.equals("sidecar")) {
      assertThat(runs)
          .singleElement()
          .asString()
          .contains("\"-XX:AOTCacheOutput=/app/session-guard.aot\"")
          .endsWith("\"-jar\", \"/app/" + jar + "\", \"--training-run\"]");
    } else {
      assertThat(runs).isEmpty();
    }
  }

  @Test
  void guard_image_reads_the_policy_where_the_operator_mounts_it() throws Exception {
    assertThat(Files.readAllLines(Path.of("..", "sidecar", "Dockerfile")))
        .contains("CMD [\"--policy\", \"/etc/session-guard/policy.json\"]");
  }

  private static List<String> buildCommands(Path file) throws Exception {
    Matcher build = BUILD.matcher(Files.readString(file));
    return build.results().map(m -> m.group(1) + " " + m.group(2) + ":" + m.group(3)).toList();
  }
}
