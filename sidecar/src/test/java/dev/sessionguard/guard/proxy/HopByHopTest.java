package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class HopByHopTest {
  @Test
  void the_fixed_names_and_those_the_client_writes_are_always_stripped() {
    assertThat(HopByHop.namesToStrip(List.of(), false))
        .contains("connection", "keep-alive", "transfer-encoding", "te", "upgrade")
        .doesNotContain("host", "content-length");
    assertThat(HopByHop.namesToStrip(List.of(), true)).contains("host", "content-length", "expect");
  }

  @Test
  void names_listed_in_connection_are_stripped_for_that_message_only() {
    assertThat(HopByHop.namesToStrip(List.of("keep-alive, X-Secret", " Foo ,"), true))
        .contains("x-secret", "foo", "host");

    assertThat(HopByHop.namesToStrip(List.of("keep-alive"), true))
        .as("the next message's set")
        .doesNotContain("x-secret", "foo");
  }
}
