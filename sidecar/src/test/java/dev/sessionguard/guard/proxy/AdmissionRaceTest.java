package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.initialize;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.FastUpstream;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.guard.admission.SessionRegistry;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class AdmissionRaceTest {

  @Test
  void two_thousand_concurrent_initializes_never_admit_more_than_the_caps() throws Exception {
    try (FastUpstream upstream = new FastUpstream();
        Guard guard =
            TestGuards.start(
                upstream.mcpUrl(),
                "identity: {source: Header, header: {name: X-User}}\n"
                    + "sessions: {max: 100, perClient: 10}\n"
                    + "requests: {maxInFlight: 100000, perClientInFlight: 100000}\n"
                    // the race is about caps: a loaded CI machine must not turn connects into 502s
                    + "timeouts: {connect: 30s}\n")) {
      SessionRegistry sessions = guard.sessions();
      AtomicBoolean racing = new AtomicBoolean(true);
      AtomicInteger mostHeld = new AtomicInteger();
      AtomicInteger mostByOneClient = new AtomicInteger();
      Thread watcher =
          new Thread(
              () -> {
                while (racing.get()) {
                  mostHeld.accumulateAndGet(sessions.active() + sessions.pending(), Math::max);
                  sessions.topHolders(1).stream()
                      .findFirst()
                      .ifPresent(h -> mostByOneClient.accumulateAndGet(h.sessions(), Math::max));
                }
              });
      watcher.start();

      HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
      List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
      for (int i = 0; i < 2000; i++) {
        HttpRequest request = initialize(guard, i, "X-User", "client-" + (i % 50));
        answers.add(client.sendAsync(request, BodyHandlers.ofString()));
      }
      CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).join();
      racing.set(false);
      watcher.join();

      Map<Integer, Integer> byStatus = new ConcurrentHashMap<>();
      Map<String, Integer> byClient = new ConcurrentHashMap<>();
      Map<String, String> owners = new ConcurrentHashMap<>(); // session id -> its client
      for (int i = 0; i < answers.size(); i++) {
        HttpResponse<String> r = answers.get(i).join();
        byStatus.merge(r.statusCode(), 1, Integer::sum);
        if (r.statusCode() == 200) {
          byClient.merge("client-" + (i % 50), 1, Integer::sum);
          owners.put(r.headers().firstValue("Mcp-Session-Id").orElseThrow(), "client-" + (i % 50));
        }
      }
      System.out.println("race statuses: " + byStatus + ", most held at once: " + mostHeld);

      assertThat(byStatus.get(200)).isEqualTo(100); // the upstream answered every admitted one
      assertThat(byStatus.keySet()).isSubsetOf(200, 503, 429);
      assertThat(byClient.values()).allMatch(n -> n <= 10);
      assertThat(mostHeld.get()).isLessThanOrEqualTo(100);
      assertThat(mostByOneClient.get()).isLessThanOrEqualTo(10);
      assertThat(upstream.initializes.get()).isEqualTo(100);
      assertThat(sessions.active()).isEqualTo(100);

      List<CompletableFuture<HttpResponse<Void>>> deletes = new ArrayList<>();
      for (Map.Entry<String, String> owned : owners.entrySet()) {
        deletes.add(
            client.sendAsync(
                HttpRequest.newBuilder(TestGuards.mcp(guard))
                    .DELETE()
                    .header("Mcp-Session-Id", owned.getKey())
                    .header("X-User", owned.getValue()) // a session belongs to its client
                    .build(),
                BodyHandlers.discarding()));
      }
      CompletableFuture.allOf(deletes.toArray(CompletableFuture[]::new)).join();
      await()
          .untilAsserted(
              () -> {
                assertThat(sessions.active()).isZero();
                assertThat(sessions.pending()).isZero();
                assertThat(sessions.clients()).isZero();
                assertThat(guard.requests().total()).isZero();
                assertThat(guard.requests().clients()).isZero();
              });
      assertThat(upstream.live).isEmpty();
    }
  }
}
