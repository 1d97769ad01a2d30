package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRuleBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeerBuilder;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import java.util.List;

/**
 * The NetworkPolicy {@code <policy>-guard-lockdown}: with {@code exposure.lockdown}, the guarded
 * pods admit traffic only on the guard port, plus the admin port from the operator's namespace (it
 * asks {@code /policy}) and the monitoring namespace (Prometheus scrapes {@code /metrics}).
 *
 * <p>Created only once the policy is Ready: locking the upstream port before the guards serve would
 * cut clients off. Once there it stays while lockdown is asked for, through later rollouts, and is
 * deleted before the guard when the policy goes.
 */
@KubernetesDependent(informer = @Informer(labelSelector = PolicyConfigMap.SELECTOR))
public class Lockdown extends CRUDKubernetesDependentResource<NetworkPolicy, SessionPolicy> {
  static final String NAMESPACE_NAME = "kubernetes.io/metadata.name";

  public Lockdown() {
    super(NetworkPolicy.class);
  }

  static String nameFor(SessionPolicy policy) {
    return policy.getMetadata().getName() + "-guard-lockdown";
  }

  @Override
  protected NetworkPolicy desired(SessionPolicy policy, Context<SessionPolicy> context) {
    var observed =
        context
            .managedWorkflowAndDependentResourceContext()
            .getMandatory(Observed.KEY, Observed.class);
    var meta = policy.getMetadata();
    List<NetworkPolicyPeer> admins =
        observed.adminNamespaces().stream()
            .sorted()
            .map(
                ns ->
                    new NetworkPolicyPeerBuilder()
                        .withNewNamespaceSelector()
                        .addToMatchLabels(NAMESPACE_NAME, ns)
                        .endNamespaceSelector()
                        .build())
            .toList();
    var lockdown =
        new NetworkPolicyBuilder()
            .withMetadata(PolicyConfigMap.metadata(policy, nameFor(policy)))
            .withNewSpec()
            .withNewPodSelector()
            .addToMatchLabels(PodTemplates.GUARDED_BY, meta.getName())
            .endPodSelector()
            .withPolicyTypes("Ingress")
            // the guard port, from anywhere; ports by name, as the Service targets them: a changed
            // port number admits each pod's own port until the rollout has replaced it
            .addNewIngress()
            .addNewPort()
            .withProtocol("TCP")
            .withPort(new IntOrString(GuardContainer.PORT_NAME))
            .endPort()
            .endIngress()
            .endSpec()
            .build();
    if (!admins.isEmpty()) {
      // the admin port, from the operator and monitoring namespaces only (a rule with no peers
      // would admit everyone: with no namespace to admit, there is no rule)
      lockdown
          .getSpec()
          .getIngress()
          .add(
              new NetworkPolicyIngressRuleBuilder()
                  .withFrom(admins)
                  .addNewPort()
                  .withProtocol("TCP")
                  .withPort(new IntOrString(GuardContainer.ADMIN_PORT_NAME))
                  .endPort()
                  .build());
    }
    return lockdown;
  }

  /**
   * While {@code exposure.lockdown} is true: first once the policy is Ready, then for as long as it
   * stays asked for (a later rollout does not open the door again).
   */
  public static class Wanted implements Condition<NetworkPolicy, SessionPolicy> {
    @Override
    public boolean isMet(
        DependentResource<NetworkPolicy, SessionPolicy> dependentResource,
        SessionPolicy policy,
        Context<SessionPolicy> context) {
      var exposure = policy.getSpec().exposure;
      if (exposure == null || !Boolean.TRUE.equals(exposure.lockdown)) {
        return false;
      }
      var observed =
          context
              .managedWorkflowAndDependentResourceContext()
              .getMandatory(Observed.KEY, Observed.class);
      return observed.enforcing()
          || dependentResource.getSecondaryResource(policy, context).isPresent();
    }
  }
}
