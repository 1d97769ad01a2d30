package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.StreamSupport;

/** The objects a {@code helm template} run produced. */
record Rendered(List<ObjectNode> objects) {

  static final YAMLMapper YAML = new YAMLMapper();

  static Rendered parse(String manifests) {
    List<ObjectNode> objects = new ArrayList<>();
    try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(manifests)) {
      while (docs.hasNext()) {
        JsonNode doc = docs.next();
        if (doc instanceof ObjectNode object && object.has("kind")) {
          objects.add(object);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new Rendered(List.copyOf(objects));
  }

  List<ObjectNode> ofKind(String kind) {
    return objects.stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
  }

  Optional<ObjectNode> find(String kind, String name) {
    return ofKind(kind).stream().filter(o -> name(o).equals(name)).findFirst();
  }

  ObjectNode get(String kind, String name) {
    Optional<ObjectNode> found = find(kind, name);
    assertThat(found).as("%s %s among %s", kind, name, summary()).isPresent();
    return found.orElseThrow();
  }

  /** The operator's Deployment. */
  ObjectNode operator() {
    return get("Deployment", "sg-session-guard");
  }

  /** The operator container's environment variable, as a literal value. */
  String operatorEnv(String variable) {
    JsonNode container = operator().at("/spec/template/spec/containers/0");
    for (JsonNode env : container.path("env")) {
      if (env.path("name").asText().equals(variable)) {
        return env.path("value").asText();
      }
    }
    throw new AssertionError("no " + variable + " in the operator's env: " + container);
  }

  /** Every pod this render creates: a Pod's spec, or a workload's pod template spec. */
  List<PodSpec> podSpecs() {
    List<PodSpec> pods = new ArrayList<>();
    for (ObjectNode object : objects) {
      String where = object.path("kind").asText() + " " + name(object);
      JsonNode spec =
          switch (object.path("kind").asText()) {
            case "Pod" -> object.path("spec");
            case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job" ->
                object.at("/spec/template/spec");
            case "CronJob" -> object.at("/spec/jobTemplate/spec/template/spec");
            default -> null;
          };
      if (spec != null) {
        pods.add(new PodSpec(where, spec));
      }
    }
    return pods;
  }

  record PodSpec(String owner, JsonNode spec) {
    List<JsonNode> containers() {
      List<JsonNode> all = new ArrayList<>();
      spec.path("initContainers").forEach(all::add);
      spec.path("containers").forEach(all::add);
      return all;
    }
  }

  static String name(JsonNode object) {
    return object.at("/metadata/name").asText();
  }

  static List<String> texts(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).map(JsonNode::asText).toList();
  }

  String summary() {
    return objects.stream().map(o -> o.path("kind").asText() + "/" + name(o)).toList().toString();
  }
}
