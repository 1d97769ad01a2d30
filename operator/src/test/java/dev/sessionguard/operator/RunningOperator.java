package dev.sessionguard.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** One operator instance against a mock cluster, built as Main builds it. */
final class RunningOperator implements AutoCloseable {
  final Operator operator;
  final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  /** What each pod's guard answers on /policy: pod IP to hash. */
  final Map<String, String> guards = new ConcurrentHashMap<>();

  private final KubernetesClient client;
  private boolean closed;

  RunningOperator(
      MockCluster cluster, Map<String, String> env, SessionGuardOperator.LeaderElection election) {
    client = cluster.operatorClient();
    GuardProbe probe = (ip, port) -> Optional.ofNullable(guards.get(ip));
    operator =
        SessionGuardOperator.create(
            client,
            OperatorSettings.fromEnvironment(env),
            election,
            registry,
            probe,
            Duration.ofMillis(300),
            Clock.systemUTC());
  }

  RunningOperator start() {
    operator.start();
    return this;
  }

  /** Reconciles this instance has started (JOSDK's own metric). */
  double reconciles() {
    return count("operator.sdk.reconciliations.started");
  }

  /** Reconciles this instance has finished, successfully or not (JOSDK's own metrics). */
  double finished() {
    return count("operator.sdk.reconciliations.success")
        + count("operator.sdk.reconciliations.failed");
  }

  /**
   * Whether more than {@code startedBefore} reconciles have started and every one started has
   * finished: what they wrote is in the cluster.
   */
  boolean reconciledPast(double startedBefore) {
    double started = reconciles();
    return started > startedBefore && finished() >= started;
  }

  private double count(String name) {
    return registry.find(name).counters().stream().mapToDouble(Counter::count).sum();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    operator.stop();
    client.close();
  }
}
