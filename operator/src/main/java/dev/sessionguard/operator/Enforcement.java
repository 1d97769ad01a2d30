package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Objects;

/** Counts the target's pods whose guard enforces the current policy hash. */
class Enforcement {
  private final KubernetesClient client;
  private final GuardProbe probe;

  Enforcement(KubernetesClient client, GuardProbe probe) {
    this.client = client;
    this.probe = probe;
  }

  int enforcingPods(SessionPolicy policy, String hash) {
    var pods =
        client
            .pods()
            .inNamespace(policy.getMetadata().getNamespace())
            .withLabel(PodTemplates.GUARDED_BY, policy.getMetadata().getName())
            .list()
            .getItems();
    int adminPort = policy.getSpec().guard.adminPort;
    return (int)
        pods.stream()
            .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
            .filter(p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()))
            .filter(p -> p.getStatus().getPodIP() != null)
            .filter(
                p ->
                    probe
                        .policyHash(p.getStatus().getPodIP(), adminPort)
                        .filter(h -> Objects.equals(h, hash))
                        .isPresent())
            .count();
  }
}
