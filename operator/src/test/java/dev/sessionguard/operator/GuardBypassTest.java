package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRuleBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GuardBypassTest {
  static final Map<String, String> POD = Map.of("app", "vmcp", "tier", "mcp");
  static final Map<String, Integer> NAMED = Map.of("mcp", 4483, "guard", 4484);

  static NetworkPolicy np(
      String name,
      Map<String, String> selector,
      List<String> types,
      NetworkPolicyIngressRule... rules) {
    return new NetworkPolicyBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .withNewPodSelector()
        .withMatchLabels(selector)
        .endPodSelector()
        .withPolicyTypes(types)
        .withIngress(rules)
        .endSpec()
        .build();
  }

  static NetworkPolicyIngressRule port(IntOrString port, Integer endPort) {
    return new NetworkPolicyIngressRuleBuilder()
        .addNewPort()
        .withPort(port)
        .withEndPort(endPort)
        .endPort()
        .build();
  }

  List<String> bypass(NetworkPolicy... all) {
    return GuardBypass.admittingUpstream(List.of(all), "p-guard-lockdown", POD, 4483, NAMED);
  }

  @Test
  void a_rule_on_the_upstream_port_by_number_name_or_range_is_a_bypass() {
    assertThat(
            bypass(
                np("number", Map.of("app", "vmcp"), null, port(new IntOrString(4483), null)),
                np("named", Map.of(), null, port(new IntOrString("mcp"), null)),
                np("range", Map.of(), List.of("Ingress"), port(new IntOrString(4000), 5000)),
                np("all-ports", Map.of(), null, new NetworkPolicyIngressRule())))
        .containsExactly("all-ports", "named", "number", "range");
  }

  @Test
  void other_ports_other_pods_egress_only_deny_all_and_our_own_policy_are_not() {
    assertThat(
            bypass(
                np("guard-port", Map.of(), null, port(new IntOrString(4484), null)),
                np("other-pods", Map.of("app", "db"), null, new NetworkPolicyIngressRule()),
                np("egress", Map.of(), List.of("Egress"), new NetworkPolicyIngressRule()),
                np("deny-all", Map.of(), List.of("Ingress")),
                np("p-guard-lockdown", Map.of(), null, new NetworkPolicyIngressRule())))
        .isEmpty();
  }

  @Test
  void label_selector_expressions_follow_the_api_servers_rules() {
    var in =
        new LabelSelectorBuilder()
            .addNewMatchExpression()
            .withKey("tier")
            .withOperator("In")
            .withValues("mcp", "web")
            .endMatchExpression()
            .addNewMatchExpression()
            .withKey("legacy")
            .withOperator("DoesNotExist")
            .endMatchExpression()
            .build();
    assertThat(LabelSelectors.selects(in, POD)).isTrue();
    var notIn =
        new LabelSelectorBuilder()
            .addNewMatchExpression()
            .withKey("app")
            .withOperator("NotIn")
            .withValues("vmcp")
            .endMatchExpression()
            .build();
    assertThat(LabelSelectors.selects(notIn, POD)).isFalse();
    assertThat(LabelSelectors.selects(null, POD)).isTrue();
    assertThat(LabelSelectors.serviceSelects(Map.of(), POD)).isFalse();
    assertThat(LabelSelectors.serviceSelects(Map.of("app", "vmcp"), POD)).isTrue();
  }
}
