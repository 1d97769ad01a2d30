package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import java.time.Instant;
import java.util.Collection;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * One workload, one policy: a policy whose guard is in the workload's pod template keeps it while
 * it targets it; when none does, the oldest of the policies targeting it holds it (ties broken by
 * name), so the answer does not depend on reconcile order.
 */
final class TargetClaims {
  private static final Comparator<SessionPolicy> OLDEST_FIRST =
      Comparator.comparing(TargetClaims::created).thenComparing(p -> p.getMetadata().getName());

  private TargetClaims() {}

  /**
   * The policy that holds {@code policy}'s target instead of it, if there is one: {@code guarding}
   * (the policy whose guard is in the target, or null) while it targets it and is not being
   * deleted, whatever its age (taking the target from it would roll the pods and cut its clients
   * off its Service); otherwise the oldest that {@code mayHold} (one whose spec is valid: one
   * refused since its creation must not keep a valid newer one out).
   */
  static Optional<SessionPolicy> heldByAnother(
      SessionPolicy policy,
      Collection<SessionPolicy> sameNamespace,
      String guarding,
      Predicate<SessionPolicy> mayHold) {
    var key = key(policy);
    var name = policy.getMetadata().getName();
    if (key == null || name.equals(guarding)) {
      return Optional.empty();
    }
    var rivals =
        sameNamespace.stream()
            .filter(other -> !other.getMetadata().getName().equals(name))
            // a policy being deleted gives its target up
            .filter(other -> other.getMetadata().getDeletionTimestamp() == null)
            .filter(other -> key.equals(key(other)))
            .toList();
    var incumbent =
        rivals.stream().filter(other -> other.getMetadata().getName().equals(guarding)).findFirst();
    if (incumbent.isPresent()) {
      return incumbent;
    }
    return rivals.stream()
        .filter(other -> OLDEST_FIRST.compare(other, policy) < 0)
        .filter(mayHold)
        .min(OLDEST_FIRST);
  }

  /** What identifies a workload: API group (not version), kind and name. */
  static String key(SessionPolicy policy) {
    return key(policy.getSpec() == null ? null : policy.getSpec().targetRef);
  }

  static String key(TargetRef t) {
    if (t == null || t.apiVersion == null || t.kind == null || t.name == null) {
      return null;
    }
    int slash = t.apiVersion.indexOf('/');
    String group = slash < 0 ? "" : t.apiVersion.substring(0, slash);
    return group + "/" + t.kind + "/" + t.name;
  }

  static String describe(TargetRef t) {
    return t.kind + " " + t.name;
  }

  private static Instant created(SessionPolicy p) {
    var stamp = p.getMetadata().getCreationTimestamp();
    // not yet stored: it is the newest
    return Objects.isNull(stamp) ? Instant.MAX : Instant.parse(stamp);
  }
}
