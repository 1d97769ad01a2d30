package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import org.junit.jupiter.api.Test;

class MonotonicClockTest {
  @Test
  void starts_at_the_wall_time_and_never_goes_back() {
    Instant before = Instant.now();
    MonotonicClock clock = MonotonicClock.systemUTC();
    Instant after = Instant.now();
    Instant first = clock.instant();
    assertThat(first).isBetween(before, after.plus(Duration.ofSeconds(1)));

    long last = clock.millis();
    for (int i = 0; i < 100_000; i++) {
      long now = clock.millis();
      assertThat(now).isGreaterThanOrEqualTo(last);
      last = now;
    }
    assertThat(clock.instant()).isAfterOrEqualTo(first);
    assertThat(Math.abs(clock.instant().toEpochMilli() - clock.millis())).isLessThan(1_000);
  }

  @Test
  void another_zone_keeps_the_same_time_line() {
    MonotonicClock clock = MonotonicClock.systemUTC();
    var paris = clock.withZone(ZoneId.of("Europe/Paris"));
    assertThat(paris.getZone()).isEqualTo(ZoneId.of("Europe/Paris"));
    assertThat(Math.abs(paris.millis() - clock.millis())).isLessThan(1_000);
  }
}
