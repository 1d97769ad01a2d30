package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** values.yaml is the chart's manual: every value says what it does. */
class ValuesDocumentationTest {

  /** Kubernetes objects passed through as they are: documented once, at their top. */
  private static final Set<String> KUBERNETES_BLOCKS =
      Set.of(
          "resources", "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe");

  private static final Pattern KEY = Pattern.compile("^( *)([A-Za-z0-9_.-]+):");

  @Test
  void every_value_has_a_comment_above_it() throws Exception {
    List<String> lines = Files.readAllLines(Chart.DIR.resolve("values.yaml"));
    Deque<String[]> parents = new ArrayDeque<>(); // {indent, key}
    List<String> undocumented = new ArrayList<>();
    String previous = "";
    for (String line : lines) {
      Matcher key = KEY.matcher(line);
      if (key.find()) {
        int indent = key.group(1).length();
        while (!parents.isEmpty() && Integer.parseInt(parents.peek()[0]) >= indent) {
          parents.pop();
        }
        boolean insideKubernetesBlock =
            parents.stream().anyMatch(p -> KUBERNETES_BLOCKS.contains(p[1]));
        if (!insideKubernetesBlock && !previous.trim().startsWith("#")) {
          undocumented.add(line.trim());
        }
        parents.push(new String[] {String.valueOf(indent), key.group(2)});
      }
      if (!line.isBlank()) {
        previous = line;
      }
    }

    assertThat(undocumented).as("keys without a comment on the line above").isEmpty();
  }
}
