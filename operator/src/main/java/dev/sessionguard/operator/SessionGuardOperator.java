package dev.sessionguard.operator;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;

/** Builds the operator the same way in production and in tests; only the client differs. */
public final class SessionGuardOperator {
  /** The Lease replicas compete for. */
  public static final String LEASE_NAME = "session-guard-operator";

  /** Sent with every API request, so audit logs (and the tests' RBAC record) know who asked. */
  public static final String USER_AGENT = "session-guard-operator";

  private SessionGuardOperator() {}

  /** A client from {@code base} (in-cluster or KUBECONFIG) that names the operator. */
  public static KubernetesClient client(Config base) {
    return new KubernetesClientBuilder()
        .withConfig(new ConfigBuilder(base).withUserAgent(USER_AGENT).build())
        .build();
  }

  /**
   * Leader election through a Lease ({@value #LEASE_NAME} unless the settings name another).
   *
   * @param onStopLeading run when this replica loses the lease (production exits, so two replicas
   *     never reconcile at once)
   */
  public record LeaderElection(
      String name,
      String namespace,
      Duration leaseDuration,
      Duration renewDeadline,
      Duration retryPeriod,
      Runnable onStopLeading) {
    /** JOSDK's usual timing (15s, 10s, 2s). */
    public static LeaderElection standard(String name, String namespace, Runnable onStopLeading) {
      return new LeaderElection(
          name,
          namespace,
          Duration.ofSeconds(15),
          Duration.ofSeconds(10),
          Duration.ofSeconds(2),
          onStopLeading);
    }
  }

  /**
   * The operator, with its controller registered but not started.
   *
   * @param leaderElection null when a single replica runs
   * @param probe asks a pod's guard which policy it enforces
   * @param recheck how soon to look at the pods again while a policy is not Ready
   */
  public static Operator create(
      KubernetesClient client,
      OperatorSettings settings,
      LeaderElection leaderElection,
      MeterRegistry registry,
      GuardProbe probe,
      Duration recheck,
      Clock clock) {
    var operator =
        new Operator(
            o -> {
              o.withKubernetesClient(client)
                  // no server-side apply anywhere: the same write path in tests and production
                  .withUseSSAToPatchPrimaryResource(false)
                  .withSSABasedCreateUpdateMatchForDependentResources(false)
                  .withCloseClientOnStop(false)
                  // per-resource metrics would tag by name and namespace: unbounded
                  .withMetrics(
                      MicrometerMetrics.newMicrometerMetricsBuilder(registry)
                          .notCollectingMetricsPerResource()
                          .build());
              if (leaderElection != null) {
                o.withLeaderElectionConfiguration(
                    leaderElection(settings.identity(), leaderElection));
              }
            });
    var reconciler =
        new SessionPolicyReconciler(
            new PolicyEvents(client, clock),
            new GuardInjector(client, settings),
            new Enforcement(client, probe),
            clock,
            recheck,
            adminNamespaces(client, settings));
    operator.register(
        reconciler,
        c -> {
          if (settings.watchNamespaces().isEmpty()) {
            c.watchingAllNamespaces();
          } else {
            c.settingNamespaces(settings.watchNamespaces());
          }
        });
    return operator;
  }

  /** The operator's own namespace (it probes /policy) and the monitoring namespace (scrapes). */
  static java.util.Set<String> adminNamespaces(KubernetesClient client, OperatorSettings settings) {
    var namespaces = new java.util.TreeSet<String>();
    settings
        .podNamespace()
        .or(() -> java.util.Optional.ofNullable(client.getNamespace()))
        .ifPresent(namespaces::add);
    if (!settings.monitoringNamespace().isBlank()) {
      namespaces.add(settings.monitoringNamespace());
    }
    return namespaces;
  }

  private static LeaderElectionConfiguration leaderElection(String identity, LeaderElection le) {
    return LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(le.name())
        .withLeaseNamespace(le.namespace())
        .withIdentity(identity)
        .withLeaseDuration(le.leaseDuration())
        .withRenewDeadline(le.renewDeadline())
        .withRetryPeriod(le.retryPeriod())
        // JOSDK's own exit would also fire on operator.stop(): the caller decides instead
        .withExitOnStopLeading(false)
        .withLeaderCallbacks(new LeaderCallbacks(() -> {}, le.onStopLeading(), leader -> {}))
        .build();
  }
}
