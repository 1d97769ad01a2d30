package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.delete;
import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SessionAdmissionTest {
  FastUpstream upstream;
  final List<Guard> guards = new ArrayList<>();

  @BeforeEach
  void upstream() throws Exception {
    upstream = new FastUpstream();
  }

  @AfterEach
  void stop() {
    guards.forEach(Guard::close);
    upstream.close();
  }

  Guard guard(String yaml) {
    Guard g = TestGuards.start(upstream.mcpUrl(), yaml);
    guards.add(g);
    return g;
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return PolicyJson.json().readTree(r.body());
  }

  static HttpRequest post(Guard g, String sessionId, String body, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(g))
            .header("Content-Type", "application/json")
            .header("Mcp-Session-Id", sessionId)
            .POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }

  @Test
  void rejects_initialize_with_503_when_global_cap_reached() throws Exception {
    Guard g = guard("sessions: {max: 3, perClient: 3}\nretryAfter: 7s\n");
    for (int i = 1; i <= 3; i++) {
      assertThat(send(initialize(g, i)).statusCode()).isEqualTo(200);
    }
    HttpResponse<String> fourth = send(initialize(g, "fourth"));

    assertThat(fourth.statusCode()).isEqualTo(503);
    assertThat(fourth.headers().firstValue("Retry-After")).hasValue("7");
    JsonNode body = json(fourth);
    assertThat(body.get("id").asText()).isEqualTo("fourth");
    assertThat(body.at("/error/code").asInt()).isEqualTo(-31001);
    assertThat(body.at("/error/data/reason").asText()).isEqualTo("global_sessions");
    assertThat(body.at("/error/data").size()).isEqualTo(1); // the reason, never counts
    assertThat(g.sessions().active()).isEqualTo(3);
    assertThat(upstream.initializes.get()).isEqualTo(3);
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"global_sessions\"}")).isEqualTo(1);
    assertThat(metric(g, "sessionguard_admissions_total{kind=\"new\"}")).isEqualTo(3);
  }

  @Test
  void rejects_a_clients_third_initialize_with_429_while_another_client_is_admitted()
      throws Exception {
    Guard g =
        guard("identity: {source: Header, header: {name: X-User}}\nsessions: {perClient: 2}\n");
    assertThat(send(initialize(g, 1, "X-User", "alice")).statusCode()).isEqualTo(200);
    assertThat(send(initialize(g, 2, "X-User", "alice")).statusCode()).isEqualTo(200);

    HttpResponse<String> third = send(initialize(g, 3, "X-User", "alice"));
    HttpResponse<String> bob = send(initialize(g, 4, "X-User", "bob"));

    assertThat(third.statusCode()).isEqualTo(429);
    assertThat(third.headers().firstValue("Retry-After")).isPresent();
    assertThat(json(third).get("id").asInt()).isEqualTo(3);
    assertThat(json(third).at("/error/code").asInt()).isEqualTo(-31002);
    assertThat(json(third).at("/error/data/reason").asText()).isEqualTo("client_sessions");
    assertThat(bob.statusCode()).isEqualTo(200);
    assertThat(g.sessions().active()).isEqualTo(3);
    assertThat(g.sessions().clients()).isEqualTo(2);
  }

  @Test
  void delete_and_upstream_404_end_sessions_and_ended_ids_get_404_without_forwarding()
      throws Exception {
    Guard g = guard("");
    String a = send(initialize(g, 1)).headers().firstValue("Mcp-Session-Id").orElseThrow();
    String b = send(initialize(g, 2)).headers().firstValue("Mcp-Session-Id").orElseThrow();

    assertThat(delete(g, a).statusCode()).isEqualTo(200);
    upstream.live.remove(b); // the upstream forgot b on its own
    assertThat(send(post(g, b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}")).statusCode())
        .isEqualTo(404);
    int seenBefore = upstream.seen.size();
    HttpResponse<String> again =
        send(post(g, a, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}"));

    assertThat(again.statusCode()).isEqualTo(404);
    assertThat(json(again).get("id").asInt()).isEqualTo(6);
    assertThat(upstream.seen).hasSize(seenBefore);
    assertThat(g.sessions().active()).isZero();
    assertThat(g.sessions().clients()).isZero();
    assertThat(metric(g, "sessionguard_sessions_ended_total{reason=\"client\"}")).isEqualTo(1);
    assertThat(metric(g, "sessionguard_sessions_ended_total{reason=\"upstream\"}")).isEqualTo(1);
  }

  @Test
  void adopts_unknown_sessions_after_a_restart_within_the_caps_and_answers_404_beyond() {
    Guard first = guard("sessions: {max: 2, perClient: 2}\n");
    String a = send(initialize(first, 1)).headers().firstValue("Mcp-Session-Id").orElseThrow();
    String b = send(initialize(first, 2)).headers().firstValue("Mcp-Session-Id").orElseThrow();
    String c = upstream.preexisting(); // held by a guard that is gone
    first.close();
    guards.remove(first);

    Guard restarted = guard("sessions: {max: 2, perClient: 2}\n");
    String ping = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}";
    assertThat(send(post(restarted, a, ping)).statusCode()).isEqualTo(200);
    assertThat(send(post(restarted, b, ping)).statusCode()).isEqualTo(200);
    int seenBefore = upstream.seen.size();
    HttpResponse<String> beyond = send(post(restarted, c, ping));

    assertThat(beyond.statusCode()).isEqualTo(404);
    assertThat(upstream.seen).hasSize(seenBefore);
    assertThat(restarted.sessions().active()).isEqualTo(2);
    assertThat(metric(restarted, "sessionguard_admissions_total{kind=\"adopted\"}")).isEqualTo(2);
    assertThat(send(post(restarted, a, ping)).statusCode()).isEqualTo(200); // now known
    assertThat(metric(restarted, "sessionguard_admissions_total{kind=\"adopted\"}")).isEqualTo(2);
  }

  @Test
  void adoption_is_not_recorded_when_the_upstream_does_not_know_the_session() {
    Guard g = guard("");
    HttpResponse<String> r =
        send(post(g, "never-issued", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"));

    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(g.sessions().active()).isZero();
    assertThat(g.sessions().pending()).isZero();
    assertThat(g.sessions().clients()).isZero();
  }

  @Test
  void only_initialize_creates_a_session() throws Exception {
    Guard g = guard("");
    HttpResponse<String> r =
        send(post(g, "x", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
    assertThat(r.statusCode()).isEqualTo(404);
    HttpResponse<String> notInit =
        send(
            HttpRequest.newBuilder(mcp(g))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"))
                .build());
    assertThat(notInit.statusCode()).isEqualTo(200); // not initialize: forwarded, no session
    assertThat(g.sessions().active()).isZero();
    // the permit closes when the handler returns, just after the client has its answer
    await().untilAsserted(() -> assertThat(g.requests().total()).isZero());
  }

  @Test
  void anonymous_modes_name_or_refuse_clients_without_the_header() throws Exception {
    Guard reject = guard("identity: {source: Header, header: {name: X-User}, anonymous: Reject}\n");
    HttpResponse<String> r = send(initialize(reject, 1));
    assertThat(r.statusCode()).isEqualTo(401);
    assertThat(json(r).at("/error/data/reason").asText()).isEqualTo("anonymous");
    assertThat(upstream.initializes.get()).isZero();

    Guard shared =
        guard(
            "identity: {source: Header, header: {name: X-User}, anonymous: Shared}\nsessions: {perClient: 1}\n");
    assertThat(send(initialize(shared, 1)).statusCode()).isEqualTo(200);
    assertThat(send(initialize(shared, 2)).statusCode()).isEqualTo(429);

    Guard exempt =
        guard(
            "identity: {source: Header, header: {name: X-User}, anonymous: Exempt}\nsessions: {max: 5, perClient: 1}\n");
    assertThat(send(initialize(exempt, 1)).statusCode()).isEqualTo(200);
    assertThat(send(initialize(exempt, 2)).statusCode()).isEqualTo(200);
  }

  @Test
  void other_paths_are_forwarded_without_admission() {
    Guard g = guard("sessions: {max: 1, perClient: 1}\n");
    assertThat(send(initialize(g, 1)).statusCode()).isEqualTo(200);
    assertThat(send(initialize(g, 2)).statusCode()).isIn(429, 503); // the caps are full
    HttpResponse<String> meta =
        send(
            HttpRequest.newBuilder(mcp(g).resolve("/.well-known/oauth-protected-resource"))
                .GET()
                .build());
    assertThat(meta.statusCode()).isEqualTo(200);
    assertThat(upstream.seen.get(upstream.seen.size() - 1).path())
        .isEqualTo("/.well-known/oauth-protected-resource");
    // an initialize body on another path is the upstream's business: forwarded, not counted
    HttpResponse<String> elsewhere =
        send(
            HttpRequest.newBuilder(mcp(g).resolve("/health"))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\"}"))
                .build());
    assertThat(elsewhere.statusCode()).isNotIn(429, 503);
    assertThat(upstream.seen.get(upstream.seen.size() - 1).path()).isEqualTo("/health");
    assertThat(g.sessions().active()).isEqualTo(1);
  }

  /**
   * An upstream may route {@code /mcp/}, {@code /MCP} or {@code /%6Dcp} to its MCP endpoint (most
   * routers decode; many fold case or drop a trailing slash): relayed as "another path", such an
   * initialize would make sessions past every cap.
   */
  @Test
  void another_spelling_of_the_mcp_path_is_admitted_as_the_mcp_path() throws Exception {
    Guard g = guard("sessions: {max: 1, perClient: 1}\n");
    assertThat(send(initialize(g, 1)).statusCode()).isEqualTo(200);
    for (String path : new String[] {"/mcp/", "/MCP", "/%6Dcp", "//mcp", "/x/../mcp", "/mcp;a"}) {
      HttpRequest base = initialize(g, 2);
      HttpRequest.Builder spelt =
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.port() + path))
              .POST(base.bodyPublisher().orElseThrow());
      base.headers().map().forEach((k, v) -> v.forEach(value -> spelt.header(k, value)));
      HttpResponse<String> refused = send(spelt.build());
      assertThat(refused.statusCode()).as(path).isEqualTo(503);
      assertThat(json(refused).at("/error/data/reason").asText()).isEqualTo("global_sessions");
    }
    assertThat(upstream.initializes.get()).isEqualTo(1);
  }

  /**
   * Relayed as spelt, {@code /MCP} would get 404 from an upstream whose router is case-sensitive,
   * and a 404 ends the session named: the guard would forget a session the upstream still holds.
   */
  @Test
  void another_spelling_of_the_mcp_path_reaches_the_upstream_as_the_mcp_path() throws Exception {
    Guard g = guard("sessions: {max: 5, perClient: 5}\n");
    String session = send(initialize(g, 1)).headers().firstValue("Mcp-Session-Id").orElseThrow();
    for (String path : new String[] {"/MCP?x=1", "/mcp;a", "/%6Dcp/"}) {
      HttpResponse<String> answer =
          send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.port() + path))
                  .header("Content-Type", "application/json")
                  .header("Accept", "application/json, text/event-stream")
                  .header("Mcp-Session-Id", session)
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"))
                  .build());
      assertThat(answer.statusCode()).as(path).isEqualTo(200);
      FastUpstream.Seen seen = upstream.seen.get(upstream.seen.size() - 1);
      assertThat(seen.path()).as(path).isEqualTo("/mcp");
      assertThat(seen.query()).as(path).isEqualTo(path.contains("?") ? "x=1" : null);
    }
    assertThat(g.sessions().active()).isEqualTo(1);
  }

  @Test
  void a_reload_that_moves_the_mcp_path_moves_admission_with_it() throws Exception {
    Guard g = guard("sessions: {max: 1, perClient: 1}\n");
    assertThat(send(initialize(g, 1)).statusCode()).isEqualTo(200);

    assertThat(
            g.reload(
                TestGuards.policy("sessions: {max: 1, perClient: 1}\n"),
                TestGuards.overrides(upstream.mcpUrl("v2"))))
        .isTrue();
    assertThat(mcp(g).getPath()).isEqualTo("/v2/mcp");
    HttpResponse<String> moved = send(initialize(g, 2));

    assertThat(moved.statusCode()).isEqualTo(503); // held to the cap, not relayed unguarded
    assertThat(json(moved).at("/error/data/reason").asText()).isEqualTo("global_sessions");
    assertThat(upstream.initializes.get()).isEqualTo(1);
    assertThat(g.sessions().active()).isEqualTo(1);
  }

  /**
   * A client that labels its {@code initialize} 2026-07-28 is not held to session caps up front
   * (that era has none), but a session-era upstream makes a session of it all the same: the guard
   * counts it, or, with no room, deletes it upstream and refuses as it would the initialize.
   */
  @Test
  void a_session_the_upstream_makes_of_a_per_request_era_initialize_is_held_to_the_caps()
      throws Exception {
    Guard g = guard("sessions: {max: 2, perClient: 2}\n");
    String[] perRequest = {"MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "initialize"};

    HttpResponse<String> counted = send(initialize(g, "a", perRequest));
    assertThat(send(initialize(g, "b")).statusCode()).isEqualTo(200);
    HttpResponse<String> refused = send(initialize(g, "c", perRequest));

    assertThat(counted.statusCode()).isEqualTo(200);
    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(json(refused).get("id").asText()).isEqualTo("c");
    assertThat(json(refused).at("/error/data/reason").asText()).isEqualTo("global_sessions");
    assertThat(upstream.initializes.get()).isEqualTo(3);
    assertThat(g.sessions().active()).isEqualTo(2);
    await().untilAsserted(() -> assertThat(upstream.live).hasSize(2)); // the third deleted
    assertThat(upstream.live).contains(counted.headers().firstValue("Mcp-Session-Id").get());
  }

  @Test
  void a_session_the_upstream_makes_of_an_initialize_in_a_batch_is_held_to_the_caps()
      throws Exception {
    Guard g = guard("sessions: {max: 1, perClient: 1}\n");
    assertThat(send(initialize(g, 1)).statusCode()).isEqualTo(200);
    String batch =
        "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
            + "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},"
            + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}]";

    HttpResponse<String> refused =
        send(
            HttpRequest.newBuilder(mcp(g))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(batch))
                .build());

    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(upstream.initializes.get()).isEqualTo(2);
    assertThat(g.sessions().active()).isEqualTo(1);
    await().untilAsserted(() -> assertThat(upstream.live).hasSize(1));
  }

  @Test
  void a_session_the_upstream_makes_on_a_request_on_another_session_is_held_to_the_caps()
      throws Exception {
    Guard g = guard("sessions: {max: 1, perClient: 1}\n");
    HttpResponse<String> first = send(initialize(g, 1));
    String held = first.headers().firstValue("Mcp-Session-Id").orElseThrow();
    String batch =
        "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
            + "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},"
            + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}]";

    // sent on the held session: the guard sees a batch on it, the upstream makes a new one
    HttpResponse<String> refused = send(post(g, held, batch));

    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(upstream.initializes.get()).isEqualTo(2);
    assertThat(g.sessions().active()).isEqualTo(1);
    await().untilAsserted(() -> assertThat(upstream.live).containsExactly(held));
    // the held session is not busy with it any more
    assertThat(
            send(post(g, held, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}")).statusCode())
        .isEqualTo(200);
  }
}
