package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodTemplatesTest {
  static Map<String, Object> container(String cpu, String memory, String limit, String env) {
    return Map.of(
        "name",
        "session-guard",
        "env",
        List.of(Map.of("name", "X", "value", env)),
        "resources",
        Map.of(
            "requests", Map.of("cpu", cpu, "memory", memory), "limits", Map.of("memory", limit)));
  }

  @Test
  void resources_are_compared_by_amount_as_the_api_server_stores_them() {
    // as the chart may render them, and as the API server gives them back
    var wanted = container("0.5", "1024Mi", "2.68435456e+08", "1");
    var stored = container("500m", "1Gi", "256Mi", "1");
    assertThat(PodTemplates.covers(stored, wanted)).isTrue();

    assertThat(PodTemplates.covers(container("600m", "1Gi", "256Mi", "1"), wanted)).isFalse();
    assertThat(PodTemplates.covers(container("500m", "1Gi", "257Mi", "1"), wanted)).isFalse();
    // elsewhere a string is a string: an environment variable's "1.0" is not its "1"
    assertThat(PodTemplates.covers(container("500m", "1Gi", "256Mi", "1.0"), wanted)).isFalse();
  }

  @Test
  void the_target_label_names_kind_and_workload_and_always_fits_a_label_value() {
    assertThat(PodTemplates.targetLabel(new TargetRef("apps/v1", "Deployment", "mcp-github")))
        .isEqualTo("deployment.mcp-github");
    var longName = "a".repeat(200) + ".b";
    var first = PodTemplates.targetLabel(new TargetRef("apps/v1", "StatefulSet", longName));
    var other = PodTemplates.targetLabel(new TargetRef("apps/v1", "StatefulSet", longName + "c"));
    assertThat(first)
        .hasSizeLessThanOrEqualTo(63)
        .startsWith("statefulset.aaa")
        .isNotEqualTo(other);
    // what the API server takes as a label value
    for (var value : List.of(first, other)) {
      assertThat(value).matches("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
    }
  }
}
