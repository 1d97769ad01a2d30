package dev.sessionguard.policy;

import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The one validator of a policy. Returns every problem, each naming its field and written for the
 * person who must fix it; an empty list means the policy is valid.
 */
public final class PolicyValidator {
  /** Where a policy is used. */
  public enum Mode {
    /** A SessionPolicy resource: the target workload is required. */
    CLUSTER,
    /** A guard's own policy file: there is no target workload. */
    STANDALONE
  }

  static final int MAX_CAP = 1_000_000;

  /** The shortest Redis lease: the guard waits up to a second for a Redis reply. */
  public static final Duration MIN_LEASE_TTL = Duration.ofSeconds(1);

  // EdDSA is not among them: the JWT library verifies it only with Google Tink, not shipped here.
  static final Set<String> ALGORITHMS =
      Set.of("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512");

  private static final Pattern UPSTREAM_PATH = Pattern.compile(SessionPolicySpec.Upstream.PATH);

  private PolicyValidator() {}

  /** Every problem with {@code spec}; empty when valid. */
  public static List<String> validate(SessionPolicySpec spec, Mode mode) {
    List<String> problems = new ArrayList<>();
    if (spec == null) {
      problems.add("spec is required");
      return problems;
    }
    new Checks(problems).spec(spec, mode);
    return problems;
  }

  private record Checks(List<String> problems) {

    void spec(SessionPolicySpec s, Mode mode) {
      if (mode == Mode.CLUSTER) {
        target(s.targetRef);
      }
      required("mode", s.mode, SessionPolicySpec.Mode.values());
      upstreamAndPorts(s);
      identity(s.identity);
      sessions(s.sessions);
      requests(s.requests);
      origins(s.origins);
      limits(s.limits);
      timeouts(s.timeouts);
      duration("retryAfter", s.retryAfter);
      if (s.admin == null || s.admin.showClientNames == null) {
        problems.add("admin.showClientNames is required");
      }
      if (s.exposure == null || s.exposure.service == null || s.exposure.lockdown == null) {
        problems.add("exposure.service and exposure.lockdown are required");
      }
      store(s.store);
    }

    void target(SessionPolicySpec.TargetRef t) {
      if (t == null) {
        problems.add(
            "targetRef is required: the Deployment, StatefulSet or VirtualMCPServer to guard");
        return;
      }
      if (blank(t.name)) {
        problems.add("targetRef.name is required");
      }
      if (blank(t.apiVersion) || blank(t.kind)) {
        problems.add("targetRef.apiVersion and targetRef.kind are required");
        return;
      }
      boolean apps =
          t.apiVersion.equals("apps/v1")
              && (t.kind.equals("Deployment") || t.kind.equals("StatefulSet"));
      boolean toolhive =
          (t.apiVersion.equals("toolhive.stacklok.dev/v1beta1")
                  || t.apiVersion.equals("toolhive.stacklok.dev/v1alpha1"))
              && t.kind.equals("VirtualMCPServer");
      if (!apps && !toolhive) {
        problems.add(
            "targetRef "
                + t.apiVersion
                + " "
                + t.kind
                + " is not supported: use apps/v1 Deployment or StatefulSet, or"
                + " toolhive.stacklok.dev/v1beta1 VirtualMCPServer");
      }
    }

