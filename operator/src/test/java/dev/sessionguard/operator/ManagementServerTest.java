package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ManagementServerTest {
  MockCluster cluster;
  RunningOperator running;
  ManagementServer management;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void start() throws Exception {
    cluster = new MockCluster();
    running = new RunningOperator(cluster, Map.of(), null);
    management = new ManagementServer(0, running.operator, running.registry);
  }

  @AfterEach
  void stop() {
    management.close();
    running.close();
    cluster.close();
  }

  HttpResponse<String> get(String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + management.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void readiness_fails_until_the_informers_run_and_again_when_the_api_server_goes_away()
      throws Exception {
    assertThat(get("/readyz").statusCode()).isEqualTo(503);
    assertThat(get("/healthz").statusCode()).isEqualTo(200); // alive: no restart while it syncs
    running.start();
    assertThat(get("/readyz").statusCode()).isEqualTo(200);
    assertThat(get("/healthz").statusCode()).isEqualTo(200);

    cluster.server.destroy();
    await()
        .atMost(Duration.ofSeconds(60))
        .untilAsserted(() -> assertThat(get("/readyz").statusCode()).isEqualTo(503));
    assertThat(get("/healthz").statusCode()).isEqualTo(200); // its informers retry on their own
  }

  @Test
  void metrics_count_reconciles_without_per_policy_labels() throws Exception {
    running.start();
    cluster.client.resource(MockCluster.policy("tools", "metered", "vmcp")).create();
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () -> {
              var scrape = get("/metrics");
              assertThat(scrape.statusCode()).isEqualTo(200);
              assertThat(scrape.headers().firstValue("Content-Type"))
                  .hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
              assertThat(scrape.body())
                  .contains("operator_sdk_reconciliations_started_total")
                  .contains("operator_sdk_reconciliations_success_total")
                  .doesNotContain("metered");
            });
  }
}
