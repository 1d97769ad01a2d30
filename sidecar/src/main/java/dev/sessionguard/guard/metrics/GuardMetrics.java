package dev.sessionguard.guard.metrics;

import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.InFlightLimits;
import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * The guard's metrics; their names and labels are a contract (see DESIGN.md). Gauges read the live
 * records themselves, so they cannot disagree with the registry. Labels take bounded values only.
 */
public final class GuardMetrics {
  /** Which era a forwarded request belongs to: the {@code era} label. */
  public enum Era {
    SESSION("session"),
    PER_REQUEST("per_request"),
    OTHER("other");

    final String label;

    Era(String label) {
      this.label = label;
    }
  }

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<Refusal, Counter> refusals = new EnumMap<>(Refusal.class);
  private final Map<Refusal, Counter> dryRunRefusals = new EnumMap<>(Refusal.class);
  private final Map<EndReason, Counter> ended = new EnumMap<>(EndReason.class);
  private final Map<EndReason, Counter> dryRunEnded = new EnumMap<>(EndReason.class);
  private final Map<Era, Timer> upstream = new EnumMap<>(Era.class);
  private final Counter admittedNew;
  private final Counter admittedAdopted;
  private final Counter deleteFailures;
  private final Map<String, Counter> reloads = new HashMap<>();
  private Meter policyInfo;

  public GuardMetrics(
      SessionRegistry sessions,
      InFlightLimits requests,
      InFlightLimits streams,
      ActivePolicy policy) {
    Gauge.builder("sessionguard.sessions.active", sessions, SessionRegistry::active)
        .description("Live sessions")
        .register(registry);
    Gauge.builder("sessionguard.sessions.limit", policy, p -> p.get().sessionCaps().max())
        .tag("scope", "global")
        .description("Session caps in force")
        .register(registry);
    Gauge.builder("sessionguard.sessions.limit", policy, p -> p.get().sessionCaps().perClient())
        .tag("scope", "per_client")
        .description("Session caps in force")
        .register(registry);
    Gauge.builder("sessionguard.inflight.requests", requests, InFlightLimits::total)
        .description("Requests in progress")
        .register(registry);
    Gauge.builder("sessionguard.streams.active", streams, InFlightLimits::total)
        .description("Open streams: 2026-07-28 listen streams and session-era GET streams")
        .register(registry);
    admittedNew = admissions("new");
    admittedAdopted = admissions("adopted");
    for (Refusal r : Refusal.values()) {
      refusals.put(
          r,
          Counter.builder("sessionguard.refusals")
              .tag("reason", r.label())
              .description("Requests refused")
              .register(registry));
      dryRunRefusals.put(
          r,
          Counter.builder("sessionguard.dryrun.refusals")
              .tag("reason", r.label())
              .description("Requests DryRun would have refused")
              .register(registry));
    }
    for (EndReason e : EndReason.values()) {
      ended.put(
          e,
          Counter.builder("sessionguard.sessions.ended")
              .tag("reason", e.label())
              .description("Sessions ended")
              .register(registry));
    }
    for (EndReason e : List.of(EndReason.IDLE, EndReason.LIFETIME)) {
      dryRunEnded.put(
          e,
          Counter.builder("sessionguard.dryrun.ends")
              .tag("reason", e.label())
              .description("Sessions DryRun would have ended (forgotten instead)")
              .register(registry));
    }
    for (Era era : Era.values()) {
      upstream.put(
          era,
          Timer.builder("sessionguard.upstream.request.duration")
              .tag("era", era.label)
              .description("Time until the upstream's response headers")
              .publishPercentileHistogram()
              .register(registry));
    }
    for (String result : new String[] {"applied", "rejected"}) {
      reloads.put(
          result,
          Counter.builder("sessionguard.policy.reloads")
              .tag("result", result)
              .description("Policy reloads")
              .register(registry));
    }
    deleteFailures =
        Counter.builder("sessionguard.upstream.delete.failures")
            .description("Sessions the guard ended whose upstream DELETE failed every attempt")
            .register(registry);
    policyApplied(policy.get());
  }

