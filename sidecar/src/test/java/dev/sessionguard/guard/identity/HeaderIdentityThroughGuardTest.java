package dev.sessionguard.guard.identity;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
  java.util.List<String> upstreamSees(String trustedProxies) {
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}, trustedProxies: ["
                + trustedProxies
                + "]}\n");
    HttpResponse<String> init = send(initialize(guard, 1, "X-User", "alice"));
    assertThat(init.statusCode()).isEqualTo(200);
    HttpResponse<String> call =
        send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Content-Type", "application/json")
                .header("Mcp-Session-Id", "s-1")
                .header("X-User", "alice")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"))
                .build());
    assertThat(call.statusCode()).isEqualTo(200);
    return upstream.seen.stream().map(r -> String.valueOf(r.headers().get("x-user"))).toList();
  }

  @Test
  void not_from_a_trusted_proxy_the_header_goes_no_further() {
    assertThat(upstreamSees("10.0.0.0/8")).containsExactly("null", "null");
  }

  @Test
  void from_a_trusted_proxy_it_is_passed_on() {
    assertThat(upstreamSees("127.0.0.0/8")).containsExactly("alice", "alice");
  }
}
