package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.ScriptedUpstream.raw;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.ScriptedUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The fast path's own upstream connections against a raw-socket upstream: kept alive and reused,
 * replaced when the upstream closes them, never reused when the answer says so, and every way an
 * answer can be framed, paused, cut or malformed ends the exchange exactly once.
 */
class UpstreamLinksTest {
  static final String BODY = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}";

  final UpstreamClient client = new UpstreamClient(Duration.ofSeconds(5));
  ScriptedUpstream upstream;
  UpstreamLinks links;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    client.start();
    links = client.links();
  }

  @AfterEach
  void stop() throws Exception {
    client.stop();
    upstream.close();
  }

  /** What an answer delivered, and how it ended. */
  static final class Collected implements UpstreamLinks.Answer {
    final CompletableFuture<Void> ended = new CompletableFuture<>();
    final ByteArrayOutputStream body = new ByteArrayOutputStream();
    final BlockingQueue<Callback> held = new LinkedBlockingQueue<>();
    final boolean hold;
    volatile int status;
    volatile HttpFields headers;
    volatile boolean last;

    Collected(boolean hold) {
      this.hold = hold;
    }

    @Override
    public void headers(int status, HttpFields headers, Callback proceed) {
      this.status = status;
      this.headers = headers;
      proceed.succeeded();
    }

    @Override
    public void content(ByteBuffer bytes, boolean last, Callback written) {
      synchronized (body) {
        while (bytes.hasRemaining()) {
          body.write(bytes.get());
        }
      }
      this.last |= last;
      if (hold) {
        held.add(written);
      } else {
        written.succeeded();
      }
    }

    @Override
    public void completed() {
      ended.complete(null);
    }

    @Override
    public void failed(Throwable cause) {
      ended.completeExceptionally(cause);
    }

    String body() {
      synchronized (body) {
        return body.toString(StandardCharsets.UTF_8);
      }
    }

    /** Waits for the end; the failure's cause when it failed, else null. */
    Throwable await() throws Exception {
      try {
        ended.get(10, TimeUnit.SECONDS);
        return null;
      } catch (ExecutionException failed) {
        return failed.getCause();
      }
    }
  }

  Collected send(int port, boolean hold) {
    Collected answer = new Collected(hold);
    send(port, answer);
    return answer;
  }

  void send(int port, Collected answer) {
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
    String head =
        "POST /mcp HTTP/1.1\r\nHost: up\r\nX-Mine: 1\r\nContent-Length: "
            + body.length
            + "\r\n\r\n";
    links.send(
        "127.0.0.1",
        port,
        UpstreamLinks.call(
            ByteBuffer.wrap(head.getBytes(StandardCharsets.ISO_8859_1)),
            ByteBuffer.wrap(body),
            answer));
  }

  /**
   * Waits until {@code n} connections are idle. The request's write and the answer end in either
   * order: the thread that wrote may still be on its way to the write's callback when the answer
   * has been handed on whole, and the connection goes back to the pool only after both.
   */
  void awaitIdle(int n) {
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(() -> assertThat(links.idle()).isEqualTo(n));
  }

  Collected send(boolean hold) {
    return send(upstream.mcpUrl().getPort(), hold);
  }

  @Test
  void answers_in_a_row_share_one_kept_alive_connection() throws Exception {
    upstream.script((r, s) -> json(s, 200, Map.of("X-Answer", r.headers().get("x-mine")), "{}"));

    for (int i = 0; i < 3; i++) {
      Collected answer = send(false);
      assertThat(answer.await()).isNull();
      assertThat(answer.status).isEqualTo(200);
      assertThat(answer.headers.get("X-Answer")).isEqualTo("1");
      assertThat(answer.body()).isEqualTo("{}");
      assertThat(answer.last).isTrue();
      awaitIdle(1);
    }
    assertThat(upstream.connections()).isEqualTo(1);
    assertThat(upstream.seen).hasSize(3).allSatisfy(r -> assertThat(r.body()).isEqualTo(BODY));
  }

  @Test
  void a_connection_the_upstream_closes_while_idle_leaves_the_pool_and_the_next_call_opens_one()
      throws Exception {
    upstream.script(
        (r, s) -> {
          json(s, 200, Map.of(), "{}");
          s.shutdownOutput(); // a clean close after the answer, as a keep-alive timeout does
        });
    assertThat(send(false).await()).isNull();
    await().untilAsserted(() -> assertThat(links.idle()).isZero());

    upstream.script((r, s) -> json(s, 200, Map.of(), "{\"again\":true}"));
    Collected next = send(false);

    assertThat(next.await()).isNull();
    assertThat(next.body()).isEqualTo("{\"again\":true}");
    assertThat(upstream.connections()).isEqualTo(2);
  }

  @Test
  void a_quiet_answer_outlives_the_idle_timeout_and_an_idle_connection_does_not() throws Exception {
    Duration idle = Duration.ofMillis(300);
    UpstreamClient quick = new UpstreamClient(Duration.ofSeconds(5), idle);
    quick.start();
    try {
      links = quick.links();
      quietThenIdle(idle);
    } finally {
      quick.stop();
    }
  }

  private void quietThenIdle(Duration idle) throws Exception {
    CountDownLatch more = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
          more.await(10, TimeUnit.SECONDS); // quiet, as an SSE stream between events
          raw(s, "4\r\nlast\r\n0\r\n\r\n");
        });
    Collected answer = send(false);
    await().until(() -> answer.body().equals("first"));

    // Busy, quiet for twice the idle timeout: the connection stays open.
    await()
        .during(idle.multipliedBy(2))
        .atMost(Duration.ofSeconds(5))
        .until(() -> !answer.ended.isDone());
    more.countDown();
    assertThat(answer.await()).isNull();
    assertThat(answer.body()).isEqualTo("firstlast");

    // Idle in the pool, it is closed once the idle timeout passes.
    awaitIdle(1);
    await().atMost(Duration.ofSeconds(5)).until(() -> links.idle() == 0);
  }

  @Test
  void an_answer_that_says_close_is_relayed_and_its_connection_not_reused() throws Exception {
    upstream.script((r, s) -> json(s, 200, Map.of("Connection", "close"), "{}"));

    Collected first = send(false);
    assertThat(first.await()).isNull();
    assertThat(first.body()).isEqualTo("{}");
    assertThat(links.idle()).isZero();
    assertThat(send(false).await()).isNull();

    assertThat(upstream.connections()).isEqualTo(2);
  }

  @Test
  void interim_answers_are_passed_over_and_a_chunked_body_arrives_whole_with_its_end()
      throws Exception {
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                    + "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n"
                    + "7\r\ndata: a\r\n2\r\n\n\n\r\n0\r\n\r\n"));

    Collected answer = send(false);

    assertThat(answer.await()).isNull();
    assertThat(answer.status).isEqualTo(200);
    assertThat(answer.headers.get("Link")).isNull();
    assertThat(answer.body()).isEqualTo("data: a\n\n");
    assertThat(answer.last).isTrue();
    awaitIdle(1);
  }

  @Test
  void an_answer_ended_by_the_close_of_its_connection_completes_and_is_not_reused()
      throws Exception {
    upstream.script(
        (r, s) -> {
          raw(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"no\":\"length\"}");
          s.close();
        });

    Collected answer = send(false);

    assertThat(answer.await()).isNull();
    assertThat(answer.body()).isEqualTo("{\"no\":\"length\"}");
    assertThat(links.idle()).isZero();
  }

  @Test
  void a_paused_reader_holds_the_rest_until_its_write_completes() throws Exception {
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"));

    Collected answer = send(true);
    Callback first = answer.held.poll(10, TimeUnit.SECONDS);
    // The rest came with it, but nothing more is handed on before the first piece is written.
    assertThat(answer.held).isEmpty();
    assertThat(answer.body()).isEqualTo("first");

    first.succeeded(); // on this thread: it takes over the processing
    Callback second = answer.held.poll(10, TimeUnit.SECONDS);
    assertThat(answer.body()).isEqualTo("firstsecond");
    second.succeeded();
    Callback end = answer.held.poll(10, TimeUnit.SECONDS);
    assertThat(answer.last).isTrue();
    assertThat(answer.ended).isNotDone();
    end.succeeded();

    assertThat(answer.await()).isNull();
    awaitIdle(1);
  }

  @Test
  void a_failed_write_gives_the_exchange_up_and_closes_its_connection() throws Exception {
    upstream.script(
        (r, s) -> raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"));

    Collected answer = send(true);
    IOException gone = new IOException("client gone");
    answer.held.poll(10, TimeUnit.SECONDS).failed(gone);

    assertThat(answer.await()).isSameAs(gone);
    assertThat(links.idle()).isZero();
  }

  @Test
  void an_answer_cut_short_fails_and_its_connection_is_not_reused() throws Exception {
    upstream.script(
        (r, s) -> {
          raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":");
          s.close();
        });

    Collected answer = send(false);

    assertThat(answer.await()).isInstanceOf(IOException.class);
    assertThat(answer.body()).isEqualTo("{\"partial\":");
    assertThat(answer.last).isFalse();
    assertThat(links.idle()).isZero();
  }

  @Test
  void a_malformed_answer_or_one_with_oversized_headers_fails_before_its_headers()
      throws Exception {
    upstream.script((r, s) -> raw(s, "HTTP/1.1 2x0 Nope\r\n\r\n"));
    Collected malformed = send(false);
    assertThat(malformed.await()).hasMessageContaining("bad answer from the upstream");
    assertThat(malformed.status).isZero();

    String big = "a".repeat(70 * 1024);
    upstream.script((r, s) -> raw(s, "HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\n\r\n"));
    Collected oversized = send(false);
    assertThat(oversized.await()).hasMessageContaining("bad answer from the upstream");
    assertThat(oversized.status).isZero();
    assertThat(links.idle()).isZero();
  }

  /**
   * Answers that arrive just before or just after their first-byte deadline: each exchange ends
   * exactly one way, relayed whole or failed with the timeout before any of it was handed on, and
   * never both, nor with two calls at once.
   */
  @Test
  void an_answer_arriving_as_its_deadline_passes_is_either_relayed_or_timed_out_never_both()
      throws Exception {
    Duration firstByte = Duration.ofMillis(50);
    upstream.script(
        (r, s) -> {
          // The upstream's own delay, either side of the deadline: 0 to 100 ms after the request
          // (wide enough that a busy machine's scheduling leaves some answers in time).
          LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(0, 2 * firstByte.toNanos()));
          raw(s, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        });
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
    String head = "POST /mcp HTTP/1.1\r\nHost: up\r\nContent-Length: " + body.length + "\r\n\r\n";
    List<Recorded> all = new ArrayList<>();
    for (int wave = 0; wave < 40; wave++) {
      List<Recorded> calls = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        Recorded answer = new Recorded();
        calls.add(answer);
        links.send(
            "127.0.0.1",
            upstream.mcpUrl().getPort(),
            UpstreamLinks.call(
                ByteBuffer.wrap(head.getBytes(StandardCharsets.ISO_8859_1)),
                ByteBuffer.wrap(body),
                answer,
                firstByte,
                System.nanoTime()));
      }
      for (Recorded answer : calls) {
        answer.ended.get(10, TimeUnit.SECONDS);
      }
      all.addAll(calls);
    }

    List<String> relayed = List.of("headers 202", "content 0 last", "completed");
    List<String> timedOut = List.of("failed FirstByteTimeout");
    for (Recorded answer : all) {
      assertThat(answer.overlapped).isFalse();
      // Anything after the end would have arrived by the time every call of a later wave ended.
      assertThat(answer.events()).isIn(relayed, timedOut);
    }
    assertThat(all).anyMatch(a -> a.events().equals(relayed));
    assertThat(all).anyMatch(a -> a.events().equals(timedOut));
  }

  /** Every call an answer gets, in order, and whether two ever ran at once. */
  static final class Recorded implements UpstreamLinks.Answer {
    final CompletableFuture<Void> ended = new CompletableFuture<>();
    private final List<String> events = new ArrayList<>();
    private final AtomicBoolean inside = new AtomicBoolean();
    volatile boolean overlapped;

    private void note(String event) {
      if (!inside.compareAndSet(false, true)) {
        overlapped = true;
      }
      synchronized (events) {
        events.add(event);
      }
      inside.set(false);
    }

    List<String> events() {
      synchronized (events) {
        return List.copyOf(events);
      }
    }

    @Override
    public void headers(int status, HttpFields headers, Callback proceed) {
      note("headers " + status);
      proceed.succeeded();
    }

    @Override
    public void content(ByteBuffer bytes, boolean last, Callback written) {
      note("content " + bytes.remaining() + (last ? " last" : ""));
      written.succeeded();
    }

    @Override
    public void completed() {
      note("completed");
      ended.complete(null);
    }

    @Override
    public void failed(Throwable cause) {
      note("failed " + cause.getClass().getSimpleName());
      ended.complete(null);
    }
  }

  @Test
  void an_answer_that_ends_before_its_request_is_written_is_reused_once_the_write_completes()
      throws Exception {
    byte[] big = new byte[16 << 20]; // more than the sockets' buffers hold
    byte[] head =
        ("POST /mcp HTTP/1.1\r\nHost: up\r\nContent-Length: " + big.length + "\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1);
    CountDownLatch checked = new CountDownLatch(1);
    try (ServerSocket early = new ServerSocket()) {
      // A small receive buffer, so that the body cannot all be written while it is not read.
      early.setReceiveBufferSize(16 * 1024);
      early.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1);
      CompletableFuture.runAsync(
          () -> {
            try (java.net.Socket s = early.accept()) {
              // Answers before it reads the body: the guard's write is still pending.
              raw(s, "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n");
              checked.await(10, TimeUnit.SECONDS);
              s.getInputStream().readNBytes(head.length + big.length); // then takes it all
              s.getInputStream().read(); // and holds the connection until the guard closes it
            } catch (IOException | InterruptedException e) {
              throw new IllegalStateException(e);
            }
          });
      Collected answer = new Collected(false);
      links.send(
          "127.0.0.1",
          early.getLocalPort(),
          UpstreamLinks.call(ByteBuffer.wrap(head), ByteBuffer.wrap(big), answer));

      assertThat(answer.await()).isNull();
      assertThat(answer.status).isEqualTo(413);
      assertThat(links.idle()).isZero(); // busy while its request is still being written
      checked.countDown();
      await().atMost(Duration.ofSeconds(10)).until(() -> links.idle() == 1);
    }
  }

  @Test
  void a_refused_connection_fails_the_call() throws Exception {
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }

    assertThat(send(port, false).await()).isInstanceOf(ConnectException.class);
  }
}
