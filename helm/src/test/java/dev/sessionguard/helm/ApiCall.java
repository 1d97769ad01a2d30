package dev.sessionguard.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** One API call the operator makes: {@code verb apiGroup resource}, the core group as "". */
record ApiCall(String verb, String group, String resource) {

  /** Recorded by the operator's tests against the mock API server. */
  static final Path RECORDED = Path.of("..", "operator", "target", "api-calls.txt");

  /** A stand-in until the operator's tests record calls (see the file's header). */
  static final Path FIXTURE = Path.of("src", "test", "resources", "expected-api-calls.txt");

  /** Objects that are not namespaced: only cluster-wide rules can allow calls on them. */
  boolean clusterScoped() {
    return resource.equals("customresourcedefinitions")
        || resource.equals("selfsubjectrulesreviews");
  }

  /** Leader election's Lease lives in the operator's own namespace. */
  boolean inOperatorNamespace() {
    return group.equals("coordination.k8s.io") && resource.equals("leases");
  }

  @Override
  public String toString() {
    return verb + " " + (group.isEmpty() ? "\"\"" : group) + " " + resource;
  }

  static List<ApiCall> read(Path file) {
    try {
      return Files.readAllLines(file).stream()
          .map(String::trim)
          .filter(line -> !line.isEmpty() && !line.startsWith("#"))
          .map(ApiCall::parse)
          .distinct()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static ApiCall parse(String line) {
    String[] fields = line.split("\\s+");
    return switch (fields.length) {
      case 2 -> new ApiCall(fields[0], "", fields[1]); // core group written as nothing
      case 3 -> new ApiCall(fields[0], fields[1].equals("\"\"") ? "" : fields[1], fields[2]);
      default -> throw new IllegalArgumentException("not 'verb apiGroup resource': " + line);
    };
  }
}
