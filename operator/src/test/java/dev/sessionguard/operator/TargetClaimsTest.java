package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import java.util.List;
import org.junit.jupiter.api.Test;

class TargetClaimsTest {
  static SessionPolicy policy(String name, String created, TargetRef target) {
    var p = MockCluster.policy("ns", name, "x");
    p.getMetadata().setCreationTimestamp(created);
    p.getSpec().targetRef = target;
    return p;
  }

  static final TargetRef VMCP_BETA =
      new TargetRef("toolhive.stacklok.dev/v1beta1", "VirtualMCPServer", "vmcp");
  static final TargetRef VMCP_ALPHA =
      new TargetRef("toolhive.stacklok.dev/v1alpha1", "VirtualMCPServer", "vmcp");

  @Test
  void the_oldest_policy_holds_a_target_whatever_the_api_version() {
    var old = policy("b", "2025-01-01T00:00:00Z", VMCP_BETA);
    var young = policy("a", "2025-01-01T00:00:05Z", VMCP_ALPHA);
    assertThat(TargetClaims.heldByAnother(young, List.of(old, young), null, p -> true))
        .contains(old);
    assertThat(TargetClaims.heldByAnother(old, List.of(old, young), null, p -> true)).isEmpty();
  }

  @Test
  void equal_ages_are_decided_by_name() {
    var a = policy("a", "2025-01-01T00:00:00Z", VMCP_BETA);
    var b = policy("b", "2025-01-01T00:00:00Z", VMCP_BETA);
    assertThat(TargetClaims.heldByAnother(b, List.of(a, b), null, p -> true)).contains(a);
    assertThat(TargetClaims.heldByAnother(a, List.of(a, b), null, p -> true)).isEmpty();
  }

  @Test
  void a_different_kind_or_name_is_a_different_target() {
    var deployment =
        policy("a", "2025-01-01T00:00:00Z", new TargetRef("apps/v1", "Deployment", "vmcp"));
    var statefulSet =
        policy("b", "2025-01-01T00:00:01Z", new TargetRef("apps/v1", "StatefulSet", "vmcp"));
    var other =
        policy("c", "2025-01-01T00:00:02Z", new TargetRef("apps/v1", "Deployment", "other"));
    var all = List.of(deployment, statefulSet, other);
    assertThat(TargetClaims.heldByAnother(statefulSet, all, null, p -> true)).isEmpty();
    assertThat(TargetClaims.heldByAnother(other, all, null, p -> true)).isEmpty();
  }

  @Test
  void the_policy_whose_guard_is_in_the_target_keeps_it_whatever_its_age() {
    var old = policy("b", "2025-01-01T00:00:00Z", VMCP_BETA);
    var young = policy("a", "2025-01-01T00:00:05Z", VMCP_BETA);
    assertThat(TargetClaims.heldByAnother(old, List.of(old, young), "a", p -> true))
        .contains(young);
    assertThat(TargetClaims.heldByAnother(young, List.of(old, young), "a", p -> true)).isEmpty();
    // being deleted, or once it targets something else, it gives the target up
    young.getMetadata().setDeletionTimestamp("2025-01-01T00:01:00Z");
    assertThat(TargetClaims.heldByAnother(old, List.of(old, young), "a", p -> true)).isEmpty();
    young.getMetadata().setDeletionTimestamp(null);
    young.getSpec().targetRef = new TargetRef("apps/v1", "Deployment", "elsewhere");
    assertThat(TargetClaims.heldByAnother(old, List.of(old, young), "a", p -> true)).isEmpty();
  }
}
