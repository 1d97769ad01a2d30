package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.metrics.GuardMetrics;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/** What the guard installs into Jetty itself, below Javalin's routing. */
public final class JettyGuards {
  private JettyGuards() {}

  /**
   * The size of the header cache of each HTTP parser, on the client connections and on the fast
   * path's upstream connections: none. Jetty's default (1,024 entries) builds a trie of ~100 KB on
   * every connection that carries a second message — 52 MB of heap for 500 kept-alive clients
   * (bench/connections.sh) against 2 MB without — and saved no CPU measurably here.
   */
  public static final int HEADER_CACHE = 0;

  /**
   * Javalin routes on {@code X-HTTP-Method-Override}, so a POST could reach the DELETE route. The
   * guard drops the header before routing; the proxy reads the real method.
   */
  public static final class StripMethodOverride extends Handler.Wrapper {
    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      if (!request.getHeaders().contains("X-HTTP-Method-Override")) {
        return super.handle(request, response, callback);
      }
      HttpFields without =
          HttpFields.build(request.getHeaders()).remove("X-HTTP-Method-Override").asImmutable();
      return super.handle(
          new Request.Wrapper(request) {
            @Override
            public HttpFields getHeaders() {
              return without;
            }
          },
          response,
          callback);
    }
  }

  /**
   * Methods other than HTTP's usual seven (TRACE, CONNECT, QUERY, an invented one) are answered 405
   * here, as JSON-RPC, rather than by the router's plain-text 404 or relayed: a TRACE relayed would
   * echo the client's headers back, an unknown method is nobody's business upstream.
   */
  public static final class KnownMethods extends Handler.Wrapper {
    /**
     * The methods served (the router takes each of them), in the order {@code Allow} lists them.
     */
    public static final List<String> ALLOWED =
        List.of("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS");

    private static final String ALLOW = String.join(", ", ALLOWED);

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      if (ALLOWED.contains(request.getMethod())) {
        return super.handle(request, response, callback);
      }
      response.getHeaders().put(HttpHeader.ALLOW, ALLOW);
      Response.writeError(request, response, callback, 405);
      return true;
    }
  }

  /**
   * Jetty's own errors (431 for headers over the limit, 400 for a bad request line) as JSON-RPC.
   */
  public static final class JsonRpcErrorHandler extends ErrorHandler {
    private final GuardMetrics metrics;

    public JsonRpcErrorHandler(GuardMetrics metrics) {
      this.metrics = metrics;
    }

    /** Every answer of Jetty's own carries its JSON-RPC body (Jetty's default: GET, POST, HEAD). */
    @Override
    public boolean errorPageForMethod(String method) {
      return true;
    }

    @Override
    protected void generateResponse(
        Request request,
        Response response,
        int code,
        String message,
        Throwable cause,
        Callback callback)
        throws IOException {
      byte[] body;
      if (code == 431) {
        RefusalLog.refused(metrics, Refusal.TOO_LARGE, code);
        body = GuardError.HEADERS_TOO_LARGE.body(null, Refusal.TOO_LARGE);
      } else {
        body = body(code);
      }
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
      response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** The JSON-RPC error for an HTTP error of Jetty's own (or the guard's, written as Jetty's). */
    public static byte[] body(int code) {
      return ("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"HTTP "
              + code
              + "\"}}")
          .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
  }
}
