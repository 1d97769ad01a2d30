package dev.sessionguard.guard.proxy;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.URI;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;
import org.eclipse.jetty.client.ContinueProtocolHandler;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.ProxyAuthenticationProtocolHandler;
import org.eclipse.jetty.client.RedirectProtocolHandler;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.WWWAuthenticationProtocolHandler;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SelectorManager;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.ProcessorUtils;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * Jetty's HTTP client set up as a transparent hop to a plain-http upstream: no cookies kept, no
 * redirects followed, no authentication answered, no content decoded, no TLS context built. In the
 * guard it runs on the proxy server's threads, scheduler and buffers, and its connections on the
 * listening connector's selectors.
 */
public final class UpstreamClient {
  /** Far above any cap: the guard's own caps bound how many exchanges run at once. */
  private static final int CONNECTIONS = 1 << 16;

  private final HttpClient http;
  private final UpstreamLinks links;

  /** Idle upstream connections are closed after this long (Jetty's default). */
  static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

  public UpstreamClient(Duration connectTimeout) {
    this(connectTimeout, IDLE_TIMEOUT);
  }

  /** With {@code idleTimeout} for idle upstream connections (tests shorten it). */
  UpstreamClient(Duration connectTimeout, Duration idleTimeout) {
    HttpClientTransportOverHTTP transport =
        new HttpClientTransportOverHTTP(new PlainClientConnector());
    // Response listeners only wake the handler thread: run them on the selector, no hand-off.
    transport.setInvocationType(Invocable.InvocationType.NON_BLOCKING);
    transport.setHeaderCacheSize(JettyGuards.HEADER_CACHE);
    http = new HttpClient(transport);
    http.setConnectTimeout(connectTimeout.toMillis());
    http.setIdleTimeout(idleTimeout.toMillis());
    http.setFollowRedirects(false);
    http.setHttpCookieStore(new HttpCookieStore.Empty()); // one client's cookies are not another's
    http.setUserAgentField(null); // the client's own User-Agent passes through
    http.setMaxConnectionsPerDestination(CONNECTIONS);
    http.setMaxRequestsQueuedPerDestination(CONNECTIONS);
    http.setMaxResponseHeadersSize(UpstreamLinks.MAX_RESPONSE_HEADERS);
    http.addEventListener(
        new LifeCycle.Listener() {
          @Override
          public void lifeCycleStarted(LifeCycle started) {
            // Installed by start: the upstream's redirects and 401s are the client's to handle,
            // and its bytes pass as they are (never decoded, so never re-compressed).
            http.getProtocolHandlers().remove(RedirectProtocolHandler.NAME);
            http.getProtocolHandlers().remove(WWWAuthenticationProtocolHandler.NAME);
            http.getProtocolHandlers().remove(ProxyAuthenticationProtocolHandler.NAME);
            http.getProtocolHandlers().put(new InterimContinue()); // in Continue's place
            http.getContentDecoderFactories().clear();
          }
        });
    links = new UpstreamLinks(http.getClientConnector());
  }

  /**
   * The guard's listening connector, running this client too: the client shares {@code server}'s
   * thread pool, scheduler and buffer pool, and the connector's selectors run its upstream
   * connections beside the clients' (one event loop for both sides). A fast-path answer is relayed
   * by the thread that read it, which then reads the client's next request; with both connections
   * on one selector that thread registers the client connection's read interest on its own
   * selector, in the loop it runs, instead of waking another selector thread once per request. The
   * client starts and stops with the connector. Call once, before the server starts.
   */
  public ServerConnector serverConnector(Server server, ConnectionFactory... factories) {
    http.setExecutor(server.getThreadPool());
    http.setScheduler(server.getScheduler());
    http.setByteBufferPool(server.getByteBufferPool());
    SharedConnector connector =
        new SharedConnector(server, (PlainClientConnector) http.getClientConnector(), factories);
    connector.addBean(http); // after the selectors: they run when the client starts
    return connector;
  }

  /** A request to {@code target}, to be sent by the caller. */
  public Request newRequest(URI target) {
    return http.newRequest(target);
  }

  /** The fast path's own connections to the upstream, opened by this client's connector. */
  UpstreamLinks links() {
    return links;
  }

  /** Starts it on threads of its own (outside a guard, e.g. in tests). */
  public void start() throws Exception {
    http.start();
  }

  public void stop() throws Exception {
    http.stop();
  }

  /**
   * Passes over an upstream's interim 100, as Jetty's handler does, but decides on the status
   * alone: the guard never sends {@code Expect} (hop-by-hop, stripped), so the request's headers
   * need no look-up for every answer.
   */
  private static final class InterimContinue extends ContinueProtocolHandler {
    @Override
    public boolean accept(Request request, Response response) {
      return response.getStatus() == HttpStatus.CONTINUE_100 && super.accept(request, response);
    }
  }

