package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Bad input is answered by the guard: nothing forwarded, no cap moves. */
class BadInputTest {
  static FastUpstream upstream;
  static Guard guard;
  static final String INIT =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}";

  @BeforeAll
  static void start() throws Exception {
    upstream = new FastUpstream();
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "origins: {allowed: [\"https://app.example.com\"]}\n"
                + "limits: {maxBodyBytes: 1Ki, maxHeaderBytes: 2Ki}\n");
  }

  @AfterAll
  static void stop() {
    guard.close();
    upstream.close();
  }

  double admittedBefore;

  @BeforeEach
  void clear() {
    upstream.seen.clear();
    admittedBefore = metric(guard, "sessionguard_admissions_total{kind=\"new\"}");
  }

  static HttpRequest.Builder post(String body) {
    return HttpRequest.newBuilder(mcp(guard))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body));
  }

  void assertNothingMoved() {
    assertThat(upstream.seen).isEmpty();
    assertThat(guard.sessions().active()).isZero();
    assertThat(guard.sessions().pending()).isZero();
    assertThat(guard.sessions().clients()).isZero();
    await() // a permit closes just after its answer leaves
        .untilAsserted(
            () -> {
              assertThat(guard.requests().total()).isZero();
              assertThat(guard.requests().clients()).isZero();
            });
    assertThat(metric(guard, "sessionguard_admissions_total{kind=\"new\"}"))
        .isEqualTo(admittedBefore);
  }

  @Test
  void a_disallowed_origin_gets_403() throws Exception {
    HttpResponse<String> r =
        TestGuards.send(post(INIT).header("Origin", "https://evil.example").build());
    assertThat(r.statusCode()).isEqualTo(403);
    assertThat(PolicyJson.json().readTree(r.body()).at("/error/data/reason").asText())
        .isEqualTo("origin");
    assertNothingMoved();
    assertThat(
            TestGuards.send(post(INIT).header("Origin", "https://app.example.com").build())
                .statusCode())
        .isEqualTo(200); // the allowed one passes
    TestGuards.delete(guard, upstream.live.iterator().next()); // leave nothing behind
  }

  @Test
  void a_body_over_the_limit_gets_413_by_content_length() {
    HttpResponse<String> r = TestGuards.send(post("{\"x\":\"" + "a".repeat(2000) + "\"}").build());
    assertThat(r.statusCode()).isEqualTo(413);
    assertNothingMoved();
  }

  @Test
  void a_chunked_body_over_the_limit_gets_413_while_counting() {
    byte[] big = ("{\"x\":\"" + "a".repeat(2000) + "\"}").getBytes(StandardCharsets.UTF_8);
    HttpResponse<String> r =
        TestGuards.send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofInputStream(
                        () -> new java.io.ByteArrayInputStream(big)))
                .build());
    assertThat(r.statusCode()).isEqualTo(413);
    assertNothingMoved();
  }

  @Test
  void headers_over_the_limit_get_431_with_a_json_rpc_body() {
    HttpResponse<String> r =
        TestGuards.send(post(INIT).header("X-Padding", "p".repeat(4000)).build());
    assertThat(r.statusCode()).isEqualTo(431);
    assertThat(r.body()).contains("-31007");
    assertNothingMoved();
  }

  @Test
  void headers_over_the_limit_get_431_even_when_the_body_follows_them_later() throws Exception {
    String head =
        "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\nX-Padding: "
            + "p".repeat(4000)
            + "\r\nContent-Length: 2\r\n\r\n";
    for (int i = 0; i < 20; i++) {
      try (Socket s = new Socket("127.0.0.1", guard.port())) {
        s.setSoTimeout(10_000);
        OutputStream out = s.getOutputStream();
        out.write(head.getBytes(StandardCharsets.ISO_8859_1));
        out.flush(); // the guard may answer before the body arrives, and must not lose the answer
        out.write("{}".getBytes(StandardCharsets.ISO_8859_1));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);

        assertThat(answer).startsWith("HTTP/1.1 431").contains("-31007");
        assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("connection: close");
      }
    }
    assertNothingMoved();
  }

  @Test
  void malformed_json_gets_400_parse_error() throws Exception {
    HttpResponse<String> r = TestGuards.send(post("{\"jsonrpc\":\"2.0\",").build());
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(PolicyJson.json().readTree(r.body()).at("/error/code").asInt()).isEqualTo(-32700);
    assertNothingMoved();
  }

  @Test
  void a_message_that_reads_otherwise_to_a_case_insensitive_decoder_gets_400() throws Exception {
    // Go's encoding/json takes "Method" for "method": to such an upstream this is an
    // initialize the guard would never count
    for (String body :
        new String[] {
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"Method\":\"initialize\"}",
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"method\":\"initialize\"}",
          "[{\"jsonrpc\":\"2.0\",\"id\":1,\"METHOD\":\"initialize\",\"method\":\"ping\"}]"
        }) {
      // on a session, as the fast path takes it, and without one
      for (boolean onSession : new boolean[] {true, false}) {
        HttpRequest.Builder b = post(body);
        if (onSession) {
          b.header("Mcp-Session-Id", "s-1");
        }
        HttpResponse<String> r = TestGuards.send(b.build());
        assertThat(r.statusCode()).as(body).isEqualTo(400);
        var error = PolicyJson.json().readTree(r.body()).get("error");
        assertThat(error.get("code").asInt()).isEqualTo(-32600);
        assertThat(error.at("/data/reason").asText()).isEqualTo("invalid_request");
        assertThat(error.at("/data/detail").asText()).startsWith("member '");
      }
    }
    assertNothingMoved();
  }

  @Test
  void a_repeated_mcp_header_gets_400_even_on_a_live_session() throws Exception {
    // the guard reads the first Mcp-Session-Id; an upstream reading the last would serve another
    String mine =
        TestGuards.send(TestGuards.initialize(guard, 1))
            .headers()
            .firstValue("Mcp-Session-Id")
            .orElseThrow();
    upstream.seen.clear();
    String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
    for (String second :
        new String[] {"mcp-session-id: someone-elses", "MCP-Protocol-Version: x"}) {
      String request =
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + "MCP-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: "
              + mine
              + "\r\n"
              + second
              + "\r\nContent-Length: "
              + body.length()
              + "\r\nConnection: close\r\n\r\n"
              + body;
      try (Socket s = new Socket("127.0.0.1", guard.port())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assertThat(answer).as(second).startsWith("HTTP/1.1 400").contains("-32600");
      }
    }
    assertThat(upstream.seen).isEmpty();
    assertThat(TestGuards.delete(guard, mine).statusCode()).isEqualTo(200);
  }

  @Test
  void a_session_id_outside_visible_ascii_gets_400() throws Exception {
    double refusedBefore = metric(guard, "sessionguard_refusals_total{reason=\"invalid_request\"}");
    // The JDK client refuses such header values, so write the request by hand.
    for (String id : new String[] {"has space", "caf\u00e9"}) {
      String request =
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + "Mcp-Session-Id: "
              + id
              + "\r\nContent-Length: "
              + INIT.length()
              + "\r\nConnection: close\r\n\r\n"
              + INIT;
      try (Socket s = new Socket("127.0.0.1", guard.port())) {
        s.setSoTimeout(10_000);
        OutputStream out = s.getOutputStream();
        out.write(request.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
        InputStream in = s.getInputStream();
        String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        assertThat(answer).startsWith("HTTP/1.1 400");
        assertThat(answer).contains("-31009");
      }
    }
    assertNothingMoved();
    assertThat(Arrays.asList(guard.metrics().scrape().split("\n")))
        .contains("sessionguard_sessions_active 0.0");
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"invalid_request\"}"))
        .isEqualTo(refusedBefore + 2);
  }

  @Test
  void a_method_outside_https_usual_seven_gets_405_as_json_rpc_and_is_not_relayed()
      throws Exception {
    for (String method : new String[] {"TRACE", "CONNECT", "QUERY", "BREW"}) {
      for (String path : new String[] {"/mcp", "/.well-known/x"}) {
        String target = method.equals("CONNECT") ? "127.0.0.1:1" : path;
        try (Socket s = new Socket("127.0.0.1", guard.port())) {
          s.setSoTimeout(10_000);
          OutputStream out = s.getOutputStream();
          out.write(
              (method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.ISO_8859_1));
          out.flush();
          // (read to the body's end: after a CONNECT the connection is not closed)
          StringBuilder read = new StringBuilder();
          InputStream in = s.getInputStream();
          for (int b; !read.toString().endsWith("}}") && (b = in.read()) != -1; ) {
            read.append((char) b);
          }
          String answer = read.toString();
          if (method.equals("CONNECT")) { // its authority target is refused by Jetty first
            assertThat(answer).startsWith("HTTP/1.1 400").contains("\"code\":-32600", "HTTP 400");
            continue;
          }
          assertThat(answer).as(method + " " + path).startsWith("HTTP/1.1 405");
          assertThat(answer).as(method).containsIgnoringCase("Allow: GET, POST");
          assertThat(answer).as(method).contains("\"code\":-32600", "HTTP 405");
        }
      }
    }
    assertThat(upstream.seen).isEmpty();
  }
}
