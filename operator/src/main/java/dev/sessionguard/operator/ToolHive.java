package dev.sessionguard.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Optional;

/** ToolHive's VirtualMCPServer, known only by group, version and kind (no Java model). */
final class ToolHive {
  static final String GROUP = "toolhive.stacklok.dev";
  static final String KIND = "VirtualMCPServer";
  static final String CRD_NAME = "virtualmcpservers." + GROUP;

  private ToolHive() {}

  /** The versions the cluster serves (empty when ToolHive is not installed). */
  static List<String> servedVersions(KubernetesClient client) {
    var crd = client.apiextensions().v1().customResourceDefinitions().withName(CRD_NAME).get();
    if (crd == null) {
      return List.of();
    }
    return crd.getSpec().getVersions().stream()
        .filter(v -> Boolean.TRUE.equals(v.getServed()))
        .map(v -> v.getName())
        .toList();
  }

  /**
   * The VirtualMCPServer that controls {@code resource} (its controller owner reference), by name:
   * ToolHive's Deployment for it; empty for anything else.
   */
  static Optional<String> controller(HasMetadata resource) {
    return resource.getMetadata().getOwnerReferences().stream()
        .filter(
            o ->
                Boolean.TRUE.equals(o.getController())
                    && KIND.equals(o.getKind())
                    && o.getApiVersion() != null
                    && o.getApiVersion().startsWith(GROUP + "/"))
        .map(o -> o.getName())
        .findFirst();
  }

  /** The served version to watch (v1beta1 preferred, v1alpha1 accepted); null when neither. */
  static String preferred(List<String> served) {
    return served.contains("v1beta1") ? "v1beta1" : served.contains("v1alpha1") ? "v1alpha1" : null;
  }
}
