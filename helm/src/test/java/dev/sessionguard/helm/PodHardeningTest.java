package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.helm.Rendered.PodSpec;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every pod the chart creates (hooks and tests included) is non-root, read-only, capless. */
class PodHardeningTest {

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "{}",
        "{replicaCount: 2, watchNamespaces: [tools, search], serviceMonitor: {enabled: true},"
            + " dashboard: {enabled: true}}"
      })
  void every_pod_runs_non_root_read_only_without_capabilities(String values) {
    List<PodSpec> pods = Chart.templateWithHooks(values).podSpecs();

    assertThat(pods)
        .extracting(PodSpec::owner)
        .as("the operator, the uninstall hook and the helm test are all checked")
        .contains(
            "Deployment sg-session-guard",
            "Job sg-session-guard-uninstall",
            "Pod sg-session-guard-test-healthz");
    for (PodSpec pod : pods) {
      JsonNode security = pod.spec().path("securityContext");
      assertThat(security.path("runAsNonRoot").asBoolean()).as(pod.owner()).isTrue();
      assertThat(security.path("runAsUser").asInt()).as(pod.owner()).isPositive();
      assertThat(security.at("/seccompProfile/type").asText())
          .as(pod.owner())
          .isEqualTo("RuntimeDefault");
      for (String hostAccess : List.of("hostNetwork", "hostPID", "hostIPC")) {
        assertThat(pod.spec().path(hostAccess).asBoolean()).as(pod.owner()).isFalse();
      }
      assertThat(pod.containers()).as(pod.owner()).isNotEmpty();
      for (JsonNode container : pod.containers()) {
        String what = pod.owner() + " container " + container.path("name").asText();
        JsonNode context = container.path("securityContext");
        assertThat(context.path("readOnlyRootFilesystem").asBoolean()).as(what).isTrue();
        assertThat(context.path("allowPrivilegeEscalation").isBoolean()).as(what).isTrue();
        assertThat(context.path("allowPrivilegeEscalation").asBoolean()).as(what).isFalse();
        assertThat(context.path("privileged").asBoolean()).as(what).isFalse();
        assertThat(Rendered.texts(context.at("/capabilities/drop"))).as(what).contains("ALL");
        assertThat(context.at("/capabilities/add").isMissingNode()).as(what).isTrue();
        assertThat(context.path("runAsUser").asInt(1)).as(what).isPositive();
        assertThat(container.at("/resources/limits/memory").isMissingNode())
            .as(what + " has a memory limit")
            .isFalse();
      }
    }
  }
}
