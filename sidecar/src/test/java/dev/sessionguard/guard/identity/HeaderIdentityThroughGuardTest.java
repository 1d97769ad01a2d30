package dev.sessionguard.guard.identity;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Header identity's header, sent by a peer the guard does not believe it from, is not passed
 * on: an upstream reading the same header would otherwise take the sender for whoever it names.
 */
class HeaderIdentityThroughGuardTest {
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void upstream() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) ->
            ScriptedUpstream.json(
                s,
                200,
                r.isInitialize() ? Map.of("Mcp-Session-Id", "s-1") : Map.of(),
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));
  }

  @AfterEach
  void stop() throws Exception {
    if (guard != null) {
      guard.close();
    }
    upstream.close();
  }

  /** The values of X-User the upstream saw, in order, for an initialize and a call on it. */
  java.util.List<String> upstreamSees(String trustedProxies) throws Exception {
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}, trustedProxies: ["
                + trustedProxies
                + "]}\n");
    HttpResponse<String> init = send(initialize(guard, 1, "X-User", "alice"));
    assertThat(init.statusCode()).isEqualTo(200);
    // raw, as HTTP/1.1 clients send it (the fast path's), naming the header in Connection: the
    // guard decided on it, so it is not stripped for that
    String body = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}";
    String call =
        TestGuards.exchange(
            guard,
            "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
                + "Accept: application/json, text/event-stream\r\nConnection: close, X-User\r\n"
                + "Mcp-Session-Id: s-1\r\nX-User: alice\r\nContent-Length: "
                + body.length()
                + "\r\n\r\n"
                + body,
            StandardCharsets.UTF_8);
    assertThat(call).startsWith("HTTP/1.1 200");
    return upstream.seen.stream().map(r -> String.valueOf(r.headers().get("x-user"))).toList();
  }

  @Test
  void the_naming_header_sent_twice_gets_400_and_names_nobody() throws Exception {
    guard =
        TestGuards.start(upstream.mcpUrl(), "identity: {source: Header, header: {name: X-User}}\n");
    assertThat(send(initialize(guard, 1, "X-User", "alice")).statusCode()).isEqualTo(200);
    upstream.seen.clear();
    // a proxy that appends its X-User to the client's: the guard would read the client's
    String body = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}";
    for (String head :
        new String[] {
          "Mcp-Session-Id: s-1\r\nX-User: alice\r\nx-user: mallory\r\n",
          "X-User: alice\r\nX-User: mallory\r\n" // no session: a 2026-07-28 request
              + "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\n"
        }) {
      String answer =
          TestGuards.exchange(
              guard,
              "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
                  + "Accept: application/json, text/event-stream\r\nConnection: close\r\n"
                  + head
                  + "Content-Length: "
                  + body.length()
                  + "\r\n\r\n"
                  + body,
              StandardCharsets.UTF_8);
      assertThat(answer).as(head).startsWith("HTTP/1.1 400").contains("-32600", "X-User");
    }
    assertThat(upstream.seen).isEmpty();
  }

  @Test
  void not_from_a_trusted_proxy_the_header_goes_no_further() throws Exception {
    assertThat(upstreamSees("10.0.0.0/8")).containsExactly("null", "null");
  }

  @Test
  void from_a_trusted_proxy_it_is_passed_on() throws Exception {
    assertThat(upstreamSees("127.0.0.0/8")).containsExactly("alice", "alice");
  }
}
