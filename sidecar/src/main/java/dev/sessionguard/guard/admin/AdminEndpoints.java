package dev.sessionguard.guard.admin;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sessionguard.guard.admission.RedisSessionRegistry;
import dev.sessionguard.guard.admission.SessionIds;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.identity.Identities;
import dev.sessionguard.guard.lifecycle.Drain;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.proxy.Forwarder;
import dev.sessionguard.policy.PolicyJson;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import io.javalin.config.JavalinConfig;
import java.time.Duration;
import java.util.Optional;

/** The admin port: health, readiness, metrics, the policy in force and session totals. */
public final class AdminEndpoints {
  private AdminEndpoints() {}

  public static void install(
      JavalinConfig c,
      ActivePolicy policy,
      SessionRegistry sessions,
      GuardMetrics metrics,
      Forwarder forwarder,
      Drain drain,
      Identities identities) {
    c.routes.get("/healthz", ctx -> ctx.contentType("text/plain").result("ok"));
    c.routes.get(
        "/readyz",
        ctx -> {
          if (!drain.ready()) {
            ctx.status(503).contentType("text/plain").result("draining");
            return;
          }
          GuardConfig cfg = policy.get();
          boolean up = forwarder.reachable(cfg, min(cfg.connectTimeout(), Duration.ofSeconds(1)));
          Optional<String> identity = identities.problem(); // e.g. no signing keys
          String problem = !up ? "upstream unreachable" : identity.orElse(null);
          // Redis down does not fail readiness: every replica shares it, so failing would take
          // them all out of the Service at once. It is reported here, in /sessions and the gauge.
          String store = storeProblem(sessions);
          ctx.status(problem == null ? 200 : 503)
              .contentType("text/plain")
              .result((problem == null ? "ready" : problem) + (store == null ? "" : "; " + store));
        });
    c.routes.get(
        "/metrics",
        ctx ->
            ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(metrics.scrape()));
    c.routes.get(
        "/policy",
        ctx -> {
          GuardConfig.Policy p = policy.get().policy();
          ObjectNode out = PolicyJson.json().createObjectNode();
          out.put("name", p.name());
          if (p.generation() == null) {
            out.putNull("generation");
          } else {
            out.put("generation", p.generation());
          }
          out.put("hash", p.hash());
          out.put("mode", p.mode().name());
          out.put("loadedAt", p.loadedAt().toString());
          // settings of this policy that take effect only when the guard restarts
          ArrayNode pending = out.putArray("restartPending");
          policy.restartPending().forEach(pending::add);
          ctx.contentType("application/json").result(out.toString());
        });
    c.routes.get(
        "/sessions",
        ctx -> {
          GuardConfig cfg = policy.get();
          boolean names = cfg.showClientNames();
          ObjectNode out = PolicyJson.json().createObjectNode();
          out.put("active", sessions.active());
          out.put("pending", sessions.pending());
          out.put("clients", sessions.clients());
          out.put("limit", cfg.sessionCaps().max());
          out.put("perClientLimit", cfg.sessionCaps().perClient());
          out.put("mode", cfg.policy().mode().name());
          out.put("draining", !drain.ready());
          ObjectNode store = out.putObject("store");
          if (sessions instanceof RedisSessionRegistry redis) {
            store
                .put("type", "Redis")
                .put("available", redis.storeAvailable())
                .put("failureMode", redis.failureMode().name())
                .put("localSessions", redis.localSessions());
          } else {
            store.put("type", "Memory").put("available", true);
          }
          ArrayNode top = out.putArray("topHolders");
          for (SessionRegistry.Holder h : sessions.topHolders(10)) {
            top.addObject()
                .put("client", names ? h.client() : SessionIds.shortHash(h.client()))
                .put("sessions", h.sessions());
          }
          ctx.contentType("application/json").result(out.toString());
        });
  }

  /** What {@code /readyz} adds while the shared store is unreachable, else null. */
  private static String storeProblem(SessionRegistry sessions) {
    if (sessions instanceof RedisSessionRegistry redis && !redis.storeAvailable()) {
      return redis.failureMode() == FailureMode.Closed
          ? "store unavailable: Redis unreachable, new sessions refused (failureMode Closed)"
          : "store unavailable: Redis unreachable, limits hold per pod (failureMode Open)";
    }
    return null;
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) < 0 ? a : b;
  }
}
