package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import java.util.Collection;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;

/**
 * The Service {@code <policy>-guard}: the guard port of every pod that carries this policy's guard.
 * It selects by the {@code sessionguard.dev/guarded-by} label, so pods of the target that do not
 * run the guard yet (mid-rollout) get no traffic meant for it. Session affinity is copied from the
 * target's own Service, so clients stick to a pod exactly as they did before.
 */
@KubernetesDependent(informer = @Informer(labelSelector = PolicyConfigMap.SELECTOR))
public class GuardService extends CRUDKubernetesDependentResource<Service, SessionPolicy> {
  static final String CLIENT_IP = "ClientIP";

  public GuardService() {
    super(Service.class);
  }

  static String nameFor(SessionPolicy policy) {
    return policy.getMetadata().getName() + "-guard";
  }

  @Override
  protected Service desired(SessionPolicy policy, Context<SessionPolicy> context) {
    var observed =
        context
            .managedWorkflowAndDependentResourceContext()
            .getMandatory(Observed.KEY, Observed.class);
    var meta = policy.getMetadata();
    var builder =
        new ServiceBuilder()
            .withMetadata(PolicyConfigMap.metadata(policy, nameFor(policy)))
            .withNewSpec()
            .withType("ClusterIP")
            .addToSelector(PodTemplates.GUARDED_BY, meta.getName())
            .addNewPort()
            .withName(GuardContainer.PORT_NAME)
            .withProtocol("TCP")
            .withPort(policy.getSpec().guard.port)
            // by name: a new guard port rolls out with the pods, never ahead of them
            .withTargetPort(new IntOrString(GuardContainer.PORT_NAME))
            .endPort()
            .endSpec();
    var target = observed.targetService();
    if (target != null && target.getSpec() != null && CLIENT_IP.equals(affinity(target))) {
      builder
          .editSpec()
          .withSessionAffinity(CLIENT_IP)
          .withSessionAffinityConfig(target.getSpec().getSessionAffinityConfig())
          .endSpec();
    } else if (target == null && observed.toolHive()) {
      // ToolHive's own Service for a VirtualMCPServer uses ClientIP
      builder.editSpec().withSessionAffinity(CLIENT_IP).endSpec();
    } else {
      builder.editSpec().withSessionAffinity("None").endSpec();
    }
    return builder.build();
  }

  private static String affinity(Service service) {
    return service.getSpec().getSessionAffinity();
  }

  /**
   * The Service that exposes the target's pods today: one whose selector matches the pod template's
   * labels (not one of this operator's). Of several, one with ClientIP affinity wins, then the
   * first by name.
   */
  static Optional<Service> targetService(
      Collection<Service> services, Map<String, String> podLabels) {
    return services.stream()
        .filter(s -> s.getSpec() != null)
        .filter(
            s ->
                s.getMetadata().getLabels() == null
                    || !PolicyConfigMap.OPERATOR.equals(
                        s.getMetadata().getLabels().get(PolicyConfigMap.MANAGED_BY)))
        .filter(s -> LabelSelectors.serviceSelects(s.getSpec().getSelector(), podLabels))
        .min(
            Comparator.comparing((Service s) -> !CLIENT_IP.equals(affinity(s)))
                .thenComparing(s -> s.getMetadata().getName()));
  }

  /** Only while {@code exposure.service} is true; when it turns false the Service goes. */
  public static class Wanted implements Condition<Service, SessionPolicy> {
    @Override
    public boolean isMet(
        DependentResource<Service, SessionPolicy> dependentResource,
        SessionPolicy policy,
        Context<SessionPolicy> context) {
      var exposure = policy.getSpec().exposure;
      return exposure == null || !Boolean.FALSE.equals(exposure.service);
    }
  }
}
