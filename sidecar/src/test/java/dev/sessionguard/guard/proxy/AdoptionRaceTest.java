package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.mcp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Two requests on one id the guard does not know, at once: one session, one slot. */
class AdoptionRaceTest {
  final CountDownLatch release = new CountDownLatch(1);
  final CountDownLatch refuse = new CountDownLatch(1);
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.body().contains("\"slow\"")) {
            release.await(30, TimeUnit.SECONDS);
          }
          if (r.body().contains("\"refused-later\"")) {
            refuse.await(30, TimeUnit.SECONDS);
            ScriptedUpstream.json(s, 405, Map.of(), "");
            return;
          }
          ScriptedUpstream.json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
        });
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}}\n"
                + "sessions: {max: 10, perClient: 1}\n");
  }

  @AfterEach
  void stop() throws Exception {
    release.countDown();
    refuse.countDown();
    guard.close();
    upstream.close();
  }

  HttpRequest call(String session, String tool, String user) {
    return HttpRequest.newBuilder(mcp(guard))
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", session)
        .header("X-User", user)
        .POST(
            HttpRequest.BodyPublishers.ofString(
                "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\""
                    + tool
                    + "\"}}"))
        .build();
  }

  @Test
  void a_second_request_on_an_id_being_adopted_joins_it_instead_of_taking_a_slot() {
    // A session from before a guard restart; alice may hold one. Her first request adopts it,
    // and the upstream takes its time answering.
    CompletableFuture<HttpResponse<String>> first =
        TestGuards.HTTP.sendAsync(
            call("s-before", "slow", "alice"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("\"slow\"")));

    // Her second, on the same id meanwhile: served at once, not refused at her cap (404, and her
    // SDK would drop a working session), and not held back until the first is answered (the
    // first may be a tool call waiting for what the second carries).
    HttpResponse<String> second = TestGuards.send(call("s-before", "quick", "alice"));
    status(second, 200);
    assertThat(first).isNotDone();
    // bob, meanwhile, on the id alice is adopting: not his, and not forwarded
    assertThat(TestGuards.send(call("s-before", "quick", "bob")).statusCode()).isEqualTo(404);
    assertThat(upstream.seen).noneMatch(r -> "bob".equals(r.headers().get("x-user")));

    release.countDown();
    assertThat(first).succeedsWithin(Duration.ofSeconds(10)).satisfies(r -> status(r, 200));
    // one session, one slot
    await()
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isEqualTo(1);
              assertThat(guard.sessions().pending()).isZero();
            });
    assertThat(guard.sessions().topHolders(5))
        .extracting(h -> h.client() + "=" + h.sessions())
        .containsExactly("user:alice=1");
    // and one adoption, in the metrics and the log
    assertThat(TestGuards.metric(guard, "sessionguard_admissions_total{kind=\"adopted\"}"))
        .isEqualTo(1);
    // bob, on the session alice adopted: not his
    assertThat(TestGuards.send(call("s-before", "quick", "bob")).statusCode()).isEqualTo(404);
  }

  @Test
  void a_request_joining_an_adoption_whose_first_request_failed_still_counts_for_the_id() {
    // alice's first request on the id is admitted and, later, refused by the upstream (405, as
    // for a GET on a server without streams); her second joined it meanwhile and is in flight.
    CompletableFuture<HttpResponse<String>> first =
        TestGuards.HTTP.sendAsync(
            call("s-before", "refused-later", "alice"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("refused-later")));
    CompletableFuture<HttpResponse<String>> second =
        TestGuards.HTTP.sendAsync(
            call("s-before", "slow", "alice"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("\"slow\"")));
    refuse.countDown();
    assertThat(first).succeedsWithin(Duration.ofSeconds(10)).satisfies(r -> status(r, 405));

    // A third on the id while the second is still out: it takes part in the same adoption, and
    // is not refused at alice's cap for the second's slot.
    status(TestGuards.send(call("s-before", "quick", "alice")), 200);
    release.countDown();
    assertThat(second).succeedsWithin(Duration.ofSeconds(10)).satisfies(r -> status(r, 200));
    await()
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isEqualTo(1);
              assertThat(guard.sessions().pending()).isZero();
            });
  }

  @Test
  void a_session_its_client_deletes_while_an_adoption_is_answered_is_not_recorded()
      throws Exception {
    CompletableFuture<HttpResponse<String>> first =
        TestGuards.HTTP.sendAsync(
            call("s-before", "slow", "alice"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("\"slow\"")));

    // alice gives up and ends the session; the upstream accepts
    HttpResponse<String> deleted =
        TestGuards.HTTP.send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Mcp-Session-Id", "s-before")
                .header("X-User", "alice")
                .DELETE()
                .build(),
            HttpResponse.BodyHandlers.ofString());
    status(deleted, 200);

    // the answer still out arrives: the session it would record is over
    release.countDown();
    assertThat(first).succeedsWithin(Duration.ofSeconds(10)).satisfies(r -> status(r, 200));
    await()
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isZero();
              assertThat(guard.sessions().pending()).isZero();
            });
    assertThat(TestGuards.send(call("s-before", "quick", "alice")).statusCode()).isEqualTo(404);
  }

  static void status(HttpResponse<String> r, int status) {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
  }
}
