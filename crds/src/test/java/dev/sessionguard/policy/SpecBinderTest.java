package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.annotation.Annotation;
import java.lang.reflect.AnnotatedElement;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SpecBinder} binds exactly as Jackson does, or leaves the spec to Jackson: compared on
 * every example, on a spec with every field set, and on that spec with each field given each wrong
 * kind of value.
 */
class SpecBinderTest {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  @Test
  void the_spec_classes_keep_to_what_the_binder_reads() {
    for (Class<?> type : specClasses()) {
      assertThat(jacksonAnnotations(type)).as("%s", type).isEmpty();
      assertThat(type.getConstructors())
          .as("%s has a public no-argument constructor", type)
          .anyMatch(c -> c.getParameterCount() == 0);
      for (Method method : type.getDeclaredMethods()) {
        assertThat(method.getName())
            .as("%s: Jackson would call a setter", type)
            .doesNotStartWith("set");
        assertThat(jacksonAnnotations(method)).as("%s", method).isEmpty();
      }
      for (Field field : type.getDeclaredFields()) {
        if (Modifier.isStatic(field.getModifiers())) {
          continue;
        }
        assertThat(Modifier.isPublic(field.getModifiers())).as("%s is public", field).isTrue();
        assertThat(Modifier.isFinal(field.getModifiers())).as("%s is not final", field).isFalse();
        assertThat(jacksonAnnotations(field)).as("%s", field).isEmpty();
        assertThat(supported(field)).as("%s has a type the binder reads", field).isTrue();
      }
    }
    for (Class<?> type : enums()) {
      for (Field constant : type.getDeclaredFields()) {
        assertThat(jacksonAnnotations(constant)).as("%s", constant).isEmpty();
      }
      for (Method method : type.getDeclaredMethods()) {
        assertThat(jacksonAnnotations(method)).as("%s", method).isEmpty();
      }
    }
  }

  static List<Path> examples() throws Exception {
    return ExamplesTest.examples();
  }

  @ParameterizedTest
  @MethodSource("examples")
  void every_example_binds_as_jackson_binds_it(Path path) throws Exception {
    JsonNode doc = PolicyJson.yaml().readTree(Files.readString(path));
    ObjectNode spec = (ObjectNode) (doc.has("kind") ? doc.get("spec") : doc).deepCopy();
    for (String header : List.of("schemaVersion", "name", "generation", "hash")) {
      spec.remove(header);
    }

    assertThat(canonical(SpecBinder.bind(spec, SessionPolicySpec.class)))
        .isEqualTo(canonical(jackson(spec)));
  }

  @Test
  void a_spec_with_every_field_set_binds_as_jackson_binds_it() throws Exception {
    ObjectNode full = PolicyJson.json().valueToTree(filled(SessionPolicySpec.class));
    assertThat(full.toString()).contains("\"targetRef\"").contains("\"passwordSecretRef\"");

    assertThat(canonical(SpecBinder.bind(full, SessionPolicySpec.class)))
        .isEqualTo(canonical(jackson(full)))
        .isEqualTo(canonical(filled(SessionPolicySpec.class)));
  }

  @Test
  void any_other_value_is_left_to_jackson_or_bound_as_jackson_binds_it() throws Exception {
    ObjectNode full = PolicyJson.json().valueToTree(filled(SessionPolicySpec.class));
    List<JsonNode> others =
        List.of(
            NODES.textNode("7"),
            NODES.textNode("Enforce"),
            NODES.textNode("enforce"),
            NODES.numberNode(7),
            NODES.numberNode(1L << 40),
            NODES.numberNode(7.5),
            NODES.booleanNode(true),
            NODES.nullNode(),
            NODES.arrayNode().add("a"),
            NODES.arrayNode().add(NODES.nullNode()),
            NODES.arrayNode().add(7),
            NODES.objectNode(),
            NODES.objectNode().put("unknown", 1));
    int bound = 0;
    int left = 0;
    for (List<String> path : leaves(full, new ArrayList<>())) {
      for (JsonNode other : others) {
        ObjectNode changed = full.deepCopy();
        ObjectNode parent = (ObjectNode) at(changed, path.subList(0, path.size() - 1));
        parent.set(path.get(path.size() - 1), other);
        SessionPolicySpec direct;
        try {
          direct = SpecBinder.bind(changed, SessionPolicySpec.class);
        } catch (SpecBinder.NotBound e) {
          left++;
          continue;
        }
        bound++;
        assertThat(canonical(direct))
            .as("%s = %s", path, other)
            .isEqualTo(canonical(jackson(changed)));
      }
    }
    ObjectNode unknown = full.deepCopy();
    ((ObjectNode) unknown.get("sessions")).put("maximum", 5);
    assertThatThrownBy(() -> SpecBinder.bind(unknown, SessionPolicySpec.class))
        .isInstanceOf(SpecBinder.NotBound.class);
    assertThat(bound).as("values bound directly").isPositive();
    assertThat(left).as("values left to Jackson").isPositive();
  }

