package dev.sessionguard.operator;

import dev.sessionguard.policy.Durations;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import java.util.List;

/** The guard container and its volumes, as injected into a target's pod template. */
final class GuardContainer {
  static final String NAME = "session-guard";
  static final String POLICY_VOLUME = "session-guard-policy";
  static final String TMP_VOLUME = "session-guard-tmp";
  static final String MOUNT_PATH = "/etc/session-guard";

  /** The client port's name: the guard Service targets it. */
  static final String PORT_NAME = "guard";

  /**
   * The admin port's name: the chart's PodMonitor scrapes by it, so it must be unique to guards
   * (port names are unique in a pod, and "admin" is a name a workload may well use itself).
   */
  static final String ADMIN_PORT_NAME = "guard-admin";

  /** The guard reads the Redis password from here; the value never passes through the operator. */
  static final String REDIS_PASSWORD_ENV = "SESSIONGUARD_REDIS_PASSWORD";

  static final String START_SETTINGS_ENV = "SESSIONGUARD_START_SETTINGS";

  /**
   * A numeric user, so the kubelet can check runAsNonRoot without reading the image (the image's
   * own user too); GUARD_RUN_AS_USER may name another, or none.
   */
  static final long USER = 65532;

  /** Slack for the JVM to exit after draining. */
  static final long GRACE_MARGIN_SECONDS = 5;

  private GuardContainer() {}

  static Container desired(SessionPolicy policy, OperatorSettings settings) {
    var spec = policy.getSpec();
    var r = settings.guardResources();
    return new ContainerBuilder()
        .withName(NAME)
        .withImage(settings.guardImage())
        .withArgs("--policy", MOUNT_PATH + "/policy.json")
        .withEnv(env(spec))
        .addNewPort()
        .withName(PORT_NAME)
        .withContainerPort(spec.guard.port)
        .withProtocol("TCP")
        .endPort()
        .addNewPort()
        .withName(ADMIN_PORT_NAME)
        .withContainerPort(spec.guard.adminPort)
        .withProtocol("TCP")
        .endPort()
        // the whole directory, never a subPath: the kubelet refreshes it and the guard reloads
        .addNewVolumeMount()
        .withName(POLICY_VOLUME)
        .withMountPath(MOUNT_PATH)
        .withReadOnly(true)
        .endVolumeMount()
        .addNewVolumeMount()
        .withName(TMP_VOLUME)
        .withMountPath("/tmp")
        .endVolumeMount()
        .withNewReadinessProbe()
        .withNewHttpGet()
        .withPath("/readyz")
        .withPort(new IntOrString(ADMIN_PORT_NAME))
        .endHttpGet()
        .withPeriodSeconds(5)
        .endReadinessProbe()
        .withNewLivenessProbe()
        .withNewHttpGet()
        .withPath("/healthz")
        .withPort(new IntOrString(ADMIN_PORT_NAME))
        .endHttpGet()
        .withPeriodSeconds(10)
        .withFailureThreshold(3)
        .endLivenessProbe()
        // endpoints drop the pod while this runs; the guard drains after SIGTERM
        .withNewLifecycle()
        .withNewPreStop()
        .withNewSleep()
        .withSeconds(preStopSeconds(policy))
        .endSleep()
        .endPreStop()
        .endLifecycle()
        .withNewResources()
        .addToRequests("cpu", new Quantity(r.cpuRequest()))
        .addToRequests("memory", new Quantity(r.memoryRequest()))
        .addToLimits("cpu", new Quantity(r.cpuLimit()))
        .addToLimits("memory", new Quantity(r.memoryLimit()))
        .endResources()
        .withNewSecurityContext()
        .withRunAsNonRoot(true)
        .withRunAsUser(settings.guardRunAsUser().orElse(null))
        .withReadOnlyRootFilesystem(true)
        .withAllowPrivilegeEscalation(false)
        .withNewCapabilities()
        .withDrop("ALL")
        .endCapabilities()
        .withNewSeccompProfile()
        .withType("RuntimeDefault")
        .endSeccompProfile()
        .endSecurityContext()
        .build();
  }

  /** A reference to the policy's Redis password Secret, never its value (no Secret read needed). */
  private static List<EnvVar> env(SessionPolicySpec spec) {
    // The guard names itself and scopes shared (Redis) keys by its pod and namespace.
    var env = new java.util.ArrayList<EnvVar>();
    env.add(fromField("POD_NAME", "metadata.name"));
    env.add(fromField("POD_NAMESPACE", "metadata.namespace"));
    // the start settings the pod was made for: a guard that started before its mounted policy
    // caught up with them restarts when it does
    env.add(
        fromField(
            START_SETTINGS_ENV, "metadata.annotations['" + PodTemplates.START_SETTINGS + "']"));
    var store = spec.store;
    if (store == null
        || store.type != SessionPolicySpec.StoreType.Redis
        || store.redis == null
        || store.redis.passwordSecretRef == null) {
      return env;
    }
    var ref = store.redis.passwordSecretRef;
    env.add(
        new EnvVarBuilder()
            .withName(REDIS_PASSWORD_ENV)
            .withNewValueFrom()
            .withNewSecretKeyRef()
            .withName(ref.name)
            .withKey(ref.key)
            .endSecretKeyRef()
            .endValueFrom()
            .build());
    return env;
  }

  private static EnvVar fromField(String name, String path) {
    // apiVersion written out as the API server would default it, so it is not seen as drift.
    return new EnvVarBuilder()
        .withName(name)
        .withNewValueFrom()
        .withNewFieldRef()
        .withApiVersion("v1")
        .withFieldPath(path)
        .endFieldRef()
        .endValueFrom()
        .build();
  }

  static List<Volume> volumes(SessionPolicy policy) {
    return List.of(
        new VolumeBuilder()
            .withName(POLICY_VOLUME)
            .withNewConfigMap()
            .withName(PolicyConfigMap.nameFor(policy))
            .endConfigMap()
            .build(),
        new VolumeBuilder().withName(TMP_VOLUME).withNewEmptyDir().endEmptyDir().build());
  }

  static long preStopSeconds(SessionPolicy policy) {
    return Math.max(1, Durations.parse(policy.getSpec().timeouts.drainDelay).toSeconds());
  }

  /** The grace period the pod needs: preStop, then drainDelay and drain after SIGTERM. */
  static long gracePeriodSeconds(SessionPolicy policy) {
    var t = policy.getSpec().timeouts;
    long afterSigterm = Durations.parse(t.drainDelay).plus(Durations.parse(t.drain)).toSeconds();
    return preStopSeconds(policy) + afterSigterm + GRACE_MARGIN_SECONDS;
  }
}
