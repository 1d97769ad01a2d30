package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.sessionguard.policy.PolicyJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The envelope read from tokens is the one read from the tree, for every kind of body. */
class EnvelopeTest {

  private static final String CALL =
      "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\",\"params\":"
          + "{\"name\":\"echo\",\"arguments\":{\"text\":\"hi\",\"n\":[1,2.5e3,{\"a\":null}]}}}";

  @Test
  void tokens_and_tree_agree_on_method_and_id_or_on_there_being_none() {
    for (byte[] body : bodies()) {
      Envelope fromTokens = Envelope.read(body, false);
      Envelope fromTree = Envelope.read(body, true);
      String as = new String(body, StandardCharsets.ISO_8859_1);
      if (fromTree == null) {
        assertThat(fromTokens).as(as).isNull();
      } else {
        assertThat(fromTokens).as(as).isNotNull();
        assertThat(fromTokens.method()).as(as).isEqualTo(fromTree.method());
        assertThat(fromTokens.id()).as(as).isEqualTo(fromTree.id());
        assertThat(fromTokens.tree()).isNull();
        assertThat(fromTree.tree()).isNotNull();
      }
    }
  }

  /** The guard's tree is Jackson's, but for what it never reads, and fails where that fails. */
  @Test
  void the_tree_the_guard_reads_is_readTrees_but_for_what_it_never_reads() throws Exception {
    for (byte[] body : bodies()) {
      String as = new String(body, StandardCharsets.ISO_8859_1);
      JsonNode whole;
      try {
        whole = PolicyJson.json().readTree(body);
      } catch (IOException e) {
        assertThatThrownBy(() -> Envelope.tree(body)).as(as).isInstanceOf(IOException.class);
        continue;
      }
      JsonNode light = Envelope.tree(body);
      assertThat(light.getNodeType()).as(as).isEqualTo(whole.getNodeType());
      if (!whole.isObject()) {
        assertSameShape(light, whole, as);
        continue;
      }
      for (String member : List.of("jsonrpc", "id", "method")) {
        assertSameShape(light.get(member), whole.get(member), as);
      }
      JsonNode params = whole.get("params");
      if (params != null && params.isObject()) {
        for (String member : List.of("name", "uri", "taskId")) {
          assertSameShape(light.get("params").get(member), params.get(member), as);
        }
        assertThat(light.get("params").properties().size())
            .isLessThanOrEqualTo(3); // nothing else of the params is built
      } else {
        assertSameShape(light.get("params"), params, as);
      }
      assertThat(light.has("result")).isFalse();
    }
  }

  /** A scalar as it is; a container empty, of its kind. */
  private static void assertSameShape(JsonNode light, JsonNode whole, String as) {
    if (whole == null) {
      assertThat(light).as(as).isNull();
    } else if (whole.isContainerNode()) {
      assertThat(light.getNodeType()).as(as).isEqualTo(whole.getNodeType());
      assertThat(light.size()).as(as).isZero();
    } else {
      assertThat(light).as(as).isEqualTo(whole);
    }
  }

  @Test
  void a_body_of_empty_objects_is_not_built() throws Exception {
    byte[] body = bytes("[" + "{},".repeat(1_000_000) + "{}]"); // ~3 MB: a ~90 MB tree
    assertThat(Envelope.tree(body)).isEqualTo(JsonNodeFactory.instance.arrayNode());
    byte[] call =
        bytes(
            "{\"jsonrpc\":\"2.0\",\"id\":["
                + "{},".repeat(100_000)
                + "{}],\"method\":\"a\","
                + "\"params\":{\"name\":["
                + "{},".repeat(100_000)
                + "{}]}}");
    JsonNode light = Envelope.tree(call);
    assertThat(light.get("id")).isEqualTo(JsonNodeFactory.instance.arrayNode());
    assertThat(light.at("/params/name")).isEqualTo(JsonNodeFactory.instance.arrayNode());
    assertThat(Envelope.read(call, false).id()).isEqualTo(JsonNodeFactory.instance.arrayNode());
  }

