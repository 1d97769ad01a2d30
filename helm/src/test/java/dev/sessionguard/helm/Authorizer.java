package dev.sessionguard.helm;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Kubernetes RBAC evaluated over rendered objects, for one ServiceAccount: a call is allowed when a
 * rule of a role bound to it matches, cluster-wide through a ClusterRoleBinding or in one namespace
 * through a RoleBinding.
 */
final class Authorizer {

  private final Rendered chart;
  private final String serviceAccount;
  private final String serviceAccountNamespace;

  Authorizer(Rendered chart, String serviceAccount, String serviceAccountNamespace) {
    this.chart = chart;
    this.serviceAccount = serviceAccount;
    this.serviceAccountNamespace = serviceAccountNamespace;
  }

  /** Whether the call is allowed in this namespace (null: cluster-wide, or all namespaces). */
  boolean allows(ApiCall call, String namespace) {
    String name =
        call.inOperatorNamespace() ? chart.operatorEnv("LEADER_ELECTION_LEASE_NAME") : null;
    return rules(namespace).stream().anyMatch(rule -> matches(rule, call, name));
  }

  /** The rules that apply in this namespace (null: only the cluster-wide ones). */
  List<JsonNode> rules(String namespace) {
    List<JsonNode> rules = new ArrayList<>();
    for (JsonNode binding : chart.ofKind("ClusterRoleBinding")) {
      if (bindsServiceAccount(binding)) {
        rules.addAll(roleRules(binding, null));
      }
    }
    if (namespace != null) {
      for (JsonNode binding : chart.ofKind("RoleBinding")) {
        if (binding.at("/metadata/namespace").asText().equals(namespace)
            && bindsServiceAccount(binding)) {
          rules.addAll(roleRules(binding, namespace));
        }
      }
    }
    return rules;
  }

  private boolean bindsServiceAccount(JsonNode binding) {
    for (JsonNode subject : binding.path("subjects")) {
      if (subject.path("kind").asText().equals("ServiceAccount")
          && subject.path("name").asText().equals(serviceAccount)
          && subject.path("namespace").asText().equals(serviceAccountNamespace)) {
        return true;
      }
    }
    return false;
  }

  private List<JsonNode> roleRules(JsonNode binding, String namespace) {
    String kind = binding.at("/roleRef/kind").asText();
    String name = binding.at("/roleRef/name").asText();
    return chart.ofKind(kind).stream()
        .filter(role -> Rendered.name(role).equals(name))
        .filter(
            role ->
                kind.equals("ClusterRole")
                    || role.at("/metadata/namespace").asText().equals(namespace))
        .findFirst()
        .map(
            role -> Rendered.texts(role.path("rules")).isEmpty() ? List.<JsonNode>of() : list(role))
        .orElseThrow(() -> new AssertionError(binding + " refers to a missing " + kind));
  }

  private static List<JsonNode> list(JsonNode role) {
    List<JsonNode> rules = new ArrayList<>();
    role.path("rules").forEach(rules::add);
    return rules;
  }

  /**
   * Whether the rule allows the call; {@code name} is the object's where the chart names it (the
   * Lease it passes the operator), else null.
   */
  static boolean matches(JsonNode rule, ApiCall call, String name) {
    // A rule limited to resourceNames does not allow list, watch or create of any object, and
    // allows the rest only on the objects it names.
    return (!rule.has("resourceNames")
            || (name != null
                && !List.of("list", "watch", "create").contains(call.verb())
                && Rendered.texts(rule.path("resourceNames")).contains(name)))
        && containsOrWildcard(rule.path("apiGroups"), call.group())
        && containsOrWildcard(rule.path("resources"), call.resource())
        && containsOrWildcard(rule.path("verbs"), call.verb());
  }

  private static boolean containsOrWildcard(JsonNode values, String value) {
    List<String> texts = Rendered.texts(values);
    return texts.contains(value) || texts.contains("*");
  }
}
