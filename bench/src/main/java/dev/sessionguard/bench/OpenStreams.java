package dev.sessionguard.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Holds many standalone SSE streams open through the guard: initializes N sessions, opens their GET
 * streams in steps, and after each step samples the guard's RSS, threads and file descriptors from
 * {@code /proc}. With all streams open it checks that the guard still admits a new session and
 * forwards a call, and that every stream still gets the upstream's periodic events.
 *
 * <p>Usage: {@code OpenStreams --url GUARD_MCP_URL --pid GUARD_PID --streams N [--step K]
 * [--step-timeout S] [--tick S] [--at-held 'shell command']}; the command runs once all streams are
 * held (e.g. a heap histogram of the guard).
 */
public final class OpenStreams {
  private static final String PROTOCOL = "2025-11-25";
  private static final String INITIALIZE =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\""
          + PROTOCOL
          + "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}";
  private static final String CALL =
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
          + "\"arguments\":{\"text\":\"hi\"}}}";

  private OpenStreams() {}

  public static void main(String[] args) throws Exception {
    URI url = null;
    long pid = 0;
    int n = 10_000;
    int step = 1000;
    int stepTimeout = 60;
    double tick = 5;
    String atHeld = null;
    for (int i = 0; i < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--url" -> url = URI.create(v);
        case "--pid" -> pid = Long.parseLong(v);
        case "--streams" -> n = Integer.parseInt(v);
        case "--step" -> step = Integer.parseInt(v);
        case "--step-timeout" -> stepTimeout = Integer.parseInt(v);
        case "--tick" -> tick = Double.parseDouble(v);
        case "--at-held" -> atHeld = v;
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    HttpClient client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    sample(pid, "before", 0, 0, 0);

    long t0 = System.nanoTime();
    String[] ids = initialize(client, url, n);
    System.out.printf("initialized=%d seconds=%.1f%n", n, (System.nanoTime() - t0) / 1e9);
    sample(pid, "sessions", 0, 0, 0);

    AtomicLongArray events = new AtomicLongArray(n);
    AtomicInteger open = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    int target = 0;
    while (target < n) {
      int from = target;
      target = Math.min(n, target + step);
      long s0 = System.nanoTime();
      for (int i = from; i < target; i++) {
        openStream(client, url, ids[i], i, events, open, failed);
      }
      long deadline = s0 + stepTimeout * 1_000_000_000L;
      while (open.get() + failed.get() < target && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      if (!sample(
          pid, "streams=" + target, open.get(), failed.get(), (System.nanoTime() - s0) / 1e9)) {
        System.out.printf("guard exited with %d streams open%n", open.get());
        System.exit(0);
      }
      if (open.get() + failed.get() < target) {
        System.out.printf(
            "stalled: %d of %d streams open after %ds; not opening more%n",
            open.get(), target, stepTimeout);
        break;
      }
    }

    // With every stream held: does the guard still admit and forward?
    long[] before = new long[n];
    for (int i = 0; i < n; i++) {
      before[i] = events.get(i);
    }
    probe(client, url);
    Thread.sleep((long) (tick * 1000 * 2 + 1000));
    int ticked = 0;
    for (int i = 0; i < n; i++) {
      if (events.get(i) > before[i]) {
        ticked++;
      }
    }
    System.out.printf("streams_with_new_events=%d of open=%d%n", ticked, open.get());
    sample(pid, "held", open.get(), failed.get(), 0);
    if (atHeld != null && Files.exists(Path.of("/proc/" + pid))) {
      new ProcessBuilder("bash", "-c", atHeld).inheritIO().start().waitFor();
    }
    System.exit(0);
  }

  private static String[] initialize(HttpClient client, URI url, int n) throws Exception {
    String[] ids = new String[n];
    Semaphore window = new Semaphore(64);
    ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    CompletableFuture<?>[] all = new CompletableFuture<?>[n];
    for (int i = 0; i < n; i++) {
      window.acquire();
      int slot = i;
      all[i] =
          client
              .sendAsync(post(url, INITIALIZE, null).build(), BodyHandlers.discarding())
              .whenComplete(
                  (r, e) -> {
                    window.release();
                    if (e != null) {
                      problems.add(String.valueOf(e));
                    } else if (r.statusCode() != 200) {
                      problems.add("status " + r.statusCode());
                    } else {
                      ids[slot] = r.headers().firstValue("Mcp-Session-Id").orElse(null);
                    }
                  });
    }
    CompletableFuture.allOf(all).exceptionally(e -> null).join();
    if (!problems.isEmpty()) {
      throw new IllegalStateException(
          problems.size() + " initialize requests failed, e.g. " + problems.peek());
    }
    return ids;
  }

  private static void openStream(
      HttpClient client,
      URI url,
      String id,
      int slot,
      AtomicLongArray events,
      AtomicInteger open,
      AtomicInteger failed) {
    HttpRequest get =
        HttpRequest.newBuilder(url)
            .GET()
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", id)
            .header("MCP-Protocol-Version", PROTOCOL)
            .build();
    Flow.Subscriber<String> lines =
        new Flow.Subscriber<>() {
          @Override
          public void onSubscribe(Flow.Subscription s) {
            s.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(String line) {
            if (line.startsWith("data:") && events.getAndIncrement(slot) == 0) {
              open.incrementAndGet();
            }
          }

          @Override
          public void onError(Throwable t) {
            failed.incrementAndGet();
          }

          @Override
          public void onComplete() {}
        };
    client
        .sendAsync(get, BodyHandlers.fromLineSubscriber(lines))
        .whenComplete(
            (r, e) -> {
              if (e == null && r.statusCode() != 200) {
                failed.incrementAndGet();
              }
            });
  }

  private static void probe(HttpClient client, URI url) {
    try {
      long t0 = System.nanoTime();
      HttpResponse<Void> init =
          client.send(post(url, INITIALIZE, null).build(), BodyHandlers.discarding());
      long t1 = System.nanoTime();
      String id = init.headers().firstValue("Mcp-Session-Id").orElse("none");
      HttpResponse<Void> call = client.send(post(url, CALL, id).build(), BodyHandlers.discarding());
      long t2 = System.nanoTime();
      System.out.printf(
          "probe initialize=%d initialize_ms=%.1f call=%d call_ms=%.1f%n",
          init.statusCode(), (t1 - t0) / 1e6, call.statusCode(), (t2 - t1) / 1e6);
    } catch (IOException | InterruptedException e) {
      System.out.println("probe failed: " + e);
    }
  }

  private static HttpRequest.Builder post(URI url, String body, String session) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(url)
            .timeout(Duration.ofSeconds(15))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", PROTOCOL);
    if (session != null) {
      b.header("Mcp-Session-Id", session);
    }
    return b;
  }

  /** One line of the guard's process figures from /proc; false when the guard is gone. */
  private static boolean sample(long pid, String label, int open, int failed, double seconds)
      throws IOException {
    if (!Files.exists(Path.of("/proc/" + pid + "/status"))) {
      return false;
    }
    long rssKb = 0;
    int threads = 0;
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        rssKb = Long.parseLong(line.replaceAll("\\D", ""));
      } else if (line.startsWith("Threads:")) {
        threads = Integer.parseInt(line.replaceAll("\\D", ""));
      }
    }
    if (rssKb == 0) {
      return false; // a zombie: exited, not yet reaped
    }
    long fds;
    try (var list = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      fds = list.count();
    }
    System.out.printf(
        "%s open=%d failed=%d rss_mb=%.1f threads=%d fds=%d step_s=%.1f%n",
        label, open, failed, rssKb / 1024.0, threads, fds, seconds);
    return true;
  }
}