  private static List<byte[]> bodies() {
    List<byte[]> bodies = new ArrayList<>();
    for (String id :
        List.of(
            "1",
            "\"a-1\"",
            "\"\\u00e9\\n\"", // escapes
            "\"\"",
            "null",
            "true",
            "-0",
            "2147483647",
            "2147483648", // past an int: a long node, as the tree builds it
            "-2147483648",
            "-2147483649",
            "1.5",
            "123456789012345678901234567890",
            "{}",
            "[1]")) {
      bodies.add(bytes(CALL.formatted(id)));
    }
    for (String body :
        List.of(
            "{\"method\":\"notifications/initialized\",\"jsonrpc\":\"2.0\"}", // no id
            "{\"method\":\"a\",\"method\":\"b\",\"id\":1,\"id\":2}", // ambiguous: none
            "{\"method\":\"a\",\"Method\":\"initialize\"}",
            "{\"method\":\"a\",\"params\":{\"x\":1,\"x\":2}}", // nested: the params' own
            "{\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"Name\":\"b\"}}",
            "{\"method\":\"a\",\"params\":[{\"Name\":1}]}",
            "{\"method\":\"a\",\"method\":5}",
            "{\"method\":5,\"method\":\"a\"}",
            "{\"method\":null}",
            "{\"method\":{\"x\":\"y\"}}",
            "{\"id\":1,\"result\":{}}", // a response
            "[{\"method\":\"a\",\"id\":1}]", // a batch
            "\"method\"",
            "{\"method\":\"a\"} trailing bytes", // ignored by both
            "{\"method\":\"a\"}{\"method\":\"b\"}",
            "  \n{\"method\":\"a\"}  ",
            "",
            "   ",
            "{",
            "{\"method\":\"a\"",
            "{\"method\":\"a\",}",
            "{\"method\":\"a\",\"params\":{\"x\":}}",
            "{\"method\":\"a\",\"params\":[1,2}",
            "{\"method\":\"a\",\"params\":\"unterminated}",
            "{\"method\":\"a\",\"params\":{\"x\":01}}",
            "{\"method\":\"a\",\"params\":{\"x\":tru}}",
            "{\"method\":\"a\",\"params\":{\"x\":\"bad \\q escape\"}}",
            "{\"method\":\"a\",\"params\":{\"x\":\"raw \n newline\"}}",
            "{'method':'a'}",
            "{method:\"a\"}",
            "{\"method\":\"a\",\"params\":" + "[".repeat(1200) + "]".repeat(1200) + "}",
            "{\"method\":\"a\",\"params\":" + "9".repeat(1200) + "}")) {
      bodies.add(bytes(body));
    }
    // Not UTF-8 inside a skipped string, and in the method itself.
    bodies.add(withByte("{\"method\":\"a\",\"params\":{\"x\":\"_\"}}", '_', 0xC3));
    bodies.add(withByte("{\"method\":\"a\",\"params\":{\"x\":\"__\"}}", '_', 0xFF));
    bodies.add(withByte("{\"method\":\"_\"}", '_', 0xE2));
    bodies.add(bytes("1"));
    bodies.add(bytes("[]"));
    bodies.add(
        bytes(
            "{\"method\":\"tools/call\",\"id\":1,\"params\":{\"name\":\"x\",\"uri\":{\"a\":1},"
                + "\"taskId\":[1],\"arguments\":{\"big\":[1,2,3]}}}"));
    return bodies;
  }

  @Test
  void a_repeated_member_or_one_in_another_letter_case_is_ambiguous() {
    assertThat(Envelope.ambiguity(bytes("{\"method\":\"a\",\"Method\":\"initialize\"}")))
        .isEqualTo("member 'Method' is a JSON-RPC member's name in another letter case");
    // Go folds the long s into s as well
    assertThat(Envelope.ambiguity(bytes("{\"method\":\"a\",\"param\u017f\":{}}"))).isNotNull();
    assertThat(Envelope.ambiguity(bytes("{\"id\":1,\"method\":\"a\",\"id\":2}")))
        .isEqualTo("member 'id' is repeated");
    assertThat(Envelope.ambiguity(bytes("[{\"method\":\"a\"},{\"ID\":1,\"method\":\"b\"}]")))
        .isEqualTo("member 'ID' is a JSON-RPC member's name in another letter case");
    // the params a 2026-07-28 Mcp-Name must match are judged too
    assertThat(
            Envelope.ambiguity(
                bytes("{\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"Name\":\"b\"}}")))
        .isEqualTo("member 'params.Name' is a named member's name in another letter case");
    assertThat(
            Envelope.ambiguity(
                bytes("{\"method\":\"resources/read\",\"params\":{\"uri\":\"a\",\"uri\":\"b\"}}")))
        .isEqualTo("member 'params.uri' is repeated");
    // other names, deeper members and what is not JSON are not the envelope's to judge
    assertThat(
            Envelope.ambiguity(
                bytes(
                    "{\"method\":\"tools/call\",\"params\":{\"name\":\"a\","
                        + "\"arguments\":{\"name\":1,\"Name\":2,\"name\":3}}}")))
        .isNull();
    assertThat(Envelope.ambiguity(bytes("{\"method\":\"a\",\"Methods\":1,\"_meta\":{}}"))).isNull();
    assertThat(Envelope.ambiguity(bytes("{\"method\":\"a\",\"params\":{\"Method\":1,\"id\":2}}")))
        .isNull();
    assertThat(Envelope.ambiguity(bytes("{\"method\":"))).isNull();
    assertThat(Envelope.read(bytes("{\"method\":\"a\",\"Method\":\"b\"}"), false)).isNull();
  }

  @Test
  void a_plain_call_gives_its_method_and_id() {
    Envelope envelope = Envelope.read(bytes(CALL.formatted("\"7\"")), false);

    assertThat(envelope.method()).isEqualTo("tools/call");
    assertThat(envelope.id().asText()).isEqualTo("7");
    assertThat(Envelope.read(bytes("{\"method\":\"a\",\"id\":null}"), false).id().isNull())
        .isTrue();
    assertThat(Envelope.read(bytes("{\"method\":\"a\"}"), false).id()).isNull();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] withByte(String s, char placeholder, int b) {
    byte[] bytes = bytes(s);
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == placeholder) {
        bytes[i] = (byte) b;
      }
    }
    return bytes;
  }
}
