package dev.sessionguard.operator;

import static dev.sessionguard.operator.Conditions.ACCEPTED;
import static dev.sessionguard.operator.Conditions.FALSE;
import static dev.sessionguard.operator.Conditions.INJECTED;
import static dev.sessionguard.operator.Conditions.READY;
import static dev.sessionguard.operator.Conditions.TRUE;

import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.PolicyValidator;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import dev.sessionguard.policy.SessionPolicyStatus;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.GroupVersionKind;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Turns a SessionPolicy into its guard configuration, puts the guard into the target's pods, and
 * reports what happened in its status: {@code Accepted}, {@code Injected}, {@code Ready}.
 *
 * <p>An invalid or conflicting policy is not an error: it becomes {@code Accepted=False}, one
 * event, and a clean end of the reconcile; everything the last good spec produced stays as it is.
 */
@ControllerConfiguration(name = SessionPolicyReconciler.NAME)
// explicitInvocation: the ConfigMap is written only for an accepted spec. (A reconcilePrecondition
// would not do: when unmet, JOSDK deletes the dependent, the last good ConfigMap with it.)
@Workflow(explicitInvocation = true, dependents = @Dependent(type = PolicyConfigMap.class))
public class SessionPolicyReconciler implements Reconciler<SessionPolicy>, Cleaner<SessionPolicy> {
  static final String NAME = "sessionpolicy";
  static final Duration CONFLICT_RETRY = Duration.ofSeconds(5);
  static final String BY_TARGET = "byTarget";

  private final PolicyEvents events;
  private final GuardInjector injector;
  private final Enforcement enforcement;
  private final Clock clock;
  private final Duration recheck;

  /**
   * @param recheck how soon to look at the pods again while the policy is not Ready
   */
  public SessionPolicyReconciler(
      PolicyEvents events,
      GuardInjector injector,
      Enforcement enforcement,
      Clock clock,
      Duration recheck) {
    this.events = events;
    this.injector = injector;
    this.enforcement = enforcement;
    this.clock = clock;
    this.recheck = recheck;
  }

