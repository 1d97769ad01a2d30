package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonParser.NumberType;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
        JsonNode tree = tree(body);
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
        int bit = member(name, MEMBERS);
        if (bit == CASE_VARIANT || (seen & bit) != 0) {
          return null; // ambiguous: the endpoint refuses it
        }
        seen |= bit;
        JsonToken value = parser.nextToken();
        switch (name) {
          case "method" -> method = value == JsonToken.VALUE_STRING ? parser.getText() : null;
          case "id" -> id = id(parser, value);
          case "params" -> {
            if (value == JsonToken.START_OBJECT && ambiguity(parser, NAMED) != null) {
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
   * The body as far as the guard reads it, as a tree: of a JSON object, its members {@code
   * jsonrpc}, {@code id} and {@code method}, and of an object {@code params} the members {@code
   * Mcp-Name} mirrors ({@link #NAMED}), each a scalar as {@code readTree} builds it or an empty
   * container of its kind; any other value, a batch included, is an empty container of its kind or
   * a scalar. Everything else is only checked to be well formed as the parser skips it: a body
   * costs the guard its scalars at most, whatever its shape (a whole tree of a body of empty
   * objects is some 30 times its size: one request of the default 4 MiB would take over 100 MB).
   * Repeated members: the last wins, as in {@code readTree} (the endpoint refuses them anyway).
   *
   * @throws IOException when the body is not well-formed JSON, as {@code readTree} would (bytes
   *     after the first value are ignored as it ignores them)
   */
  static JsonNode tree(byte[] body) throws IOException {
    try (JsonParser parser = PolicyJson.json().createParser(body)) {
      JsonToken token = parser.nextToken();
      if (token == null) {
        return MissingNode.getInstance();
      }
      if (token != JsonToken.START_OBJECT) {
        return kept(parser, token);
      }
      ObjectNode message = JsonNodeFactory.instance.objectNode();
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String name = parser.currentName();
        JsonToken value = parser.nextToken();
        int bit = member(name, MEMBERS);
        if (bit == PARAMS && value == JsonToken.START_OBJECT) {
          ObjectNode params = JsonNodeFactory.instance.objectNode();
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String member = parser.currentName();
            JsonToken valueOf = parser.nextToken();
            if (member(member, NAMED) > 0) {
              params.set(member, kept(parser, valueOf));
            } else {
              parser.skipChildren(); // (a scalar is passed over by the next token)
            }
          }
          message.set(name, params);
        } else if (bit > 0 && (bit & KEPT) != 0) {
          message.set(name, kept(parser, value));
        } else {
          parser.skipChildren();
        }
      }
      return message;
    }
  }

  /** The JSON-RPC members {@link #tree} keeps: jsonrpc, id, method and params. */
  private static final int KEPT = 0b1111;

  /**
   * The value at the parser's token: a scalar as readTree builds it (built here but for a fraction,
   * without a deserialization context each), else an empty container.
   */
  private static JsonNode kept(JsonParser parser, JsonToken value) throws IOException {
    JsonNodeFactory nodes = JsonNodeFactory.instance;
    return switch (value) {
      case START_OBJECT -> {
        parser.skipChildren();
        yield nodes.objectNode();
      }
      case START_ARRAY -> {
        parser.skipChildren();
        yield nodes.arrayNode();
      }
      case VALUE_STRING -> nodes.textNode(parser.getText());
      case VALUE_NUMBER_INT ->
          switch (parser.getNumberType()) {
            case INT -> nodes.numberNode(parser.getIntValue());
            case LONG -> nodes.numberNode(parser.getLongValue());
            default -> nodes.numberNode(parser.getBigIntegerValue());
          };
      case VALUE_TRUE -> nodes.booleanNode(true);
      case VALUE_FALSE -> nodes.booleanNode(false);
      case VALUE_NULL -> nodes.nullNode();
      default -> PolicyJson.json().readTree(parser); // a fraction: as the mapper reads it
    };
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
        return ambiguity(parser, MEMBERS);
      }
      if (token == JsonToken.START_ARRAY) {
        while ((token = parser.nextToken()) != null && token != JsonToken.END_ARRAY) {
          String found = token == JsonToken.START_OBJECT ? ambiguity(parser, MEMBERS) : null;
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

  /** The JSON-RPC members; {@code params} (its bit {@link #PARAMS}) has {@link #NAMED} checked. */
  private static final Members MEMBERS =
      new Members(
          "", "a JSON-RPC member's", "jsonrpc", "id", "method", "params", "result", "error");

  private static final int PARAMS = 1 << 3;

  /** The members of {@code params} a 2026-07-28 {@code Mcp-Name} must match: see HeaderCheck. */
  private static final Members NAMED =
      new Members("params.", "a named member's", "name", "uri", "taskId");

  /**
   * Member names checked for repeats and case variants; {@code prefix} and {@code kind} word the
   * answer.
   */
  private record Members(String prefix, String kind, String... names) {}

  private static final int CASE_VARIANT = -1;

  /**
   * {@code 1 << i} when {@code name} spells {@code members.names[i]} exactly, {@link #CASE_VARIANT}
   * when it spells one in another letter case (Unicode case-insensitively, as Go folds), else 0.
   */
  private static int member(String name, Members members) {
    String[] names = members.names();
    for (int i = 0; i < names.length; i++) {
      if (names[i].equals(name)) {
        return 1 << i;
      }
    }
    for (String n : names) {
      if (n.equalsIgnoreCase(name)) {
        return CASE_VARIANT;
      }
    }
    return 0;
  }

  /**
   * {@link #ambiguity(byte[])} of the object the parser is at the start of, for {@code members}
   * (and, for the JSON-RPC ones, the named members of an object {@code params}); read to its end.
   */
  private static String ambiguity(JsonParser parser, Members members) throws IOException {
    int seen = 0;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String name = parser.currentName();
      int bit = member(name, members);
      if (bit == CASE_VARIANT) {
        return "member '"
            + members.prefix()
            + name
            + "' is "
            + members.kind()
            + " name in another letter case";
      }
      if ((seen & bit) != 0) {
        return "member '" + members.prefix() + name + "' is repeated";
      }
      seen |= bit;
      if (parser.nextToken() == JsonToken.START_OBJECT && members == MEMBERS && bit == PARAMS) {
        String found = ambiguity(parser, NAMED);
        if (found != null) {
          return found;
        }
      } else {
        parser.skipChildren();
      }
    }
    return null;
  }

  /**
   * The id at the parser's current token, as {@code readTree} builds it: a string or an int is
   * built here (no deserialization context for the two kinds nearly every client sends), any other
   * scalar by {@code readTree}; an object or array (no valid id) as an empty one, not built.
   */
  private static JsonNode id(JsonParser parser, JsonToken value) throws IOException {
    if (value == JsonToken.VALUE_STRING) {
      return TextNode.valueOf(parser.getText());
    }
    if (value == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() == NumberType.INT) {
      return IntNode.valueOf(parser.getIntValue());
    }
    return kept(parser, value); // (not a valid id: an object or array is not built)
  }
}
