package dev.sessionguard.guard;

import dev.sessionguard.guard.admin.AdminEndpoints;
import dev.sessionguard.guard.admission.InFlightLimits;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.proxy.Forwarder;
import dev.sessionguard.guard.proxy.JettyGuards;
import dev.sessionguard.guard.proxy.McpEndpoint;
import dev.sessionguard.guard.proxy.OtherPaths;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.HandlerType;
import java.time.Clock;
import java.util.List;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/** The guard: its two ports and everything behind them, wired here and nowhere else. */
public final class Guard implements AutoCloseable {
  private static final List<HandlerType> MCP_METHODS =
      List.of(HandlerType.POST, HandlerType.GET, HandlerType.DELETE);
  private static final List<HandlerType> ALL_METHODS =
      List.of(
          HandlerType.GET,
          HandlerType.POST,
          HandlerType.PUT,
          HandlerType.PATCH,
          HandlerType.DELETE,
          HandlerType.HEAD,
          HandlerType.OPTIONS);

  private final ActivePolicy policy;
  private final SessionRegistry sessions;
  private final InFlightLimits requests = InFlightLimits.requests();
  private final InFlightLimits streams = InFlightLimits.streams();
  private final GuardMetrics metrics;
  private final Javalin proxy;
  private final Javalin admin;

  private Guard(GuardConfig config, Clock clock) {
    this.policy = new ActivePolicy(config);
    this.sessions = new MemorySessionRegistry(clock);
    this.metrics = new GuardMetrics(sessions, requests, streams, policy);
    Forwarder forwarder = new Forwarder(config.connectTimeout());
    McpEndpoint mcp = new McpEndpoint(policy, sessions, requests, forwarder, metrics);
    OtherPaths other = new OtherPaths(policy, forwarder, metrics);
    this.proxy =
        Javalin.create(
            c -> {
              c.startup.showJavalinBanner = false;
              c.startup.showOldJavalinVersionWarning = false;
              c.http.compressionStrategy = CompressionStrategy.NONE; // never re-compress
              c.router.ignoreTrailingSlashes = false;
              c.jetty.threadPool = threadPool(config);
              c.jetty.modifyHttpConfiguration(
                  http -> {
                    http.setRequestHeaderSize(config.maxHeaderBytes()); // Jetty answers 431
                    http.setSendServerVersion(false);
                  });
              c.jetty.addConnector(
                  (server, http) -> {
                    ServerConnector connector =
                        new ServerConnector(server, new HttpConnectionFactory(http));
                    connector.setHost(config.listen().host());
                    connector.setPort(config.listen().port());
                    connector.setAcceptQueueSize(1024);
                    return connector;
                  });
              c.jetty.modifyServer(
                  server -> {
                    server.setErrorHandler(new JettyGuards.JsonRpcErrorHandler(metrics));
                    server.insertHandler(new JettyGuards.StripMethodOverride());
                  });
              // Javalin takes the first matching route: the MCP endpoint before the catch-all.
              for (HandlerType m : MCP_METHODS) {
                c.routes.addHttpHandler(m, config.mcpPath(), mcp);
              }
              for (HandlerType m : ALL_METHODS) {
                if (!MCP_METHODS.contains(m)) {
                  c.routes.addHttpHandler(m, config.mcpPath(), other);
                }
                if (!config.mcpPath().equals("/")) {
                  c.routes.addHttpHandler(m, "/", other);
                }
                c.routes.addHttpHandler(m, "/*", other);
              }
            });
    this.admin =
        Javalin.create(
            c -> {
              c.startup.showJavalinBanner = false;
              c.startup.showOldJavalinVersionWarning = false;
              c.jetty.host = config.listen().host();
              c.jetty.port = config.listen().adminPort();
              AdminEndpoints.install(c, policy, sessions, metrics, forwarder);
            });
  }

  /**
   * Virtual threads where the JVM has them (21+): an open SSE stream then holds no platform thread.
   * On 17 each open stream holds one platform thread, so the pool is sized from the in-flight cap.
   */
  private static QueuedThreadPool threadPool(GuardConfig config) {
    int max = Math.max(200, Math.min(config.inFlight().max() + 64, 4000));
    QueuedThreadPool pool = new QueuedThreadPool(max, 8, 60_000);
    pool.setName("guard");
    if (VirtualThreads.areSupported()) {
      pool.setVirtualThreadsExecutor(VirtualThreads.getNamedVirtualThreadsExecutor("guard-v"));
    }
    return pool;
  }

  /** Starts both ports. */
  public static Guard start(GuardConfig config, Clock clock) {
    Guard guard = new Guard(config, clock);
    guard.proxy.start();
    guard.admin.start();
    return guard;
  }

  public int port() {
    return proxy.port();
  }

  public int adminPort() {
    return admin.port();
  }

  public ActivePolicy policy() {
    return policy;
  }

  public SessionRegistry sessions() {
    return sessions;
  }

  public InFlightLimits requests() {
    return requests;
  }

  public GuardMetrics metrics() {
    return metrics;
  }

  @Override
  public void close() {
    proxy.stop();
    admin.stop();
  }
}
