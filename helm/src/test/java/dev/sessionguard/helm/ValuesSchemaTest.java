package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** values.schema.json refuses what would otherwise be silently ignored or rendered wrong. */
class ValuesSchemaTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          unknown top-level key         | replicas: 2
          misspelt nested key           | serviceMonitor: {enable: true}
          unknown key in guard          | guard: {resources: {}, image: {repository: x}, cpu: 1}
          replicaCount not a number     | replicaCount: two
          no replicas                   | replicaCount: 0
          watchNamespaces not a list    | watchNamespaces: tools
          namespace not a DNS label     | watchNamespaces: [Tools_NS]
          enabled not a boolean         | dashboard: {enabled: "yes"}
          bad pull policy               | image: {repository: x, pullPolicy: Sometimes}
          lease name not DNS-1123       | leaseName: a..b
          guard user 0                  | guard: {image: {repository: x}, runAsUser: 0}
          bad quantity                  | guard: {image: {repository: x}, resources: {limits: {memory: lots}}}
          unknown resource name         | resources: {limits: {gpu: 1}}
          bad duration                  | uninstall: {timeout: 5 minutes}
          unknown securityContext field | securityContext: {runAsRoot: false}
          port out of range             | managementPort: 70000
          """)
  void refuses_values_that_break_the_schema(String why, String values) {
    assertThatThrownBy(() -> Chart.template(values))
        .as(why)
        .hasMessageContaining("values don't meet the specifications of the schema");
  }

  @Test
  void accepts_the_documented_defaults_and_every_option() {
    Chart.template("");
    Chart.template(
        """
        replicaCount: 3
        watchNamespaces: [tools]
        serviceMonitor: {enabled: true, interval: 1m, scrapeTimeout: 15s, guards: false}
        dashboard: {enabled: true, annotations: {grafana_folder: MCP}}
        monitoringNamespace: ""
        image: {tag: "0.1.1", pullPolicy: Always}
        guard: {resources: {limits: {memory: 1Gi, cpu: 2}}}
        """);
  }

  /** Every object in the schema closes its keys, so a typo cannot pass unnoticed. */
  @Test
  void every_object_in_the_schema_refuses_unknown_keys() throws Exception {
    JsonNode schema = new ObjectMapper().readTree(Chart.DIR.resolve("values.schema.json").toFile());
    List<String> open = new ArrayList<>();
    collectOpenObjects(schema, "", open);

    // Free-form by nature: Helm's global and Kubernetes' affinity terms (checked by the API
    // server).
    assertThat(open)
        .containsExactlyInAnyOrder(
            "/properties/global",
            "/properties/affinity/properties/nodeAffinity",
            "/properties/affinity/properties/podAffinity",
            "/properties/affinity/properties/podAntiAffinity");
  }

  private static void collectOpenObjects(JsonNode node, String path, List<String> open) {
    if (!node.isObject()) {
      return;
    }
    if ("object".equals(node.path("type").asText()) && !node.has("additionalProperties")) {
      open.add(path);
    }
    for (Map.Entry<String, JsonNode> field : node.properties()) {
      collectOpenObjects(field.getValue(), path + "/" + field.getKey(), open);
    }
  }
}