    void upstreamAndPorts(SessionPolicySpec s) {
      var u = s.upstream;
      var g = s.guard;
      if (u == null || g == null) {
        problems.add("upstream and guard are required");
        return;
      }
      if (blank(u.host)) {
        problems.add("upstream.host is required");
      } else if (!isHost(u.host)) {
        problems.add(
            "upstream.host "
                + u.host
                + " is not a host name or IP address: no scheme, port or path (those are"
                + " upstream.port and upstream.path); a name holds letters, digits, '-' and '.',"
                + " and its last label starts with a letter");
      }
      if (u.path == null || !u.path.startsWith("/")) {
        problems.add("upstream.path must start with '/', for example /mcp");
      } else if (!UPSTREAM_PATH.matcher(u.path).matches()) {
        problems.add(
            "upstream.path "
                + u.path
                + " holds characters a URL path cannot: percent-encode them (a space is %20)");
      }
      boolean ports = port("upstream.port", u.port) & port("guard.port", g.port);
      ports &= port("guard.adminPort", g.adminPort);
      if (!ports) {
        return;
      }
      if (g.port.equals(g.adminPort)) {
        problems.add("guard.port and guard.adminPort must differ (both are " + g.port + ")");
      }
      // A remote upstream may share a port number with the guard; one in the pod may not.
      if (isLoopback(u.host)) {
        if (u.port.equals(g.port)) {
          problems.add("upstream.port and guard.port must differ (both are " + u.port + ")");
        }
        if (u.port.equals(g.adminPort)) {
          problems.add("upstream.port and guard.adminPort must differ (both are " + u.port + ")");
        }
      }
    }

    void identity(SessionPolicySpec.Identity id) {
      if (id == null) {
        problems.add("identity is required");
        return;
      }
      required("identity.source", id.source, IdentitySource.values());
      required("identity.anonymous", id.anonymous, SessionPolicySpec.Anonymous.values());
      if (id.source == IdentitySource.Jwt) {
        jwt(id.jwt);
      }
      if (id.source == IdentitySource.Header) {
        if (id.header == null || blank(id.header.name)) {
          problems.add("identity.header.name is required when identity.source is Header");
        } else if (!id.header.name.matches("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")) {
          problems.add("identity.header.name '" + id.header.name + "' is not a header name");
        }
      }
      if (id.trustedProxies != null) {
        for (int i = 0; i < id.trustedProxies.size(); i++) {
          String cidr = id.trustedProxies.get(i);
          if (!Cidr.isValid(cidr)) {
            problems.add(
                "identity.trustedProxies["
                    + i
                    + "] '"
                    + cidr
                    + "' is not a CIDR such as 10.0.0.0/8 or fd00::/8");
          }
        }
      }
      if (id.ipv6PrefixLength != null && (id.ipv6PrefixLength < 32 || id.ipv6PrefixLength > 128)) {
        problems.add(
            "identity.ipv6PrefixLength must be between 32 and 128 (64 names a network), not "
                + id.ipv6PrefixLength);
      }
    }

    void jwt(SessionPolicySpec.Jwt jwt) {
      if (jwt == null) {
        problems.add("identity.jwt is required when identity.source is Jwt");
        return;
      }
      if (blank(jwt.issuer)) {
        problems.add("identity.jwt.issuer is required when identity.source is Jwt");
      }
      boolean uri = !blank(jwt.jwksUri);
      boolean file = !blank(jwt.jwksFile);
      if (uri == file) {
        problems.add("identity.jwt needs exactly one key source: jwksUri or jwksFile");
      }
      if (uri && !isHttpUrl(jwt.jwksUri)) {
        problems.add("identity.jwt.jwksUri '" + jwt.jwksUri + "' is not an http(s) URL");
      }
      if (!blank(jwt.resourceMetadata) && !isHttpUrl(jwt.resourceMetadata)) {
        problems.add(
            "identity.jwt.resourceMetadata '" + jwt.resourceMetadata + "' is not an http(s) URL");
      }
      if (jwt.algorithms == null || jwt.algorithms.isEmpty()) {
        problems.add("identity.jwt.algorithms must list at least one algorithm");
      } else {
        for (String alg : jwt.algorithms) {
          if (!ALGORITHMS.contains(alg)) {
            problems.add(
                "identity.jwt.algorithms: '"
                    + alg
                    + "' is not allowed; use asymmetric algorithms among "
                    + ALGORITHMS.stream().sorted().toList());
          }
        }
      }
      if (blank(jwt.claim)) {
        problems.add("identity.jwt.claim is required (sub names the subject)");
      }
    }

