package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OperatorSettingsTest {
  @Test
  void every_setting_has_a_working_default() {
    var s = OperatorSettings.fromEnvironment(Map.of());
    assertThat(s.watchNamespaces()).isEmpty();
    assertThat(s.guardImage()).isEqualTo("ghcr.io/sessionguard/session-guard-sidecar:0.1.0");
    assertThat(s.guardResources())
        .isEqualTo(new OperatorSettings.GuardResources("50m", "96Mi", "500m", "256Mi"));
    assertThat(s.leaderElection()).isFalse();
    assertThat(s.leaseNamespace()).isEmpty();
    assertThat(s.leaseName()).isEqualTo("session-guard-operator");
    assertThat(s.identity()).isNotBlank();
    assertThat(s.managementPort()).isEqualTo(8080);
    assertThat(s.monitoringNamespace()).isEqualTo("monitoring");
  }

  @Test
  void the_chart_sets_them_through_the_environment() {
    var s =
        OperatorSettings.fromEnvironment(
            Map.ofEntries(
                Map.entry("WATCH_NAMESPACES", " tools, mcp ,,"),
                Map.entry("GUARD_IMAGE", "registry.local/guard:1"),
                Map.entry("GUARD_CPU_REQUEST", "100m"),
                Map.entry("GUARD_MEMORY_REQUEST", "128Mi"),
                Map.entry("GUARD_CPU_LIMIT", "1"),
                Map.entry("GUARD_MEMORY_LIMIT", "512Mi"),
                Map.entry("LEADER_ELECTION_ENABLED", "true"),
                Map.entry("LEADER_ELECTION_LEASE_NAME", "team-a-session-guard"),
                Map.entry("POD_NAME", "op-0"),
                Map.entry("POD_NAMESPACE", "sg-system"),
                Map.entry("MANAGEMENT_PORT", "9090"),
                Map.entry("MONITORING_NAMESPACE", "prometheus")));
    assertThat(s.watchNamespaces()).isEqualTo(Set.of("tools", "mcp"));
    assertThat(s.guardImage()).isEqualTo("registry.local/guard:1");
    assertThat(s.guardResources())
        .isEqualTo(new OperatorSettings.GuardResources("100m", "128Mi", "1", "512Mi"));
    assertThat(s.leaderElection()).isTrue();
    assertThat(s.identity()).isEqualTo("op-0");
    // the lease lives beside the operator unless told otherwise
    assertThat(s.leaseNamespace()).isEqualTo(Optional.of("sg-system"));
    assertThat(s.leaseName()).isEqualTo("team-a-session-guard");
    assertThat(s.podNamespace()).isEqualTo(Optional.of("sg-system"));
    assertThat(s.managementPort()).isEqualTo(9090);
    assertThat(s.monitoringNamespace()).isEqualTo("prometheus");
  }

  @Test
  void an_empty_monitoring_namespace_leaves_only_the_operators_own_at_the_admin_port() {
    var s =
        OperatorSettings.fromEnvironment(
            Map.of("POD_NAMESPACE", "sg-system", "MONITORING_NAMESPACE", ""));
    assertThat(s.monitoringNamespace()).isEmpty();
    try (var client = new io.fabric8.kubernetes.client.KubernetesClientBuilder().build()) {
      assertThat(SessionGuardOperator.adminNamespaces(client, s)).containsExactly("sg-system");
    }
  }

  @Test
  void an_explicit_lease_namespace_wins() {
    var s =
        OperatorSettings.fromEnvironment(
            Map.of("POD_NAMESPACE", "a", "LEADER_ELECTION_NAMESPACE", "b"));
    assertThat(s.leaseNamespace()).contains("b");
  }

  @Test
  void a_bad_value_fails_at_start_naming_the_variable() {
    assertThatThrownBy(() -> OperatorSettings.fromEnvironment(Map.of("MANAGEMENT_PORT", "http")))
        .hasMessageContaining("MANAGEMENT_PORT");
    assertThatThrownBy(
            () -> OperatorSettings.fromEnvironment(Map.of("LEADER_ELECTION_ENABLED", "yes")))
        .hasMessageContaining("LEADER_ELECTION_ENABLED");
    assertThatThrownBy(() -> OperatorSettings.fromEnvironment(Map.of("GUARD_MEMORY_LIMIT", "lots")))
        .hasMessageContaining("GUARD_MEMORY_LIMIT");
    assertThatThrownBy(() -> OperatorSettings.fromEnvironment(Map.of("GUARD_RUN_AS_USER", "0")))
        .hasMessageContaining("GUARD_RUN_AS_USER");
  }

  /** OpenShift's restricted SCC assigns a user per namespace and refuses a pod naming another. */
  @Test
  void the_guards_user_is_the_images_unless_told_another_or_none() {
    var policy = MockCluster.policy("tools", "p", "vmcp");
    assertThat(
            GuardContainer.desired(policy, OperatorSettings.fromEnvironment(Map.of()))
                .getSecurityContext()
                .getRunAsUser())
        .isEqualTo(65532L);
    assertThat(
            GuardContainer.desired(
                    policy, OperatorSettings.fromEnvironment(Map.of("GUARD_RUN_AS_USER", "1001")))
                .getSecurityContext()
                .getRunAsUser())
        .isEqualTo(1001L);
    var none =
        GuardContainer.desired(
                policy, OperatorSettings.fromEnvironment(Map.of("GUARD_RUN_AS_USER", "")))
            .getSecurityContext();
    assertThat(none.getRunAsUser()).isNull();
    assertThat(none.getRunAsNonRoot()).isTrue();
  }
}
