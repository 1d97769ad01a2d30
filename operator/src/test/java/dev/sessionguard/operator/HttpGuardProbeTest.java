package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What the operator reads from a guard's {@code /policy}, as the guard writes it (see the guard's
 * AdminEndpoints): served here by the JDK's HTTP server on port 0.
 */
class HttpGuardProbeTest {
  final AtomicReference<String> body = new AtomicReference<>();
  HttpServer server;

  @BeforeEach
  void serve() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/policy",
        exchange -> {
          byte[] out = body.get().getBytes(StandardCharsets.UTF_8);
          exchange.getResponseHeaders().set("Content-Type", "application/json");
          exchange.sendResponseHeaders(200, out.length);
          exchange.getResponseBody().write(out);
          exchange.close();
        });
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  String probe() {
    return new HttpGuardProbe()
        .policyHash("127.0.0.1", server.getAddress().getPort())
        .orElse("none");
  }

  @Test
  void a_guard_running_the_whole_policy_reports_its_hash() {
    body.set("{\"name\":\"p\",\"hash\":\"abc\",\"mode\":\"Enforce\",\"restartPending\":[]}");
    assertThat(probe()).isEqualTo("abc");
    body.set("{\"name\":\"p\",\"hash\":\"abc\"}"); // a guard from before restartPending
    assertThat(probe()).isEqualTo("abc");
  }

  @Test
  void a_guard_waiting_for_a_restart_does_not_enforce_the_policy_yet() {
    body.set("{\"name\":\"p\",\"hash\":\"abc\",\"restartPending\":[\"store\"]}");
    assertThat(probe()).isEqualTo("none");
  }

  @Test
  void no_guard_no_hash() {
    body.set("not json");
    assertThat(probe()).isEqualTo("none");
    server.stop(0);
    assertThat(probe()).isEqualTo("none");
  }
}
