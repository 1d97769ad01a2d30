package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.PolicyValidator.Mode;
import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class PolicyValidatorTest {

  private static List<String> standalone(Consumer<SessionPolicySpec> change) {
    SessionPolicySpec spec = new SessionPolicySpec();
    change.accept(spec);
    return PolicyValidator.validate(spec, Mode.STANDALONE);
  }

  /**
   * The problems of a standalone policy on a Redis store at {@code url}, set as {@code change}
   * says.
   */
  private static List<String> redis(String url, Consumer<SessionPolicySpec.Redis> change) {
    return standalone(
        s -> {
          s.store.type = StoreType.Redis;
          s.store.redis = new SessionPolicySpec.Redis();
          s.store.redis.url = url;
          change.accept(s.store.redis);
        });
  }

  private static List<String> cluster(Consumer<SessionPolicySpec> change) {
    SessionPolicySpec spec = new SessionPolicySpec();
    spec.targetRef = new SessionPolicySpec.TargetRef("apps/v1", "Deployment", "mcp");
    change.accept(spec);
    return PolicyValidator.validate(spec, Mode.CLUSTER);
  }

  @Test
  void accepts_defaults_standalone_and_with_a_target_in_cluster() {
    assertThat(standalone(s -> {})).isEmpty();
    assertThat(cluster(s -> {})).isEmpty();
  }

  @Test
  void requires_target_in_cluster_mode_only() {
    assertThat(cluster(s -> s.targetRef = null))
        .containsExactly(
            "targetRef is required: the Deployment, StatefulSet or VirtualMCPServer to guard");
    assertThat(standalone(s -> s.targetRef = null)).isEmpty();
  }

  @Test
  void refuses_unsupported_target_kind() {
    assertThat(cluster(s -> s.targetRef.kind = "DaemonSet"))
        .containsExactly(
            "targetRef apps/v1 DaemonSet is not supported: use apps/v1 Deployment or StatefulSet,"
                + " or toolhive.stacklok.dev/v1beta1 VirtualMCPServer");
    assertThat(
            cluster(
                s ->
                    s.targetRef =
                        new SessionPolicySpec.TargetRef(
                            "toolhive.stacklok.dev/v1alpha1", "VirtualMCPServer", "v")))
        .isEmpty();
  }

  @Test
  void refuses_caps_that_are_not_positive_or_too_large() {
    assertThat(standalone(s -> s.sessions.max = 0))
        .contains("sessions.max (0) must be between 1 and 1000000");
    assertThat(standalone(s -> s.requests.maxInFlight = 2_000_000))
        .containsExactly("requests.maxInFlight (2000000) must be between 1 and 1000000");
    assertThat(standalone(s -> s.sessions.perClient = null))
        .containsExactly("sessions.perClient is required");
  }

  @Test
  void refuses_per_client_sessions_above_max() {
    assertThat(
            standalone(
                s -> {
                  s.sessions.max = 5;
                  s.sessions.perClient = 6;
                }))
        .containsExactly("sessions.perClient (6) must not exceed sessions.max (5)");
  }

  @Test
  void refuses_per_client_in_flight_above_max() {
    assertThat(standalone(s -> s.requests.perClientInFlight = 1001))
        .containsExactly(
            "requests.perClientInFlight (1001) must not exceed requests.maxInFlight (1000)");
  }

  @Test
  void refuses_per_client_streams_above_max() {
    assertThat(
            standalone(
                s -> {
                  s.requests.maxStreams = 3;
                  s.requests.perClientStreams = 4;
                }))
        .containsExactly("requests.perClientStreams (4) must not exceed requests.maxStreams (3)");
  }

  @Test
  void refuses_idle_timeout_longer_than_lifetime() {
    assertThat(standalone(s -> s.sessions.idleTimeout = "25h"))
        .containsExactly("sessions.idleTimeout (25h) must not exceed sessions.maxLifetime (24h)");
  }

  @Test
  void refuses_durations_outside_the_api_server_syntax_or_zero() {
    assertThat(standalone(s -> s.sessions.idleTimeout = "5 minutes"))
        .containsExactly(
            "sessions.idleTimeout '5 minutes' is not a duration such as 300ms, 30s, 5m or 24h");
    assertThat(standalone(s -> s.timeouts.connect = "1d"))
        .containsExactly("timeouts.connect '1d' is not a duration such as 300ms, 30s, 5m or 24h");
    assertThat(standalone(s -> s.retryAfter = "0s"))
        .containsExactly("retryAfter must be greater than zero");
    // the schema's pattern lets these through: reported, not thrown
    assertThat(standalone(s -> s.timeouts.firstByte = "10000000h"))
        .containsExactly("timeouts.firstByte '10000000h' is longer than 2562047h47m16.854775807s");
    assertThat(standalone(s -> s.timeouts.drain = "0.5ns"))
        .containsExactly("timeouts.drain must be greater than zero");
  }

  @Test
  void the_upstream_path_is_a_url_path_as_sent() {
    for (String path : List.of("/mcp", "/a/b-c_d.e~f/%20x", "/mcp;v=1", "/tools:all@x", "/")) {
      assertThat(standalone(s -> s.upstream.path = path)).as(path).isEmpty();
    }
    for (String path : List.of("/mcp tools", "/mcp%", "/mcp%zz", "/{t}", "/mcp?x=1", "/é")) {
      assertThat(standalone(s -> s.upstream.path = path))
          .as(path)
          .containsExactly(
              "upstream.path "
                  + path
                  + " holds characters a URL path cannot: percent-encode them (a space is %20)");
    }
    assertThat(standalone(s -> s.upstream.path = "mcp"))
        .containsExactly("upstream.path must start with '/', for example /mcp");
  }

  @Test
  void an_ipv6_prefix_length_names_a_network_or_a_host() {
    assertThat(standalone(s -> s.identity.ipv6PrefixLength = 64)).isEmpty();
    assertThat(standalone(s -> s.identity.ipv6PrefixLength = 128)).isEmpty();
    assertThat(standalone(s -> s.identity.ipv6PrefixLength = 8))
        .containsExactly(
            "identity.ipv6PrefixLength must be between 32 and 128 (64 names a network), not 8");
  }

  @Test
  void refuses_guard_and_admin_on_one_port() {
    assertThat(standalone(s -> s.guard.adminPort = 4484))
        .containsExactly("guard.port and guard.adminPort must differ (both are 4484)");
  }

  @Test
  void refuses_guard_port_equal_to_a_loopback_upstream_port() {
    assertThat(standalone(s -> s.upstream.port = 4484))
        .containsExactly("upstream.port and guard.port must differ (both are 4484)");
    assertThat(standalone(s -> s.upstream.port = 9484))
        .containsExactly("upstream.port and guard.adminPort must differ (both are 9484)");
    assertThat(
            standalone(
                s -> {
                  s.upstream.host = "mcp.internal";
                  s.upstream.port = 4484;
                }))
        .isEmpty();
    // this machine in any spelling: the guard would proxy to itself
    for (String self : new String[] {"LOCALHOST", "0.0.0.0", "[::ffff:127.0.0.1]", "::"}) {
      assertThat(
              standalone(
                  s -> {
                    s.upstream.host = self;
                    s.upstream.port = 4484;
                  }))
          .as(self)
          .containsExactly("upstream.port and guard.port must differ (both are 4484)");
    }
  }

  @Test
  void upstream_host_is_a_name_or_an_address_and_nothing_more() {
    for (String good :
        List.of(
            "vmcp",
            "mcp.tools.svc.cluster.local",
            "mcp.example.",
            "MCP.Example",
            "10.0.0.7",
            "::1",
            "[::1]",
            "fe80::1%eth0")) {
      assertThat(standalone(s -> s.upstream.host = good)).as(good).isEmpty();
    }
    // a URL typed into the field, a port, a space, an underscore (no host to a URI)
    for (String bad :
        List.of(
            "http://127.0.0.1", "localhost:4483", "vmcp server", "mcp_server", "-mcp", "[::1")) {
      assertThat(standalone(s -> s.upstream.host = bad))
          .as(bad)
          .singleElement()
          .asString()
          .startsWith("upstream.host " + bad + " is not a host name or IP address");
    }
  }

  @Test
  void refuses_ports_out_of_range() {
    assertThat(standalone(s -> s.guard.port = 70000))
        .containsExactly("guard.port (70000) must be between 1 and 65535");
  }

  @Test
  void jwt_identity_requires_issuer_and_exactly_one_key_source() {
    assertThat(standalone(s -> s.identity.source = IdentitySource.Jwt))
        .containsExactly("identity.jwt is required when identity.source is Jwt");
    assertThat(
            standalone(
                s -> {
                  s.identity.source = IdentitySource.Jwt;
                  s.identity.jwt = new SessionPolicySpec.Jwt();
                }))
        .containsExactly(
            "identity.jwt.issuer is required when identity.source is Jwt",
            "identity.jwt needs exactly one key source: jwksUri or jwksFile");
    assertThat(
            standalone(
                s -> {
                  s.identity.source = IdentitySource.Jwt;
                  s.identity.jwt = new SessionPolicySpec.Jwt();
                  s.identity.jwt.issuer = "https://issuer";
                  s.identity.jwt.jwksUri = "https://issuer/jwks";
                  s.identity.jwt.jwksFile = "/etc/jwks.json";
                }))
        .containsExactly("identity.jwt needs exactly one key source: jwksUri or jwksFile");
  }

  @Test
  void jwt_refuses_symmetric_and_none_algorithms() {
    assertThat(
            standalone(
                s -> {
                  s.identity.source = IdentitySource.Jwt;
                  s.identity.jwt = new SessionPolicySpec.Jwt();
                  s.identity.jwt.issuer = "https://issuer";
                  s.identity.jwt.jwksFile = "/etc/jwks.json";
                  // EdDSA too: the guard could not verify it (no Tink)
                  s.identity.jwt.algorithms = List.of("HS256", "none", "EdDSA");
                }))
        .hasSize(3)
        .allSatisfy(p -> assertThat(p).contains("is not allowed; use asymmetric algorithms"));
  }

  @Test
  void header_identity_requires_a_header_name() {
    assertThat(standalone(s -> s.identity.source = IdentitySource.Header))
        .containsExactly("identity.header.name is required when identity.source is Header");
  }

  @Test
  void trusted_proxies_must_be_cidrs() {
    assertThat(
            standalone(
                s -> s.identity.trustedProxies = List.of("10.0.0.0/8", "10.0.0.0/33", "proxy")))
        .containsExactly(
            "identity.trustedProxies[1] '10.0.0.0/33' is not a CIDR such as 10.0.0.0/8 or fd00::/8",
            "identity.trustedProxies[2] 'proxy' is not a CIDR such as 10.0.0.0/8 or fd00::/8");
  }

  @Test
  void unknown_enum_values_are_reported_as_missing_choices() {
    assertThat(standalone(s -> s.mode = null))
        .containsExactly("mode is required: one of [Enforce, DryRun]");
  }

  @Test
  void origins_must_be_scheme_host_and_port_only() {
    assertThat(
            standalone(s -> s.origins.allowed = List.of("https://app.example.com", "https://x/y")))
        .containsExactly(
            "origins.allowed[1] 'https://x/y' is not an origin such as https://app.example.com");
  }

  @Test
  void sizes_must_parse_and_be_in_range() {
    assertThat(standalone(s -> s.limits.maxBodyBytes = "4MB"))
        .containsExactly("limits.maxBodyBytes '4MB' is not a size such as 4Mi, 16Ki or 65536");
    assertThat(standalone(s -> s.limits.maxHeaderBytes = "100"))
        .containsExactly("limits.maxHeaderBytes (100) must be between 1024 and 1048576 bytes");
  }

  @Test
  void redis_store_requires_a_redis_url() {
    assertThat(standalone(s -> s.store.type = StoreType.Redis))
        .containsExactly("store.redis.url is required when store.type is Redis");
    assertThat(redis("http://redis:6379", r -> {}))
        .containsExactly("store.redis.url must start with redis:// or rediss://");
  }

  @Test
  void a_redis_url_holding_credentials_is_refused_without_repeating_them() {
    for (String url :
        List.of("redis://:s3cret@redis:6379", "rediss://s3cret@redis:6380/0", "redis://u:p@r")) {
      assertThat(redis(url, r -> {}))
          .singleElement()
          .asString()
          .startsWith("store.redis.url must not hold credentials")
          .doesNotContain("s3cret", url);
    }
    assertThat(redis("rediss://redis.tools.svc:6380/2?timeout=1s", r -> {})).isEmpty();
    for (String hostless : List.of("redis://redis server:6379", "redis://", "redis://r_1:6379")) {
      assertThat(redis(hostless, r -> {}))
          .as(hostless)
          .containsExactly("store.redis.url is not a URL with a host (redis://host:6379)");
    }
  }

  @Test
  void a_redis_username_is_visible_ascii_without_spaces() {
    for (String bad : List.of("", "session guard", "x".repeat(257))) {
      assertThat(redis("redis://redis:6379", r -> r.username = bad))
          .singleElement()
          .asString()
          .startsWith("store.redis.username must be");
    }
    assertThat(redis("redis://redis:6379", r -> r.username = "session-guard")).isEmpty();
  }

  @Test
  void a_redis_lease_is_at_least_one_second() {
    assertThat(redis("redis://redis:6379", r -> r.leaseTtl = "1s")).isEmpty();
    assertThat(redis("redis://redis:6379", r -> r.leaseTtl = "500ms"))
        .containsExactly("store.redis.leaseTtl (500ms) must be at least 1s");
  }

  @Test
  void reports_every_problem_at_once() {
    assertThat(
            cluster(
                s -> {
                  s.targetRef = null;
                  s.sessions.max = 0;
                  s.guard.adminPort = 4484;
                  s.timeouts.drain = "forever";
                }))
        .hasSize(4);
  }
}
