package dev.sessionguard.operator;

import static dev.sessionguard.operator.Conditions.ACCEPTED;
import static dev.sessionguard.operator.Conditions.FALSE;
import static dev.sessionguard.operator.Conditions.INJECTED;
import static dev.sessionguard.operator.Conditions.READY;
import static dev.sessionguard.operator.Conditions.STALLED;
import static dev.sessionguard.operator.Conditions.TRUE;

import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.PolicyValidator;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.StoreType;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import dev.sessionguard.policy.SessionPolicyStatus;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
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
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

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
// The Service and the NetworkPolicy are deleted when their condition turns false; the NetworkPolicy
// waits for Ready (see Lockdown).
@Workflow(
    explicitInvocation = true,
    dependents = {
      @Dependent(type = PolicyConfigMap.class),
      @Dependent(type = GuardService.class, reconcilePrecondition = GuardService.Wanted.class),
      @Dependent(type = Lockdown.class, reconcilePrecondition = Lockdown.Wanted.class)
    })
public class SessionPolicyReconciler implements Reconciler<SessionPolicy>, Cleaner<SessionPolicy> {
  static final String NAME = "sessionpolicy";
  static final Duration CONFLICT_RETRY = Duration.ofSeconds(5);
  static final String BY_TARGET = "byTarget";
  static final String VIRTUAL_MCP_SERVERS = "virtualmcpservers";

  /** The longest name whose Service ({@code <name>-guard}) and label value fit in 63. */
  static final int MAX_NAME = 57;

  private static final int MAX_MESSAGE = 400;

  /** A Service name: an RFC 1035 label (a policy's name may also hold dots, or start with 0-9). */
  private static final java.util.regex.Pattern SERVICE_NAME =
      java.util.regex.Pattern.compile("[a-z]([-a-z0-9]*[a-z0-9])?");

  private final PolicyEvents events;
  private final GuardInjector injector;
  private final Enforcement enforcement;
  private final Clock clock;
  private final Duration recheck;
  private final Set<String> adminNamespaces;
  private volatile String toolHiveVersion;

  /** The VirtualMCPServer versions the cluster served when the operator started. */
  private volatile List<String> toolHiveVersions = List.of();

