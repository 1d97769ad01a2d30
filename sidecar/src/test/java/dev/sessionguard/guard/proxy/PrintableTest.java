package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A refusal's reason may quote what a client sent: it must not forge log lines. */
class PrintableTest {
  @Test
  void control_characters_are_replaced_and_long_messages_cut() {
    assertThat(McpEndpoint.printable("typ x\r\n2026 INFO forged"))
        .isEqualTo("typ x??2026 INFO forged");
    assertThat(McpEndpoint.printable("a".repeat(500))).hasSize(201).endsWith("…");
    assertThat(McpEndpoint.printable(null)).isNull();
    assertThat(McpEndpoint.printable("a\u0085b\u2028c")).isEqualTo("a?b?c");
  }
}
