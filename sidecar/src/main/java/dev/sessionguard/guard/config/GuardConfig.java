package dev.sessionguard.guard.config;

import dev.sessionguard.guard.admission.SessionCaps;
import dev.sessionguard.policy.ByteSizes;
import dev.sessionguard.policy.Cidr;
import dev.sessionguard.policy.Durations;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.SessionPolicySpec;
import dev.sessionguard.policy.SessionPolicySpec.Activity;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;
import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import dev.sessionguard.policy.SessionPolicySpec.Mode;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Everything the guard decides with, parsed once from a policy file (plus command-line overrides).
 * Immutable: a new policy is a new object swapped into {@link ActivePolicy}.
 */
public record GuardConfig(
    Policy policy,
    Listen listen,
    URI upstream,
    String mcpPath,
    SessionCaps sessionCaps,
    Activity activity,
    Duration idleTimeout,
    Duration maxLifetime,
    InFlight inFlight,
    IdentityRules identity,
    Set<String> allowedOrigins,
    long maxBodyBytes,
    int maxHeaderBytes,
    Duration connectTimeout,
    Duration firstByteTimeout,
    Duration drainDelay,
    Duration drain,
    Duration retryAfter,
    boolean showClientNames) {

  /** What {@code /policy} and {@code sessionguard_policy_info} report. */
  public record Policy(String name, Long generation, String hash, Mode mode, Instant loadedAt) {}

  /** Where the guard listens; {@code 0} picks a free port. */
  public record Listen(String host, int port, int adminPort) {}

  /** In-flight caps on requests and per-request-era listen streams. */
  public record InFlight(int max, int perClient, int maxStreams, int perClientStreams) {}

  /** How clients are named. */
  public record IdentityRules(
      IdentitySource source, String header, List<Cidr> trustedProxies, Anonymous anonymous) {}

  /** Command-line values that win over the file; null means "as the file says". */
  public record Overrides(URI upstream, Integer port, Integer adminPort, String host) {
    public static Overrides none() {
      return new Overrides(null, null, null, null);
    }
  }

  /**
   * Builds the runtime configuration of a loaded policy file.
   *
   * @throws InvalidPolicyException when the file asks for something this guard cannot do yet
   */
  public static GuardConfig of(PolicyFile file, Overrides overrides, Instant loadedAt)
      throws InvalidPolicyException {
    SessionPolicySpec s = file.spec();
    List<String> problems = new ArrayList<>();
    if (s.identity.source == IdentitySource.Jwt) {
      problems.add("identity.source Jwt is not supported by this guard yet: use Header or Address");
    }
    if (s.store.type == SessionPolicySpec.StoreType.Redis) {
      problems.add("store.type Redis is not supported by this guard yet: use Memory");
    }
    URI upstream = URI.create("http://" + hostForUri(s.upstream.host) + ":" + s.upstream.port);
    String path = s.upstream.path;
    if (overrides.upstream() != null) {
      URI u = overrides.upstream();
      if (!"http".equals(u.getScheme()) || u.getHost() == null) {
        problems.add("--upstream must be an http:// URL with a host, got " + u);
      } else {
        int port = u.getPort() == -1 ? 80 : u.getPort();
        upstream =
            URI.create("http://" + u.getRawAuthority().replaceAll(":\\d+$", "") + ":" + port);
        if (u.getRawPath() != null && !u.getRawPath().isEmpty() && !u.getRawPath().equals("/")) {
          path = u.getRawPath();
        }
      }
    }
    int port = overrides.port() != null ? overrides.port() : s.guard.port;
    int adminPort = overrides.adminPort() != null ? overrides.adminPort() : s.guard.adminPort;
    if (port != 0 && port == adminPort) {
      problems.add("the guard port and the admin port must differ (both " + port + ")");
    }
    if (!problems.isEmpty()) {
      throw new InvalidPolicyException(problems);
    }
    String header = s.identity.header != null ? s.identity.header.name : "X-Forwarded-User";
    return new GuardConfig(
        new Policy(file.name(), file.generation(), file.effectiveHash(), s.mode, loadedAt),
        new Listen(overrides.host() != null ? overrides.host() : "0.0.0.0", port, adminPort),
        upstream,
        path,
        new SessionCaps(
            s.sessions.max,
            s.sessions.perClient,
            s.sessions.onClientCap == SessionPolicySpec.OnClientCap.EvictIdlest),
        s.sessions.activity,
        Durations.parse(s.sessions.idleTimeout),
        Durations.parse(s.sessions.maxLifetime),
        new InFlight(
            s.requests.maxInFlight,
            s.requests.perClientInFlight,
            s.requests.maxStreams,
            s.requests.perClientStreams),
        new IdentityRules(
            s.identity.source,
            header,
            s.identity.trustedProxies.stream().map(Cidr::parse).toList(),
            s.identity.anonymous),
        Set.copyOf(s.origins.allowed),
        ByteSizes.parse(s.limits.maxBodyBytes),
        (int) Math.min(Integer.MAX_VALUE, ByteSizes.parse(s.limits.maxHeaderBytes)),
        Durations.parse(s.timeouts.connect),
        Durations.parse(s.timeouts.firstByte),
        Durations.parse(s.timeouts.drainDelay),
        Durations.parse(s.timeouts.drain),
        Durations.parse(s.retryAfter),
        Boolean.TRUE.equals(s.admin.showClientNames));
  }

  private static String hostForUri(String host) {
    return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  /** The upstream URL of the MCP endpoint, for logs and the run script. */
  public URI mcpUrl() {
    return upstream.resolve(mcpPath);
  }
}
