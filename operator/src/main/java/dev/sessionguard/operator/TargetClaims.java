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
 * One workload, one policy: when several policies in a namespace target the same workload, the
 * oldest holds it (ties broken by name), so the answer does not depend on reconcile order.
 */
final class TargetClaims {
  private static final Comparator<SessionPolicy> OLDEST_FIRST =
      Comparator.comparing(TargetClaims::created).thenComparing(p -> p.getMetadata().getName());

  private TargetClaims() {}

  /**
   * The policy that holds {@code policy}'s target instead of it, if there is one. Only a policy
   * that {@code mayHold} (one whose spec is valid, or whose guard is in the target) can: one
   * refused since its creation must not keep a valid newer one out.
   */
  static Optional<SessionPolicy> heldByAnother(
      SessionPolicy policy,
      Collection<SessionPolicy> sameNamespace,
      Predicate<SessionPolicy> mayHold) {
    var key = key(policy);
    if (key == null) {
      return Optional.empty();
    }
    return sameNamespace.stream()
        .filter(other -> !other.getMetadata().getName().equals(policy.getMetadata().getName()))
        // a policy being deleted gives its target up
        .filter(other -> other.getMetadata().getDeletionTimestamp() == null)
        .filter(other -> key.equals(key(other)))
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
