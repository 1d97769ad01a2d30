package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class InFlightLimitsTest {
  final InFlightLimits limits = InFlightLimits.requests();

  @Test
  void refuses_over_the_client_cap_then_the_global_cap_and_releases_once() {
    var a1 = limits.acquire("alice", 3, 2, false);
    var a2 = limits.acquire("alice", 3, 2, false);
    assertThat(limits.acquire("alice", 3, 2, false).refusal()).isEqualTo(Refusal.CLIENT_INFLIGHT);
    var b1 = limits.acquire("bob", 3, 2, false);
    assertThat(limits.acquire("carol", 3, 2, false).refusal()).isEqualTo(Refusal.GLOBAL_INFLIGHT);

    a1.permit().close();
    a1.permit().close();
    a2.permit().close();
    b1.permit().close();

    assertThat(limits.total()).isZero();
    assertThat(limits.clients()).isZero();
  }

  @Test
  void streams_are_refused_with_their_own_reasons() {
    var streams = InFlightLimits.streams();
    streams.acquire("alice", 1, 1, false);
    assertThat(streams.acquire("alice", 1, 1, false).refusal()).isEqualTo(Refusal.GLOBAL_STREAMS);
  }

  @Test
  void forced_grants_count_and_report() {
    limits.acquire("alice", 1, 1, false);
    var forced = limits.acquire("alice", 1, 1, true);
    assertThat(forced.granted()).isTrue();
    assertThat(forced.refusal()).isEqualTo(Refusal.GLOBAL_INFLIGHT);
    assertThat(limits.total()).isEqualTo(2);
  }
}
