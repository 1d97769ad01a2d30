package dev.sessionguard.operator;

import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.function.Predicate;

/**
 * Writes the guard into (and out of) the target workload's pod template: read, modify only the
 * guard's entries, write back with the resourceVersion read, and start over on a conflict. The same
 * code path runs against the mock server and a real one; no ownerReference on the target.
 */
class GuardInjector {
  static final int ATTEMPTS = 5;

  /** What a write found. */
  enum Outcome {
    CHANGED,
    UNCHANGED,
    TARGET_MISSING
  }

  private final KubernetesClient client;
  private final OperatorSettings settings;

  GuardInjector(KubernetesClient client, OperatorSettings settings) {
    this.client = client;
    this.settings = settings;
  }

  Outcome inject(SessionPolicy policy) {
    var container = toMap(GuardContainer.desired(policy, settings));
    var volumes = GuardContainer.volumes(policy).stream().map(this::toMap).toList();
    long grace = GuardContainer.gracePeriodSeconds(policy);
    var name = policy.getMetadata().getName();
    var startSettings = PolicyHash.ofStartSettings(policy.getSpec());
    var ref = policy.getSpec().targetRef;
    var target = PodTemplates.targetLabel(ref);
    return edit(
        policy,
        ref,
        t -> PodTemplates.inject(t, name, target, startSettings, container, volumes, grace));
  }

  Outcome remove(SessionPolicy policy) {
    return remove(policy, policy.getSpec().targetRef);
  }

  /** Takes the policy's guard out of {@code ref}, which need not be its target (any more). */
  Outcome remove(SessionPolicy policy, TargetRef ref) {
    return edit(policy, ref, t -> PodTemplates.remove(t, policy.getMetadata().getName()));
  }

  /** The target as it is now, if it exists. */
  Optional<GenericKubernetesResource> target(SessionPolicy policy) {
    var ref = policy.getSpec().targetRef;
    return Optional.ofNullable(
        client
            .genericKubernetesResources(ref.apiVersion, ref.kind)
            .inNamespace(policy.getMetadata().getNamespace())
            .withName(ref.name)
            .get());
  }

  /** The replica count a target declares ({@code spec.replicas}), if it does. */
  static OptionalInt replicas(GenericKubernetesResource target) {
    var spec = PodTemplates.asMap(target.getAdditionalProperties().get("spec"));
    return spec != null && spec.get("replicas") instanceof Number n
        ? OptionalInt.of(n.intValue())
        : OptionalInt.empty();
  }

  /** Where a kind keeps its pod template: ToolHive's VirtualMCPServer has its own field. */
  static List<String> templatePath(TargetRef ref) {
    return ref.kind.equals("VirtualMCPServer")
        ? List.of("spec", "podTemplateSpec")
        : List.of("spec", "template");
  }

  private Outcome edit(SessionPolicy policy, TargetRef ref, Predicate<Map<String, Object>> change) {
    var targets =
        client
            .genericKubernetesResources(ref.apiVersion, ref.kind)
            .inNamespace(policy.getMetadata().getNamespace());
    for (int attempt = 1; ; attempt++) {
      var target = targets.withName(ref.name).get();
      if (target == null) {
        return Outcome.TARGET_MISSING;
      }
      var path = templatePath(ref);
      var node = target.getAdditionalProperties();
      for (var key : path) {
        node = PodTemplates.child(node, key);
      }
      if (!change.test(node)) {
        return Outcome.UNCHANGED;
      }
      try {
        // a PUT carries the resourceVersion read above: the API server refuses it (409) if
        // anyone wrote in between, and the edit starts over from a fresh read
        targets.resource(target).update();
        return Outcome.CHANGED;
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404) {
          return Outcome.TARGET_MISSING;
        }
        if (e.getCode() != 409 || attempt >= ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> toMap(Object model) {
    return client.getKubernetesSerialization().convertValue(model, Map.class);
  }
}
