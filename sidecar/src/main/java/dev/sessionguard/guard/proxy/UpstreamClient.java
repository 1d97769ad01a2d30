package dev.sessionguard.guard.proxy;

import java.net.URI;
import java.time.Duration;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.ProxyAuthenticationProtocolHandler;
import org.eclipse.jetty.client.RedirectProtocolHandler;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.WWWAuthenticationProtocolHandler;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.ProcessorUtils;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.Invocable;

/**
 * Jetty's HTTP client set up as a transparent hop to a plain-http upstream: no cookies kept, no
 * redirects followed, no authentication answered, no content decoded, no TLS context built. In the
 * guard it runs on the proxy server's threads, scheduler and buffers.
 */
public final class UpstreamClient {
  /** Far above any cap: the guard's own caps bound how many exchanges run at once. */
  private static final int CONNECTIONS = 1 << 16;

  // An upstream's answer headers as large as a client's request headers may be.
  private static final int MAX_RESPONSE_HEADERS = 64 * 1024;

  private final HttpClient http;

  public UpstreamClient(Duration connectTimeout) {
    HttpClientTransportOverHTTP transport =
        new HttpClientTransportOverHTTP(new PlainClientConnector());
    // Response listeners only wake the handler thread: run them on the selector, no hand-off.
    transport.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    http = new HttpClient(transport);
    http.setConnectTimeout(connectTimeout.toMillis());
    http.setFollowRedirects(false);
    http.setHttpCookieStore(new HttpCookieStore.Empty()); // one client's cookies are not another's
    http.setUserAgentField(null); // the client's own User-Agent passes through
    http.setMaxConnectionsPerDestination(CONNECTIONS);
    http.setMaxRequestsQueuedPerDestination(CONNECTIONS);
    http.setMaxResponseHeadersSize(MAX_RESPONSE_HEADERS);
    http.addEventListener(
        new LifeCycle.Listener() {
          @Override
          public void lifeCycleStarted(LifeCycle started) {
            // Installed by start: the upstream's redirects and 401s are the client's to handle,
            // and its bytes pass as they are (never decoded, so never re-compressed).
            http.getProtocolHandlers().remove(RedirectProtocolHandler.NAME);
            http.getProtocolHandlers().remove(WWWAuthenticationProtocolHandler.NAME);
            http.getProtocolHandlers().remove(ProxyAuthenticationProtocolHandler.NAME);
            http.getContentDecoderFactories().clear();
          }
        });
  }

  /**
   * Shares {@code server}'s thread pool, scheduler and buffer pool, and starts and stops with it.
   * Call before the server starts.
   */
  public void runOn(Server server) {
    http.setExecutor(server.getThreadPool());
    http.setScheduler(server.getScheduler());
    http.setByteBufferPool(server.getByteBufferPool());
    server.addBean(http);
  }

  /** A request to {@code target}, to be sent by the caller. */
  public Request newRequest(URI target) {
    return http.newRequest(target);
  }

  /** Starts it on threads of its own (outside a guard, e.g. in tests). */
  public void start() throws Exception {
    http.start();
  }

  public void stop() throws Exception {
    http.stop();
  }

  /** The upstream is plain http (the policy allows nothing else): no TLS context at start-up. */
  private static final class PlainClientConnector extends ClientConnector {
    PlainClientConnector() {
      // One selector per processor (Jetty's default here is one): the thread that reads an
      // upstream's answer also relays it and reads the client's next request, so nearly all of
      // the fast path's work runs on these threads and must spread over the pod's processors.
      setSelectors(ProcessorUtils.availableProcessors());
    }

    @Override
    protected SslContextFactory.Client newSslContextFactory() {
      return null;
    }
  }
}
