package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.proxy.RawClient.call;
import static dev.sessionguard.guard.proxy.RawClient.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Many clients at once, each doing at random what real clients do now and then: requests ahead of
 * their answers, heads and bodies in pieces, bodies too large for the connection's buffer or
 * chunked, malformed JSON, {@code Connection: close}, a half-close, and leaving at any point —
 * before the head ends, mid-body, or before reading the answer. Some calls meet the in-flight cap.
 * Whatever they did, every answer a client read was whole and one the guard documents, and once
 * they are done the guard holds no permit, counts exactly the sessions the upstream holds, and
 * serves every kept connection.
 */
class UnrulyClientsTest {
  static final int CLIENTS = 8;
  static final int ROUNDS = 150;

  FastUpstream upstream;
  Guard guard;
  final long seed = System.nanoTime();
  final AtomicInteger refused = new AtomicInteger();

  @BeforeEach
  void start() throws Exception {
    upstream = new FastUpstream();
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            """
            sessions: {max: 1000, perClient: 1000}
            requests: {maxInFlight: 6, perClientInFlight: 6}
            timeouts: {firstByte: 5s}
            """);
  }

  @AfterEach
  void stop() {
    guard.close();
    upstream.close();
  }

  @Test
  void leave_no_permit_and_no_uncounted_session_behind() throws Exception {
    AtomicInteger cut = new AtomicInteger();
    List<RawClient> kept = new ArrayList<>();
    List<String> sessions = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) { // before the in-flight cap is in play
      kept.add(new RawClient(guard.port()));
      sessions.add(session(kept.get(c)));
    }
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    try {
      List<Future<?>> clients = new ArrayList<>();
      for (int c = 0; c < CLIENTS; c++) {
        Callable<Void> rounds = client(new Random(seed + c), kept.get(c), sessions.get(c), cut);
        clients.add(pool.submit(rounds));
      }
      for (Future<?> f : clients) {
        f.get(2, TimeUnit.MINUTES);
      }

      await()
          .untilAsserted(
              () -> {
                assertThat(metric(guard, "sessionguard_inflight_requests")).as(seed()).isZero();
                assertThat(metric(guard, "sessionguard_sessions_active"))
                    .as(seed())
                    .isEqualTo(upstream.live.size());
              });
      assertThat(cut.get()).as("clients that left early").isPositive();
      assertThat(refused.get()).as("calls refused at the in-flight cap").isPositive();
      for (int c = 0; c < CLIENTS; c++) {
        kept.get(c).send(post(sessions.get(c), call(1, "still")));
        assertThat(kept.get(c).read().status()).as(seed()).isEqualTo(200);
      }
    } finally {
      pool.shutdownNow();
      for (RawClient client : kept) {
        client.close();
      }
    }
  }

  String seed() {
    return "seed " + seed;
  }

  /** A new session, made on {@code client}'s connection. */
  static String session(RawClient client) throws IOException {
    client.send(post(null, RawClient.initialize(0)));
    RawClient.Answer answer = client.read();
    assertThat(answer.status()).isEqualTo(200);
    return answer.headers().get("mcp-session-id");
  }

  /** One client's rounds on its kept connection and session, and on fresh connections. */
  Callable<Void> client(Random random, RawClient kept, String session, AtomicInteger cut) {
    return () -> {
      for (int round = 0; round < ROUNDS; round++) {
        String text = "r" + round;
        String request = post(session, call(round, text));
        switch (random.nextInt(13)) {
          case 0 -> {
            kept.send(request);
            expectCall(kept.read());
          }
          case 1 -> {
            kept.send(request, post(session, call(round, text + "b")));
            expectCall(kept.read());
            expectCall(kept.read());
          }
          case 2 -> {
            // Sent in three pieces cut anywhere.
            int a = 1 + random.nextInt(request.length() - 2);
            int b = a + random.nextInt(request.length() - a);
            kept.send(request.substring(0, a));
            kept.send(request.substring(a, b));
            kept.send(request.substring(b));
            expectCall(kept.read());
          }
          case 3 -> {
            kept.send(post(session, "{not json"));
            assertThat(kept.read().status()).as(seed()).isEqualTo(400);
          }
          case 4 -> {
            kept.send(post(session, call(round, text + "x".repeat(20_000))));
            expectCall(kept.read());
          }
          case 5 -> {
            kept.send(RawClient.chunkedPost(session, call(round, text)));
            expectCall(kept.read());
          }
          case 6 -> {
            // A session of its own, ended by the client.
            kept.send(post(null, RawClient.initialize(round)));
            RawClient.Answer made = kept.read();
            assertThat(made.status()).as(seed()).isIn(200, 503, 429);
            if (made.status() != 200) {
              continue;
            }
            kept.send(
                "DELETE /mcp HTTP/1.1\r\nHost: guard\r\nMcp-Session-Id: "
                    + made.headers().get("mcp-session-id")
                    + "\r\n\r\n");
            assertThat(kept.read().status()).as(seed()).isIn(200, 503, 429);
          }
          case 7 -> {
            try (RawClient once = new RawClient(guard.port())) {
              once.send(post(session, call(round, text), "Connection: close\r\n"));
              expectCall(once.read());
              assertThat(once.next()).as(seed()).isEqualTo(-1);
            }
          }
          case 8 -> {
            try (RawClient once = new RawClient(guard.port())) {
              once.send(request);
              once.socket.shutdownOutput();
              expectCall(once.read());
            }
          }
          default -> {
            // Leaves: before the head ends, mid-body, before reading the answer, or right after
            // an initialize (the session is the guard's to count, or not, as the upstream's).
            cut.incrementAndGet();
            try (RawClient once = new RawClient(guard.port())) {
              String sent = random.nextBoolean() ? request : post(null, RawClient.initialize(1));
              int end = sent.indexOf("\r\n\r\n") + 4;
              once.send(
                  switch (random.nextInt(3)) {
                    case 0 -> sent.substring(0, 1 + random.nextInt(end - 1));
                    case 1 -> sent.substring(0, end + random.nextInt(sent.length() - end));
                    default -> sent;
                  });
            }
          }
        }
      }
      return null;
    };
  }

  /** A call's answer: relayed, or refused at the in-flight cap with a JSON-RPC error. */
  void expectCall(RawClient.Answer answer) {
    if (answer.status() == 200) {
      assertThat(answer.body()).as(seed()).contains("\"result\"");
    } else {
      assertThat(answer.status()).as(seed()).isIn(503, 429);
      refused.incrementAndGet();
      assertThat(answer.body()).as(seed()).contains("\"error\"").contains("-3100");
    }
  }
}
