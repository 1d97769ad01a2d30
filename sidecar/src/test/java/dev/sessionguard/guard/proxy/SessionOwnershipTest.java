package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * With Header identity a session belongs to the client that opened it (Jwt: JwtThroughGuardTest).
 */
class SessionOwnershipTest {
  FastUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new FastUpstream();
    guard =
        TestGuards.start(
            upstream.mcpUrl(), "identity: {source: Header, header: {name: X-Client-Id}}\n");
  }

  @AfterEach
  void stop() {
    guard.close();
    upstream.close();
  }

  HttpResponse<String> as(String client, String method, String sessionId) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(guard))
            .header("Mcp-Session-Id", sessionId)
            .header("X-Client-Id", client);
    if (method.equals("DELETE")) {
      b.DELETE();
    } else {
      b.header("Content-Type", "application/json")
          .POST(
              HttpRequest.BodyPublishers.ofString(
                  "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}"));
    }
    return send(b.build());
  }

  /** A session alice opened. */
  String alicesSession() {
    return send(initialize(guard, 1, "X-Client-Id", "alice"))
        .headers()
        .firstValue("Mcp-Session-Id")
        .orElseThrow();
  }

  @Test
  void another_clients_requests_on_a_session_get_404_and_are_not_forwarded() {
    String session = alicesSession();
    int seen = upstream.seen.size();

    HttpResponse<String> post = as("bob", "POST", session);
    HttpResponse<String> delete = as("bob", "DELETE", session);

    assertThat(post.statusCode()).isEqualTo(404);
    assertThat(delete.statusCode()).isEqualTo(404);
    assertThat(post.body()).contains("-31005").doesNotContain("not_owner");
    assertThat(upstream.seen).hasSize(seen);
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"not_owner\"}")).isEqualTo(2);
    assertThat(guard.sessions().active()).isEqualTo(1);

    assertThat(as("alice", "POST", session).statusCode()).isEqualTo(200);
    assertThat(as("alice", "DELETE", session).statusCode()).isEqualTo(200);
    assertThat(guard.sessions().active()).isZero();
  }

  /**
   * A 2026-07-28 listen or initialize is not the session's request (it is held to its own caps),
   * but one naming another client's session is not passed on with that id either.
   */
  @Test
  void a_per_request_era_listen_or_initialize_naming_another_clients_session_gets_404() {
    String session = alicesSession();
    int seen = upstream.seen.size();

    for (String method : new String[] {"subscriptions/listen", "initialize"}) {
      HttpResponse<String> answer =
          send(
              HttpRequest.newBuilder(mcp(guard))
                  .header("Content-Type", "application/json")
                  .header("Accept", "application/json, text/event-stream")
                  .header("MCP-Protocol-Version", "2026-07-28")
                  .header("Mcp-Method", method)
                  .header("Mcp-Session-Id", session)
                  .header("X-Client-Id", "bob")
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"" + method + "\"}"))
                  .build());
      assertThat(answer.statusCode()).as(method).isEqualTo(404);
      assertThat(answer.body()).as(method).contains("-31005");
    }
    assertThat(upstream.seen).hasSize(seen);
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"not_owner\"}")).isEqualTo(2);
  }
}
