package dev.sessionguard.operator;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

/**
 * {@code GET http://<pod IP>:<admin port>/policy}, answered {@code {name, generation, hash, ...,
 * restartPending}}: the hash of a policy the guard runs in full.
 */
public final class HttpGuardProbe implements GuardProbe {
  private static final Duration TIMEOUT = Duration.ofSeconds(2);
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
  private final ObjectMapper json = new ObjectMapper();

  @Override
  public Optional<String> policyHash(String podIp, int adminPort) {
    var host = podIp.contains(":") ? "[" + podIp + "]" : podIp;
    var request =
        HttpRequest.newBuilder(URI.create("http://" + host + ":" + adminPort + "/policy"))
            .timeout(TIMEOUT)
            .build();
    try {
      var response = http.send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) {
        return Optional.empty();
      }
      var body = json.readTree(response.body());
      var hash = body.path("hash");
      // a guard that runs only part of the policy (settings it reads at start changed since)
      // does not enforce it yet: its pod is replaced by the rollout that change started
      var pending = body.path("restartPending");
      return hash.isTextual() && pending.isEmpty() ? Optional.of(hash.asText()) : Optional.empty();
    } catch (java.io.IOException e) {
      // not up yet, or not a guard: not enforcing
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }
}
