package dev.sessionguard.guard.config;

import dev.sessionguard.guard.admission.SessionCaps;
import dev.sessionguard.policy.ByteSizes;
import dev.sessionguard.policy.Cidr;
import dev.sessionguard.policy.Durations;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.SessionPolicySpec;
import dev.sessionguard.policy.SessionPolicySpec.Activity;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import dev.sessionguard.policy.SessionPolicySpec.Mode;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import java.net.URI;
import java.nio.file.Path;
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
    boolean showClientNames,
    Store store) {

  /**
   * Where the session registry lives; read once at start (a reload that changes it needs a
   * restart). {@code url}, {@code leaseTtl} and {@code failureMode} are null for Memory.
   */
  public record Store(
      StoreType type, String url, String username, Duration leaseTtl, FailureMode failureMode) {
    public static final Store MEMORY = new Store(StoreType.Memory, null, null, null, null);

    public boolean redis() {
      return type == StoreType.Redis;
    }

    static Store of(SessionPolicySpec.Store s) {
      if (s == null || s.type != StoreType.Redis || s.redis == null) {
        return MEMORY;
      }
      return new Store(
          StoreType.Redis,
          s.redis.url,
          s.redis.username,
          Durations.parse(s.redis.leaseTtl),
          s.redis.failureMode);
    }
  }

  /** What {@code /policy} and {@code sessionguard_policy_info} report. */
  public record Policy(
      String name,
      Long generation,
      String hash,
      Mode mode,
      Instant loadedAt,
      String startSettings) {}

  /** Where the guard listens; {@code 0} picks a free port. */
  public record Listen(String host, int port, int adminPort) {}

  /** In-flight caps on requests and per-request-era listen streams. */
  public record InFlight(int max, int perClient, int maxStreams, int perClientStreams) {}

  /** How clients are named; {@code jwt} is set only when the source is Jwt. */
  public record IdentityRules(
      IdentitySource source,
      String header,
      List<Cidr> trustedProxies,
      int ipv6PrefixLength,
      Anonymous anonymous,
      JwtRules jwt) {}

  /**
   * How bearer tokens are verified.
   *
   * @param jwksUri keys from this URL, or null
   * @param jwksFile keys from this file, or null
   * @param resourceMetadata the RFC 9728 metadata URL for 401 challenges, or null
   * @param refreshInterval the least time between two JWKS fetches (two are allowed per interval)
   */
  public record JwtRules(
      String issuer,
      List<String> audiences,
      URI jwksUri,
      Path jwksFile,
      List<String> algorithms,
      String claim,
      String resourceMetadata,
      Duration refreshInterval) {

    /** Fetching keys more often than this would let unknown-kid tokens hammer the issuer. */
    public static final Duration REFRESH_INTERVAL = Duration.ofSeconds(30);

    static JwtRules of(SessionPolicySpec.Jwt j) {
      return new JwtRules(
          j.issuer,
          List.copyOf(j.audiences),
          blank(j.jwksUri) ? null : URI.create(j.jwksUri),
          blank(j.jwksFile) ? null : Path.of(j.jwksFile),
          List.copyOf(j.algorithms),
          j.claim,
          blank(j.resourceMetadata) ? null : j.resourceMetadata,
          REFRESH_INTERVAL);
    }

    private static boolean blank(String s) {
      return s == null || s.isBlank();
    }
  }

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
    URI upstream = null;
    try {
      upstream = URI.create("http://" + hostForUri(s.upstream.host) + ":" + s.upstream.port);
    } catch (IllegalArgumentException e) { // (the validator refuses such a host)
      problems.add("upstream.host " + s.upstream.host + " is not a host name or IP address");
    }
    String path = s.upstream.path;
    if (overrides.upstream() != null) {
      URI u = overrides.upstream();
      if (!"http".equals(u.getScheme()) || u.getHost() == null) {
        problems.add("--upstream must be an http:// URL with a host, got " + u);
      } else {
        int port = u.getPort() == -1 ? 80 : u.getPort();
        upstream = URI.create("http://" + u.getHost() + ":" + port); // (an IPv6 host keeps [ ])
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
        new Policy(
            file.name(),
            file.generation(),
            file.effectiveHash(),
            s.mode,
            loadedAt,
            PolicyHash.ofStartSettings(s)),
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
            s.identity.ipv6PrefixLength == null ? 128 : s.identity.ipv6PrefixLength,
            s.identity.anonymous,
            s.identity.source == IdentitySource.Jwt ? JwtRules.of(s.identity.jwt) : null),
        Set.copyOf(s.origins.allowed),
        ByteSizes.parse(s.limits.maxBodyBytes),
        (int) Math.min(Integer.MAX_VALUE, ByteSizes.parse(s.limits.maxHeaderBytes)),
        Durations.parse(s.timeouts.connect),
        Durations.parse(s.timeouts.firstByte),
        Durations.parse(s.timeouts.drainDelay),
        Durations.parse(s.timeouts.drain),
        Durations.parse(s.retryAfter),
        Boolean.TRUE.equals(s.admin.showClientNames),
        Store.of(s.store));
  }

  private static String hostForUri(String host) {
    return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  /** The upstream URL of the MCP endpoint, for logs and the run script. */
  public URI mcpUrl() {
    return upstream.resolve(mcpPath);
  }
}
