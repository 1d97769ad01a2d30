package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.metrics.GuardMetrics.Era;
import dev.sessionguard.guard.proxy.Forwarder.Answer;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import java.io.IOException;

/**
 * Everything that is not the MCP endpoint (OAuth metadata under {@code /.well-known/}, other
 * methods): forwarded untouched, without admission; the body is read under the size limit, as on
 * the MCP endpoint.
 */
public final class OtherPaths implements Handler {
  private final ActivePolicy policy;
  private final Forwarder forwarder;
  private final GuardMetrics metrics;
  private final BodyBudget bodies;

  public OtherPaths(
      ActivePolicy policy, Forwarder forwarder, GuardMetrics metrics, BodyBudget bodies) {
    this.policy = policy;
    this.forwarder = forwarder;
    this.metrics = metrics;
    this.bodies = bodies;
  }

  @Override
  public void handle(Context ctx) throws IOException {
    GuardConfig cfg = policy.get();
    try (BodyBudget.Held held = bodies.hold()) { // the body's memory, until the answer ends
      byte[] body;
      try {
        body =
            BoundedBody.readAll(
                ctx.req()::getInputStream,
                ctx.req().getContentLengthLong(),
                cfg.maxBodyBytes(),
                held);
      } catch (BoundedBody.TooLarge e) {
        RefusalLog.refuse(metrics, ctx.res(), Refusal.TOO_LARGE, null, null);
        return;
      } catch (BodyBudget.Exhausted e) {
        RefusalLog.refuse(metrics, ctx.res(), Refusal.BODY_MEMORY, null, cfg.retryAfter());
        return;
      }
      forward(ctx, cfg, body);
    }
  }

  private void forward(Context ctx, GuardConfig cfg, byte[] body) throws IOException {
    Answer answer =
        forwarder.send(forwarder.request(cfg, ctx.req(), body, false), cfg.firstByteTimeout());
    if (answer instanceof Answer.Failed failed) {
      failed.error().write(ctx.res(), null, null, null);
      return;
    }
    Answer.Response r = (Answer.Response) answer;
    metrics.upstreamAnswered(Era.OTHER, r.took().toNanos());
    try (UpstreamResponse response = r.response()) {
      forwarder.relay(ctx.req(), ctx.res(), response);
    }
  }
}
