package dev.sessionguard.operator;

import io.fabric8.kubernetes.api.model.Quantity;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The operator's settings, read from environment variables (the Helm chart sets them). Every one
 * has a default, so the jar runs with only {@code KUBECONFIG} set.
 *
 * @param watchNamespaces namespaces to watch; empty means all
 * @param guardImage the guard container's image
 * @param guardResources requests and limits of the guard container
 * @param guardRunAsUser the guard container's user; empty leaves it to the image and the platform
 *     (OpenShift's restricted SCC assigns one per namespace and refuses any other)
 * @param leaderElection whether replicas elect a leader through a Lease
 * @param leaseNamespace where the Lease lives; empty means the operator's own namespace
 * @param leaseName the Lease's name: one per installation, so two in one namespace (each watching
 *     its own namespaces) do not elect one leader between them
 * @param identity this replica's name in the Lease
 * @param podNamespace the operator's namespace; empty means the client's default namespace
 * @param managementPort port of /healthz, /readyz and /metrics
 * @param monitoringNamespace namespace whose pods may scrape the guards' admin port; empty for none
 */
public record OperatorSettings(
    Set<String> watchNamespaces,
    String guardImage,
    GuardResources guardResources,
    Optional<Long> guardRunAsUser,
    boolean leaderElection,
    Optional<String> leaseNamespace,
    String leaseName,
    String identity,
    Optional<String> podNamespace,
    int managementPort,
    String monitoringNamespace) {

  public static final String DEFAULT_GUARD_IMAGE =
      "ghcr.io/sessionguard/session-guard-sidecar:0.1.0";

  /** Requests and limits of the injected guard container, as Kubernetes quantities. */
  public record GuardResources(
      String cpuRequest, String memoryRequest, String cpuLimit, String memoryLimit) {
    public static final GuardResources DEFAULTS =
        new GuardResources("50m", "96Mi", "500m", "256Mi");
  }

  /** Settings from {@code env}; an unparseable value fails at start, naming the variable. */
  public static OperatorSettings fromEnvironment(Map<String, String> env) {
    var podNamespace = value(env, "POD_NAMESPACE");
    return new OperatorSettings(
        Arrays.stream(env.getOrDefault("WATCH_NAMESPACES", "").split(","))
            .map(String::trim)
            .filter(s -> !s.isEmpty())
            .collect(Collectors.toUnmodifiableSet()),
        value(env, "GUARD_IMAGE").orElse(DEFAULT_GUARD_IMAGE),
        new GuardResources(
            quantity(env, "GUARD_CPU_REQUEST", GuardResources.DEFAULTS.cpuRequest()),
            quantity(env, "GUARD_MEMORY_REQUEST", GuardResources.DEFAULTS.memoryRequest()),
            quantity(env, "GUARD_CPU_LIMIT", GuardResources.DEFAULTS.cpuLimit()),
            quantity(env, "GUARD_MEMORY_LIMIT", GuardResources.DEFAULTS.memoryLimit())),
        runAsUser(env),
        bool(env, "LEADER_ELECTION_ENABLED", false),
        value(env, "LEADER_ELECTION_NAMESPACE").or(() -> podNamespace),
        value(env, "LEADER_ELECTION_LEASE_NAME").orElse(SessionGuardOperator.LEASE_NAME),
        value(env, "POD_NAME").orElseGet(OperatorSettings::hostname),
        podNamespace,
        port(env, "MANAGEMENT_PORT", 8080),
        // set but empty (the chart's monitoringNamespace: ""): no monitoring namespace
        env.containsKey("MONITORING_NAMESPACE")
            ? env.get("MONITORING_NAMESPACE").trim()
            : "monitoring");
  }

  /** GUARD_RUN_AS_USER: unset, the image's user 65532; set but empty, none. */
  private static Optional<Long> runAsUser(Map<String, String> env) {
    if (!env.containsKey("GUARD_RUN_AS_USER")) {
      return Optional.of(GuardContainer.USER);
    }
    var text = env.get("GUARD_RUN_AS_USER").trim();
    if (text.isEmpty()) {
      return Optional.empty();
    }
    try {
      long user = Long.parseLong(text);
      if (user > 0) {
        return Optional.of(user);
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new IllegalArgumentException(
        "GUARD_RUN_AS_USER must be a user id above 0, or empty for none, got " + text);
  }

  private static Optional<String> value(Map<String, String> env, String name) {
    return Optional.ofNullable(env.get(name)).map(String::trim).filter(s -> !s.isEmpty());
  }

  private static String quantity(Map<String, String> env, String name, String fallback) {
    var text = value(env, name).orElse(fallback);
    try {
      Quantity.getAmountInBytes(new Quantity(text));
    } catch (IllegalArgumentException | ArithmeticException e) {
      throw new IllegalArgumentException(name + " '" + text + "' is not a quantity such as 50m");
    }
    return text;
  }

  private static boolean bool(Map<String, String> env, String name, boolean fallback) {
    var text = value(env, name).orElse(Boolean.toString(fallback));
    if (!text.equalsIgnoreCase("true") && !text.equalsIgnoreCase("false")) {
      throw new IllegalArgumentException(name + " '" + text + "' is not true or false");
    }
    return Boolean.parseBoolean(text);
  }

  private static int port(Map<String, String> env, String name, int fallback) {
    var text = value(env, name).orElse(Integer.toString(fallback));
    try {
      int port = Integer.parseInt(text);
      if (port >= 0 && port <= 65535) {
        return port;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(name + " '" + text + "' is not a port number");
  }

  private static String hostname() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      return "session-guard-operator";
    }
  }
}
