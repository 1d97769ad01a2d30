package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The committed CRD is the one the build generates from the Java types. */
class GeneratedCrdTest {
  static final String NAME = "sessionpolicies.sessionguard.dev-v1.yml";

  static String generated() throws Exception {
    try (InputStream in = GeneratedCrdTest.class.getResourceAsStream("/META-INF/fabric8/" + NAME)) {
      assertThat(in).as("the build generates " + NAME).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  static String committed() throws Exception {
    return Files.readString(Path.of(NAME));
  }

  @Test
  void committed_crd_equals_the_generated_one() throws Exception {
    assertThat(committed())
        .as(
            "crds/%s is out of date: copy crds/target/classes/META-INF/fabric8/%s over it and"
                + " commit",
            NAME, NAME)
        .isEqualTo(generated());
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
        .contains("Target", "Max", "Per-Client", "Idle", "Enforcing", "Ready", "Age");
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
