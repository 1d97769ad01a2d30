package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.raw;
import static dev.sessionguard.guard.TestGuards.mcp;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the guard does to requests and answers on their way through: a transparent hop. */
class ForwardingTest {
  static final String PING = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    guard = TestGuards.start(upstream.mcpUrl(), "limits: {maxBodyBytes: 1Ki}\n");
  }

  @AfterEach
  void stop() throws Exception {
    guard.close();
    upstream.close();
  }

  String exchange(String request) throws Exception {
    return TestGuards.exchange(guard, request, StandardCharsets.ISO_8859_1);
  }

  @Test
  void hop_by_hop_headers_are_stripped_both_ways_and_forwarded_for_and_proto_are_added()
      throws Exception {
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                    + "Connection: X-Upstream-Private\r\nX-Upstream-Private: secret\r\n"
                    + "Keep-Alive: timeout=5\r\nX-End-To-End: kept\r\n\r\n{}"));

    String answer =
        exchange(
            "POST /mcp?x=1 HTTP/1.1\r\nHost: guard.example\r\nContent-Type: application/json\r\n"
                + "Connection: X-Client-Private, close\r\nX-Client-Private: secret\r\n"
                + "Keep-Alive: 300\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\n"
                + "X-Forwarded-For: 203.0.113.7\r\nX-End-To-End: kept\r\n"
                + "Content-Length: "
                + PING.length()
                + "\r\n\r\n"
                + PING);

    ScriptedUpstream.Request seen = upstream.seen.get(0);
    assertThat(seen.path()).isEqualTo("/mcp?x=1");
    assertThat(seen.body()).isEqualTo(PING);
    assertThat(seen.headers())
        .doesNotContainKeys("x-client-private", "keep-alive", "te", "proxy-authorization")
        .containsEntry("x-end-to-end", "kept")
        .containsEntry("x-forwarded-for", "203.0.113.7, 127.0.0.1")
        .containsEntry("x-forwarded-proto", "http")
        .containsEntry("content-length", String.valueOf(PING.length()));
    assertThat(seen.headers().get("host")).isEqualTo(upstream.mcpUrl().getAuthority());
    assertThat(seen.headers().getOrDefault("connection", "")).doesNotContain("X-Client-Private");

    String head = answer.substring(0, answer.indexOf("\r\n\r\n")).toLowerCase();
    assertThat(head).startsWith("http/1.1 200");
    assertThat(head).contains("x-end-to-end: kept");
    assertThat(head).doesNotContain("x-upstream-private").doesNotContain("keep-alive");
    assertThat(answer).endsWith("\r\n\r\n{}");
  }

  @Test
  void a_target_with_characters_a_uri_may_not_hold_reaches_the_upstream_percent_encoded()
      throws Exception {
    upstream.script((r, s) -> ScriptedUpstream.json(s, 200, java.util.Map.of(), "{}"));
    // Jetty takes | and { in a query; the upstream gets them escaped, not a 500
    String answer =
        exchange(
            "POST /mcp?q=a|b{c}%zz&ok=%41 HTTP/1.1\r\nHost: guard\r\n"
                + "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "
                + PING.length()
                + "\r\n\r\n"
                + PING);
    assertThat(answer).startsWith("HTTP/1.1 200");
    assertThat(upstream.seen.get(0).path()).isEqualTo("/mcp?q=a%7Cb%7Bc%7D%25zz&ok=%41");
    // as Jetty hands it on decoded: UTF-8, escaped
    assertThat(Forwarder.sendable("/mcp?q=caf\u00e9 \ud83d\ude00"))
        .isEqualTo("/mcp?q=caf%C3%A9%20%F0%9F%98%80");
    assertThat(Forwarder.sendable("/mcp?x=1")).isSameAs("/mcp?x=1");
    // a % before digits of another script starts no escape; a lone surrogate takes only itself
    assertThat(Forwarder.sendable("/mcp?q=%\u0663\u0663")).isEqualTo("/mcp?q=%25%D9%A3%D9%A3");
    assertThat(Forwarder.sendable("/mcp?q=\ud83d/")).isEqualTo("/mcp?q=%3F/");
    java.net.URI.create("http://h" + Forwarder.sendable("/mcp?q=%\uff21\uff21|\ud83d"));
  }

  @Test
  void interim_answers_from_the_upstream_are_passed_over_for_the_final_one() throws Exception {
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                    + "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                    + "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 2\r\n\r\n{}"));

    String answer =
        exchange(
            "POST /mcp HTTP/1.1\r\nHost: guard.example\r\nContent-Type: application/json\r\n"
                + "Connection: close\r\nContent-Length: "
                + PING.length()
                + "\r\n\r\n"
                + PING);

    assertThat(answer).startsWith("HTTP/1.1 200").endsWith("\r\n\r\n{}");
  }

  @Test
  void compressed_answers_redirects_and_cookies_pass_through_untouched() throws Exception {
    ByteArrayOutputStream zipped = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(zipped)) {
      gz.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}".getBytes(StandardCharsets.UTF_8));
    }
    byte[] gzipped = zipped.toByteArray();
    upstream.script(
        (r, s) -> {
          if (r.path().startsWith("/login")) {
            raw(s, "HTTP/1.1 302 Found\r\nLocation: /mcp\r\nContent-Length: 0\r\n\r\n");
          } else if (r.path().startsWith("/cookie")) {
            raw(s, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=alice\r\nContent-Length: 0\r\n\r\n");
          } else {
            OutputStream out = s.getOutputStream();
            out.write(
                ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                        + "Content-Length: "
                        + gzipped.length
                        + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(gzipped);
            out.flush();
          }
        });

    HttpResponse<byte[]> zippedAnswer =
        TestGuards.HTTP.send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Content-Type", "application/json")
                .header("Accept-Encoding", "gzip")
                .POST(HttpRequest.BodyPublishers.ofString(PING))
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(zippedAnswer.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(Arrays.equals(zippedAnswer.body(), gzipped)).isTrue();
    assertThat(upstream.seen.get(0).headers()).containsEntry("accept-encoding", "gzip");

    HttpResponse<String> redirect =
        TestGuards.send(HttpRequest.newBuilder(mcp(guard).resolve("/login")).build());
    assertThat(redirect.statusCode()).isEqualTo(302);
    assertThat(redirect.headers().firstValue("Location")).hasValue("/mcp");

    HttpResponse<String> cookie =
        TestGuards.send(HttpRequest.newBuilder(mcp(guard).resolve("/cookie")).build());
    assertThat(cookie.headers().firstValue("Set-Cookie")).hasValue("sid=alice");
    TestGuards.send(HttpRequest.newBuilder(mcp(guard).resolve("/other")).build());

    assertThat(upstream.seen) // the redirect was not followed
        .extracting(ScriptedUpstream.Request::path)
        .containsExactly("/mcp", "/login", "/cookie", "/other");
    assertThat(upstream.seen.get(3).headers()).doesNotContainKey("cookie"); // nor the cookie kept
  }

  @Test
  void an_upstream_that_refuses_connections_gets_502_with_the_request_id() throws Exception {
    URI closed;
    try (ServerSocket s = new ServerSocket(0)) {
      closed = URI.create("http://127.0.0.1:" + s.getLocalPort() + "/mcp");
    }
    try (Guard nowhere = TestGuards.start(closed, "")) {
      HttpResponse<String> r =
          TestGuards.send(
              HttpRequest.newBuilder(mcp(nowhere))
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(PING))
                  .build());
      assertThat(r.statusCode()).isEqualTo(502);
      assertThat(r.body()).contains("-31010").contains("\"id\":1");
    }
  }

  @Test
  void other_paths_refuse_a_body_over_the_limit_with_413_and_forward_one_within_it()
      throws Exception {
    byte[] big = "a".repeat(2000).getBytes(StandardCharsets.UTF_8);
    HttpResponse<String> chunked =
        TestGuards.send(
            HttpRequest.newBuilder(mcp(guard).resolve("/upload"))
                .PUT(
                    HttpRequest.BodyPublishers.ofInputStream(
                        () -> new java.io.ByteArrayInputStream(big)))
                .build());
    assertThat(chunked.statusCode()).isEqualTo(413);
    HttpResponse<String> declared =
        TestGuards.send(
            HttpRequest.newBuilder(mcp(guard).resolve("/upload"))
                .PUT(HttpRequest.BodyPublishers.ofByteArray(big))
                .build());
    assertThat(declared.statusCode()).isEqualTo(413);
    assertThat(upstream.seen).isEmpty();
    // refused as the MCP endpoint refuses: counted, and the reason in the body
    assertThat(declared.body()).contains("\"reason\":\"too_large\"");
    assertThat(TestGuards.metric(guard, "sessionguard_refusals_total{reason=\"too_large\"}"))
        .isEqualTo(2);

    HttpResponse<String> small =
        TestGuards.send(
            HttpRequest.newBuilder(mcp(guard).resolve("/upload"))
                .PUT(HttpRequest.BodyPublishers.ofString("small"))
                .build());
    assertThat(small.statusCode()).isEqualTo(200);
    assertThat(upstream.seen.get(0).method()).isEqualTo("PUT");
    assertThat(upstream.seen.get(0).body()).isEqualTo("small");
  }
}