    void sessions(SessionPolicySpec.Sessions s) {
      if (s == null) {
        problems.add("sessions is required");
        return;
      }
      boolean caps = cap("sessions.max", s.max) & cap("sessions.perClient", s.perClient);
      if (caps && s.perClient > s.max) {
        problems.add(
            "sessions.perClient ("
                + s.perClient
                + ") must not exceed sessions.max ("
                + s.max
                + ")");
      }
      Duration idle = duration("sessions.idleTimeout", s.idleTimeout);
      Duration life = duration("sessions.maxLifetime", s.maxLifetime);
      if (idle != null && life != null && idle.compareTo(life) > 0) {
        problems.add(
            "sessions.idleTimeout ("
                + s.idleTimeout
                + ") must not exceed sessions.maxLifetime ("
                + s.maxLifetime
                + ")");
      }
      required("sessions.activity", s.activity, SessionPolicySpec.Activity.values());
      required("sessions.onClientCap", s.onClientCap, SessionPolicySpec.OnClientCap.values());
    }

    void requests(SessionPolicySpec.Requests r) {
      if (r == null) {
        problems.add("requests is required");
        return;
      }
      boolean inflight =
          cap("requests.maxInFlight", r.maxInFlight)
              & cap("requests.perClientInFlight", r.perClientInFlight);
      if (inflight && r.perClientInFlight > r.maxInFlight) {
        problems.add(
            "requests.perClientInFlight ("
                + r.perClientInFlight
                + ") must not exceed requests.maxInFlight ("
                + r.maxInFlight
                + ")");
      }
      boolean streams =
          cap("requests.maxStreams", r.maxStreams)
              & cap("requests.perClientStreams", r.perClientStreams);
      if (streams && r.perClientStreams > r.maxStreams) {
        problems.add(
            "requests.perClientStreams ("
                + r.perClientStreams
                + ") must not exceed requests.maxStreams ("
                + r.maxStreams
                + ")");
      }
    }

    void origins(SessionPolicySpec.Origins o) {
      if (o == null || o.allowed == null) {
        return;
      }
      for (int i = 0; i < o.allowed.size(); i++) {
        String origin = o.allowed.get(i);
        if (!isOrigin(origin)) {
          problems.add(
              "origins.allowed["
                  + i
                  + "] '"
                  + origin
                  + "' is not an origin such as https://app.example.com");
        }
      }
    }

    void limits(SessionPolicySpec.Limits l) {
      if (l == null) {
        problems.add("limits is required");
        return;
      }
      size("limits.maxBodyBytes", l.maxBodyBytes, 1, 1L << 30);
      size("limits.maxHeaderBytes", l.maxHeaderBytes, 1024, 1L << 20);
    }

    void timeouts(SessionPolicySpec.Timeouts t) {
      if (t == null) {
        problems.add("timeouts is required");
        return;
      }
      duration("timeouts.connect", t.connect);
      duration("timeouts.firstByte", t.firstByte);
      duration("timeouts.drainDelay", t.drainDelay);
      duration("timeouts.drain", t.drain);
    }

    void store(SessionPolicySpec.Store s) {
      if (s == null) {
        problems.add("store is required");
        return;
      }
      required("store.type", s.type, StoreType.values());
      if (s.type != StoreType.Redis) {
        return;
      }
      var r = s.redis;
      if (r == null || blank(r.url)) {
        problems.add("store.redis.url is required when store.type is Redis");
      } else if (!r.url.startsWith("redis://") && !r.url.startsWith("rediss://")) {
        // not quoted: a URL may carry a password, and this message reaches status and events
        problems.add("store.redis.url must start with redis:// or rediss://");
      } else if (!r.url.matches(SessionPolicySpec.REDIS_URL)) {
        problems.add(
            "store.redis.url must not hold credentials (user@ or :password@): they would be"
                + " written into the guard's ConfigMap; name a Secret in"
                + " store.redis.passwordSecretRef instead");
      } else if (!hasHost(r.url)) {
        problems.add("store.redis.url is not a URL with a host (redis://host:6379)");
      }
      if (r == null) {
        return;
      }
      if (r.username != null && (r.username.length() > 256 || !r.username.matches("[!-~]+"))) {
        problems.add(
            "store.redis.username must be 1 to 256 visible ASCII characters (no spaces), or unset"
                + " for the default user");
      }
      if (r.passwordSecretRef != null
          && (blank(r.passwordSecretRef.name) || blank(r.passwordSecretRef.key))) {
        problems.add("store.redis.passwordSecretRef needs both name and key");
      }
      Duration lease = duration("store.redis.leaseTtl", r.leaseTtl);
      if (lease != null && lease.compareTo(MIN_LEASE_TTL) < 0) {
        // Shorter than a Redis command may take, one slow reply would cost a live guard its lease.
        problems.add("store.redis.leaseTtl (" + r.leaseTtl + ") must be at least 1s");
      }
      required("store.redis.failureMode", r.failureMode, SessionPolicySpec.FailureMode.values());
    }

