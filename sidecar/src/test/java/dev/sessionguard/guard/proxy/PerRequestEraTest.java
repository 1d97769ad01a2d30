package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.NodePeer.event;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.NodePeer;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A 2026-07-28 client and server from npm (client/server 2.x) with the guard between them. */
class PerRequestEraTest {
  static NodePeer server;
  static URI serverUrl;
  final List<Guard> guards = new ArrayList<>();
  final List<NodePeer> clients = new ArrayList<>();

  @BeforeAll
  static void startServer() throws Exception {
    // Frequent keep-alives: a listen stream whose client left is noticed at the next one.
    server =
        NodePeer.start(
            "modern-server.mjs",
            "--port",
            "0",
            "--keepalive-ms",
            "200",
            "--log-requests",
            "--stdin-lifeline");
    serverUrl = URI.create(server.await(event("listening"), 30).get("url").asText());
  }

  @AfterAll
  static void stopServer() {
    if (server != null) {
      server.close();
    }
  }

  @AfterEach
  void stop() {
    clients.forEach(NodePeer::close);
    guards.forEach(Guard::close);
  }

  Guard guard(String requests) {
    Guard g =
        TestGuards.start(
            serverUrl,
            "identity: {source: Header, header: {name: X-Client-Id}}\n"
                + "requests: "
                + requests
                + "\n");
    guards.add(g);
    return g;
  }

