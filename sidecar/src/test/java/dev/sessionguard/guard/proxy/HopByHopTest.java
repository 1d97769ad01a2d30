package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;

class HopByHopTest {
  @Test
  void the_fixed_names_and_those_the_client_writes_are_always_stripped() {
    assertThat(HopByHop.namesToStrip(connection(), false))
        .contains("connection", "keep-alive", "transfer-encoding", "te", "upgrade")
        .doesNotContain("host", "content-length");
    assertThat(HopByHop.namesToStrip(connection(), true))
        .contains("host", "content-length", "expect");
  }

  @Test
  void names_listed_in_connection_are_stripped_for_that_message_only() {
    assertThat(HopByHop.namesToStrip(connection("keep-alive, X-Secret", " Foo ,"), true))
        .contains("x-secret", "foo", "host");

    assertThat(HopByHop.namesToStrip(connection("keep-alive"), true))
        .as("the next message's set")
        .doesNotContain("x-secret", "foo");
  }

  @Test
  void a_header_the_guard_decides_on_is_not_stripped_for_being_named_in_connection() {
    assertThat(
            HopByHop.namesToStrip(
                connection("MCP-Protocol-Version, Mcp-Session-Id, Authorization, X-Secret"), true))
        .contains("x-secret")
        .doesNotContain("mcp-protocol-version", "mcp-session-id", "authorization");
  }

  @Test
  void every_fixed_name_is_a_header_jetty_knows_so_others_need_no_lower_casing() {
    for (String name : HopByHop.namesToStrip(connection(), true)) {
      assertThat(HttpHeader.CACHE.get(name)).as(name).isNotNull();
    }
  }

  @Test
  void a_field_is_named_by_its_header_or_by_a_token_from_connection_in_any_case() {
    java.util.Set<String> fixed = HopByHop.namesToStrip(connection("keep-alive"), true);
    java.util.Set<String> listed = HopByHop.namesToStrip(connection("X-Secret"), true);

    assertThat(HopByHop.named(new HttpField("Keep-Alive", "1"), fixed)).isTrue();
    assertThat(HopByHop.named(new HttpField("HOST", "g"), fixed)).isTrue();
    assertThat(HopByHop.named(new HttpField("Mcp-Session-Id", "s"), fixed)).isFalse();
    assertThat(HopByHop.named(new HttpField("x-SECRET", "s"), fixed)).isFalse();
    assertThat(HopByHop.named(new HttpField("x-SECRET", "s"), listed)).isTrue();
    assertThat(HopByHop.named(new HttpField("Mcp-Session-Id", "s"), listed)).isFalse();
  }

  @Test
  void towards_the_client_the_host_and_length_stay_and_a_listed_known_header_goes() {
    java.util.Set<String> fixed = HopByHop.namesToStrip(connection("Keep-Alive"), false);
    java.util.Set<String> listed =
        HopByHop.namesToStrip(connection("keep-alive,Content-Type"), false);

    assertThat(fixed).isSameAs(HopByHop.namesToStrip(connection(), false)); // nothing built
    assertThat(HopByHop.named(new HttpField("keep-alive", "1"), fixed)).isTrue();
    assertThat(HopByHop.named(new HttpField("Host", "g"), fixed)).isFalse();
    assertThat(HopByHop.named(new HttpField("Content-Length", "1"), fixed)).isFalse();
    assertThat(HopByHop.named(new HttpField("Content-Type", "a/b"), fixed)).isFalse();
    assertThat(HopByHop.named(new HttpField("content-type", "a/b"), listed)).isTrue();
    assertThat(HopByHop.named(new HttpField("Host", "g"), listed)).isFalse();
  }

  /** A message's fields: a Content-Type, then one Connection field per value. */
  private static HttpFields connection(String... values) {
    HttpFields.Mutable fields = HttpFields.build().add(HttpHeader.CONTENT_TYPE, "a/b");
    for (String value : values) {
      fields.add(new HttpField("Connection", value));
    }
    return fields;
  }
}
