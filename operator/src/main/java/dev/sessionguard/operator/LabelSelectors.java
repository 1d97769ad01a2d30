package dev.sessionguard.operator;

import io.fabric8.kubernetes.api.model.LabelSelector;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** Label selectors evaluated as the API server does, for Services and NetworkPolicies. */
final class LabelSelectors {
  private LabelSelectors() {}

  /** A Service's selector: every entry present; an empty selector selects no pods. */
  static boolean serviceSelects(Map<String, String> selector, Map<String, String> labels) {
    return selector != null
        && !selector.isEmpty()
        && selector.entrySet().stream()
            .allMatch(e -> Objects.equals(labels.get(e.getKey()), e.getValue()));
  }

  /** A LabelSelector: an empty (or absent) one selects every pod. */
  static boolean selects(LabelSelector selector, Map<String, String> labels) {
    if (selector == null) {
      return true;
    }
    var matchLabels = selector.getMatchLabels();
    if (matchLabels != null
        && !matchLabels.entrySet().stream()
            .allMatch(e -> Objects.equals(labels.get(e.getKey()), e.getValue()))) {
      return false;
    }
    var expressions = selector.getMatchExpressions();
    if (expressions == null) {
      return true;
    }
    for (var e : expressions) {
      var value = labels.get(e.getKey());
      List<String> values = e.getValues() == null ? List.of() : e.getValues();
      boolean met =
          switch (e.getOperator()) {
            case "In" -> value != null && values.contains(value);
            case "NotIn" -> value == null || !values.contains(value);
            case "Exists" -> labels.containsKey(e.getKey());
            case "DoesNotExist" -> !labels.containsKey(e.getKey());
            // an operator this code does not know: assume it does not select
            default -> false;
          };
      if (!met) {
        return false;
      }
    }
    return true;
  }
}
