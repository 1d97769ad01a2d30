package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {
  @Test
  void reads_the_api_server_duration_syntax() {
    assertThat(Durations.parse("300ms")).isEqualTo(Duration.ofMillis(300));
    assertThat(Durations.parse("1h30m")).isEqualTo(Duration.ofMinutes(90));
    assertThat(Durations.parse("1.5h")).isEqualTo(Duration.ofMinutes(90));
    assertThat(Durations.parse("24h")).isEqualTo(Duration.ofDays(1));
  }

  @Test
  void refuses_days_spaces_and_bare_numbers() {
    assertThat(Durations.isValid("1d")).isFalse();
    assertThat(Durations.isValid("5 m")).isFalse();
    assertThat(Durations.isValid("30")).isFalse();
    assertThatThrownBy(() -> Durations.parse("x")).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void drops_a_fraction_of_a_nanosecond_and_refuses_what_a_long_cannot_hold() {
    assertThat(Durations.parse("1.5ns")).isEqualTo(Duration.ofNanos(1));
    assertThat(Durations.parse("2562047h47m16.854775807s"))
        .isEqualTo(Duration.ofNanos(Long.MAX_VALUE));
    assertThatThrownBy(() -> Durations.parse("10000000h"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("longer than 2562047h47m16.854775807s");
  }

  @Test
  void reads_binary_sizes() {
    assertThat(ByteSizes.parse("4Mi")).isEqualTo(4L << 20);
    assertThat(ByteSizes.parse("16Ki")).isEqualTo(16L << 10);
    assertThat(ByteSizes.parse("512")).isEqualTo(512);
    assertThat(ByteSizes.isValid("4MB")).isFalse();
  }

  @Test
  void cidrs_match_their_addresses() throws Exception {
    Cidr net = Cidr.parse("10.1.0.0/16");
    assertThat(net.contains(java.net.InetAddress.getByName("10.1.200.3"))).isTrue();
    assertThat(net.contains(java.net.InetAddress.getByName("10.2.0.1"))).isFalse();
    assertThat(Cidr.parse("fd00::/8").contains(java.net.InetAddress.getByName("fd12::1"))).isTrue();
    assertThat(Cidr.isValid("example.com/8")).isFalse();
  }
}