  private Counter admissions(String kind) {
    return Counter.builder("sessionguard.admissions")
        .tag("kind", kind)
        .description("Sessions admitted")
        .register(registry);
  }

  /**
   * {@code sessionguard_jwks_available}: 1 while bearer tokens can be verified (always, unless
   * identity is Jwt and its signing keys cannot be had), else 0.
   */
  public void watchSigningKeys(BooleanSupplier available) {
    Gauge.builder("sessionguard.jwks.available", available, a -> a.getAsBoolean() ? 1 : 0)
        .description("Whether the JWT signing keys can be had")
        .strongReference(true)
        .register(registry);
  }

  /** Points {@code sessionguard_policy_info} at the policy now in force. */
  public synchronized void policyApplied(GuardConfig config) {
    if (policyInfo != null) {
      registry.remove(policyInfo);
    }
    GuardConfig.Policy p = config.policy();
    policyInfo =
        Gauge.builder("sessionguard.policy.info", () -> 1)
            .tags(Tags.of("name", p.name(), "hash", p.hash(), "mode", p.mode().name()))
            .description("The policy in force")
            .register(registry);
  }

  public void refused(Refusal reason) {
    refusals.get(reason).increment();
  }

  /** DryRun let through what Enforce would have refused. */
  public void dryRunRefused(Refusal reason) {
    dryRunRefusals.get(reason).increment();
  }

  /** A policy file was reloaded: applied, or rejected (the previous one stays). */
  public void reloaded(boolean applied) {
    reloads.get(applied ? "applied" : "rejected").increment();
  }

  /** Every DELETE attempt for a session the guard ended failed. */
  public void deleteFailed() {
    deleteFailures.increment();
  }

  /**
   * {@code sessionguard_body_memory_bytes}: what request bodies being read and forwarded hold of
   * the body budget now, and {@code sessionguard_body_memory_limit_bytes}, the budget.
   */
  public void bodyMemory(LongSupplier held, long limit) {
    Gauge.builder("sessionguard.body.memory", held, h -> h.getAsLong())
        .description("Bytes request bodies being read and forwarded hold now")
        .baseUnit("bytes")
        .strongReference(true)
        .register(registry);
    Gauge.builder("sessionguard.body.memory.limit", () -> limit)
        .description("Bytes request bodies may hold together (the body budget)")
        .baseUnit("bytes")
        .register(registry);
  }

  /**
   * {@code sessionguard_connections}: the clients' connections open now, and {@code
   * sessionguard_connections_limit}, past which the guard accepts no more until one closes.
   */
  public void connections(IntSupplier open, int limit) {
    Gauge.builder("sessionguard.connections", open, o -> o.getAsInt())
        .description("Client connections open now")
        .strongReference(true)
        .register(registry);
    Gauge.builder("sessionguard.connections.limit", () -> limit)
        .description("Client connections the guard holds at most; past it it accepts none")
        .register(registry);
  }

  /** {@code sessionguard_store_available}: 1 while the session store answers. */
  public void storeAvailable(BooleanSupplier available) {
    Gauge.builder("sessionguard.store.available", available, a -> a.getAsBoolean() ? 1 : 0)
        .description("1 while the session store answers, else 0")
        .strongReference(
            true) // a gauge holds its supplier weakly: a method reference would be GCed
        .register(registry);
  }

  public void admitted(boolean adopted) {
    (adopted ? admittedAdopted : admittedNew).increment();
  }

  public void ended(EndReason reason) {
    ended.get(reason).increment();
  }

  /** DryRun forgot a session Enforce would have ended for {@code reason} (idle or lifetime). */
  public void dryRunEnded(EndReason reason) {
    dryRunEnded.get(reason).increment();
  }

  /** The upstream's response headers came {@code nanos} after the request was sent. */
  public void upstreamAnswered(Era era, long nanos) {
    upstream.get(era).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** The Prometheus text exposition. */
  public String scrape() {
    return registry.scrape();
  }
}
