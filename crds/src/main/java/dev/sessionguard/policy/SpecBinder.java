package dev.sessionguard.policy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads a policy without Jackson's object mapper: a guard reads one policy file before it is ready,
 * and building the mapper and the spec's deserializers (bean introspection, one dynamic proxy class
 * per annotation type of the spec) is a quarter of a guard's start.
 *
 * <p>It binds only what it is sure Jackson binds the same way: a JSON object to a spec class (its
 * public fields, by name; a {@code null} keeps the default, as {@link PolicyJson}'s mappers do),
 * strings, {@code int}-sized whole numbers, booleans, enum constants by exact name and lists of
 * strings. Anything else (an unknown field, another JSON type, a {@code null} in a list) is not
 * bound here: {@link PolicyFile} then reads the spec with Jackson, which binds what it can and
 * reports the rest. The spec classes keep to what this class reads; {@code SpecBinderTest} checks
 * both that and that the results are Jackson's.
 */
final class SpecBinder {
  private static final JsonFactory JSON = new JsonFactory();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private SpecBinder() {}

  /** Not bound here; Jackson decides. */
  static final class NotBound extends Exception {
    private static final long serialVersionUID = 1L;

    NotBound() {
      super(null, null, false, false);
    }
  }

  private static final NotBound NOT_BOUND = new NotBound();

  /**
   * Strict JSON text as a tree, as {@code PolicyJson.json().readTree} with trailing tokens refused
   * reads it (numbers as int, long, big integer or double nodes); a key repeated is refused.
   *
   * @throws IOException when the text is not one JSON value
   */
  static JsonNode tree(String text) throws IOException {
    try (JsonParser parser = JSON.createParser(text)) {
      JsonToken first = parser.nextToken();
      if (first == null) {
        throw new IOException("no JSON value");
      }
      JsonNode root = value(parser, first);
      if (parser.nextToken() != null) {
        throw new IOException("trailing tokens after the JSON value");
      }
      return root;
    }
  }

  private static JsonNode value(JsonParser parser, JsonToken token) throws IOException {
    switch (token) {
      case START_OBJECT -> {
        ObjectNode object = NODES.objectNode();
        for (JsonToken t = parser.nextToken(); t != JsonToken.END_OBJECT; t = parser.nextToken()) {
          String name = parser.currentName();
          if (object.has(name)) { // (YAML then reads it, and says which key)
            throw new IOException("duplicate key " + name);
          }
          object.set(name, value(parser, parser.nextToken()));
        }
        return object;
      }
      case START_ARRAY -> {
        ArrayNode array = NODES.arrayNode();
        for (JsonToken t = parser.nextToken(); t != JsonToken.END_ARRAY; t = parser.nextToken()) {
          array.add(value(parser, t));
        }
        return array;
      }
      case VALUE_STRING -> {
        return NODES.textNode(parser.getText());
      }
      case VALUE_NUMBER_INT -> {
        return switch (parser.getNumberType()) {
          case INT -> NODES.numberNode(parser.getIntValue());
          case LONG -> NODES.numberNode(parser.getLongValue());
          default -> NODES.numberNode(parser.getBigIntegerValue());
        };
      }
      case VALUE_NUMBER_FLOAT -> {
        return NODES.numberNode(parser.getDoubleValue());
      }
      case VALUE_TRUE -> {
        return NODES.booleanNode(true);
      }
      case VALUE_FALSE -> {
        return NODES.booleanNode(false);
      }
      case VALUE_NULL -> {
        return NODES.nullNode();
      }
      default -> throw new IOException("unexpected " + token);
    }
  }

  /** {@code object} as a {@code type}, or {@link NotBound} when Jackson must decide. */
  static <T> T bind(JsonNode object, Class<T> type) throws NotBound {
    return type.cast(object(object, type));
  }

  private static Object object(JsonNode node, Class<?> type) throws NotBound {
    if (!node.isObject()) {
      throw NOT_BOUND;
    }
    Object target;
    try {
      target = type.getConstructor().newInstance();
    } catch (ReflectiveOperationException e) {
      throw NOT_BOUND;
    }
    for (Map.Entry<String, JsonNode> entry : node.properties()) {
      if (entry.getValue().isNull()) {
        continue; // keeps the default
      }
      Field field = field(type, entry.getKey());
      try {
        field.set(target, value(entry.getValue(), field.getType(), field.getGenericType()));
      } catch (IllegalAccessException e) {
        throw NOT_BOUND;
      }
    }
    return target;
  }

  private static Field field(Class<?> type, String name) throws NotBound {
    Field field;
    try {
      field = type.getField(name);
    } catch (NoSuchFieldException e) {
      throw NOT_BOUND;
    }
    int modifiers = field.getModifiers();
    if (Modifier.isStatic(modifiers) || Modifier.isFinal(modifiers)) {
      throw NOT_BOUND;
    }
    return field;
  }

  private static Object value(JsonNode node, Class<?> type, Type generic) throws NotBound {
    if (type == String.class && node.isTextual()) {
      return node.textValue();
    }
    if ((type == Integer.class || type == int.class) && node.isInt()) {
      return node.intValue();
    }
    if ((type == Boolean.class || type == boolean.class) && node.isBoolean()) {
      return node.booleanValue();
    }
    if (type.isEnum() && node.isTextual()) {
      for (Object constant : type.getEnumConstants()) {
        if (((Enum<?>) constant).name().equals(node.textValue())) {
          return constant;
        }
      }
      throw NOT_BOUND;
    }
    if (type == List.class && node.isArray() && isListOfStrings(generic)) {
      List<String> list = new ArrayList<>(node.size());
      for (JsonNode element : node) {
        if (!element.isTextual()) {
          throw NOT_BOUND;
        }
        list.add(element.textValue());
      }
      return list;
    }
    if (isSpecClass(type)) {
      return object(node, type);
    }
    throw NOT_BOUND;
  }

  private static boolean isListOfStrings(Type generic) {
    return generic instanceof ParameterizedType p
        && p.getActualTypeArguments().length == 1
        && p.getActualTypeArguments()[0] == String.class;
  }

  /** The spec's own classes: its nested classes, bound field by field. */
  static boolean isSpecClass(Class<?> type) {
    return !type.isEnum()
        && !type.isInterface()
        && (type == SessionPolicySpec.class || type.getEnclosingClass() == SessionPolicySpec.class);
  }
}
