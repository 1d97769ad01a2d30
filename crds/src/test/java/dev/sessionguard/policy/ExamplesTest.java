package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sessionguard.policy.PolicyValidator.Mode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every file in examples/ is valid as it is. */
class ExamplesTest {

  static List<Path> examples() throws Exception {
    try (Stream<Path> files = Files.list(Path.of("..", "examples"))) {
      List<Path> list =
          files.filter(p -> p.toString().matches(".*\\.ya?ml$|.*\\.json$")).sorted().toList();
      assertThat(list).isNotEmpty();
      return list;
    }
  }

  @ParameterizedTest
  @MethodSource("examples")
  void example_is_valid(Path path) throws Exception {
    JsonNode doc = PolicyJson.yaml().readTree(Files.readString(path));
    if (doc.has("kind")) {
      assertThat(doc.get("apiVersion").asText()).isEqualTo("sessionguard.dev/v1alpha1");
      assertThat(doc.get("kind").asText()).isEqualTo("SessionPolicy");
      ObjectNode file = ((ObjectNode) doc.get("spec")).deepCopy();
      file.put("name", doc.at("/metadata/name").asText());
      PolicyFile.parse(file.toString(), Mode.CLUSTER); // throws with every problem
    } else {
      PolicyFile.load(path, Mode.STANDALONE);
    }
  }
}