  /** The upstream is plain http (the policy allows nothing else): no TLS context at start-up. */
  private static final class PlainClientConnector extends ClientConnector {
    private SelectorManager shared; // the server connector's, once it runs this client

    @Override
    protected SslContextFactory.Client newSslContextFactory() {
      return null;
    }

    @Override
    protected SelectorManager newSelectorManager() {
      return shared != null ? shared : super.newSelectorManager();
    }

    @Override
    protected UpstreamEndPoint newEndPoint(
        SelectableChannel channel, ManagedSelector selector, SelectionKey key) {
      UpstreamEndPoint endPoint =
          new UpstreamEndPoint((SocketChannel) channel, selector, key, getScheduler());
      endPoint.setIdleTimeout(getIdleTimeout().toMillis());
      return endPoint;
    }

    // Declared here, so that the server connector's selectors can call them.
    @Override
    protected Connection newConnection(EndPoint endPoint, Map<String, Object> context)
        throws IOException {
      return super.newConnection(endPoint, context);
    }

    @Override
    protected void connectFailed(
        SelectableChannel channel,
        SocketAddress address,
        Throwable failure,
        Map<String, Object> context) {
      super.connectFailed(channel, address, failure, context);
    }
  }

  /** An upstream connection's end point: {@link SharedConnector} tells them from the clients'. */
  private static final class UpstreamEndPoint extends SocketChannelEndPoint {
    UpstreamEndPoint(
        SocketChannel channel, ManagedSelector selector, SelectionKey key, Scheduler scheduler) {
      super(channel, selector, key, scheduler);
    }
  }

  /**
   * A server connector whose selectors also register, open and close the client's upstream
   * connections, as its own {@link ClientConnector}'s selectors would.
   */
  private static final class SharedConnector extends ServerConnector {
    private final PlainClientConnector client;

    SharedConnector(Server server, PlainClientConnector client, ConnectionFactory... factories) {
      // One selector per processor (Jetty's server default is half as many, at most 4): the
      // thread that reads an upstream's answer also relays it and reads the client's next
      // request, so nearly all of the fast path's work runs on them.
      super(server, -1, ProcessorUtils.availableProcessors(), factories);
      this.client = client;
      client.shared = getSelectorManager();
    }

    @Override
    protected SelectorManager newSelectorManager(
        Executor executor, Scheduler scheduler, int selectors) {
      return new ServerConnectorManager(executor, scheduler, selectors) {
        @Override
        protected SocketChannelEndPoint newEndPoint(
            SelectableChannel channel, ManagedSelector selector, SelectionKey key)
            throws IOException {
          return upstream(key.attachment()) != null
              ? client.newEndPoint(channel, selector, key)
              : super.newEndPoint(channel, selector, key);
        }

        @Override
        public Connection newConnection(
            SelectableChannel channel, EndPoint endPoint, Object attachment) throws IOException {
          Map<String, Object> context = upstream(attachment);
          return context != null
              ? client.newConnection(endPoint, context)
              : super.newConnection(channel, endPoint, attachment);
        }

        @Override
        public void connectionOpened(Connection connection, Object attachment) {
          Map<String, Object> context = upstream(attachment);
          if (context == null) {
            super.connectionOpened(connection, attachment);
            return;
          }
          @SuppressWarnings("unchecked")
          Promise<Connection> promise =
              (Promise<Connection>) context.get(ClientConnector.CONNECTION_PROMISE_CONTEXT_KEY);
          try {
            super.connectionOpened(connection, attachment);
            promise.succeeded(connection);
          } catch (Throwable x) {
            promise.failed(x);
          }
        }

        @Override
        protected void connectionFailed(
            SelectableChannel channel, Throwable failure, Object attachment) {
          super.connectionFailed(channel, failure, attachment);
          Map<String, Object> context = upstream(attachment);
          if (context != null) {
            client.connectFailed(
                channel,
                (SocketAddress) context.get(ClientConnector.REMOTE_SOCKET_ADDRESS_CONTEXT_KEY),
                failure,
                context);
          }
        }

        // The connector counts and closes its clients' end points; the upstream's are not those.
        @Override
        protected void endPointOpened(EndPoint endPoint) {
          if (!(endPoint instanceof UpstreamEndPoint)) {
            super.endPointOpened(endPoint);
          }
        }

        @Override
        protected void endPointClosed(EndPoint endPoint) {
          if (!(endPoint instanceof UpstreamEndPoint)) {
            super.endPointClosed(endPoint);
          }
        }
      };
    }

    /** The client's connect context, when {@code attachment} is one; else null. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> upstream(Object attachment) {
      return attachment instanceof Map<?, ?> context
              && context.get(ClientConnector.CONTEXT_KEY) != null
          ? (Map<String, Object>) context
          : null;
    }
  }
}
