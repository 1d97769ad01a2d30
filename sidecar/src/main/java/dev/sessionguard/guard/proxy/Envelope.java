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
   * {@code readTree} gives (bytes after the object are ignored as it ignores them) and whatever it
   * refuses is no envelope; so is a message with an {@link #ambiguity}, which the endpoint refuses.
   */
  static Envelope read(byte[] body, boolean whole) {
    ObjectMapper json = PolicyJson.json();
    if (whole) {
      if (ambiguity(body) != null) {
        return null; // the tree would hide a repeated member
      }
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
      int seen = 0;
      while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
        String name = parser.currentName();
        int bit = memberBit(name);
        if ((seen & bit) != 0 || bit == 0 && caseVariant(name)) {
          return null; // ambiguous: the endpoint refuses it
        }
        seen |= bit;
        JsonToken value = parser.nextToken();
        switch (name) {
          case "method" -> method = value == JsonToken.VALUE_STRING ? parser.getText() : null;
          case "id" -> id = id(json, parser, value);
          case "params" -> {
            if (value == JsonToken.START_OBJECT && paramsAmbiguity(parser) != null) {
              return null;
            }
            parser.skipChildren(); // a params that is not an object (read to its end otherwise)
          }
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
   * Why a message would not read the same to every JSON decoder, or null: a JSON-RPC member of it
   * (of each element, in a batch) repeated — decoders differ on which copy wins — or named in
   * another letter case, which Go's {@code encoding/json} (and so many MCP servers) matches as the
   * member itself: to such a server {@code {"method":"tools/list","Method":"initialize"}} is an
   * {@code initialize}, one the guard would not see. Null too for what is not well-formed JSON
   * (answered as such elsewhere).
   */
  static String ambiguity(byte[] body) {
    try (JsonParser parser = PolicyJson.json().createParser(body)) {
      JsonToken token = parser.nextToken();
      if (token == JsonToken.START_OBJECT) {
        return ambiguity(parser);
      }
      if (token == JsonToken.START_ARRAY) {
        while ((token = parser.nextToken()) != null && token != JsonToken.END_ARRAY) {
          String found = token == JsonToken.START_OBJECT ? ambiguity(parser) : null;
          if (found != null) {
            return found;
          }
          parser.skipChildren();
        }
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }

  /** {@link #ambiguity(byte[])} of the object the parser is at the start of; read to its end. */
  private static String ambiguity(JsonParser parser) throws IOException {
    int seen = 0;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String name = parser.currentName();
      int bit = memberBit(name);
      if ((seen & bit) != 0) {
        return "member '" + name + "' is repeated";
      }
      if (bit == 0 && caseVariant(name)) {
        return "member '" + name + "' is a JSON-RPC member's name in another letter case";
      }
      seen |= bit;
      if (parser.nextToken() == JsonToken.START_OBJECT && bit == PARAMS) {
        String found = paramsAmbiguity(parser);
        if (found != null) {
          return found;
        }
      } else {
        parser.skipChildren();
      }
    }
    return null;
  }

  private static final int PARAMS = 8;

  /**
   * The same for the members of {@code params} a 2026-07-28 {@code Mcp-Name} header must match
   * ({@code name}, {@code uri}, {@code taskId}: see {@link HeaderCheck}); read to its end.
   */
  private static String paramsAmbiguity(JsonParser parser) throws IOException {
    int seen = 0;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String name = parser.currentName();
      int bit =
          switch (name) {
            case "name" -> 1;
            case "uri" -> 2;
            case "taskId" -> 4;
            default -> 0;
          };
      if ((seen & bit) != 0) {
        return "member 'params." + name + "' is repeated";
      }
      if (bit == 0
          && (name.equalsIgnoreCase("name")
              || name.equalsIgnoreCase("uri")
              || name.equalsIgnoreCase("taskId"))) {
        return "member 'params." + name + "' is a named member's name in another letter case";
      }
      seen |= bit;
      parser.nextToken();
      parser.skipChildren();
    }
    return null;
  }

  /** A bit of its own for each JSON-RPC member name, exactly spelt; 0 for any other name. */
  private static int memberBit(String name) {
    return switch (name) {
      case "jsonrpc" -> 1;
      case "id" -> 2;
      case "method" -> 4;
      case "params" -> PARAMS;
      case "result" -> 16;
      case "error" -> 32;
      default -> 0;
    };
  }

  /** Whether a name that is no JSON-RPC member's equals one ignoring case (Unicode folding). */
  private static boolean caseVariant(String name) {
    return switch (name.length()) {
      case 2 -> name.equalsIgnoreCase("id");
      case 5 -> name.equalsIgnoreCase("error");
      case 6 ->
          name.equalsIgnoreCase("method")
              || name.equalsIgnoreCase("params")
              || name.equalsIgnoreCase("result");
      case 7 -> name.equalsIgnoreCase("jsonrpc");
      default -> false;
    };
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
