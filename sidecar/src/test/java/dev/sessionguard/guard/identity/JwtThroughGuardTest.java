package dev.sessionguard.guard.identity;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpServer;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bearer tokens through a real guard: keys from a JWKS the test serves over HTTP, an upstream that
 * records what reaches it.
 */
class JwtThroughGuardTest {
  static final String ISSUER = "https://issuer.example";
  static final String METADATA = "https://guard.example/.well-known/oauth-protected-resource";
  static final String UPSTREAM_METADATA =
      "https://vmcp.example/.well-known/oauth-protected-resource";

  final List<JWK> published = new CopyOnWriteArrayList<>();
  final java.util.concurrent.CountDownLatch jwksHeld = new java.util.concurrent.CountDownLatch(1);
  volatile boolean holdJwks;
  final List<Guard> guards = new ArrayList<>();
  RSAKey rsa;
  HttpServer jwks;
  ScriptedUpstream upstream;

  @BeforeEach
  void start() throws Exception {
    rsa = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    published.add(rsa.toPublicJWK());
    jwks = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    jwks.createContext(
        "/jwks",
        exchange -> {
          if (holdJwks) {
            try {
              jwksHeld.await(); // a JWKS that does not answer
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          byte[] body =
              new JWKSet(new ArrayList<>(published)).toString().getBytes(StandardCharsets.UTF_8);
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          exchange.sendResponseHeaders(200, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
    jwks.start();
    upstream = new ScriptedUpstream();
    // A vMCP that authenticates too: no token gets its own 401 challenge.
    upstream.script(
        (r, s) -> {
          if (!r.headers().containsKey("authorization")) {
            ScriptedUpstream.json(
                s,
                401,
                Map.of(
                    "WWW-Authenticate", "Bearer resource_metadata=\"" + UPSTREAM_METADATA + "\""),
                "{}");
          } else if (r.isInitialize()) {
            ScriptedUpstream.json(
                s,
                200,
                Map.of("Mcp-Session-Id", UUID.randomUUID().toString()),
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
          } else {
            ScriptedUpstream.json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
          }
        });
  }

  @AfterEach
  void stop() throws Exception {
    jwksHeld.countDown();
    guards.forEach(Guard::close);
    upstream.close();
    jwks.stop(0);
  }

  URI jwksUri() {
    return URI.create("http://127.0.0.1:" + jwks.getAddress().getPort() + "/jwks");
  }

  Guard guard(String resourceMetadata, String anonymous) {
    Guard g =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity:\n"
                + "  source: Jwt\n"
                + "  anonymous: "
                + anonymous
                + "\n"
                + "  jwt: {issuer: \""
                + ISSUER
                + "\", audiences: [vmcp], jwksUri: \""
                + jwksUri()
                + "\", algorithms: [RS256, ES256]"
                + (resourceMetadata == null
                    ? ""
                    : ", resourceMetadata: \"" + resourceMetadata + "\"")
                + "}\n");
    guards.add(g);
    return g;
  }

  static JWTClaimsSet.Builder claims(String subject) {
    Instant now = Instant.now();
    return new JWTClaimsSet.Builder()
        .issuer(ISSUER)
        .audience("vmcp")
        .subject(subject)
        .issueTime(Date.from(now))
        .expirationTime(Date.from(now.plusSeconds(300)));
  }

  static String rs256(RSAKey key, JWTClaimsSet claims) throws Exception {
    var jwt =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).build(), claims);
    jwt.sign(new RSASSASigner(key));
    return jwt.serialize();
  }

  static String bearer(String token) {
    return "Bearer " + token;
  }

  static HttpRequest post(Guard g, String sessionId, String token) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(g))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", sessionId)
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}"));
    if (token != null) {
      b.header("Authorization", bearer(token));
    }
    return b.build();
  }

  @Test
  void a_reload_of_the_identity_rules_while_the_jwks_hangs_holds_up_no_other_request()
      throws Exception {
    Guard g = guard(null, "PerAddress");
    holdJwks = true;
    String rules =
        "identity:\n  source: Jwt\n  anonymous: PerAddress\n  jwt: {issuer: \""
            + ISSUER
            + "\", audiences: [vmcp, another], jwksUri: \""
            + jwksUri()
            + "\", algorithms: [RS256]}\n";
    assertThat(g.reload(TestGuards.policy(rules), TestGuards.overrides(upstream.mcpUrl())))
        .isTrue();

    // an anonymous request needs no keys: it is answered (here by the upstream's 401) while the
    // new rules' keys are still being fetched, well before the JWKS read times out (5 s)
    var anonymous =
        TestGuards.HTTP.sendAsync(initialize(g, 1), HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(4)).until(anonymous::isDone);
    assertThat(anonymous.get().statusCode()).isEqualTo(401);
    assertThat(anonymous.get().headers().firstValue("WWW-Authenticate")).isPresent();
    assertThat(jwksHeld.getCount()).isEqualTo(1); // the JWKS never answered meanwhile
  }