  @Test
  void reads_json_text_as_the_mapper_reads_it() throws Exception {
    for (String text :
        List.of(
            "{\"a\": 1, \"b\": [1, 2147483648, 92233720368547758070, 1.5, -0.0, \"x\", null,"
                + " true, false, {}, []], \"c\": {\"d\": \"\\u00e9\\n\"}}",
            "{}",
            "[1]",
            "\"text\"")) {
      assertThat(SpecBinder.tree(text))
          .as(text)
          .isEqualTo(
              PolicyJson.json()
                  .reader()
                  .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                  .readTree(text));
    }
    // (a key given twice too, which the mapper lets the last win: a policy refuses it)
    for (String bad :
        List.of("{} {}", "{\"a\": }", "", "{\"a\": 1", "{a: 1}", "{\"a\": 1, \"a\": 2}")) {
      assertThatThrownBy(() -> SpecBinder.tree(bad)).as(bad).isInstanceOf(IOException.class);
    }
  }

  private static SessionPolicySpec jackson(JsonNode spec) throws IOException {
    return PolicyJson.json()
        .readerFor(SessionPolicySpec.class)
        .with(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .readValue(spec);
  }

  private static String canonical(Object spec) throws IOException {
    return PolicyJson.canonical().writeValueAsString(spec);
  }

  /** An instance with every field set to a value other than its default. */
  private static <T> T filled(Class<T> type) throws ReflectiveOperationException {
    T target = type.getConstructor().newInstance();
    for (Field field : type.getFields()) {
      if (Modifier.isStatic(field.getModifiers())) {
        continue;
      }
      Class<?> t = field.getType();
      Object value;
      if (t == String.class) {
        value = "v-" + field.getName();
      } else if (t == Integer.class) {
        value = 7;
      } else if (t == Boolean.class) {
        value = !Boolean.TRUE.equals(field.get(target));
      } else if (t.isEnum()) {
        Object[] constants = t.getEnumConstants();
        value = constants[constants.length - 1];
      } else if (t == List.class) {
        value = new ArrayList<>(List.of("a-" + field.getName(), "b"));
      } else {
        value = filled(t);
      }
      field.set(target, value);
    }
    return target;
  }

  private static List<List<String>> leaves(JsonNode node, List<String> path) {
    List<List<String>> out = new ArrayList<>();
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      List<String> here = new ArrayList<>(path);
      here.add(e.getKey());
      out.add(here);
      if (e.getValue().isObject()) {
        out.addAll(leaves(e.getValue(), here));
      }
    }
    return out;
  }

  private static JsonNode at(JsonNode node, List<String> path) {
    for (String name : path) {
      node = node.get(name);
    }
    return node;
  }

  private static List<Class<?>> specClasses() {
    List<Class<?>> out = new ArrayList<>(List.of(SessionPolicySpec.class));
    for (Class<?> nested : SessionPolicySpec.class.getDeclaredClasses()) {
      if (!nested.isEnum()) {
        out.add(nested);
      }
    }
    out.forEach(type -> assertThat(SpecBinder.isSpecClass(type)).as("%s", type).isTrue());
    return out;
  }

  private static List<Class<?>> enums() {
    return List.of(SessionPolicySpec.class.getDeclaredClasses()).stream()
        .filter(Class::isEnum)
        .toList();
  }

  private static boolean supported(Field field) {
    Class<?> t = field.getType();
    if (t == List.class) {
      return field.getGenericType() instanceof ParameterizedType p
          && p.getActualTypeArguments()[0] == String.class;
    }
    return t == String.class
        || t == Integer.class
        || t == Boolean.class
        || t.isEnum()
        || SpecBinder.isSpecClass(t);
  }

  /**
   * Jackson annotations that change how a value is read; descriptions, inclusion (writing only) and
   * the CRD generator's schema annotations do not.
   */
  private static List<Annotation> jacksonAnnotations(AnnotatedElement element) {
    return List.of(element.getAnnotations()).stream()
        .filter(a -> a.annotationType().getPackageName().startsWith("com.fasterxml.jackson"))
        .filter(a -> !(a instanceof JsonPropertyDescription) && !(a instanceof JsonInclude))
        .toList();
  }
}
