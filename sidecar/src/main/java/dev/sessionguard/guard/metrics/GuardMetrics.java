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
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

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
  private final Map<Era, Timer> upstream = new EnumMap<>(Era.class);
  private final Counter admittedNew;
  private final Counter admittedAdopted;
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
        .description("Open per-request-era listen streams")
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
      Counter.builder("sessionguard.policy.reloads")
          .tag("result", result)
          .description("Policy reloads")
          .register(registry);
    }
    policyApplied(policy.get());
  }

  private Counter admissions(String kind) {
    return Counter.builder("sessionguard.admissions")
        .tag("kind", kind)
        .description("Sessions admitted")
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

  public void admitted(boolean adopted) {
    (adopted ? admittedAdopted : admittedNew).increment();
  }

  public void ended(EndReason reason) {
    ended.get(reason).increment();
  }

  public void upstreamAnswered(Era era, Duration took) {
    upstream.get(era).record(took);
  }

  /** The Prometheus text exposition. */
  public String scrape() {
    return registry.scrape();
  }
}