    boolean port(String field, Integer port) {
      if (port == null) {
        problems.add(field + " is required");
        return false;
      }
      if (port < 1 || port > 65535) {
        problems.add(field + " (" + port + ") must be between 1 and 65535");
        return false;
      }
      return true;
    }

    boolean cap(String field, Integer value) {
      if (value == null) {
        problems.add(field + " is required");
        return false;
      }
      if (value < 1 || value > MAX_CAP) {
        problems.add(field + " (" + value + ") must be between 1 and " + MAX_CAP);
        return false;
      }
      return true;
    }

    Duration duration(String field, String text) {
      if (text == null) {
        problems.add(field + " is required");
        return null;
      }
      if (!Durations.isValid(text)) {
        problems.add(field + " '" + text + "' is not a duration such as 300ms, 30s, 5m or 24h");
        return null;
      }
      Duration d;
      try {
        d = Durations.parse(text);
      } catch (IllegalArgumentException e) {
        problems.add(field + " " + e.getMessage());
        return null;
      }
      if (d.isZero()) {
        problems.add(field + " must be greater than zero");
        return null;
      }
      return d;
    }

    void size(String field, String text, long min, long max) {
      if (text == null) {
        problems.add(field + " is required");
      } else if (!ByteSizes.isValid(text)) {
        problems.add(field + " '" + text + "' is not a size such as 4Mi, 16Ki or 65536");
      } else {
        long bytes = ByteSizes.parse(text);
        if (bytes < min || bytes > max) {
          problems.add(field + " (" + text + ") must be between " + min + " and " + max + " bytes");
        }
      }
    }

    void required(String field, Object value, Object[] allowed) {
      if (value == null) {
        problems.add(field + " is required: one of " + Arrays.toString(allowed));
      }
    }
  }

  static boolean blank(String s) {
    return s == null || s.isBlank();
  }

  /**
   * Whether {@code host} names this machine: loopback in any spelling, or the unspecified address
   * (which connects to it).
   */
  static boolean isLoopback(String host) {
    if (host == null) {
      return false;
    }
    String h = host.toLowerCase(java.util.Locale.ROOT);
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    return h.equals("localhost")
        || h.equals("localhost.")
        || h.startsWith("127.")
        || h.equals("0.0.0.0")
        || h.equals("::1")
        || h.equals("0:0:0:0:0:0:0:1")
        || h.equals("::")
        || h.startsWith("::ffff:127.");
  }

  /** Whether {@code host} is a name or address the guard can build its upstream URL with. */
  static boolean isHost(String host) {
    if (!host.matches(SessionPolicySpec.Upstream.HOST)) {
      return false;
    }
    String literal = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
    return hasHost("http://" + literal + ":1/");
  }

  private static boolean hasHost(String url) {
    try {
      return new URI(url).getHost() != null;
    } catch (URISyntaxException e) {
      return false;
    }
  }

  static boolean isHttpUrl(String text) {
    try {
      URI uri = new URI(text);
      return ("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))
          && uri.getHost() != null;
    } catch (Exception e) {
      return false;
    }
  }

  static boolean isOrigin(String text) {
    if (text == null || !isHttpUrl(text)) {
      return false;
    }
    URI uri = URI.create(text);
    return (uri.getRawPath() == null || uri.getRawPath().isEmpty())
        && uri.getRawQuery() == null
        && uri.getRawFragment() == null
        && uri.getRawUserInfo() == null;
  }
}
