package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client run by the guard's listening connector: its upstream connections live on the
 * connector's selectors, are not counted as the connector's clients, and fail as they would alone.
 */
class UpstreamClientTest {
  final Server upstream = new Server();
  final Server guard = new Server();
  final UpstreamClient client = new UpstreamClient(Duration.ofSeconds(5));
  final HttpClient caller = HttpClient.newHttpClient();
  ServerConnector connector;
  volatile URI target;

  @BeforeEach
  void start() throws Exception {
    ServerConnector up = new ServerConnector(upstream);
    up.setHost("127.0.0.1");
    upstream.addConnector(up);
    upstream.setHandler(
        new Handler.Abstract() {
          @Override
          public boolean handle(Request request, Response response, Callback callback) {
            response.write(true, StandardCharsets.UTF_8.encode("from upstream"), callback);
            return true;
          }
        });
    upstream.start();
    target = URI.create("http://127.0.0.1:" + up.getLocalPort() + "/");

    connector = client.serverConnector(guard, new HttpConnectionFactory());
    connector.setHost("127.0.0.1");
    guard.addConnector(connector);
    guard.setHandler(
        new Handler.Abstract() { // forwards, waiting: enough to exercise the client
          @Override
          public boolean handle(Request request, Response response, Callback callback) {
            try {
              ContentResponse answer =
                  client.newRequest(target).timeout(10, TimeUnit.SECONDS).send();
              response.write(
                  true, StandardCharsets.UTF_8.encode(answer.getContentAsString()), callback);
            } catch (Exception x) {
              Response.writeError(request, response, callback, 502, x.toString());
            }
            return true;
          }
        });
    guard.start();
  }

  @AfterEach
  void stop() throws Exception {
    guard.stop();
    upstream.stop();
  }

  HttpResponse<String> call() throws Exception {
    return caller.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + connector.getLocalPort() + "/"))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void upstream_connections_run_on_the_connectors_selectors() throws Exception {
    assertThat(call().body()).isEqualTo("from upstream");

    int registered =
        connector.getSelectorManager().getBeans(ManagedSelector.class).stream()
            .mapToInt(ManagedSelector::size)
            .sum();
    assertThat(registered).as("the caller's connection and the upstream one").isEqualTo(2);
    assertThat(connector.getConnectedEndPoints()).as("only the caller's").hasSize(1);
  }

  @Test
  void a_refused_upstream_connection_fails_the_exchange() throws Exception {
    try (ServerSocket closed = new ServerSocket(0)) {
      target = URI.create("http://127.0.0.1:" + closed.getLocalPort() + "/");
    } // nothing listens there now

    HttpResponse<String> answer = call();

    assertThat(answer.statusCode()).isEqualTo(502);
    assertThat(answer.body()).contains("ConnectException");
  }

  @Test
  void stopping_the_connector_stops_the_client() throws Exception {
    call();

    guard.stop();

    assertThat(connector.getSelectorManager().isStopped()).isTrue();
    assertThatThrownBy(() -> client.newRequest(target).send())
        .as("a stopped client sends nothing")
        .isInstanceOf(ExecutionException.class);
  }
}
