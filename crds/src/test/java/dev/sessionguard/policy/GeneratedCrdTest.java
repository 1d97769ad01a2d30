package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The committed CRD is the one the build generates from the Java types, with its printer columns in
 * the order {@link SessionPolicy} declares them (the generator sorts them by JSONPath, which would
 * put {@code AGE} first in {@code kubectl get}).
 */
class GeneratedCrdTest {
  static final String NAME = "sessionpolicies.sessionguard.dev-v1.yml";
  static final String COLUMNS = "  - additionalPrinterColumns:";

  static String generated() throws Exception {
    try (InputStream in = GeneratedCrdTest.class.getResourceAsStream("/META-INF/fabric8/" + NAME)) {
      assertThat(in).as("the build generates " + NAME).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  static String committed() throws Exception {
    return Files.readString(Path.of(NAME));
  }

  /**
   * {@code crd} with the entries of its printer-column list (each a {@code " - "} line and the
   * {@code " "} lines under it) in the order the annotations on {@link SessionPolicy} name them.
   */
  static String inDeclaredOrder(String crd) {
    List<String> lines = crd.lines().toList();
    int start = lines.indexOf(COLUMNS) + 1;
    assertThat(start).as("the generated CRD has printer columns").isPositive();
    int end = start;
    Map<String, List<String>> byName = new HashMap<>();
    List<String> entry = null;
    while (end < lines.size()
        && (lines.get(end).startsWith("    - ") || lines.get(end).startsWith("      "))) {
      String line = lines.get(end++);
      if (line.startsWith("    - ")) {
        entry = new ArrayList<>();
      }
      entry.add(line);
      if (line.startsWith("      name: ")) {
        byName.put(line.substring("      name: ".length()).replace("\"", ""), entry);
      }
    }
    List<String> ordered = new ArrayList<>(lines.subList(0, start));
    for (AdditionalPrinterColumn column :
        SessionPolicy.class.getAnnotationsByType(AdditionalPrinterColumn.class)) {
      ordered.addAll(byName.remove(column.name()));
    }
    assertThat(byName).as("columns not declared on SessionPolicy").isEmpty();
    ordered.addAll(lines.subList(end, lines.size()));
    return String.join("\n", ordered) + "\n";
  }

  @Test
  void committed_crd_equals_the_generated_one_with_columns_in_declared_order() throws Exception {
    String expected = inDeclaredOrder(generated());
    Path fresh = Path.of("target", NAME);
    Files.writeString(fresh, expected);
    assertThat(committed())
        .as("crds/%s is out of date: copy crds/%s over it and commit", NAME, fresh)
        .isEqualTo(expected);
  }

  @Test
  void crd_has_status_subresource_short_name_and_printer_columns() throws Exception {
    var crd = PolicyJson.yaml().readTree(committed());
    var version = crd.at("/spec/versions/0");

    assertThat(crd.at("/spec/names/shortNames/0").asText()).isEqualTo("sp");
    assertThat(crd.at("/spec/scope").asText()).isEqualTo("Namespaced");
    assertThat(version.at("/name").asText()).isEqualTo("v1alpha1");
    assertThat(version.at("/subresources/status").isObject()).isTrue();
    assertThat(version.at("/additionalPrinterColumns").findValuesAsText("name"))
        .containsExactly("Target", "Max", "Per-Client", "Idle", "Enforcing", "Ready", "Age");
    var sessions = version.at("/schema/openAPIV3Schema/properties/spec/properties/sessions");
    assertThat(sessions.at("/properties/max/default").asInt()).isEqualTo(100);
    assertThat(sessions.at("/properties/perClient/default").asInt()).isEqualTo(10);
    assertThat(sessions.at("/properties/idleTimeout/default").asText()).isEqualTo("5m");
    assertThat(sessions.at("/properties/idleTimeout/pattern").asText())
        .isEqualTo(Durations.PATTERN);
    assertThat(sessions.at("/properties/onClientCap/enum").findValuesAsText(""))
        .isEmpty(); // enum values are plain strings
    assertThat(sessions.at("/properties/onClientCap/enum").toString())
        .contains("Refuse", "EvictIdlest");
  }

  @Test
  void crd_defaults_equal_the_java_defaults() throws Exception {
    var schema =
        PolicyJson.yaml()
            .readTree(committed())
            .at("/spec/versions/0/schema/openAPIV3Schema/properties/spec");
    var defaults = PolicyJson.json().valueToTree(new SessionPolicySpec());
    defaults
        .properties()
        .forEach(
            section -> {
              if (!section.getValue().isObject()) {
                assertThat(schema.at("/properties/" + section.getKey() + "/default").asText())
                    .as(section.getKey())
                    .isEqualTo(section.getValue().asText());
                return;
              }
              section
                  .getValue()
                  .properties()
                  .forEach(
                      field -> {
                        if (field.getValue().isValueNode()) {
                          var d =
                              schema.at(
                                  "/properties/"
                                      + section.getKey()
                                      + "/properties/"
                                      + field.getKey()
                                      + "/default");
                          assertThat(d.asText())
                              .as(section.getKey() + "." + field.getKey())
                              .isEqualTo(field.getValue().asText());
                        }
                      });
            });
  }
}
