package dev.sessionguard.operator;

import dev.sessionguard.policy.Durations;
import dev.sessionguard.policy.SessionPolicy;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
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

  /** A numeric user, so the kubelet can check runAsNonRoot without reading the image. */
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
        .addNewPort()
        .withName("guard")
        .withContainerPort(spec.guard.port)
        .withProtocol("TCP")
        .endPort()
        .addNewPort()
        .withName("admin")
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
        .withPort(new IntOrString("admin"))
        .endHttpGet()
        .withPeriodSeconds(5)
        .endReadinessProbe()
        .withNewLivenessProbe()
        .withNewHttpGet()
        .withPath("/healthz")
        .withPort(new IntOrString("admin"))
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
        .withRunAsUser(USER)
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