  NodePeer client(Guard g, String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of(mcp(g).toString()));
    all.addAll(List.of(args));
    NodePeer c = NodePeer.start("modern-client.mjs", all.toArray(String[]::new));
    clients.add(c);
    return c;
  }

  static Predicate<JsonNode> step(String name) {
    return l -> event("step").test(l) && name.equals(l.path("step").asText());
  }

  static Predicate<JsonNode> probe(String value) {
    return l -> event("request").test(l) && value.equals(l.at("/headers/x-probe").asText());
  }

  /** A 2026-07-28 POST written by hand; {@code headers} are name, value pairs. */
  static HttpRequest post(Guard g, String body, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(g))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }

  static final String TOOLS_LIST = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";

  static JsonNode error(HttpResponse<String> r) throws Exception {
    return PolicyJson.json().readTree(r.body()).get("error");
  }

  @Test
  void a_2026_client_lists_and_calls_tools_and_no_session_is_counted() throws Exception {
    Guard g = guard("{maxInFlight: 10, perClientInFlight: 5}");
    NodePeer c = client(g, "--steps", "list,call=hi", "--header", "X-Client-Id=alice");

    assertThat(c.waitFor(60)).as("exit code; lines %s", c.lines).isZero();
    assertThat(c.await(event("connected"), 1).get("protocolVersion").asText())
        .isEqualTo("2026-07-28");
    assertThat(c.lines.stream().filter(event("step")))
        .extracting(l -> l.get("step").asText() + "=" + l.get("ok").asBoolean())
        .containsExactly("list=true", "call=hi=true");
    assertThat(c.await(step("call=hi"), 1).get("text").asText()).contains("hi");
    assertThat(metric(g, "sessionguard_admissions_total{kind=\"new\"}")).isZero();
    assertThat(g.sessions().active()).isZero();
    assertThat(
            metric(g, "sessionguard_upstream_request_duration_seconds_count{era=\"per_request\"}"))
        .isGreaterThanOrEqualTo(3); // discover, list, call
    await().untilAsserted(() -> assertThat(g.requests().total()).isZero());
  }

  @Test
  void headers_that_disagree_with_the_body_get_400_before_reaching_the_server() throws Exception {
    Guard g = guard("{maxInFlight: 10, perClientInFlight: 5}");
    HttpResponse<String> wrongMethod =
        send(post(g, TOOLS_LIST, "Mcp-Method", "tools/call", "X-Probe", "mismatch-1"));
    HttpResponse<String> noMethod = send(post(g, TOOLS_LIST, "X-Probe", "mismatch-2"));
    HttpResponse<String> wrongName =
        send(
            post(
                g,
                "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\","
                    + "\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"x\"}}}",
                "Mcp-Method",
                "tools/call",
                "Mcp-Name",
                "=?base64?c2xvdw==?=", // "slow"
                "X-Probe",
                "mismatch-3"));

    for (HttpResponse<String> r : List.of(wrongMethod, noMethod, wrongName)) {
      assertThat(r.statusCode()).isEqualTo(400);
      assertThat(error(r).get("code").asInt()).isEqualTo(-32020);
      assertThat(error(r).at("/data/reason").asText()).isEqualTo("header_mismatch");
    }
    assertThat(PolicyJson.json().readTree(wrongName.body()).get("id").asText()).isEqualTo("c");
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"header_mismatch\"}")).isEqualTo(3);

    // A request that agrees reaches the server; the server logs requests in order.
    send(post(g, TOOLS_LIST, "Mcp-Method", "tools/list", "X-Probe", "agreeing"));
    server.await(probe("agreeing"), 10);
    assertThat(server.find(probe("mismatch-1"))).isEmpty();
    assertThat(server.find(probe("mismatch-2"))).isEmpty();
    assertThat(server.find(probe("mismatch-3"))).isEmpty();
  }

  @Test
  void get_delete_and_session_ids_from_2026_clients_pass_through_untouched() throws Exception {
    Guard g = guard("{maxInFlight: 10, perClientInFlight: 5}");
    HttpResponse<String> get =
        send(
            HttpRequest.newBuilder(mcp(g))
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Accept", "text/event-stream")
                .header("Mcp-Session-Id", "from-a-2026-client")
                .header("X-Probe", "get")
                .build());
    HttpResponse<String> delete =
        send(
            HttpRequest.newBuilder(mcp(g))
                .DELETE()
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Mcp-Session-Id", "from-a-2026-client")
                .header("X-Probe", "delete")
                .build());

    assertThat(server.await(probe("get"), 10).at("/headers/mcp-session-id").asText())
        .isEqualTo("from-a-2026-client");
    assertThat(server.await(probe("delete"), 10).get("method").asText()).isEqualTo("DELETE");
    assertThat(get.body()).doesNotContain("-3100"); // the server's answers, not the guard's
    assertThat(delete.body()).doesNotContain("-3100");
    assertThat(g.sessions().active()).isZero();
    assertThat(metric(g, "sessionguard_admissions_total{kind=\"adopted\"}")).isZero();
  }

  @Test
  void requests_are_held_to_the_in_flight_caps() throws Exception {
    Guard g = guard("{maxInFlight: 1, perClientInFlight: 1}");
    NodePeer slow = client(g, "--hold", "--steps", "list", "--header", "X-Client-Id=alice");
    slow.await(event("holding"), 30);
    slow.tell("slow=3000");
    await().untilAsserted(() -> assertThat(g.requests().total()).isEqualTo(1));

    HttpResponse<String> refused =
        send(post(g, TOOLS_LIST, "Mcp-Method", "tools/list", "X-Client-Id", "bob"));

    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(refused.headers().firstValue("Retry-After")).isPresent();
    assertThat(error(refused).get("code").asInt()).isEqualTo(-31003);
    assertThat(slow.await(step("slow=3000"), 30).get("ok").asBoolean()).isTrue();
    await().untilAsserted(() -> assertThat(g.requests().total()).isZero());
    send(post(g, TOOLS_LIST, "Mcp-Method", "tools/list", "X-Client-Id", "bob", "X-Probe", "room"));
    server.await(probe("room"), 10); // admitted and forwarded once the slow call ended
  }

  NodePeer listening(Guard g, String who) throws Exception {
    NodePeer c = client(g, "--listen", "--steps", "list", "--header", "X-Client-Id=" + who);
    assertThat(c.await(step("listen"), 30).get("ok").asBoolean()).as("%s", c.lines).isTrue();
    return c;
  }

  @Test
  void listen_streams_are_held_to_the_stream_caps_not_the_in_flight_caps() throws Exception {
    Guard g = guard("{maxInFlight: 1, perClientInFlight: 1, maxStreams: 3, perClientStreams: 2}");
    List<NodePeer> open = new ArrayList<>();
    for (String who : List.of("alice", "alice")) {
      open.add(listening(g, who));
    }
    NodePeer aliceAgain = client(g, "--listen", "--steps", "list", "--header", "X-Client-Id=alice");
    assertThat(aliceAgain.await(step("listen"), 30).get("status").asInt()).isEqualTo(429);
    open.add(listening(g, "bob"));
    await().untilAsserted(() -> assertThat(g.streams().total()).isEqualTo(3));
    assertThat(metric(g, "sessionguard_streams_active")).isEqualTo(3);
    assertThat(g.requests().total()).isZero(); // open streams hold no in-flight permit

    NodePeer carol = client(g, "--listen", "--steps", "list", "--header", "X-Client-Id=carol");
    assertThat(carol.await(step("listen"), 30).get("status").asInt()).isEqualTo(503);
    assertThat(aliceAgain.waitFor(30)).isEqualTo(1);
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"client_streams\"}")).isEqualTo(1);
    assertThat(metric(g, "sessionguard_refusals_total{reason=\"global_streams\"}")).isEqualTo(1);
    assertThat(open).allSatisfy(c -> assertThat(c.find(event("listen_closed"))).isEmpty());

    // The in-flight cap of 1 still lets requests through beside three open streams.
    open.get(0).tell("call=beside");
    assertThat(open.get(0).await(step("call=beside"), 30).get("ok").asBoolean()).isTrue();

    open.forEach(NodePeer::close);
    await().untilAsserted(() -> assertThat(g.streams().total()).isZero());
    assertThat(metric(g, "sessionguard_streams_active")).isZero();
  }
}
