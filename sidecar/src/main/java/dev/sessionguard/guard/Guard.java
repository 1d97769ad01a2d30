package dev.sessionguard.guard;

import dev.sessionguard.guard.admin.AdminEndpoints;
import dev.sessionguard.guard.admission.Ended;
import dev.sessionguard.guard.admission.InFlightLimits;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.MonotonicClock;
import dev.sessionguard.guard.admission.RedisSessionRegistry;
import dev.sessionguard.guard.admission.Session;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.admission.ThreadBudget;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.config.PolicyWatcher;
import dev.sessionguard.guard.identity.Identities;
import dev.sessionguard.guard.lifecycle.Drain;
import dev.sessionguard.guard.lifecycle.IdleReaper;
import dev.sessionguard.guard.lifecycle.SessionEnder;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.proxy.BodyBudget;
import dev.sessionguard.guard.proxy.FastPath;
import dev.sessionguard.guard.proxy.Forwarder;
import dev.sessionguard.guard.proxy.FrontConnection;
import dev.sessionguard.guard.proxy.GuardThreadPool;
import dev.sessionguard.guard.proxy.JettyGuards;
import dev.sessionguard.guard.proxy.McpEndpoint;
import dev.sessionguard.guard.proxy.McpPath;
import dev.sessionguard.guard.proxy.OtherPaths;
import dev.sessionguard.guard.proxy.UpstreamClient;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.SessionPolicySpec.Mode;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Handler;
import io.javalin.http.HandlerType;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The guard: its two ports and everything behind them, wired here and nowhere else. */
public final class Guard implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Guard.class);

  /** How often the reaper looks for expired sessions. */
  public static final Duration REAP_TICK = Duration.ofSeconds(1);

  // DELETEs the guard sends for sessions it ends: bounded retries, bounded concurrency.
  private static final int DELETE_ATTEMPTS = 3;
  private static final Duration DELETE_BACKOFF = Duration.ofMillis(500);
  private static final int DELETE_CONCURRENCY = 16;

  // Without virtual threads each request in progress and each open stream holds a pool thread;
  // these are kept for Jetty's own (selectors, acceptors, reserved threads).
  private static final int POOL_RESERVE = 64;
  private static final int POOL_MAX = 4000;
  // SSE events are small and flushed one by one; the guard's own answers are small JSON. Relayed
  // bodies are written from the upstream client's buffers and need none of their own.
  private static final int OUTPUT_BUFFER = 8 * 1024;

  private static final List<HandlerType> MCP_METHODS =
      List.of(HandlerType.POST, HandlerType.GET, HandlerType.DELETE);
  // every method the guard serves: the others are answered 405 before routing
  private static final List<HandlerType> ALL_METHODS =
      JettyGuards.KnownMethods.ALLOWED.stream().map(HandlerType::findOrCreate).toList();

  private final ActivePolicy policy;
  private final SessionRegistry sessions;
  private final RedisSessionRegistry redis; // null with the Memory store
  private final InFlightLimits requests = InFlightLimits.requests();
  private final InFlightLimits streams = InFlightLimits.streams();
  private final ThreadBudget threads;
  private final GuardMetrics metrics;
  private final Clock clock;
  private final Drain drain = new Drain();
  private final ScheduledExecutorService lifecycle;
  private final SessionEnder ender;
  private final IdleReaper reaper;
  private final Javalin proxy;
  private final Javalin admin;
  private PolicyWatcher watcher;
  private boolean storeClosed;
  private final String podStartSettings;
  private volatile Runnable restart = () -> {};
  private final AtomicBoolean restarting = new AtomicBoolean();

  private Guard(GuardConfig config, Clock clock, Map<String, String> env) {
    this.clock = clock;
    this.podStartSettings = env.get(START_SETTINGS_ENV);
    this.policy = new ActivePolicy(config);
    this.redis = redisRegistry(config, clock, env);
    // In production (the system clock) the in-memory store measures idle and lifetime on the
    // monotonic clock; tests move their own clock.
    this.sessions =
        redis != null
            ? redis
            : new MemorySessionRegistry(
                clock.equals(Clock.systemUTC()) ? MonotonicClock.systemUTC() : clock);
    this.metrics = new GuardMetrics(sessions, requests, streams, policy);
    RedisSessionRegistry shared = redis;
    metrics.storeAvailable(shared == null ? () -> true : shared::storeAvailable);
    Identities identities = new Identities(policy, clock);
    metrics.watchSigningKeys(identities::available);
    QueuedThreadPool pool = threadPool(config);
    this.threads =
        VirtualThreads.areSupported()
            ? ThreadBudget.UNLIMITED
            : new ThreadBudget(pool.getMaxThreads() - POOL_RESERVE);
    warnIfThreadsLimit(config);
    UpstreamClient upstream = new UpstreamClient(config.connectTimeout());
    Forwarder forwarder = new Forwarder(upstream);
    this.lifecycle =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "guard-lifecycle");
              t.setDaemon(true);
              return t;
            });
    this.ender =
        new SessionEnder(
            upstream,
            () -> policy.get().mcpUrl(),
            () -> policy.get().firstByteTimeout(), // a bodiless answer: a total timeout is right
            lifecycle,
            DELETE_ATTEMPTS,
            DELETE_BACKOFF,
            DELETE_CONCURRENCY,
            new SessionEnder.Events() {
              @Override
              public void ended(Ended ended) {
                metrics.ended(ended.reason());
              }

              @Override
              public void deleteFailed(Session session) {
                metrics.deleteFailed();
              }

              @Override
              public void forgotten(Ended ended) {
                metrics.dryRunEnded(ended.reason());
              }
            });
    this.reaper =
        new IdleReaper(
            sessions,
            () -> {
              GuardConfig c = policy.get(); // timeouts of a reloaded policy apply to every session
              return new IdleReaper.Rules(
                  c.idleTimeout(), c.maxLifetime(), c.drain(), c.policy().mode() == Mode.DryRun);
            },
            ender,
            lifecycle);
    BodyBudget bodies = BodyBudget.of(env);
    metrics.bodyMemory(() -> bodies.capacity() - bodies.available(), bodies.capacity());
    McpEndpoint mcp =
        new McpEndpoint(
            policy,
            sessions,
            requests,
            streams,
            threads,
            identities,
            forwarder,
            metrics,
            ender,
            drain,
            bodies);
    OtherPaths other = new OtherPaths(policy, forwarder, metrics, bodies);
    FastPath fast =
        new FastPath(
            policy,
            mcp,
            sessions,
            requests,
            threads,
            identities,
            forwarder,
            drain,
            pool.getVirtualThreadsExecutor() != null ? pool.getVirtualThreadsExecutor() : pool);
    this.proxy =
        Javalin.create(
            c -> {
              c.startup.showJavalinBanner = false;
              c.startup.showOldJavalinVersionWarning = false;
              c.http.compressionStrategy = CompressionStrategy.NONE; // never re-compress
              c.router.ignoreTrailingSlashes = false;
              c.jetty.threadPool = pool;
              c.jetty.modifyHttpConfiguration(
                  http -> {
                    http.setRequestHeaderSize(config.maxHeaderBytes()); // Jetty answers 431
                    http.setSendServerVersion(false);
                    http.setOutputBufferSize(OUTPUT_BUFFER);
                    http.setHeaderCacheSize(JettyGuards.HEADER_CACHE);
                  });
              c.jetty.addConnector(
                  (server, http) -> {
                    // Its selectors run the upstream connections too; the client stops with it.
                    // The guard's own HTTP/1.1 connection first; Jetty's serves what it hands on.
                    HttpConnectionFactory jetty = new HttpConnectionFactory(http);
                    ServerConnector connector =
                        upstream.serverConnector(
                            server, new FrontConnection.Factory(fast, jetty, metrics), jetty);
                    connector.setHost(config.listen().host());
                    connector.setPort(config.listen().port());
                    connector.setAcceptQueueSize(1024);
                    // Client connections cost memory before any cap applies (a head read slowly
                    // holds a buffer): past the limit the guard accepts no more until one closes.
                    NetworkConnectionLimit limit =
                        new NetworkConnectionLimit(maxConnections(env, config), connector);
                    limit.setEndPointIdleTimeout(0); // (the connections' own timeouts stay)
                    server.addBean(limit);
                    metrics.connections(
                        limit::getNetworkConnectionCount, limit.getMaxNetworkConnectionCount());
                    return connector;
                  });
              c.jetty.modifyServer(
                  server -> {
                    server.setErrorHandler(new JettyGuards.JsonRpcErrorHandler(metrics));
                    // Innermost first: the fast path, the override strip, then the hand-back.
                    server.insertHandler(fast);
                    server.insertHandler(new JettyGuards.StripMethodOverride());
                    server.insertHandler(new JettyGuards.KnownMethods());
                    server.insertHandler(new FrontConnection.HandBack());
                  });
              // The MCP path is the policy's in force, read per request: a reload that moves it
              // moves admission with it (a route fixed at start would relay the new path
              // unguarded).
              Handler route =
                  ctx ->
                      (MCP_METHODS.contains(ctx.method())
                                  && McpPath.names(ctx.path(), policy.get().mcpPath())
                              ? mcp
                              : other)
                          .handle(ctx);
              for (HandlerType m : ALL_METHODS) {
                c.routes.addHttpHandler(m, "/", route);
                c.routes.addHttpHandler(m, "/*", route);
              }
              // A handler that throws answers as the guard's other errors do, not with the
              // router's own page (a client that hung up is no failure of the guard's).
              c.routes.exception(
                  Exception.class,
                  (e, ctx) -> {
                    if (e instanceof java.io.IOException) {
                      LOG.debug("request ended: {}", Failures.describe(e));
                    } else {
                      LOG.warn("request failed: {}", Failures.describe(e), e);
                    }
                    if (!ctx.res().isCommitted()) {
                      ctx.status(500)
                          .contentType("application/json")
                          .result(JettyGuards.JsonRpcErrorHandler.body(500));
                    }
                  });
            });
    this.admin =
        Javalin.create(
            c -> {
              c.startup.showJavalinBanner = false;
              c.startup.showOldJavalinVersionWarning = false;
              c.jetty.host = config.listen().host();
              c.jetty.port = config.listen().adminPort();
              AdminEndpoints.install(c, policy, sessions, metrics, forwarder, drain, identities);
            });
  }

  /** The variable that bounds client connections, and its default. */
  public static final String MAX_CONNECTIONS_ENV = "GUARD_MAX_CONNECTIONS";

  static final int MAX_CONNECTIONS = 10_000;

  /**
   * {@link #MAX_CONNECTIONS_ENV}, else 10,000, or more where the caps at start allow more requests
   * and streams at once (with room for idle kept-alive connections besides).
   */
  private static int maxConnections(Map<String, String> env, GuardConfig config) {
    String set = env.get(MAX_CONNECTIONS_ENV);
    if (set == null || set.isBlank()) {
      long caps = (long) config.inFlight().max() + config.inFlight().maxStreams() + 1_000;
      return (int) Math.min(Integer.MAX_VALUE / 2, Math.max(MAX_CONNECTIONS, caps));
    }
    try {
      int n = Integer.parseInt(set.trim());
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new IllegalArgumentException(
        MAX_CONNECTIONS_ENV + " must be a number of connections above 0, got " + set);
  }

  /**
   * Virtual threads where the JVM has them (21+): an open SSE stream then holds no platform thread.
   * On 17 each request in progress and each open stream holds one platform thread, so the pool is
   * sized from the in-flight and stream caps (at most {@value #POOL_MAX}); see {@link
   * ThreadBudget}.
   */
  private static QueuedThreadPool threadPool(GuardConfig config) {
    GuardConfig.InFlight caps = config.inFlight();
    long wanted = (long) caps.max() + caps.maxStreams() + POOL_RESERVE;
    int max = (int) Math.max(200, Math.min(wanted, POOL_MAX));
    QueuedThreadPool pool = new GuardThreadPool(max, 8, 60_000);
    pool.setName("guard");
    if (VirtualThreads.areSupported()) {
      pool.setVirtualThreadsExecutor(VirtualThreads.getNamedVirtualThreadsExecutor("guard-v"));
    }
    return pool;
  }

  /** Says so when this JVM's threads cannot hold the policy's in-flight and stream caps. */
  private void warnIfThreadsLimit(GuardConfig config) {
    GuardConfig.InFlight caps = config.inFlight();
    if (threads.limits(caps)) {
      LOG.warn(
          "no virtual threads on Java {}: each request and stream holds a thread, and {} are"
              + " available; requests are held to {} (maxInFlight {}), streams to {} (maxStreams"
              + " {}). Run on Java 21+ for more",
          Runtime.version().feature(),
          threads.threads(),
          threads.requests(caps),
          caps.max(),
          threads.streams(caps),
          caps.maxStreams());
    }
  }

  /** Env: the Redis password; namespace and pod name for the Redis key scope and guard id. */
  public static final String REDIS_PASSWORD_ENV = "SESSIONGUARD_REDIS_PASSWORD";

  /**
   * The start settings its pod was made for (the operator's {@code sessionguard.dev/start-settings}
   * pod annotation, by the downward API): a guard that started before its mounted policy caught up
   * with them restarts once the policy does.
   */
  public static final String START_SETTINGS_ENV = "SESSIONGUARD_START_SETTINGS";

  /**
   * The Redis registry of a policy with {@code store.type: Redis}, not yet started; null for
   * Memory. Keys are scoped by {@code POD_NAMESPACE/<policy name>} (or the policy name alone), the
   * guard id is the pod name ({@code POD_NAME}, else {@code HOSTNAME}) plus a random suffix.
   */
  private static RedisSessionRegistry redisRegistry(
      GuardConfig config, Clock clock, Map<String, String> env) {
    GuardConfig.Store store = config.store();
    if (!store.redis()) {
      return null;
    }
    String name = config.policy().name();
    String namespace = env.get("POD_NAMESPACE");
    String scope = namespace == null || namespace.isBlank() ? name : namespace.strip() + "/" + name;
    String password = env.get(REDIS_PASSWORD_ENV);
    if (password != null && password.isEmpty()) {
      password = null;
    }
    String pod = firstNonBlank(env.get("POD_NAME"), env.get("HOSTNAME"), "guard");
    RedisStore settings =
        new RedisStore(
            store.url(),
            password,
            store.leaseTtl(),
            store.failureMode(),
            RedisStore.keyPrefix(scope),
            RedisStore.DEFAULT_COMMAND_TIMEOUT,
            store.username());
    RedisSessionRegistry registry =
        new RedisSessionRegistry(settings, RedisSessionRegistry.guardId(pod), clock);
    URI url = URI.create(store.url());
    LOG.info( // host and port only: a password in the URL must not reach the log
        "session store: Redis {}:{} scope={} guard={} leaseTtl={} failureMode={} user={}"
            + " password={}",
        url.getHost(),
        url.getPort() == -1 ? 6379 : url.getPort(),
        scope,
        registry.guard(),
        store.leaseTtl(),
        store.failureMode(),
        store.username() == null ? "default" : store.username(),
        password == null ? "none" : "set");
    return registry;
  }

  private static String firstNonBlank(String... values) {
    for (String v : values) {
      if (v != null && !v.isBlank()) {
        return v.strip().replace(' ', '-');
      }
    }
    throw new IllegalArgumentException("no value");
  }

  /** Starts both ports and the reaper (one pass a second). */
  public static Guard start(GuardConfig config, Clock clock) {
    return start(config, clock, System.getenv());
  }

  /**
   * {@link #start(GuardConfig, Clock)} reading the store's environment ({@value
   * #REDIS_PASSWORD_ENV}, {@code POD_NAMESPACE}, {@code POD_NAME}, {@code HOSTNAME}) from {@code
   * env}. With Redis, the registry connects first; Redis being down does not stop the start.
   */
  public static Guard start(GuardConfig config, Clock clock, Map<String, String> env) {
    Guard guard = new Guard(config, clock, env);
    if (guard.redis != null) {
      guard.redis.start();
    }
    try {
      guard.proxy.start();
      guard.admin.start();
    } catch (RuntimeException e) {
      guard.close(); // e.g. a port in use: give the Redis lease back too
      throw e;
    }
    guard.reaper.start(REAP_TICK);
    return guard;
  }

  /**
   * Watches {@code file} and applies each new valid version; {@code overrides} (the command line)
   * keep winning. {@code initial} is the content already in force.
   */
  public synchronized void watch(
      Path file, byte[] initial, GuardConfig.Overrides overrides, Duration poll) {
    if (watcher != null) {
      throw new IllegalStateException("already watching");
    }
    watcher =
        new PolicyWatcher(
                file,
                initial,
                poll,
                new PolicyWatcher.Listener() {
                  @Override
                  public void applied(PolicyFile next) {
                    reload(next, overrides);
                  }

                  @Override
                  public void rejected(List<String> problems) {
                    rejectReload(problems);
                  }
                })
            .start();
  }

  /** {@link #watch} reading the file's current content as the version in force. */
  public void watch(Path file, GuardConfig.Overrides overrides) throws IOException {
    watch(file, Files.readAllBytes(file), overrides, Duration.ofSeconds(2));
  }

  /**
   * Puts a new policy in force: new caps for new admissions (sessions that exist are never
   * evicted), timeouts for every session. What needs a restart is logged and left as it was.
   * Returns false (the previous policy stays) when this guard cannot run it.
   */
  public synchronized boolean reload(PolicyFile file, GuardConfig.Overrides overrides) {
    GuardConfig next;
    try {
      next = GuardConfig.of(file, overrides, clock.instant());
    } catch (InvalidPolicyException e) {
      rejectReload(e.problems());
      return false;
    } catch (RuntimeException e) { // a value the validator let through: refused all the same
      rejectReload(List.of("cannot apply it: " + Failures.describe(e)));
      return false;
    }
    GuardConfig previous = policy.swap(next);
    warnIfThreadsLimit(next);
    for (String change : needsRestart(previous, next)) {
      LOG.warn("reload: {} changed; it takes effect only after a restart", change);
    }
    if (podStartSettings != null
        && podStartSettings.equals(next.policy().startSettings())
        && !podStartSettings.equals(policy.started().policy().startSettings())
        && restarting.compareAndSet(false, true)) {
      // this pod was made for these settings, and the guard started before its mounted policy
      // had them: no rollout will replace it, so it restarts itself (once). Other changes that
      // wait for a restart (the ports) come with a new pod template: that rollout replaces it.
      LOG.warn(
          "reload: this pod's start settings arrived after the guard started ({}); restarting",
          String.join(", ", policy.restartPending()));
      restart.run();
    }
    metrics.policyApplied(next);
    metrics.reloaded(true);
    GuardConfig.Policy p = next.policy();
    LOG.info(
        "reload applied policy={} generation={} hash={} mode={} sessions.max={} sessions.perClient={}",
        p.name(),
        p.generation(),
        p.hash(),
        p.mode(),
        next.sessionCaps().max(),
        next.sessionCaps().perClient());
    return true;
  }

  private void rejectReload(List<String> problems) {
    metrics.reloaded(false);
    LOG.warn(
        "reload rejected: keeping policy hash={}; {} problem(s)",
        policy.get().policy().hash(),
        problems.size());
    problems.forEach(problem -> LOG.warn("reload rejected: {}", problem));
  }

  /**
   * What the guard does when its pod's start settings arrive after it started (see {@link
   * #START_SETTINGS_ENV}); {@code Main} drains and exits, for the kubelet to start it again.
   */
  public void onRestartNeeded(Runnable restart) {
    this.restart = restart;
  }

  /**
   * Settings read once at start that this reload changed and that still differ from what the guard
   * runs (one changed back to it waits for nothing), and the thread pool where it holds the caps.
   */
  private List<String> needsRestart(GuardConfig before, GuardConfig after) {
    List<String> changed = new ArrayList<>(ActivePolicy.restartPending(before, after));
    changed.retainAll(ActivePolicy.restartPending(policy.started(), after));
    if ((before.inFlight().max() != after.inFlight().max()
            || before.inFlight().maxStreams() != after.inFlight().maxStreams())
        && threads.limits(after.inFlight())) {
      changed.add(
          "requests.maxInFlight or maxStreams (the thread pool, sized from them at start, holds"
              + " them lower: see the warning above)");
    }
    return changed;
  }

  /**
   * The graceful way out (SIGTERM): not ready at once, serve for {@code drainDelay}, then refuse
   * new work while work in progress gets up to {@code drain}; then stop. Blocks until stopped.
   * Sessions are not deleted upstream.
   */
  public void drain() {
    GuardConfig cfg = policy.get();
    drain.run(cfg.drainDelay(), cfg.drain(), requests::total, streams::total, this::close);
  }

  public Drain draining() {
    return drain;
  }

  public IdleReaper reaper() {
    return reaper;
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

  public InFlightLimits streams() {
    return streams;
  }

  public GuardMetrics metrics() {
    return metrics;
  }

  @Override
  public synchronized void close() {
    ender.close(); // answers cut short by the stop below must not delete their sessions upstream
    if (watcher != null) {
      watcher.close();
    }
    reaper.close();
    proxy.stop();
    admin.stop();
    lifecycle.shutdown(); // DELETEs already queued may finish; nothing new is reaped
    if (redis != null && !storeClosed) {
      storeClosed = true;
      redis.close(); // gives up the lease: the other guards free this guard's records now
    }
  }
}
