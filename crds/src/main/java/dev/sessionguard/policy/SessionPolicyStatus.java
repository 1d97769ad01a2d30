package dev.sessionguard.policy;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** What the operator observed and did for a policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class SessionPolicyStatus {
  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;

  @JsonPropertyDescription(
      "sha256 of the canonical spec with defaults filled in; guards report it on /policy.")
  public String policyHash;

  @JsonPropertyDescription("Which session store the guards use: Memory or Redis.")
  public String store;

  @JsonPropertyDescription(
      "Accepted, Injected and Ready, each True, False or Unknown; and Stalled (True) while the"
          + " spec is refused.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Pods the target should run, and pods whose guard enforces policyHash.")
  public Pods pods;

  /** Pod counts for the Ready condition. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Pods {
    @JsonPropertyDescription("The target workload's spec.replicas.")
    public Integer desired;

    @JsonPropertyDescription("Pods whose guard reports the current policyHash.")
    public Integer enforcing;

    public Pods() {}

    public Pods(int desired, int enforcing) {
      this.desired = desired;
      this.enforcing = enforcing;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Pods p
          && Objects.equals(desired, p.desired)
          && Objects.equals(enforcing, p.enforcing);
    }

    @Override
    public int hashCode() {
      return Objects.hash(desired, enforcing);
    }
  }

  /** A condition in the Kubernetes convention. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Condition {
    @JsonPropertyDescription("Accepted, Injected, Ready or Stalled.")
    public String type;

    @JsonPropertyDescription("True, False or Unknown.")
    public String status;

    @JsonPropertyDescription("A CamelCase word for programs.")
    public String reason;

    @JsonPropertyDescription("What happened, for people.")
    public String message;

    @JsonPropertyDescription("When status last changed (RFC 3339).")
    public String lastTransitionTime;

    @JsonPropertyDescription("The metadata.generation this condition describes.")
    public Long observedGeneration;

    @Override
    public boolean equals(Object o) {
      return o instanceof Condition c
          && Objects.equals(type, c.type)
          && Objects.equals(status, c.status)
          && Objects.equals(reason, c.reason)
          && Objects.equals(message, c.message)
          && Objects.equals(lastTransitionTime, c.lastTransitionTime)
          && Objects.equals(observedGeneration, c.observedGeneration);
    }

    @Override
    public int hashCode() {
      return Objects.hash(type, status, reason, message, lastTransitionTime, observedGeneration);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SessionPolicyStatus s
        && Objects.equals(observedGeneration, s.observedGeneration)
        && Objects.equals(policyHash, s.policyHash)
        && Objects.equals(store, s.store)
        && Objects.equals(conditions, s.conditions)
        && Objects.equals(pods, s.pods);
  }

  @Override
  public int hashCode() {
    return Objects.hash(observedGeneration, policyHash, store, conditions, pods);
  }
}
