package dev.sessionguard.operator;

import io.fabric8.kubernetes.client.Config;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar session-guard-operator.jar}: settings from the environment, then run. */
public final class Main {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private Main() {}

  public static void main(String[] args) throws Exception {
    var settings = OperatorSettings.fromEnvironment(System.getenv());
    // in a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config
    var client = SessionGuardOperator.client(Config.autoConfigure(null));
    var registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);

    var stopping = new AtomicBoolean();
    SessionGuardOperator.LeaderElection election = null;
    if (settings.leaderElection()) {
      var namespace = settings.leaseNamespace().orElseGet(() -> client.getNamespace());
      election =
          SessionGuardOperator.LeaderElection.standard(
              settings.leaseName(),
              namespace,
              () -> {
                // a replica that lost its lease must not keep reconciling beside the new leader
                if (!stopping.get()) {
                  log.error("lost the leader lease; exiting so the pod restarts as a follower");
                  new Thread(() -> System.exit(1)).start();
                }
              });
    }
    var operator =
        SessionGuardOperator.create(
            client,
            settings,
            election,
            registry,
            new HttpGuardProbe(),
            Duration.ofSeconds(10),
            Clock.systemUTC());
    var management = new ManagementServer(settings.managementPort(), operator, registry);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stopping.set(true);
                  operator.stop();
                  management.close();
                  client.close();
                }));
    log.info(
        "watching {}, guard image {}, management port {}",
        settings.watchNamespaces().isEmpty() ? "all namespaces" : settings.watchNamespaces(),
        settings.guardImage(),
        management.port());
    try {
      operator.start();
    } catch (RuntimeException e) {
      // Informers that cannot start (RBAC refused, a sync that timed out), or a Lease it may not
      // use: exit, so the kubelet restarts it (the management server's threads would keep the
      // JVM up, answering /healthz, with nothing reconciled).
      log.error("the operator could not start; exiting", e);
      System.exit(1); // (the shutdown hook stops what did start)
    }
  }
}
