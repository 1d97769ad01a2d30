package dev.sessionguard.guard.admin;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sessionguard.guard.admission.SessionIds;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.proxy.Forwarder;
import dev.sessionguard.policy.PolicyJson;
import io.javalin.config.JavalinConfig;
import java.time.Duration;

/** The admin port: health, readiness, metrics, the policy in force and session totals. */
public final class AdminEndpoints {
  private AdminEndpoints() {}

  public static void install(
      JavalinConfig c,
      ActivePolicy policy,
      SessionRegistry sessions,
      GuardMetrics metrics,
      Forwarder forwarder) {
    c.routes.get("/healthz", ctx -> ctx.contentType("text/plain").result("ok"));
    c.routes.get(
        "/readyz",
        ctx -> {
          GuardConfig cfg = policy.get();
          boolean up = forwarder.reachable(cfg, min(cfg.connectTimeout(), Duration.ofSeconds(1)));
          ctx.status(up ? 200 : 503)
              .contentType("text/plain")
              .result(up ? "ready" : "upstream unreachable");
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
          ctx.contentType("application/json").result(out.toString());
        });
    c.routes.get(
        "/sessions",
        ctx -> {
          boolean names = policy.get().showClientNames();
          ObjectNode out = PolicyJson.json().createObjectNode();
          out.put("active", sessions.active());
          out.put("pending", sessions.pending());
          out.put("clients", sessions.clients());
          ArrayNode top = out.putArray("topHolders");
          for (SessionRegistry.Holder h : sessions.topHolders(10)) {
            top.addObject()
                .put("client", names ? h.client() : SessionIds.shortHash(h.client()))
                .put("sessions", h.sessions());
          }
          ctx.contentType("application/json").result(out.toString());
        });
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) < 0 ? a : b;
  }
}