  @Test
  void a_token_signed_by_a_published_key_names_the_client_and_is_forwarded() throws Exception {
    Guard g = guard(METADATA, "Reject");
    String token = rs256(rsa, claims("alice").build());

    HttpResponse<String> r = send(initialize(g, 1, "Authorization", bearer(token)));

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(g.sessions().topHolders(10))
        .extracting(h -> h.client())
        .containsExactly("jwt:alice");
    assertThat(upstream.seen).hasSize(1);
    assertThat(upstream.seen.get(0).headers().get("authorization")).isEqualTo(bearer(token));
  }

  @Test
  void forged_or_misaddressed_tokens_get_401_with_a_challenge_and_reach_nothing() throws Exception {
    Guard g = guard(METADATA, "PerAddress");
    RSAKey stranger = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    var hmacWithPublicKey =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.HS256).keyID("rsa-1").build(),
            claims("alice").build());
    hmacWithPublicKey.sign(new MACSigner(rsa.toRSAPublicKey().getEncoded()));
    Instant now = Instant.now();
    Map<String, String> forged = new LinkedHashMap<>();
    forged.put("alg none", new PlainJWT(claims("alice").build()).serialize());
    forged.put("wrong key", rs256(stranger, claims("alice").build()));
    forged.put("HS256 keyed with the public key", hmacWithPublicKey.serialize());
    forged.put(
        "expired",
        rs256(rsa, claims("alice").expirationTime(Date.from(now.minusSeconds(120))).build()));
    forged.put(
        "not yet valid",
        rs256(rsa, claims("alice").notBeforeTime(Date.from(now.plusSeconds(120))).build()));
    forged.put("wrong audience", rs256(rsa, claims("alice").audience("someone-else").build()));
    forged.put("wrong issuer", rs256(rsa, claims("alice").issuer("https://evil.example").build()));
    forged.put(
        "unknown kid",
        rs256(new RSAKeyGenerator(2048).keyID("unknown").generate(), claims("alice").build()));

    for (Map.Entry<String, String> f : forged.entrySet()) {
      HttpResponse<String> r = send(initialize(g, 3, "Authorization", bearer(f.getValue())));
      assertThat(r.statusCode()).as(f.getKey()).isEqualTo(401);
      assertThat(r.headers().firstValue("WWW-Authenticate"))
          .as(f.getKey())
          .hasValue("Bearer error=\"invalid_token\", resource_metadata=\"" + METADATA + "\"");
      var error = PolicyJson.json().readTree(r.body()).get("error");
      assertThat(error.get("code").asInt()).isEqualTo(-31012);
      assertThat(error.at("/data/reason").asText()).isEqualTo("invalid_token");
      assertThat(r.body()).doesNotContain(f.getValue());
    }

    assertThat(upstream.seen).isEmpty();
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"invalid_token\"}"))
        .isEqualTo(forged.size());
    assertThat(metric(g, "sessionguard_admissions_total{kind=\"new\"}")).isZero();
    assertThat(g.sessions().active()).isZero();
    assertThat(g.sessions().pending()).isZero();
    assertThat(g.requests().total()).isZero();
  }

  @Test
  void without_a_policy_url_the_challenge_points_where_the_upstream_does() throws Exception {
    Guard g = guard(null, "PerAddress");
    // No token: anonymous, forwarded; the upstream answers with its own challenge.
    HttpResponse<String> anonymous = send(initialize(g, 1));
    assertThat(anonymous.statusCode()).isEqualTo(401);
    assertThat(anonymous.headers().firstValue("WWW-Authenticate"))
        .hasValue("Bearer resource_metadata=\"" + UPSTREAM_METADATA + "\"");

    String stranger =
        rs256(new RSAKeyGenerator(2048).keyID("rsa-1").generate(), claims("x").build());
    HttpResponse<String> r = send(initialize(g, 2, "Authorization", bearer(stranger)));

    assertThat(r.statusCode()).isEqualTo(401);
    assertThat(r.headers().firstValue("WWW-Authenticate"))
        .hasValue(
            "Bearer error=\"invalid_token\", resource_metadata=\"" + UPSTREAM_METADATA + "\"");
    assertThat(upstream.seen).hasSize(1); // only the anonymous request
  }

  @Test
  void anonymous_requests_under_reject_are_challenged_without_an_error() throws Exception {
    Guard g = guard(METADATA, "Reject");
    HttpResponse<String> r = send(initialize(g, 1));
    assertThat(r.statusCode()).isEqualTo(401);
    assertThat(r.headers().firstValue("WWW-Authenticate"))
        .hasValue("Bearer resource_metadata=\"" + METADATA + "\"");
    assertThat(PolicyJson.json().readTree(r.body()).at("/error/code").asInt()).isEqualTo(-31008);
    assertThat(upstream.seen).isEmpty();
  }

  @Test
  void with_nothing_else_to_say_the_challenge_names_a_realm() throws Exception {
    Guard g = guard(null, "Reject"); // no metadata in the policy, no upstream challenge seen
    HttpResponse<String> r = send(initialize(g, 1));
    assertThat(r.statusCode()).isEqualTo(401);
    assertThat(r.headers().firstValue("WWW-Authenticate")).hasValue("Bearer realm=\"mcp\"");
  }

  @Test
  void a_rotated_key_is_picked_up_without_restart() throws Exception {
    Guard g = guard(METADATA, "Reject");
    assertThat(
            send(initialize(g, 1, "Authorization", bearer(rs256(rsa, claims("alice").build()))))
                .statusCode())
        .isEqualTo(200);

    RSAKey next = new RSAKeyGenerator(2048).keyID("rsa-2").generate();
    published.add(next.toPublicJWK());
    String carol = rs256(next, claims("carol").build());

    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(send(initialize(g, 2, "Authorization", bearer(carol))).statusCode())
                    .isEqualTo(200));
    assertThat(g.sessions().topHolders(10))
        .extracting(h -> h.client())
        .containsExactlyInAnyOrder("jwt:alice", "jwt:carol");
  }

  @Test
  void a_jwks_endpoint_that_is_down_makes_the_guard_unready() throws Exception {
    jwks.stop(0);
    Guard g = guard(METADATA, "Reject");

    HttpResponse<String> ready =
        send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.adminPort() + "/readyz"))
                .build());

    assertThat(ready.statusCode()).isEqualTo(503);
    assertThat(ready.body()).contains("JWKS " + jwksUri()).contains("unavailable");
    assertThat(metric(g, "sessionguard_jwks_available")).isZero();
    // a token that cannot be checked now is not called invalid: the client keeps it, retries
    HttpResponse<String> r =
        send(initialize(g, 1, "Authorization", bearer(rs256(rsa, claims("a").build()))));
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.headers().firstValue("Retry-After")).isPresent();
    assertThat(r.headers().firstValue("WWW-Authenticate")).isEmpty();
    assertThat(PolicyJson.json().readTree(r.body()).at("/error/code").asInt()).isEqualTo(-31015);
    // and so is every later one while the keys cannot be had (fetches are rate-limited)
    HttpResponse<String> again =
        send(initialize(g, 2, "Authorization", bearer(rs256(rsa, claims("b").build()))));
    assertThat(again.statusCode()).isEqualTo(503);
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"keys_unavailable\"}")).isEqualTo(2);
  }

  @Test
  void readiness_right_after_a_reload_of_the_identity_rules_knows_the_new_keys() throws Exception {
    Guard g = guard(METADATA, "Reject");
    URI readyz = URI.create("http://127.0.0.1:" + g.adminPort() + "/readyz");
    assertThat(send(HttpRequest.newBuilder(readyz).build()).statusCode()).isEqualTo(200);
    jwks.stop(0);
    String rules =
        "identity:\n  source: Jwt\n  anonymous: Reject\n  jwt: {issuer: \""
            + ISSUER
            + "\", audiences: [vmcp, another], jwksUri: \""
            + jwksUri()
            + "\", algorithms: [RS256]}\n";
    assertThat(g.reload(TestGuards.policy(rules), TestGuards.overrides(upstream.mcpUrl())))
        .isTrue();

    // at once: not ready for keys not fetched yet; then the fetch's outcome
    assertThat(send(HttpRequest.newBuilder(readyz).build()).statusCode()).isEqualTo(503);
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () -> {
              HttpResponse<String> ready = send(HttpRequest.newBuilder(readyz).build());
              assertThat(ready.statusCode()).isEqualTo(503);
              assertThat(ready.body()).contains("unavailable");
            });
  }

  @Test
  void a_session_belongs_to_the_client_that_opened_it() throws Exception {
    Guard g = guard(METADATA, "Reject");
    String alice = rs256(rsa, claims("alice").build());
    String bob = rs256(rsa, claims("bob").build());
    String session =
        send(initialize(g, 1, "Authorization", bearer(alice)))
            .headers()
            .firstValue("Mcp-Session-Id")
            .orElseThrow();
    int seen = upstream.seen.size();

    HttpResponse<String> stolen = send(post(g, session, bob));

    assertThat(stolen.statusCode()).isEqualTo(404);
    assertThat(upstream.seen).hasSize(seen); // not forwarded
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"not_owner\"}")).isEqualTo(1);
    // Its existence is not revealed: the answer is the one an ended session gets.
    assertThat(PolicyJson.json().readTree(stolen.body()).get("error").get("code").asInt())
        .isEqualTo(-31005);

    HttpResponse<String> own = send(post(g, session, alice));
    assertThat(own.statusCode()).isEqualTo(200);
    assertThat(upstream.seen.get(upstream.seen.size() - 1).headers().get("mcp-session-id"))
        .isEqualTo(session);
  }
}
