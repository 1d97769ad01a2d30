package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/** Counts the target's pods whose guard enforces the current policy hash. */
class Enforcement {
  private final KubernetesClient client;
  private final GuardProbe probe;

  Enforcement(KubernetesClient client, GuardProbe probe) {
    this.client = client;
    this.probe = probe;
  }

  /**
   * The target's pods not being deleted: those carrying all of {@code podLabels} (the target's
   * pod-template labels, {@link PodTemplates#TARGET} among them once the guard is in, and the
   * policy's {@code guarded-by}). A former target's pods keep {@code guarded-by} until their own
   * rollout; the target label tells them apart even where the template has no label of its own, as
   * a VirtualMCPServer's {@code podTemplateSpec} may not.
   */
  List<Pod> pods(SessionPolicy policy, Map<String, String> podLabels) {
    return client
        .pods()
        .inNamespace(policy.getMetadata().getNamespace())
        .withLabels(podLabels)
        .list()
        .getItems()
        .stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
        .toList();
  }

  /**
   * The first of {@code pods} as a pod-template-shaped map (its {@code metadata.labels} and {@code
   * spec.containers}): what a workload that is not ours to read (a VirtualMCPServer, whose
   * Deployment ToolHive makes) really puts on its pods.
   */
  Optional<Map<String, Object>> asTemplate(List<Pod> pods) {
    return pods.stream()
        .findFirst()
        .map(
            p ->
                PodTemplates.asMap(client.getKubernetesSerialization().convertValue(p, Map.class)));
  }

  /**
   * Of {@code pods}, those whose guard enforces {@code hash}: ready (serving), and not ready (its
   * readiness probe fails: the upstream unreachable, keys not fetched, draining), which serve no
   * client however current their policy.
   */
  record Count(int ready, int unready) {}

  /** Counts the pods of {@code pods} whose guard reports {@code hash}. */
  Count enforcingPods(SessionPolicy policy, List<Pod> pods, String hash) {
    int adminPort = policy.getSpec().guard.adminPort;
    var reporting =
        pods.stream()
            .filter(p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()))
            .filter(p -> p.getStatus().getPodIP() != null)
            .filter(
                p ->
                    probe
                        .policyHash(p.getStatus().getPodIP(), adminPort)
                        .filter(h -> Objects.equals(h, hash))
                        .isPresent())
            .toList();
    int ready = (int) reporting.stream().filter(Enforcement::guardReady).count();
    return new Count(ready, reporting.size() - ready);
  }

  /** Whether the kubelet reports the pod's guard container ready. */
  private static boolean guardReady(Pod pod) {
    return pod.getStatus().getContainerStatuses().stream()
        .anyMatch(
            c -> GuardContainer.NAME.equals(c.getName()) && Boolean.TRUE.equals(c.getReady()));
  }
}
