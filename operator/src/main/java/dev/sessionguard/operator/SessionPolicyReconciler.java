package dev.sessionguard.operator;

import static dev.sessionguard.operator.Conditions.ACCEPTED;
import static dev.sessionguard.operator.Conditions.FALSE;
import static dev.sessionguard.operator.Conditions.TRUE;

import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.PolicyValidator;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicyStatus;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Turns a SessionPolicy into its guard configuration and reports what happened in its status.
 *
 * <p>An invalid or conflicting policy is not an error: it becomes {@code Accepted=False}, one
 * event, and a clean end of the reconcile; everything the last good spec produced stays as it is.
 */
@ControllerConfiguration(name = SessionPolicyReconciler.NAME)
// explicitInvocation: the ConfigMap is written only for an accepted spec. (A reconcilePrecondition
// would not do: when unmet, JOSDK deletes the dependent, the last good ConfigMap with it.)
@Workflow(explicitInvocation = true, dependents = @Dependent(type = PolicyConfigMap.class))
public class SessionPolicyReconciler implements Reconciler<SessionPolicy> {
  static final String NAME = "sessionpolicy";

  private final PolicyEvents events;
  private final Clock clock;

  public SessionPolicyReconciler(PolicyEvents events, Clock clock) {
    this.events = events;
    this.clock = clock;
  }

  /**
   * Policies watch each other: when one is created, deleted or retargeted, the others in its
   * namespace are reconciled, so the loser of a conflict recovers when the winner goes away.
   */
  @Override
  public List<EventSource<?, SessionPolicy>> prepareEventSources(
      EventSourceContext<SessionPolicy> context) {
    var neighbours =
        InformerEventSourceConfiguration.from(SessionPolicy.class, SessionPolicy.class)
            .withName("neighbour-policies")
            .withSecondaryToPrimaryMapper(
                (SessionPolicy changed) ->
                    context
                        .getPrimaryCache()
                        .list(changed.getMetadata().getNamespace())
                        .filter(
                            p -> !p.getMetadata().getName().equals(changed.getMetadata().getName()))
                        .map(ResourceID::fromResource)
                        .collect(Collectors.toSet()))
            // status writes do not change who holds a target
            .withOnUpdateFilter(
                (next, before) ->
                    !Objects.equals(
                        next.getMetadata().getGeneration(), before.getMetadata().getGeneration()))
            .build();
    return List.of(new InformerEventSource<>(neighbours, context));
  }

  @Override
  public UpdateControl<SessionPolicy> reconcile(
      SessionPolicy policy, Context<SessionPolicy> context) {
    var generation = policy.getMetadata().getGeneration();
    var accepted = accept(policy, context);
    boolean ok = TRUE.equals(accepted.status);
    if (ok) {
      context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
    }

    var old = policy.getStatus();
    var previousConditions = old == null ? List.<Condition>of() : old.conditions;
    announce(policy, Conditions.find(previousConditions, ACCEPTED), accepted);

    var next = new SessionPolicyStatus();
    next.observedGeneration = generation;
    // the hash and store of the policy in effect: a refused spec leaves the last good one in place
    next.policyHash = ok ? PolicyHash.of(policy.getSpec()) : old == null ? null : old.policyHash;
    next.store = ok ? policy.getSpec().store.type.name() : old == null ? null : old.store;
    next.pods = old == null ? null : old.pods;
    next.conditions = Conditions.merge(previousConditions, List.of(accepted), clock.instant());
    if (next.equals(old)) {
      return UpdateControl.noUpdate();
    }
    // a fresh object carrying only name, namespace and status: nothing else can be overwritten
    var fresh = new SessionPolicy();
    fresh.setMetadata(
        new ObjectMetaBuilder()
            .withName(policy.getMetadata().getName())
            .withNamespace(policy.getMetadata().getNamespace())
            .build());
    fresh.setStatus(next);
    return UpdateControl.patchStatus(fresh);
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
              + TargetClaims.describe(policy.getSpec().targetRef)
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

  /** One event per transition of Accepted, not one per reconcile. */
  private void announce(SessionPolicy policy, Condition before, Condition now) {
    if (!Conditions.changed(before, now)) {
      return;
    }
    switch (now.reason) {
      case "Invalid" -> events.warning(policy, "InvalidSpec", now.message);
      case "Conflict" -> events.warning(policy, "Conflict", now.message);
      default -> {
        if (before == null || !TRUE.equals(before.status)) {
          events.normal(policy, "Accepted", now.message);
        }
      }
    }
  }
}
