package dev.sessionguard.operator;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/**
 * {@code /readyz} (200 only while the operator runs and every informer is healthy), {@code
 * /healthz} (200 while the process serves: liveness) and {@code /metrics} in the Prometheus text
 * format, on the JDK's HTTP server.
 *
 * <p>Liveness does not ask the informers: they sync for up to two minutes at start on a large
 * cluster, and one that lost its watch (an API server restarting) retries on its own; a kubelet
 * restarting the operator for either would only start that over. An operator whose informers cannot
 * start exits by itself ({@code Main}).
 */
public final class ManagementServer implements AutoCloseable {
  private final HttpServer server;

  public ManagementServer(int port, Operator operator, PrometheusMeterRegistry registry)
      throws IOException {
    // taken once, after register(): building it takes a lock that start() holds while informers
    // sync, so a probe asking during start-up would hang instead of answering 503
    var info = operator.getRuntimeInfo();
    server = HttpServer.create(new InetSocketAddress(port), 0);
    server.createContext("/healthz", ex -> send(ex, 200, "ok\n"));
    server.createContext("/readyz", ex -> informers(ex, info));
    server.createContext(
        "/metrics",
        ex -> {
          ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
          send(ex, 200, registry.scrape());
        });
    server.setExecutor(Executors.newFixedThreadPool(2));
    server.start();
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private static void informers(HttpExchange ex, RuntimeInfo info) throws IOException {
    // before start() the health indicators throw: the informers do not exist yet
    if (!info.isStarted()) {
      send(ex, 503, "not started\n");
    } else if (info.allEventSourcesAreHealthy()) {
      send(ex, 200, "ok\n");
    } else {
      send(ex, 503, "informers unhealthy: " + info.unhealthyEventSources().keySet() + "\n");
    }
  }

  private static void send(HttpExchange ex, int code, String body) throws IOException {
    var bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(code, bytes.length);
    try (var out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
  }
}
