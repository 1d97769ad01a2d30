package dev.sessionguard.operator;

import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * NetworkPolicies add up: another one that selects the guarded pods and admits the upstream port
 * lets clients walk around the guard, whatever the lockdown says.
 */
final class GuardBypass {
  private GuardBypass() {}

  /**
   * Names of the policies in {@code all} (other than {@code ours}) that admit ingress to pods
   * labelled {@code podLabels} on {@code upstreamPort}, sorted.
   *
   * @param namedPorts the pod's container ports by name, to resolve named ports in rules
   */
  static List<String> admittingUpstream(
      Collection<NetworkPolicy> all,
      String ours,
      Map<String, String> podLabels,
      int upstreamPort,
      Map<String, Integer> namedPorts) {
    return all.stream()
        .filter(np -> !np.getMetadata().getName().equals(ours))
        .filter(np -> np.getSpec() != null)
        .filter(np -> governsIngress(np))
        .filter(np -> LabelSelectors.selects(np.getSpec().getPodSelector(), podLabels))
        .filter(
            np ->
                np.getSpec().getIngress() != null
                    && np.getSpec().getIngress().stream()
                        .anyMatch(rule -> admits(rule.getPorts(), upstreamPort, namedPorts)))
        .map(np -> np.getMetadata().getName())
        .sorted()
        .toList();
  }

  private static boolean governsIngress(NetworkPolicy np) {
    var types = np.getSpec().getPolicyTypes();
    // unset means Ingress (plus Egress when egress rules exist)
    return types == null || types.isEmpty() || types.contains("Ingress");
  }

  /** A rule without ports admits every port. */
  private static boolean admits(
      List<NetworkPolicyPort> ports, int port, Map<String, Integer> namedPorts) {
    if (ports == null || ports.isEmpty()) {
      return true;
    }
    for (var p : ports) {
      if (p.getProtocol() != null && !"TCP".equals(p.getProtocol())) {
        continue;
      }
      var value = p.getPort();
      if (value == null) {
        return true;
      }
      Integer from =
          value.getIntVal() != null ? value.getIntVal() : namedPorts.get(value.getStrVal());
      if (from == null) {
        continue;
      }
      int to = p.getEndPort() != null ? p.getEndPort() : from;
      if (from <= port && port <= to) {
        return true;
      }
    }
    return false;
  }
}