  @Override
  public List<EventSource<?, SessionPolicy>> prepareEventSources(
      EventSourceContext<SessionPolicy> context) {
    var cache = context.getPrimaryCache();
    cache.addIndexer(
        BY_TARGET,
        p -> {
          var key = TargetClaims.key(p);
          return key == null ? List.of() : List.of(p.getMetadata().getNamespace() + "/" + key);
        });
    List<EventSource<?, SessionPolicy>> sources = new ArrayList<>();
    // Policies watch each other: when one is created, deleted or retargeted, the others in its
    // namespace are reconciled, so the loser of a conflict recovers when the winner goes away.
    sources.add(
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(SessionPolicy.class, SessionPolicy.class)
                .withName("neighbour-policies")
                .withSecondaryToPrimaryMapper(
                    (SessionPolicy changed) ->
                        cache
                            .list(changed.getMetadata().getNamespace())
                            .filter(
                                p ->
                                    !p.getMetadata()
                                        .getName()
                                        .equals(changed.getMetadata().getName()))
                            .map(ResourceID::fromResource)
                            .collect(Collectors.toSet()))
                // status writes do not change who holds a target
                .withOnUpdateFilter(
                    (next, before) ->
                        !Objects.equals(
                            next.getMetadata().getGeneration(),
                            before.getMetadata().getGeneration()))
                .build(),
            context));
    // a target created, edited (guard removed by hand) or scaled reconciles its policy
    sources.add(targetSource(context, Deployment.class, "apps", "Deployment"));
    sources.add(targetSource(context, StatefulSet.class, "apps", "StatefulSet"));
    var toolhive = ToolHive.servedVersion(context.getClient());
    if (toolhive != null) {
      // only when ToolHive is installed: an informer on a missing kind never becomes healthy
      sources.add(
          new InformerEventSource<>(
              InformerEventSourceConfiguration.from(
                      new GroupVersionKind(ToolHive.GROUP, toolhive, ToolHive.KIND),
                      SessionPolicy.class)
                  .withName("virtualmcpservers")
                  .withSecondaryToPrimaryMapper(
                      (GenericKubernetesResource t) ->
                          byTarget(context, t, ToolHive.GROUP, ToolHive.KIND))
                  .build(),
              context));
    }
    return sources;
  }

  private static <T extends HasMetadata> EventSource<?, SessionPolicy> targetSource(
      EventSourceContext<SessionPolicy> context, Class<T> type, String group, String kind) {
    return new InformerEventSource<>(
        InformerEventSourceConfiguration.from(type, SessionPolicy.class)
            .withName(kind.toLowerCase(java.util.Locale.ROOT) + "s")
            .withSecondaryToPrimaryMapper((T t) -> byTarget(context, t, group, kind))
            .build(),
        context);
  }

  private static Set<ResourceID> byTarget(
      EventSourceContext<SessionPolicy> context, HasMetadata target, String group, String kind) {
    var ns = target.getMetadata().getNamespace();
    return context
        .getPrimaryCache()
        .byIndex(BY_TARGET, ns + "/" + group + "/" + kind + "/" + target.getMetadata().getName())
        .stream()
        .map(ResourceID::fromResource)
        .collect(Collectors.toSet());
  }

  @Override
  public UpdateControl<SessionPolicy> reconcile(
      SessionPolicy policy, Context<SessionPolicy> context) {
    var generation = policy.getMetadata().getGeneration();
    var old = policy.getStatus();
    var previous = old == null ? List.<Condition>of() : old.conditions;
    var accepted = accept(policy, context);
    boolean ok = TRUE.equals(accepted.status);

    var next = new SessionPolicyStatus();
    next.observedGeneration = generation;
    // the hash and store of the policy in effect: a refused spec leaves the last good one in place
    next.policyHash = ok ? PolicyHash.of(policy.getSpec()) : old == null ? null : old.policyHash;
    next.store = ok ? policy.getSpec().store.type.name() : old == null ? null : old.store;
    next.pods = old == null ? null : old.pods;
    Condition injected;
    Condition ready;
    if (ok) {
      context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
      var target = injector.target(policy);
      var outcome = target.isEmpty() ? null : injector.inject(policy);
      if (target.isEmpty() || outcome == GuardInjector.Outcome.TARGET_MISSING) {
        var message = describeTarget(policy) + " does not exist";
        injected = Conditions.of(INJECTED, FALSE, "TargetNotFound", message, generation);
        ready = Conditions.of(READY, FALSE, "TargetNotFound", message, generation);
        next.pods = null;
      } else {
        injected =
            Conditions.of(
                INJECTED,
                TRUE,
                "Injected",
                "the guard is in the pod template of " + describeTarget(policy),
                generation);
        int desired = GuardInjector.replicas(target.get());
        int enforcing = enforcement.enforcingPods(policy, next.policyHash);
        next.pods = new SessionPolicyStatus.Pods(desired, enforcing);
        ready = ready(policy, desired, enforcing, generation);
      }
    } else if (accepted.reason.equals("Conflict")) {
      injected = Conditions.of(INJECTED, FALSE, "Conflict", accepted.message, generation);
      ready = Conditions.of(READY, FALSE, "Conflict", accepted.message, generation);
      next.pods = null;
    } else {
      // an invalid spec changes nothing: the guards keep enforcing the last good policy
      injected = carried(previous, INJECTED, "the spec is not accepted", generation);
      ready = carried(previous, READY, "the spec is not accepted", generation);
    }
    var conditions = List.of(accepted, injected, ready);
    announce(policy, previous, conditions);
    next.conditions = Conditions.merge(previous, conditions, clock.instant());

    UpdateControl<SessionPolicy> control;
    if (next.equals(old)) {
      control = UpdateControl.noUpdate();
    } else {
      // a fresh object carrying only name, namespace and status: nothing else can be overwritten
      var fresh = new SessionPolicy();
      fresh.setMetadata(
          new ObjectMetaBuilder()
              .withName(policy.getMetadata().getName())
              .withNamespace(policy.getMetadata().getNamespace())
              .build());
      fresh.setStatus(next);
      control = UpdateControl.patchStatus(fresh);
    }
    // The winner's deletion may reach the neighbour informer before the primary cache: a waiting
    // loser looks again on its own rather than depend on the order of two informers.
    if ("Conflict".equals(accepted.reason)) {
      return control.rescheduleAfter(CONFLICT_RETRY);
    }
    // pods roll out and guards reload without an event this operator sees: look again
    return ok && !TRUE.equals(ready.status) ? control.rescheduleAfter(recheck) : control;
  }

  /** Takes the guard out of the target; a target that is gone does not block deletion. */
  @Override
  public DeleteControl cleanup(SessionPolicy policy, Context<SessionPolicy> context) {
    if (TargetClaims.key(policy) != null && supported(policy)) {
      injector.remove(policy);
    }
    return DeleteControl.defaultDelete();
  }

  private Condition ready(SessionPolicy policy, int desired, int enforcing, Long generation) {
    if (desired == 0) {
      return Conditions.of(
          READY, FALSE, "NoReplicas", describeTarget(policy) + " runs no pods", generation);
    }
    var message = enforcing + " of " + desired + " pods enforce the current policy";
    if (policy.getSpec().store.type == StoreType.Memory && desired > 1) {
      message += "; with store Memory each pod holds its own limits (use Redis to share them)";
    }
    return enforcing >= desired
        ? Conditions.of(READY, TRUE, "Enforcing", message, generation)
        : Conditions.of(READY, FALSE, "RollingOut", message, generation);
  }

  private static Condition carried(
      List<Condition> previous, String type, String why, Long generation) {
    var before = Conditions.find(previous, type);
    if (before != null) {
      var copy = Conditions.of(type, before.status, before.reason, before.message, generation);
      return copy;
    }
    return Conditions.of(type, FALSE, "NotAccepted", why, generation);
  }

  private static boolean supported(SessionPolicy policy) {
    return PolicyValidator.validate(policy.getSpec(), PolicyValidator.Mode.CLUSTER).stream()
        .noneMatch(p -> p.startsWith("targetRef"));
  }

  private static String describeTarget(SessionPolicy policy) {
    return TargetClaims.describe(policy.getSpec().targetRef);
  }

  private Condition accept(SessionPolicy policy, Context<SessionPolicy> context) {
    var generation = policy.getMetadata().getGeneration();
    var problems = PolicyValidator.validate(policy.getSpec(), PolicyValidator.Mode.CLUSTER);
    if (!problems.isEmpty()) {
      return Conditions.of(
          ACCEPTED,
          FALSE,
          "Invalid",
          "spec is invalid: " + String.join("; ", problems),
          generation);
    }
    var sameNamespace =
        context.getPrimaryCache().list(policy.getMetadata().getNamespace()).toList();
    var holder = TargetClaims.heldByAnother(policy, sameNamespace);
    if (holder.isPresent()) {
      return Conditions.of(
          ACCEPTED,
          FALSE,
          "Conflict",
          "SessionPolicy "
              + holder.get().getMetadata().getName()
              + " already targets "
              + describeTarget(policy)
              + " and is older; this policy waits until that one is deleted or retargeted",
          generation);
    }
    return Conditions.of(
        ACCEPTED,
        TRUE,
        "Valid",
        "policy rendered into ConfigMap " + PolicyConfigMap.nameFor(policy),
        generation);
  }

  /** One event per transition, not one per reconcile. */
  private void announce(SessionPolicy policy, List<Condition> previous, List<Condition> next) {
    for (var now : next) {
      var before = Conditions.find(previous, now.type);
      if (!Conditions.changed(before, now)) {
        continue;
      }
      boolean wasTrue = before != null && TRUE.equals(before.status);
      switch (now.type + "/" + now.reason) {
        case "Accepted/Invalid" -> events.warning(policy, "InvalidSpec", now.message);
        case "Accepted/Conflict" -> events.warning(policy, "Conflict", now.message);
        case "Injected/TargetNotFound" -> events.warning(policy, "TargetNotFound", now.message);
        default -> {
          if (TRUE.equals(now.status) && !wasTrue) {
            events.normal(policy, now.type, now.message);
          }
        }
      }
    }
  }
}
