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

  public OtherPaths(ActivePolicy policy, Forwarder forwarder, GuardMetrics metrics) {
    this.policy = policy;
    this.forwarder = forwarder;
    this.metrics = metrics;
  }

  /** 413, counted and logged as every refusal is. */
  private void tooLarge(Context ctx) throws IOException {
    RefusalLog.refused(metrics, Refusal.TOO_LARGE, GuardError.BODY_TOO_LARGE.status());
    GuardError.BODY_TOO_LARGE.write(ctx.res(), null, Refusal.TOO_LARGE, null);
  }

  @Override
  public void handle(Context ctx) throws IOException {
    GuardConfig cfg = policy.get();
    if (ctx.req().getContentLengthLong() > cfg.maxBodyBytes()) {
      tooLarge(ctx);
      return;
    }
    byte[] body;
    try {
      body = BoundedBody.readAll(ctx.req().getInputStream(), cfg.maxBodyBytes());
    } catch (BoundedBody.TooLarge e) {
      tooLarge(ctx);
      return;
    }
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
