package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.metric;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Client connections cost memory before any cap applies (a head sent slowly holds a buffer): past
 * GUARD_MAX_CONNECTIONS the guard accepts no more until one closes.
 */
class ConnectionLimitTest {
  FastUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new FastUpstream();
    guard =
        Guard.start(
            TestGuards.config(upstream.mcpUrl(), ""),
            Clock.systemUTC(),
            Map.of(Guard.MAX_CONNECTIONS_ENV, "2"));
  }

  @AfterEach
  void stop() {
    guard.close();
    upstream.close();
  }

  @Test
  void past_the_limit_a_connection_waits_until_one_closes() throws Exception {
    Socket second = new Socket("127.0.0.1", guard.port()); // closed below, to make room
    try (Socket first = new Socket("127.0.0.1", guard.port());
        Socket third = new Socket("127.0.0.1", guard.port())) {
      first.getOutputStream().write("G".getBytes(StandardCharsets.ISO_8859_1)); // half a head
      CompletableFuture<String> answer = CompletableFuture.supplyAsync(() -> exchange(third));

      // the kernel queued the third connection; the guard has not taken it
      await()
          .during(Duration.ofMillis(500))
          .atMost(Duration.ofSeconds(5))
          .until(() -> !answer.isDone());
      assertThat(upstream.seen).isEmpty();
      assertThat(metric(guard, "sessionguard_connections")).isEqualTo(2);
      assertThat(metric(guard, "sessionguard_connections_limit")).isEqualTo(2);

      second.close();
      assertThat(answer)
          .succeedsWithin(Duration.ofSeconds(10))
          .asString()
          .startsWith("HTTP/1.1 200");
    } finally {
      second.close(); // (again: closing twice does nothing)
    }
  }

  private static String exchange(Socket s) {
    try {
      s.setSoTimeout(20_000);
      s.getOutputStream()
          .write(
              "GET /.well-known/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  .getBytes(StandardCharsets.ISO_8859_1));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
