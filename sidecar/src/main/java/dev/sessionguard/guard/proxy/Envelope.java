package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonParser.NumberType;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.sessionguard.policy.PolicyJson;
import java.io.IOException;

/**
 * What the fast path reads of a request's body: the JSON-RPC method and id of a JSON object whose
 * method is a string. Anything else — malformed JSON, a batch, a response — is no envelope, and the
 * request goes to the endpoint, which answers it as it always does.
 *
 * @param method the JSON-RPC method
 * @param id the JSON-RPC id as Jackson's tree gives it (null when absent, a null node for null)
 * @param tree the whole body as a tree, when it was asked for; otherwise null
 */
record Envelope(String method, JsonNode id, JsonNode tree) {

  /**
   * Reads the envelope of {@code body}. Unless {@code whole}, the tree is not built: the method and
   * id are read from the parser's tokens and everything else (the params, which are most of a body)
   * is only checked to be well-formed as the parser skips it. Either way the answer is the one
   * {@code readTree} gives: the same duplicate key wins (the last), bytes after the object are
   * ignored as it ignores them, and whatever it refuses is no envelope.
   */
  static Envelope read(byte[] body, boolean whole) {
    ObjectMapper json = PolicyJson.json();
    if (whole) {
      try {
        JsonNode tree = json.readTree(body);
        return tree != null && tree.isObject() && tree.path("method").isTextual()
            ? new Envelope(tree.get("method").asText(), tree.get("id"), tree)
            : null;
      } catch (IOException e) {
        return null;
      }
    }
    try (JsonParser parser = json.createParser(body)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      String method = null;
      JsonNode id = null;
      JsonToken token;
      while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
        String name = parser.currentName();
        JsonToken value = parser.nextToken();
        switch (name) {
          case "method" -> method = value == JsonToken.VALUE_STRING ? parser.getText() : null;
          case "id" -> id = id(json, parser, value);
          default -> parser.skipChildren();
        }
      }
      return token == JsonToken.END_OBJECT && method != null
          ? new Envelope(method, id, null)
          : null;
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * The id at the parser's current token, as {@code readTree} builds it: a string or an int is
   * built here (no deserialization context for the two kinds nearly every client sends), any other
   * value by {@code readTree}.
   */
  private static JsonNode id(ObjectMapper json, JsonParser parser, JsonToken value)
      throws IOException {
    if (value == JsonToken.VALUE_STRING) {
      return TextNode.valueOf(parser.getText());
    }
    if (value == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() == NumberType.INT) {
      return IntNode.valueOf(parser.getIntValue());
    }
    return json.readTree(parser);
  }
}
