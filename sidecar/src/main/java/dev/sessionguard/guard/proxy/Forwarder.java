package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.config.GuardConfig;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;
import java.util.Collections;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;

/**
 * Talks to the upstream: sends one request with the policy's connect and first-byte timeouts (never
 * a total timeout: SSE lives long), and streams the answer back, flushing whenever the upstream
 * pauses so each SSE event leaves as it arrives.
 */
public final class Forwarder {

  private final HttpClient client;

  public Forwarder(Duration connectTimeout) {
    this.client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(connectTimeout)
            .build();
  }

  /** The upstream's answer (headers arrived; the body is still to be read), or a guard error. */
  sealed interface Answer {
    record Response(HttpResponse<InputStream> response, Duration took) implements Answer {}

    record Failed(GuardError error, String why) implements Answer {}
  }

  /** How streaming the answer back ended. */
  enum Outcome {
    COMPLETE,
    CLIENT_GONE,
    UPSTREAM_BROKEN
  }

  /** Builds the upstream request from the client's: same method, path, query and headers. */
  HttpRequest request(GuardConfig cfg, HttpServletRequest req, BodyPublisher body) {
    String query = req.getQueryString();
    URI target =
        URI.create(
            cfg.upstream() + req.getRequestURI() + (query == null ? "" : "?" + query)); // raw path
    // No .timeout(...): JDK <= 25 applies it to headers only, JDK 26+ to the whole body.
    HttpRequest.Builder out = HttpRequest.newBuilder(target).method(req.getMethod(), body);
    Set<String> strip = HopByHop.namesToStrip(Collections.list(req.getHeaders("Connection")), true);
    for (String name : Collections.list(req.getHeaderNames())) {
      String lower = name.toLowerCase(Locale.ROOT);
      if (strip.contains(lower) || lower.equals("x-forwarded-for")) {
        continue;
      }
      for (String value : Collections.list(req.getHeaders(name))) {
        out.header(name, value);
      }
    }
    String prior = String.join(", ", Collections.list(req.getHeaders("X-Forwarded-For")));
    String peer = req.getRemoteAddr();
    out.header("X-Forwarded-For", prior.isEmpty() ? peer : prior + ", " + peer);
    if (req.getHeader("X-Forwarded-Proto") == null) {
      out.header("X-Forwarded-Proto", req.getScheme());
    }
    return out.build();
  }

  static BodyPublisher body(byte[] bytes) {
    return bytes == null || bytes.length == 0
        ? BodyPublishers.noBody()
        : BodyPublishers.ofByteArray(bytes);
  }

  /** Sends and waits for the response headers, at most {@code firstByte} after sending. */
  Answer send(HttpRequest request, Duration firstByte) {
    long started = System.nanoTime();
    CompletableFuture<HttpResponse<InputStream>> pending =
        client.sendAsync(request, BodyHandlers.ofInputStream());
    try {
      HttpResponse<InputStream> response = pending.get(firstByte.toMillis(), TimeUnit.MILLISECONDS);
      return new Answer.Response(response, Duration.ofNanos(System.nanoTime() - started));
    } catch (TimeoutException e) {
      pending.cancel(true); // aborts the exchange and closes its connection
      return new Answer.Failed(GuardError.UPSTREAM_TIMEOUT, "no response headers in " + firstByte);
    } catch (InterruptedException e) {
      pending.cancel(true);
      Thread.currentThread().interrupt();
      return new Answer.Failed(GuardError.UPSTREAM_FAILED, "interrupted");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (causedBy(cause, BoundedBody.TooLarge.class)) {
        return new Answer.Failed(GuardError.BODY_TOO_LARGE, "request body over the limit");
      }
      if (cause instanceof HttpConnectTimeoutException) {
        return new Answer.Failed(GuardError.UPSTREAM_FAILED, "connect timed out");
      }
      return new Answer.Failed(GuardError.UPSTREAM_FAILED, String.valueOf(cause));
    }
  }

  /**
   * Streams the upstream's answer to the client: status, end-to-end headers, then the body, flushed
   * whenever the upstream pauses. A client that goes away is seen on the next write; then closing
   * the upstream body aborts the upstream exchange.
   */
  Outcome relay(HttpServletRequest req, HttpServletResponse res, HttpResponse<InputStream> upstream)
      throws IOException {
    res.setStatus(upstream.statusCode());
    res.setContentType(null); // Javalin presets text/plain; the upstream's own comes below
    Set<String> strip = HopByHop.namesToStrip(upstream.headers().allValues("connection"), false);
    upstream
        .headers()
        .map()
        .forEach(
            (name, values) -> {
              if (name.startsWith(":") || strip.contains(name.toLowerCase(Locale.ROOT))) {
                return;
              }
              if (name.equalsIgnoreCase("date")) {
                res.setHeader(name, values.get(0)); // replace Jetty's own Date, not add a second
              } else {
                for (String v : values) {
                  res.addHeader(name, v);
                }
              }
            });
    boolean sse =
        upstream
            .headers()
            .firstValue("content-type")
            .map(ct -> ct.toLowerCase(Locale.ROOT).startsWith("text/event-stream"))
            .orElse(false);
    if (sse) {
      res.setHeader("X-Accel-Buffering", "no");
    }
    InputStream in = upstream.body();
    try (in) {
      ServletOutputStream out = res.getOutputStream(); // not ctx.outputStream(): that one may gzip
      if (sse) {
        out.flush(); // status and headers go before the first event
      }
      // Once the declared length is written the client has the whole answer, and Jetty may
      // already have completed the response: a failing flush then is not a lost answer.
      long declared = upstream.headers().firstValueAsLong("content-length").orElse(-1L);
      long written = 0;
      byte[] buf = new byte[8192];
      while (true) {
        int n;
        try {
          n = in.read(buf);
        } catch (IOException e) {
          abortClient(req, e);
          return Outcome.UPSTREAM_BROKEN;
        }
        if (n == -1) {
          break;
        }
        try {
          out.write(buf, 0, n);
          written += n;
          if (in.available() == 0) {
            out.flush(); // the upstream paused: an event boundary, send it now
          }
        } catch (IOException clientGone) {
          return written == declared ? Outcome.COMPLETE : Outcome.CLIENT_GONE;
        }
      }
      try {
        out.flush();
      } catch (IOException clientGone) {
        return written == declared ? Outcome.COMPLETE : Outcome.CLIENT_GONE;
      }
      return Outcome.COMPLETE;
    }
  }

  /** The upstream died mid-body: the client must see a truncated response, not a clean end. */
  private static void abortClient(HttpServletRequest req, IOException cause) {
    ServletContextRequest jetty = ServletContextRequest.getServletContextRequest(req);
    if (jetty != null) {
      jetty.getServletChannel().getEndPoint().close(cause);
    }
  }

  /** True when a TCP connection to the upstream opens within {@code timeout}. */
  public boolean reachable(GuardConfig cfg, Duration timeout) {
    URI u = cfg.upstream();
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(u.getHost(), u.getPort()), (int) timeout.toMillis());
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean causedBy(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }
}
