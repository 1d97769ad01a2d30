package dev.sessionguard.operator;

import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import java.util.LinkedHashMap;

/**
 * The ConfigMap {@code <policy>-session-guard} holding {@code policy.json}, which the guard mounts
 * and reloads live. Owned by the policy (so deleted with it); restored when edited or deleted.
 */
@KubernetesDependent(informer = @Informer(labelSelector = PolicyConfigMap.SELECTOR))
public class PolicyConfigMap extends CRUDKubernetesDependentResource<ConfigMap, SessionPolicy> {
  static final String KEY = "policy.json";
  static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  static final String OPERATOR = "session-guard-operator";
  // only the ConfigMaps this operator writes are cached, not every ConfigMap of the cluster
  static final String SELECTOR = MANAGED_BY + "=" + OPERATOR;

  public PolicyConfigMap() {
    super(ConfigMap.class);
  }

  public static String nameFor(SessionPolicy policy) {
    return policy.getMetadata().getName() + "-session-guard";
  }

  /**
   * The metadata of everything the operator makes for a policy (ConfigMap, Service, lockdown): its
   * name, the policy's namespace, and the labels that say whose it is.
   */
  static ObjectMeta metadata(SessionPolicy policy, String name) {
    var labels = new LinkedHashMap<String, String>();
    labels.put(MANAGED_BY, OPERATOR);
    labels.put("app.kubernetes.io/part-of", "session-guard");
    labels.put("sessionguard.dev/policy", policy.getMetadata().getName());
    return new ObjectMetaBuilder()
        .withName(name)
        .withNamespace(policy.getMetadata().getNamespace())
        .withLabels(labels)
        .build();
  }

  @Override
  protected ConfigMap desired(SessionPolicy policy, Context<SessionPolicy> context) {
    var meta = policy.getMetadata();
    return new ConfigMapBuilder()
        .withMetadata(metadata(policy, nameFor(policy)))
        .addToData(
            KEY, PolicyFile.of(meta.getName(), meta.getGeneration(), policy.getSpec()).toJson())
        .build();
  }
}
