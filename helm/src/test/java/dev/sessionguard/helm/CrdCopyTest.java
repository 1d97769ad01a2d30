package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The chart ships the generated CRD, not a hand-edited one. */
class CrdCopyTest {

  private static final String CRD = "sessionpolicies.sessionguard.dev-v1.yml";

  @Test
  void chart_crd_is_byte_identical_to_the_generated_one() throws Exception {
    // The build copies it (maven-resources-plugin in helm/pom.xml); commit the copy it leaves.
    byte[] generated = Files.readAllBytes(Path.of("..", "crds", CRD));
    byte[] shipped = Files.readAllBytes(Chart.DIR.resolve("crds").resolve(CRD));

    assertThat(shipped).as("helm/session-guard/crds/%s", CRD).isEqualTo(generated);
  }

  @Test
  void chart_ships_no_other_crd() throws Exception {
    try (var files = Files.list(Chart.DIR.resolve("crds"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly(CRD);
    }
  }
}
