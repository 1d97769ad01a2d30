package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.policy.PolicyJson;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HeaderCheckTest {
  static JsonNode json(String text) throws Exception {
    return PolicyJson.json().readTree(text);
  }

  static java.util.Optional<String> check(String body, Map<String, String> headers)
      throws Exception {
    return HeaderCheck.mismatch(json(body), headers::get);
  }

  static final String CALL =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}";

  @Test
  void accepts_headers_that_mirror_the_body() throws Exception {
    assertThat(check(CALL, Map.of("Mcp-Method", "tools/call", "Mcp-Name", "echo"))).isEmpty();
    assertThat(
            check(
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}",
                Map.of("Mcp-Method", "tools/list")))
        .isEmpty();
  }

  @Test
  void refuses_a_missing_or_different_method() throws Exception {
    assertThat(check(CALL, Map.of("Mcp-Name", "echo"))).contains("Mcp-Method header is required");
    assertThat(check(CALL, Map.of("Mcp-Method", "tools/list", "Mcp-Name", "echo")))
        .contains("Mcp-Method header does not match the body's method");
  }

  @Test
  void refuses_a_missing_or_different_name_where_one_is_required() throws Exception {
    assertThat(check(CALL, Map.of("Mcp-Method", "tools/call")))
        .contains("Mcp-Name header is required for tools/call");
    assertThat(check(CALL, Map.of("Mcp-Method", "tools/call", "Mcp-Name", "rm")))
        .contains("Mcp-Name header does not match the body's params.name");
    assertThat(
            check(
                "{\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///a\"}}",
                Map.of("Mcp-Method", "resources/read", "Mcp-Name", "file:///b")))
        .contains("Mcp-Name header does not match the body's params.uri");
  }

  @Test
  void decodes_base64_sentinel_values_first() throws Exception {
    String body = "{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"caf\u00e9 \"}}";
    String encoded =
        "=?base64?"
            + java.util.Base64.getEncoder()
                .encodeToString("caf\u00e9 ".getBytes(java.nio.charset.StandardCharsets.UTF_8))
            + "?=";
    assertThat(check(body, Map.of("Mcp-Method", "tools/call", "Mcp-Name", encoded))).isEmpty();
    assertThat(HeaderCheck.decode("=?base64?not base64!?=")).isEqualTo("=?base64?not base64!?=");
  }

  @Test
  void notifications_need_no_headers() throws Exception {
    assertThat(check("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}", Map.of()))
        .isEmpty();
  }
}