  private final Map<String, String> bypassWarned = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * @param recheck how soon to look at the pods again while the policy is not Ready
   * @param adminNamespaces namespaces a lockdown lets reach the guards' admin port
   */
  public SessionPolicyReconciler(
      PolicyEvents events,
      GuardInjector injector,
      Enforcement enforcement,
      Clock clock,
      Duration recheck,
      Set<String> adminNamespaces) {
    this.events = events;
    this.injector = injector;
    this.enforcement = enforcement;
    this.clock = clock;
    this.recheck = recheck;
    this.adminNamespaces = Set.copyOf(adminNamespaces);
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
    toolHiveVersions = ToolHive.servedVersions(context.getClient());
    var toolhive = ToolHive.preferred(toolHiveVersions);
    toolHiveVersion = toolhive;
    if (toolhive != null) {
      // only when ToolHive is installed: an informer on a missing kind never becomes healthy
      sources.add(
          new InformerEventSource<>(
              InformerEventSourceConfiguration.from(
                      new GroupVersionKind(ToolHive.GROUP, toolhive, ToolHive.KIND),
                      SessionPolicy.class)
                  .withName(VIRTUAL_MCP_SERVERS)
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
            .withName(kind.toLowerCase(Locale.ROOT) + "s")
            .withSecondaryToPrimaryMapper((T t) -> byTarget(context, t, group, kind))
            .build(),
        context);
  }

  /**
   * The policies targeting {@code target}, and for a workload a VirtualMCPServer controls
   * (ToolHive's Deployment: its rollout and replica count are the VirtualMCPServer's) those
   * targeting that VirtualMCPServer.
   */
  private static Set<ResourceID> byTarget(
      EventSourceContext<SessionPolicy> context, HasMetadata target, String group, String kind) {
    var ns = target.getMetadata().getNamespace();
    var names = new ArrayList<String>();
    names.add(group + "/" + kind + "/" + target.getMetadata().getName());
    ToolHive.controller(target)
        .ifPresent(vmcp -> names.add(ToolHive.GROUP + "/" + ToolHive.KIND + "/" + vmcp));
    return names.stream()
        .flatMap(name -> context.getPrimaryCache().byIndex(BY_TARGET, ns + "/" + name).stream())
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
    boolean keptLastGood = false;
    if (ok && !served(policy.getSpec().targetRef)) {
      var message = notServed(policy.getSpec().targetRef);
      // valid, but nothing is rendered (or in force: a former target is released below)
      accepted = Conditions.of(ACCEPTED, TRUE, "Valid", "policy is valid; " + message, generation);
      next.policyHash = null;
      next.store = null;
      injected = Conditions.of(INJECTED, FALSE, "UnsupportedKind", message, generation);
      ready = Conditions.of(READY, FALSE, "UnsupportedKind", message, generation);
      next.pods = null;
      releaseFormerTargets(policy, context);
    } else if (ok) {
      var enforced = enforce(policy, context, next.policyHash, generation, true);
      injected = enforced.injected();
      ready = enforced.ready();
      next.pods = enforced.pods();
      releaseFormerTargets(policy, context);
    } else if (accepted.reason.equals("Conflict")) {
      releaseFormerTargets(policy, context);
      injected = Conditions.of(INJECTED, FALSE, "Conflict", accepted.message, generation);
      ready = Conditions.of(READY, FALSE, "Conflict", accepted.message, generation);
      next.pods = null;
    } else {
      // An invalid spec changes nothing: the guards keep enforcing the last good policy, and the
      // operator keeps its guard in the target (one recreated meanwhile gets it back). Its
      // conditions speak of that policy, at its generation.
      var lastGood = lastGood(policy, context);
      if (lastGood.isPresent()) {
        var enforced =
            enforce(
                lastGood.get(),
                context,
                next.policyHash,
                lastGood.get().getMetadata().getGeneration(),
                false);
        injected = enforced.injected();
        ready = enforced.ready();
        next.pods = enforced.pods();
        keptLastGood = true;
      } else {
        injected = carried(previous, INJECTED, "the spec is not accepted", generation);
        ready = carried(previous, READY, "the spec is not accepted", generation);
      }
    }
    var conditions = new ArrayList<>(List.of(accepted, injected, ready));
    if ("Invalid".equals(accepted.reason)) {
      // kstatus (Flux's health checks, Helm 4's --wait) reads status.observedGeneration and then
      // Ready, kept about the last good spec: Stalled says this generation will not become Ready
      conditions.add(Conditions.of(STALLED, TRUE, "Invalid", accepted.message, generation));
    }
    announce(policy, previous, conditions);
    warnOfBypass(policy, ready);
    next.conditions = Conditions.merge(previous, conditions, clock.instant());

    UpdateControl<SessionPolicy> control;
    if (next.equals(old)) {
      control = UpdateControl.noUpdate();
    } else {
      control = UpdateControl.patchStatus(statusOnly(policy, next));
    }
    // The winner's deletion may reach the neighbour informer before the primary cache: a waiting
    // loser looks again on its own rather than depend on the order of two informers.
    if ("Conflict".equals(accepted.reason)) {
      return control.rescheduleAfter(CONFLICT_RETRY);
    }
    // pods roll out and guards reload without an event this operator sees: look again
    return (ok || keptLastGood) && !TRUE.equals(ready.status)
        ? control.rescheduleAfter(recheck)
        : control;
  }

  /**
   * The last accepted spec, as the policy's own ConfigMap holds it for the guards, while the status
   * says it holds its target (the guard in it, or the target missing or refusing the write); empty
   * otherwise, and when that ConfigMap is gone or holds another hash.
   */
  private Optional<SessionPolicy> lastGood(SessionPolicy policy, Context<SessionPolicy> context) {
    var status = policy.getStatus();
    var injected = status == null ? null : Conditions.find(status.conditions, INJECTED);
    if (injected == null || status.policyHash == null || !HOLDING.contains(injected.reason)) {
      return Optional.empty();
    }
    var meta = policy.getMetadata();
    var configMap =
        context
            .getClient()
            .configMaps()
            .inNamespace(meta.getNamespace())
            .withName(PolicyConfigMap.nameFor(policy))
            .get();
    var text =
        configMap == null || configMap.getData() == null
            ? null
            : configMap.getData().get(PolicyConfigMap.KEY);
    if (text == null
        || configMap.getMetadata().getOwnerReferences().stream()
            .noneMatch(o -> Objects.equals(o.getUid(), meta.getUid()))) {
      return Optional.empty();
    }
    PolicyFile file;
    try {
      file = PolicyFile.parse(text, PolicyValidator.Mode.CLUSTER);
    } catch (InvalidPolicyException e) {
      return Optional.empty();
    }
    var ref = file.spec().targetRef;
    if (!status.policyHash.equals(file.effectiveHash()) || !served(ref)) {
      return Optional.empty();
    }
    // Only while the refused spec still names that workload, and no other policy's guard is in
    // it: one retargeted (or emptied) with the refusal gave it up, and another policy may hold it.
    var key = TargetClaims.key(ref);
    var guarding = guardIn(ref, policy, context);
    if (key == null
        || !key.equals(TargetClaims.key(policy))
        || (guarding != null && !guarding.equals(meta.getName()))) {
      return Optional.empty();
    }
    var kept = new SessionPolicy();
    kept.setMetadata(
        new ObjectMetaBuilder(meta)
            .withGeneration(
                file.generation() != null ? file.generation() : injected.observedGeneration)
            .build());
    kept.setSpec(file.spec());
    kept.setStatus(status);
    return Optional.of(kept);
  }

  /** The {@code Injected} reasons of a policy that holds its target. */
  private static final Set<String> HOLDING =
      Set.of("Injected", "TargetNotFound", "InjectionFailed");

  /** What enforcing a policy found and did: its conditions and its pods. */
  private record Enforced(Condition injected, Condition ready, SessionPolicyStatus.Pods pods) {}

  /**
   * Puts {@code policy}'s guard in its target and counts the pods that enforce {@code hash}; with
   * {@code render}, first writes the ConfigMap, Service and NetworkPolicy from it (not for the last
   * good spec kept while a newer one is refused: the dependents are rendered from the resource as
   * it is, and stay as they were).
   */
  private Enforced enforce(
      SessionPolicy policy,
      Context<SessionPolicy> context,
      String hash,
      Long generation,
      boolean render) {
    var target = injector.target(policy);
    var outcome = GuardInjector.Outcome.TARGET_MISSING;
    String injectionFailure = null;
    int desired = 0;
    int enforcing = 0;
    int unready = 0;
    List<String> bypass = List.of();
    if (target.isPresent()) {
      desired = desiredReplicas(target.get(), context);
      var template = template(policy, target.get());
      var podLabels = podLabels(policy, template);
      var pods = enforcement.pods(policy, podLabels);
      var count = enforcement.enforcingPods(policy, pods, hash);
      enforcing = count.ready();
      unready = count.unready();
      var spec = policy.getSpec();
      if (render) {
        // the dependents first: the ConfigMap the guard mounts exists before its pods start
        expose(policy, context, podLabels, desired > 0 && enforcing >= desired);
      }
      try {
        outcome = injector.inject(policy);
      } catch (KubernetesClientException e) {
        // refused by the API server (an admission webhook, a field the cluster does not know)
        // or conflicting writes that kept on: said in the status, tried again at the recheck
        injectionFailure = describeTarget(policy) + " could not be written: " + apiMessage(e);
      }
      if (Boolean.TRUE.equals(spec.exposure.lockdown)) {
        // A VirtualMCPServer's template holds only what was put there: ToolHive's own labels
        // and ports are on its pods.
        var seen =
            ToolHive.KIND.equals(spec.targetRef.kind)
                ? enforcement.asTemplate(pods).orElse(template)
                : template;
        bypass =
            GuardBypass.admittingUpstream(
                context
                    .getClient()
                    .network()
                    .v1()
                    .networkPolicies()
                    .inNamespace(policy.getMetadata().getNamespace())
                    .list()
                    .getItems(),
                Lockdown.nameFor(policy),
                podLabels(policy, seen),
                spec.upstream.port,
                PodTemplates.namedPorts(seen));
      }
    } else if (render) {
      expose(policy, context, Map.of(), false);
    }
    Condition injected;
    Condition ready;
    SessionPolicyStatus.Pods pods = null;
    if (injectionFailure != null) {
      injected = Conditions.of(INJECTED, FALSE, "InjectionFailed", injectionFailure, generation);
      ready = Conditions.of(READY, FALSE, "InjectionFailed", injectionFailure, generation);
    } else if (outcome == GuardInjector.Outcome.TARGET_MISSING) {
      var message = describeTarget(policy) + " does not exist";
      injected = Conditions.of(INJECTED, FALSE, "TargetNotFound", message, generation);
      ready = Conditions.of(READY, FALSE, "TargetNotFound", message, generation);
    } else {
      injected =
          Conditions.of(
              INJECTED,
              TRUE,
              "Injected",
              "the guard is in the pod template of " + describeTarget(policy),
              generation);
      pods = new SessionPolicyStatus.Pods(desired, enforcing);
      var rolling =
          outcome == GuardInjector.Outcome.CHANGED
              ? "the pod template changed: its pods roll"
              : rollingOut(target.get(), desired, context);
      ready =
          ready(
              policy, desired, enforcing, unready, rolling, generation, bypassNote(policy, bypass));
    }
    return new Enforced(injected, ready, pods);
  }

  /**
   * A reconcile that failed (a dependent the API server refused, the API server unreachable):
   * {@code Ready=False} with the failure, so it shows in {@code kubectl get} and events rather than
   * only in the operator's log. The other conditions stay as they were; JOSDK retries.
   */
  @Override
  public ErrorStatusUpdateControl<SessionPolicy> updateErrorStatus(
      SessionPolicy policy, Context<SessionPolicy> context, Exception e) {
    var old = policy.getStatus();
    var previous = old == null ? List.<Condition>of() : old.conditions;
    var message =
        "reconciling failed: "
            + (e instanceof KubernetesClientException k ? apiMessage(k) : String.valueOf(e));
    var failed =
        Conditions.of(
            READY, FALSE, "ReconcileFailed", message, policy.getMetadata().getGeneration());
    announce(policy, previous, List.of(failed));
    var next = new SessionPolicyStatus(); // the cached object is not changed in place
    if (old != null) {
      next.observedGeneration = old.observedGeneration;
      next.policyHash = old.policyHash;
      next.store = old.store;
      next.pods = old.pods;
    }
    var conditions = new ArrayList<Condition>();
    for (var type : List.of(ACCEPTED, INJECTED)) {
      var c = Conditions.find(previous, type);
      if (c != null) {
        conditions.add(c);
      }
    }
    conditions.add(failed);
    var stalled = Conditions.find(previous, STALLED);
    if (stalled != null) {
      conditions.add(stalled);
    }
    next.conditions = Conditions.merge(previous, conditions, clock.instant());
    return ErrorStatusUpdateControl.patchStatus(statusOnly(policy, next));
  }

  /** What the API server said, without the client's request line. */
  private static String apiMessage(KubernetesClientException e) {
    var status = e.getStatus();
    var said = status != null && status.getMessage() != null ? status.getMessage() : e.getMessage();
    return said.length() > MAX_MESSAGE ? said.substring(0, MAX_MESSAGE) + "…" : said;
  }

  /**
   * Opens the door, then takes the guard out of the target: the other way round, the pods would for
   * a moment admit only a port nothing listens on. A target that is gone does not block deletion;
   * the Service and ConfigMap go with their owner.
   */
  @Override
  public DeleteControl cleanup(SessionPolicy policy, Context<SessionPolicy> context) {
    if (policy.getMetadata().getUid() != null) {
      bypassWarned.remove(policy.getMetadata().getUid());
    }
    context
        .getClient()
        .network()
        .v1()
        .networkPolicies()
        .inNamespace(policy.getMetadata().getNamespace())
        .withName(Lockdown.nameFor(policy))
        .delete();
    // every workload carrying its label (a former target whose release has not run yet, or the
    // target of a spec since made invalid), then the target itself (its label may not be cached)
    releaseTargets(policy, context, null);
    // (a policy without a spec, or a target, has nothing more to take out)
    if (TargetClaims.key(policy) != null
        && supported(policy)
        && served(policy.getSpec().targetRef)) {
      injector.remove(policy);
    }
    return DeleteControl.defaultDelete();
  }

  /** A fresh object carrying only name, namespace and status: nothing else can be overwritten. */
  private static SessionPolicy statusOnly(SessionPolicy policy, SessionPolicyStatus status) {
    var fresh = new SessionPolicy();
    fresh.setMetadata(
        new ObjectMetaBuilder()
            .withName(policy.getMetadata().getName())
            .withNamespace(policy.getMetadata().getNamespace())
            .build());
    fresh.setStatus(status);
    return fresh;
  }

  /** Writes the ConfigMap, the Service and the NetworkPolicy from what was just observed. */
  private void expose(
      SessionPolicy policy,
      Context<SessionPolicy> context,
      Map<String, String> podLabels,
      boolean enforcing) {
    var spec = policy.getSpec();
    Service targetService = null;
    if (!podLabels.isEmpty() && !Boolean.FALSE.equals(spec.exposure.service)) {
      var services =
          context
              .getClient()
              .services()
              .inNamespace(policy.getMetadata().getNamespace())
              .list()
              .getItems();
      targetService = GuardService.targetService(services, podLabels).orElse(null);
    }
    var workflow = context.managedWorkflowAndDependentResourceContext();
    workflow.put(
        Observed.KEY,
        new Observed(
            targetService, ToolHive.KIND.equals(spec.targetRef.kind), enforcing, adminNamespaces));
    workflow.reconcileManagedWorkflow();
  }

  /**
   * How many pods the target should run: its {@code spec.replicas}; for a VirtualMCPServer without
   * one (ToolHive then leaves the count to its Deployment, for an autoscaler), that of the
   * Deployment it controls; otherwise 1, the API server's default.
   */
  private int desiredReplicas(GenericKubernetesResource target, Context<SessionPolicy> context) {
    var declared = GuardInjector.replicas(target);
    if (declared.isPresent() || !ToolHive.KIND.equals(target.getKind())) {
      return declared.orElse(1);
    }
    return controlledDeployment(target, context)
        .map(d -> d.getSpec().getReplicas())
        .filter(Objects::nonNull)
        .orElse(1);
  }

  /** The Deployment {@code target} controls (ToolHive's, for a VirtualMCPServer), as cached. */
  private static Optional<Deployment> controlledDeployment(
      GenericKubernetesResource target, Context<SessionPolicy> context) {
    var uid = target.getMetadata().getUid();
    return cached(context, Deployment.class, "deployments", target.getMetadata().getNamespace())
        .filter(
            d ->
                d.getMetadata().getOwnerReferences().stream()
                    .anyMatch(
                        o ->
                            Boolean.TRUE.equals(o.getController())
                                && Objects.equals(uid, o.getUid())))
        .findFirst();
  }

  /**
   * Why the target's pods do not all run its current template yet, as its controller reports it, or
   * null when they do (or nothing says otherwise: a status not written yet). A VirtualMCPServer's
   * pods are its Deployment's, which ToolHive makes.
   */
  private String rollingOut(
      GenericKubernetesResource target, int desired, Context<SessionPolicy> context) {
    Map<String, Object> status;
    Map<String, Object> spec;
    Long generation;
    if (ToolHive.KIND.equals(target.getKind())) {
      var deployment = controlledDeployment(target, context);
      if (deployment.isEmpty()) {
        return null;
      }
      var json =
          PodTemplates.asMap(
              context
                  .getClient()
                  .getKubernetesSerialization()
                  .convertValue(deployment.get(), Map.class));
      status = PodTemplates.asMap(json.get("status"));
      spec = PodTemplates.asMap(json.get("spec"));
      generation = deployment.get().getMetadata().getGeneration();
      // ToolHive copies the podTemplateSpec into its Deployment in its own time
      var wanted = guardContainer(target.getAdditionalProperties(), "spec", "podTemplateSpec");
      if (wanted != null
          && !PodTemplates.covers(guardContainer(json, "spec", "template"), wanted)) {
        return "ToolHive has not applied the podTemplateSpec to its Deployment yet";
      }
    } else {
      status = PodTemplates.asMap(target.getAdditionalProperties().get("status"));
      spec = PodTemplates.asMap(target.getAdditionalProperties().get("spec"));
      generation = target.getMetadata().getGeneration();
    }
    if (status == null || status.isEmpty()) {
      return null;
    }
    long observed = number(status.get("observedGeneration"));
    if (generation != null && observed < generation) {
      return "its controller has not acted on the latest pod template yet";
    }
    long updated = number(status.get("updatedReplicas"));
    long replicas = number(status.get("replicas"));
    var of = updated + " of " + desired + " pods run the latest pod template";
    if (!"StatefulSet".equals(target.getKind())) {
      // a Deployment's rollout ends when every pod, old ones gone, runs the new template
      if (updated >= desired && replicas <= updated) {
        return null;
      }
      return spec != null && Boolean.TRUE.equals(spec.get("paused"))
          ? of + " (the Deployment is paused: kubectl rollout resume)"
          : of + " (a rollout is under way)";
    }
    var strategy = spec == null ? null : PodTemplates.asMap(spec.get("updateStrategy"));
    if (strategy != null && "OnDelete".equals(strategy.get("type"))) {
      // its controller replaces a pod only once someone deletes it
      return updated < desired ? of + " (updateStrategy OnDelete: delete the others)" : null;
    }
    var rolling = strategy == null ? null : PodTemplates.asMap(strategy.get("rollingUpdate"));
    long partition = rolling == null ? 0 : number(rolling.get("partition"));
    if (partition > 0) {
      // pods below the partition keep the template before, as asked
      return updated < desired - partition
          ? of + " (a rollout is under way, down to partition " + partition + ")"
          : null;
    }
    var current = status.get("currentRevision");
    var update = status.get("updateRevision");
    boolean revisions = current != null && update != null && !current.equals(update);
    return updated < desired || revisions ? of + " (a rollout is under way)" : null;
  }

  /** The guard container of the pod template at {@code path} in {@code root}, or null. */
  private static Object guardContainer(Map<String, Object> root, String... path) {
    var template = at(root, List.of(path));
    var podSpec = template == null ? null : PodTemplates.asMap(template.get("spec"));
    if (podSpec == null || !(podSpec.get("containers") instanceof List<?> containers)) {
      return null;
    }
    return containers.stream()
        .map(PodTemplates::asMap)
        .filter(c -> c != null && GuardContainer.NAME.equals(c.get("name")))
        .findFirst()
        .orElse(null);
  }

  private static long number(Object value) {
    return value instanceof Number n ? n.longValue() : 0;
  }

  /** The target's pod template, as the JSON the API server sent. */
  private static Map<String, Object> template(
      SessionPolicy policy, GenericKubernetesResource target) {
    var template =
        at(
            target.getAdditionalProperties(),
            GuardInjector.templatePath(policy.getSpec().targetRef));
    return template == null ? Map.of() : template;
  }

  /** The object at {@code path} under {@code root}, or null where the path breaks off. */
  private static Map<String, Object> at(Map<String, Object> root, List<String> path) {
    Map<String, Object> node = root;
    for (var key : path) {
      node = node == null ? null : PodTemplates.asMap(node.get(key));
    }
    return node;
  }

  /** The labels the target's pods carry once the guard is in. */
  private static Map<String, String> podLabels(SessionPolicy policy, Map<String, Object> template) {
    var labels = new HashMap<String, String>();
    var metadata = PodTemplates.asMap(template.get("metadata"));
    var declared = metadata == null ? null : PodTemplates.asMap(metadata.get("labels"));
    if (declared != null) {
      declared.forEach((k, v) -> labels.put(k, String.valueOf(v)));
    }
    labels.put(PodTemplates.GUARDED_BY, policy.getMetadata().getName());
    labels.put(PodTemplates.TARGET, PodTemplates.targetLabel(policy.getSpec().targetRef));
    return labels;
  }

  /**
   * A retargeted policy takes its guard out of the workloads it guarded before: whichever carries
   * its {@code guarded-by} label and is not its target now (found in the informers' caches).
   */
  private void releaseFormerTargets(SessionPolicy policy, Context<SessionPolicy> context) {
    releaseTargets(policy, context, TargetClaims.key(policy));
  }

  /** Takes the policy's guard out of each workload carrying its label but {@code keep}. */
  private void releaseTargets(SessionPolicy policy, Context<SessionPolicy> context, String keep) {
    var name = policy.getMetadata().getName();
    var former =
        workloads(context, policy.getMetadata().getNamespace())
            .filter(w -> name.equals(w.guardedBy()) && !w.copy())
            .map(Workload::ref)
            .toList();
    for (var ref : former) {
      if (Objects.equals(TargetClaims.key(ref), keep)) {
        continue;
      }
      if (injector.remove(policy, ref) == GuardInjector.Outcome.CHANGED) {
        events.normal(
            policy,
            "Released",
            "the guard left " + TargetClaims.describe(ref) + ", which is no longer the target");
      }
    }
  }

  /** The policy whose guard is in the target's pod template (its label), as cached; or null. */
  private String guardIn(TargetRef ref, SessionPolicy policy, Context<SessionPolicy> context) {
    var key = TargetClaims.key(ref);
    if (key == null) {
      return null;
    }
    return workloads(context, policy.getMetadata().getNamespace())
        .filter(w -> key.equals(TargetClaims.key(w.ref())))
        .map(Workload::guardedBy)
        .filter(Objects::nonNull)
        .findFirst()
        .orElse(null);
  }

  /**
   * A workload the operator can guard, the policy its pod template's label names (or null), and
   * whether that template is a copy another controller made of the guarded one: ToolHive's
   * Deployment for a VirtualMCPServer carries its {@code podTemplateSpec}, guard and labels
   * included. A copy is never released: taking the guard out of it would take it out of the pods of
   * the VirtualMCPServer the policy guards.
   */
  private record Workload(TargetRef ref, String guardedBy, boolean copy) {
    Workload(TargetRef ref, HasMetadata owner, PodTemplateSpec template) {
      this(ref, guardOf(template), copied(ref, owner, template));
    }
  }

  /**
   * A template whose target label names another workload, or one of a workload a VirtualMCPServer
   * controls (older templates carry no target label).
   */
  private static boolean copied(TargetRef ref, HasMetadata owner, PodTemplateSpec template) {
    var labels =
        template == null || template.getMetadata() == null
            ? null
            : template.getMetadata().getLabels();
    var target = labels == null ? null : labels.get(PodTemplates.TARGET);
    if (target != null && !target.equals(PodTemplates.targetLabel(ref))) {
      return true;
    }
    return ToolHive.controller(owner).isPresent();
  }

  /** The namespace's workloads of every kind the operator guards, from the informers' caches. */
  private Stream<Workload> workloads(Context<SessionPolicy> context, String ns) {
    Stream<Workload> deployments =
        cached(context, Deployment.class, "deployments", ns)
            .map(
                d ->
                    new Workload(
                        new TargetRef("apps/v1", "Deployment", d.getMetadata().getName()),
                        d,
                        d.getSpec().getTemplate()));
    Stream<Workload> statefulSets =
        cached(context, StatefulSet.class, "statefulsets", ns)
            .map(
                t ->
                    new Workload(
                        new TargetRef("apps/v1", "StatefulSet", t.getMetadata().getName()),
                        t,
                        t.getSpec().getTemplate()));
    var version = toolHiveVersion;
    if (version == null) {
      return Stream.concat(deployments, statefulSets);
    }
    Stream<Workload> servers =
        cached(context, GenericKubernetesResource.class, VIRTUAL_MCP_SERVERS, ns)
            .map(
                v ->
                    new Workload(
                        new TargetRef(
                            ToolHive.GROUP + "/" + version,
                            ToolHive.KIND,
                            v.getMetadata().getName()),
                        v.<String>get(
                            "spec",
                            "podTemplateSpec",
                            "metadata",
                            "labels",
                            PodTemplates.GUARDED_BY),
                        false));
    return Stream.concat(Stream.concat(deployments, statefulSets), servers);
  }

  private static String guardOf(PodTemplateSpec template) {
    return template == null
            || template.getMetadata() == null
            || template.getMetadata().getLabels() == null
        ? null
        : template.getMetadata().getLabels().get(PodTemplates.GUARDED_BY);
  }

  @SuppressWarnings("unchecked")
  private static <W extends HasMetadata> Stream<W> cached(
      Context<SessionPolicy> context, Class<W> type, String source, String namespace) {
    return ((InformerEventSource<W, SessionPolicy>)
            context.eventSourceRetriever().getEventSourceFor(type, source))
        .list(namespace);
  }

  private static String bypassNote(SessionPolicy policy, List<String> bypass) {
    if (bypass.isEmpty()) {
      return "";
    }
    return "; NetworkPolicy "
        + String.join(", ", bypass)
        + " also admits the upstream port "
        + policy.getSpec().upstream.port
        + ": clients can bypass the guard";
  }

  /**
   * One Warning when a bypass appears (or changes), not one per reconcile. Remembered here rather
   * than read from the status: a reconcile may run before the last status write reaches the cache.
   */
  private void warnOfBypass(SessionPolicy policy, Condition ready) {
    var uid = policy.getMetadata().getUid();
    int at = ready.message.indexOf("; NetworkPolicy ");
    if (at < 0) {
      if (uid != null) {
        bypassWarned.remove(uid);
      }
      return;
    }
    var note = ready.message.substring(at + 2);
    if (uid == null || !note.equals(bypassWarned.put(uid, note))) {
      events.warning(policy, "GuardBypass", note);
    }
  }

  private Condition ready(
      SessionPolicy policy,
      int desired,
      int enforcing,
      int unready,
      String rolling,
      Long generation,
      String note) {
    if (desired == 0) {
      return Conditions.of(
          READY, FALSE, "NoReplicas", describeTarget(policy) + " runs no pods", generation);
    }
    var message = enforcing + " of " + desired + " pods enforce the current policy";
    if (unready > 0 && enforcing < desired) {
      message +=
          "; "
              + unready
              + (unready == 1
                  ? " more has it but its guard is"
                  : " more have it but their guards are")
              + " not ready (its readiness probe fails: see the session-guard container's log,"
              + " and /readyz on its admin port)";
    }
    if (policy.getSpec().store.type == StoreType.Memory && desired > 1) {
      message += "; with store Memory each pod holds its own limits (use Redis to share them)";
    }
    if (rolling != null) {
      // pods of the template before (the guard's image or resources, say) still count above
      message += "; " + rolling;
    }
    message += note;
    return enforcing >= desired && rolling == null
        ? Conditions.of(READY, TRUE, "Enforcing", message, generation)
        : Conditions.of(READY, FALSE, "RollingOut", message, generation);
  }

  /**
   * A condition about the last good spec, kept while a newer one is refused. It keeps the
   * generation it was observed at: stamped with the refused one, a {@code Ready=True} would let
   * {@code kubectl wait --for=condition=Ready} pass for a spec that is not in force.
   */
  private static Condition carried(
      List<Condition> previous, String type, String why, Long generation) {
    var before = Conditions.find(previous, type);
    if (before != null) {
      return Conditions.of(
          type, before.status, before.reason, before.message, before.observedGeneration);
    }
    return Conditions.of(type, FALSE, "NotAccepted", why, generation);
  }

  /**
   * Whether the cluster serves the target's kind at its version. Deployments and StatefulSets
   * always are; a VirtualMCPServer only when ToolHive's CRD served that version when the operator
   * started (its informer is made then).
   */
  private boolean served(TargetRef ref) {
    if (ref == null || !ToolHive.KIND.equals(ref.kind)) {
      return true;
    }
    var version = ref.apiVersion.substring(ref.apiVersion.indexOf('/') + 1);
    return toolHiveVersions.contains(version);
  }

  private String notServed(TargetRef ref) {
    var served = toolHiveVersions;
    return ref.apiVersion
        + " "
        + ref.kind
        + " is not served by this cluster"
        + (served.isEmpty()
            ? " (ToolHive's CRD " + ToolHive.CRD_NAME + " was not installed"
            : " (ToolHive serves " + String.join(", ", served))
        + " when the operator started; install ToolHive, then restart the operator)";
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
    var problems = problems(policy);
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
    var guarding = guardIn(policy.getSpec().targetRef, policy, context);
    var holder =
        TargetClaims.heldByAnother(
            policy, sameNamespace, guarding, other -> problems(other).isEmpty());
    if (holder.isPresent()) {
      var name = holder.get().getMetadata().getName();
      return Conditions.of(
          ACCEPTED,
          FALSE,
          "Conflict",
          "SessionPolicy "
              + name
              + (name.equals(guarding) ? " already guards " : " already targets ")
              + describeTarget(policy)
              + (name.equals(guarding) ? "" : " and is older")
              + "; this policy waits until that one is deleted or retargeted",
          generation);
    }
    return Conditions.of(
        ACCEPTED,
        TRUE,
        "Valid",
        "policy rendered into ConfigMap " + PolicyConfigMap.nameFor(policy),
        generation);
  }

  /** Why the operator refuses a policy: its spec, and a name too long for what it names. */
  private static List<String> problems(SessionPolicy policy) {
    var problems =
        new ArrayList<>(PolicyValidator.validate(policy.getSpec(), PolicyValidator.Mode.CLUSTER));
    if (policy.getMetadata().getName().length() > MAX_NAME) {
      problems.add(
          0,
          "metadata.name is longer than "
              + MAX_NAME
              + " characters: the guard's Service "
              + GuardService.nameFor(policy)
              + " and the pods' "
              + PodTemplates.GUARDED_BY
              + " label must fit in 63");
    } else if (policy.getSpec() != null
        && policy.getSpec().exposure != null
        && !Boolean.FALSE.equals(policy.getSpec().exposure.service)
        && !SERVICE_NAME.matcher(GuardService.nameFor(policy)).matches()) {
      problems.add(
          0,
          "metadata.name must start with a lowercase letter and hold only lowercase letters,"
              + " digits and '-': the guard's Service "
              + GuardService.nameFor(policy)
              + " is named after it (or set exposure.service: false)");
    }
    return problems;
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
        case "Injected/UnsupportedKind" -> events.warning(policy, "UnsupportedKind", now.message);
        case "Injected/InjectionFailed" -> events.warning(policy, "InjectionFailed", now.message);
        case "Ready/ReconcileFailed" -> events.warning(policy, "ReconcileFailed", now.message);
        case "Stalled/Invalid" -> {} // the InvalidSpec warning says it
        default -> {
          if (TRUE.equals(now.status) && !wasTrue) {
            events.normal(policy, now.type, now.message);
          }
        }
      }
    }
  }
}
