package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.identity.ClientAddress;
import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.BufferUtil;

/**
 * Talks to the upstream: sends one request with the policy's connect and first-byte timeouts (never
 * a total timeout: SSE lives long), and streams the answer back, flushing whenever the upstream
 * pauses so each SSE event leaves as it arrives.
 */
public final class Forwarder {

  private static final String STREAMS = "streams";

  /** The most body bytes {@link #head} writes into the head's buffer (copied once more there). */
  static final int INLINE_BODY = 8192;

  // What a request head usually takes: the guard's own headers and a client's few.
  private static final int HEAD_BYTES = 512;
  // "Content-Length: " and up to ten digits, then the head's end
  private static final int LENGTH_LINE = 32;

  private final UpstreamClient client;

  /** The last target: nearly every request goes to the same one, parsed once. */
  private volatile Target last = new Target(null, "", null, null);

  public Forwarder(UpstreamClient client) {
    this.client = client;
  }

  /** An upstream URI, with the Host field the client would otherwise build from it per request. */
  private record Target(URI upstream, String pathQuery, URI uri, HttpField host) {}

  /** The upstream's answer (headers arrived; the body is still to be read), or a guard error. */
  sealed interface Answer {
    record Response(UpstreamResponse response, Duration took) implements Answer {}

    record Failed(GuardError error, String why) implements Answer {}
  }

  /** The request attribute holding its JSON-RPC id (a JsonNode, or absent), for 502 bodies. */
  static final String RPC_ID = "sessionguard.rpcId";

  /** How streaming the answer back ended. */
  enum Outcome {
    COMPLETE,
    CLIENT_GONE,
    UPSTREAM_BROKEN
  }

  /**
   * Builds the upstream request from the client's: same method, path, query and headers, with
   * {@code body} (null or empty for none). A {@code stream} (listen, standalone GET) draws its
   * connection from a pool of its own, so the pool requests draw from is not crowded with
   * connections that streams hold for hours.
   */
  Request request(GuardConfig cfg, HttpServletRequest req, byte[] body, boolean stream) {
    return request(cfg, jetty(req), body, stream);
  }

  /** {@link #request(GuardConfig, HttpServletRequest, byte[], boolean)} from Jetty's request. */
  Request request(
      GuardConfig cfg, org.eclipse.jetty.server.Request in, byte[] body, boolean stream) {
    Target target =
        target(cfg.upstream(), upstreamPathQuery(cfg.mcpPath(), in.getHttpURI().getPathQuery()));
    Request out =
        client
            .newRequest(target.uri())
            .method(in.getMethod())
            // No idle timeout while the answer streams: a quiet SSE stream is not a dead one.
            .idleTimeout(0, TimeUnit.MILLISECONDS);
    if (body != null && body.length > 0) {
      out.body(new BytesRequestContent(body));
    }
    if (stream) {
      out.tag(STREAMS);
    }
    String scheme = in.getHttpURI().getScheme();
    out.headers(
        upstream ->
            upstreamFields(
                cfg,
                in.getHeaders(),
                org.eclipse.jetty.server.Request.getRemoteAddr(in),
                scheme == null ? "http" : scheme,
                target,
                upstream::add));
    return out;
  }

  /**
   * The fast path's request for {@link UpstreamLinks}, framed: a POST request line with the
   * client's raw path and query, then the same headers as {@link #request} sends, then the body's
   * length as Content-Length. Values are written as ISO-8859-1, as Jetty's client writes them. A
   * body of up to {@link #INLINE_BODY} bytes follows the head in the same buffer, so the request
   * goes out as one buffer; a larger one is {@link #bodyAfter}, for the caller to send after it.
   * The request line and headers are made once for a head the client repeats on its connection
   * ({@link FrontHead#again}): its next requests copy them.
   */
  ByteBuffer head(GuardConfig cfg, FastPath.Peer in, byte[] body) {
    URI upstream = cfg.upstream();
    int room = inline(body) ? body.length : 0;
    FrontHead.Repeat repeat = in.repeat();
    byte[] start = repeat == null ? null : repeat.upstreamStart(upstream);
    HeadBytes out;
    if (start != null) {
      out = new HeadBytes(start.length + LENGTH_LINE + room).bytes(start);
    } else {
      out = new HeadBytes(HEAD_BYTES + room);
      Target target = target(upstream, upstreamPathQuery(cfg.mcpPath(), in.pathQuery()));
      out.ascii("POST ").ascii(target.pathQuery()).ascii(" HTTP/1.1").crlf();
      upstreamFields(
          cfg,
          in.headers(),
          in.remoteAddr(),
          in.scheme(),
          target,
          field -> out.field(field.getName(), field.getValue()));
      if (repeat != null && repeat.repeated()) {
        repeat.upstreamStart(upstream, out.copy()); // for the next heads that repeat this one
      }
    }
    out.ascii("Content-Length: ").number(body.length).crlf().crlf();
    if (room > 0) {
      out.bytes(body);
    }
    return out.buffer();
  }

  /** What of {@code body} is to be sent after {@link #head}'s buffer: nothing when it holds it. */
  static ByteBuffer bodyAfter(byte[] body) {
    return inline(body) ? BufferUtil.EMPTY_BUFFER : ByteBuffer.wrap(body);
  }

  private static boolean inline(byte[] body) {
    return body.length <= INLINE_BODY;
  }

  /**
   * The headers the upstream gets, in order, whichever way the request goes: its own Host, the
   * client's end-to-end headers (hop-by-hop ones and X-Forwarded-For dropped), X-Forwarded-For with
   * the client's address appended, and X-Forwarded-Proto unless the client sent one.
   */
  private static void upstreamFields(
      GuardConfig cfg,
      HttpFields headers,
      String peer,
      String scheme,
      Target target,
      Consumer<HttpField> add) {
    Set<String> strip = HopByHop.namesToStrip(headers, true);
    String identityHeader =
        cfg.identity().source() == IdentitySource.Header ? cfg.identity().header() : null;
    String unbelieved =
        identityHeader == null ? null : unbelievedIdentityHeader(cfg, headers, peer);
    add.accept(target.host());
    String prior = null; // the client's X-Forwarded-For values, joined
    boolean proto = false;
    for (HttpField field : headers) {
      HttpHeader header = field.getHeader();
      proto |= header == HttpHeader.X_FORWARDED_PROTO;
      if (header == HttpHeader.X_FORWARDED_FOR) {
        prior = prior == null ? field.getValue() : prior + ", " + field.getValue();
      } else if (identityHeader != null && identityHeader.equalsIgnoreCase(field.getName())) {
        // decided on like the MCP headers: not stripped for being named in Connection, and not
        // passed on from a peer the guard does not believe it from
        if (unbelieved == null) {
          add.accept(field);
        }
      } else if (!HopByHop.named(field, strip)) {
        add.accept(field);
      }
    }
    add.accept(
        new HttpField(
            HttpHeader.X_FORWARDED_FOR,
            prior == null || prior.isEmpty() ? peer : prior + ", " + peer));
    if (!proto) {
      add.accept(new HttpField(HttpHeader.X_FORWARDED_PROTO, scheme));
    }
  }

  /**
   * The Header identity's header when the guard does not believe it from this peer (not one of
   * {@code identity.trustedProxies}): it is not passed on either, or an upstream that reads the
   * same header would take the sender for whoever it names. Null when there is none to drop.
   */
  private static String unbelievedIdentityHeader(GuardConfig cfg, HttpFields headers, String peer) {
    var identity = cfg.identity();
    if (!headers.contains(identity.header())
        || ClientAddress.mayCarryProxyHeaders(identity.trustedProxies(), peer)) {
      return null;
    }
    return identity.header();
  }

  /** The header's values; none (nothing built) when it is absent, as it is from most requests. */
  static List<String> values(HttpFields fields, HttpHeader header) {
    return fields.contains(header) ? fields.getValuesList(header) : List.of();
  }

  /**
   * The raw path and query to send upstream: the client's, but the MCP path as the policy spells it
   * where the client spelt it another way ({@link McpPath}: {@code /MCP}, {@code /mcp;x}). The
   * guard admits such a request as the MCP endpoint's; relayed as spelt, an upstream that does not
   * read it so would answer 404, which the guard takes for the end of the session named, and it
   * would forget a session the upstream still holds (a client could so hold any number).
   */
  static String upstreamPathQuery(String mcpPath, String pathQuery) {
    int query = pathQuery.indexOf('?');
    String path = query < 0 ? pathQuery : pathQuery.substring(0, query);
    if (path.equals(mcpPath) || !McpPath.names(path, mcpPath)) {
      return pathQuery;
    }
    return query < 0 ? mcpPath : mcpPath + pathQuery.substring(query);
  }

  /** The upstream's URI for a client's raw path and query. */
  private Target target(URI upstream, String pathQuery) {
    Target seen = last;
    if (seen.upstream() == upstream && seen.pathQuery().equals(pathQuery)) {
      return seen;
    }
    // the raw path, as the client sent it, but for what a URI may not hold as it is
    String sendable = sendable(pathQuery);
    URI uri = URI.create(upstream + sendable);
    Target target =
        new Target(upstream, sendable, uri, new HttpField(HttpHeader.HOST, uri.getAuthority()));
    last = target;
    return target;
  }

  /**
   * {@code pathQuery} with every character a URI may not hold as it is (Jetty accepts some in a
   * request target, {@code |} or {@code {}}, and gives non-ASCII ones decoded) percent-encoded as
   * UTF-8, and a {@code %} that starts no escape encoded too; itself when there is none, as nearly
   * always.
   */
  static String sendable(String pathQuery) {
    int i = 0;
    while (i < pathQuery.length() && plain(pathQuery, i)) {
      i++;
    }
    if (i == pathQuery.length()) {
      return pathQuery;
    }
    StringBuilder out = new StringBuilder(pathQuery.length() + 16).append(pathQuery, 0, i);
    for (; i < pathQuery.length(); i++) {
      char c = pathQuery.charAt(i);
      if (plain(pathQuery, i)) {
        out.append(c);
        continue;
      }
      int end =
          Character.isHighSurrogate(c)
                  && i + 1 < pathQuery.length()
                  && Character.isLowSurrogate(pathQuery.charAt(i + 1))
              ? i + 2
              : i + 1;
      for (byte b : pathQuery.substring(i, end).getBytes(StandardCharsets.UTF_8)) {
        out.append('%').append(HEX[(b >> 4) & 0xF]).append(HEX[b & 0xF]);
      }
      i = end - 1;
    }
    return out.toString();
  }

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  /** An ASCII hex digit (Character.digit also takes other scripts' digits, URI does not). */
  private static boolean hex(char c) {
    return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F';
  }

  /** Whether the character at {@code i} may stand as it is in a URI's path or query. */
  private static boolean plain(String s, int i) {
    char c = s.charAt(i);
    if (c == '%') {
      return i + 2 < s.length() && hex(s.charAt(i + 1)) && hex(s.charAt(i + 2));
    }
    return c < 0x7F && (Character.isLetterOrDigit(c) || "-._~!$&'()*+,;=:@/?".indexOf(c) >= 0);
  }

  /** Sends a request framed by {@link #head} on the fast path's own upstream connections. */
  void send(GuardConfig cfg, UpstreamLinks.Call call) {
    URI upstream = cfg.upstream();
    client.links().send(upstream.getHost(), upstream.getPort(), call);
  }

  /** Sends and waits for the response headers, at most {@code firstByte} after sending. */
  Answer send(Request request, Duration firstByte) {
    long started = System.nanoTime();
    UpstreamResponse response = UpstreamResponse.send(request);
    Throwable failure = response.awaitHeaders(firstByte);
    if (failure == null) {
      return new Answer.Response(response, Duration.ofNanos(System.nanoTime() - started));
    }
    // Headers may still arrive after the wait gave up, their first chunk read: it goes back now.
    response.close();
    if (failure instanceof UpstreamResponse.FirstByteTimeout) {
      return new Answer.Failed(GuardError.UPSTREAM_TIMEOUT, failure.getMessage());
    }
    if (failure instanceof SocketTimeoutException) {
      return new Answer.Failed(GuardError.UPSTREAM_FAILED, "connect timed out");
    }
    return new Answer.Failed(GuardError.UPSTREAM_FAILED, String.valueOf(failure));
  }

  /**
   * Streams the upstream's answer to the client: status, end-to-end headers, then the body, flushed
   * whenever the upstream pauses. A client that goes away is seen on the next write; the upstream
   * exchange is then aborted.
   */
  Outcome relay(HttpServletRequest req, HttpServletResponse res, UpstreamResponse upstream)
      throws IOException {
    return relay(req, res, upstream, null);
  }

  /**
   * {@link #relay(HttpServletRequest, HttpServletResponse, UpstreamResponse)}, running {@code
   * beforeEnd} (if not null) once the upstream's answer is all in, before the bytes that complete
   * the client's answer are written: what the guard records about the exchange is in place before
   * the client can act on its end. The caller runs it on the paths where it did not run.
   */
  Outcome relay(
      HttpServletRequest req,
      HttpServletResponse res,
      UpstreamResponse upstream,
      Runnable beforeEnd)
      throws IOException {
    res.setStatus(upstream.status());
    res.setContentType(null); // Javalin presets text/plain; the upstream's own comes below
    boolean sse =
        answerHeaders(
            upstream.headers(),
            field -> res.addHeader(field.getName(), field.getValue()),
            field -> res.setHeader(field.getName(), field.getValue()));
    ServletOutputStream out = res.getOutputStream(); // not ctx.outputStream(): that one may gzip
    // Once the declared length is written the client has the whole answer, and Jetty may
    // already have completed the response: a failing flush then is not a lost answer.
    long declared = upstream.headers().getLongField(HttpHeader.CONTENT_LENGTH);
    long written = 0;
    HangUpWatch watch = null;
    try {
      if (sse) {
        out.flush(); // status and headers go before the first event
        watch = HangUpWatch.start(jetty(req).getServletChannel().getEndPoint(), upstream);
      }
      boolean unflushed = false;
      while (true) {
        if (unflushed && declared < 0 && !upstream.ready()) {
          out.flush(); // the upstream paused: an event boundary, send it now
          unflushed = false;
        }
        Content.Chunk chunk = upstream.next();
        if (Content.Chunk.isFailure(chunk)) {
          if (declared >= 0 && written == declared) {
            // Only the end-of-body marker was missing (e.g. the guard is stopping): the client
            // already has the whole answer.
            return Outcome.COMPLETE;
          }
          if (!sse && written == 0 && !res.isCommitted()) {
            // Nothing of the answer has left: the guard answers 502 itself, as it does for an
            // upstream that fails before its headers (and as the fast path does).
            res.reset();
            GuardError.UPSTREAM_FAILED.write(res, (JsonNode) req.getAttribute(RPC_ID), null, null);
            return Outcome.UPSTREAM_BROKEN;
          }
          abortClient(req, chunk.getFailure());
          return Outcome.UPSTREAM_BROKEN;
        }
        boolean last = chunk.isLast();
        if (beforeEnd != null
            && (last || declared >= 0 && written + chunk.remaining() >= declared)) {
          beforeEnd.run();
          beforeEnd = null;
        }
        try {
          int n = write(out, chunk.getByteBuffer());
          written += n;
          unflushed |= n > 0;
        } finally {
          chunk.release();
        }
        if (last) {
          break;
        }
        upstream.more();
      }
      out.flush();
      return Outcome.COMPLETE;
    } catch (IOException clientGone) {
      upstream.abort(clientGone);
      return written == declared ? Outcome.COMPLETE : Outcome.CLIENT_GONE;
    } finally {
      if (watch != null) {
        watch.stop();
      }
    }
  }

  /**
   * Passes the upstream's end-to-end answer headers to {@code add}; Date goes to {@code replace}
   * (the server's own Date is replaced, not doubled). Returns true for an SSE answer, which then
   * also carries {@code X-Accel-Buffering: no} (no proxy in front may hold its events back).
   */
  static boolean answerHeaders(
      HttpFields upstream, Consumer<HttpField> add, Consumer<HttpField> replace) {
    Set<String> strip = HopByHop.namesToStrip(upstream, false);
    for (HttpField field : upstream) {
      if (HopByHop.named(field, strip)) {
        continue;
      }
      if (field.getHeader() == HttpHeader.DATE) {
        replace.accept(field);
      } else {
        add.accept(field);
      }
    }
    String type = upstream.get(HttpHeader.CONTENT_TYPE);
    boolean sse = type != null && type.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
    if (sse) {
      replace.accept(new HttpField("X-Accel-Buffering", "no"));
    }
    return sse;
  }

  /** Writes a chunk as it is (Jetty's output takes the buffer without a copy); returns its size. */
  private static int write(ServletOutputStream out, ByteBuffer bytes) throws IOException {
    int n = bytes.remaining();
    if (n == 0) {
      return 0;
    }
    if (out instanceof HttpOutput jetty) {
      jetty.write(bytes);
    } else {
      byte[] copy = new byte[n];
      bytes.get(copy);
      out.write(copy);
    }
    return n;
  }

  /**
   * Whether the client has closed its connection (its end of input is there), looked at without
   * waiting and before anything of the answer is written: a client that gave up on a slow {@code
   * initialize} (its own timeout) never sees the session id, and a write into its closed socket
   * would still succeed. When it has, its connection is closed: nothing is answered (a client that
   * only shut its sending side must not read an empty success). A byte of a request sent behind
   * this one, read here, is not Jetty's to parse any more: the connection then closes after this
   * answer.
   */
  static boolean clientClosed(HttpServletRequest req) {
    EndPoint endPoint = jetty(req).getServletChannel().getEndPoint();
    if (!endPoint.isOpen()) {
      return true;
    }
    if (endPoint.isFillInterested()) {
      return false; // read by someone else already (not while a request is served: defensive)
    }
    int n;
    try {
      n = endPoint.fill(BufferUtil.allocate(1));
    } catch (IOException | RuntimeException gone) {
      n = -1;
    }
    if (n < 0) {
      endPoint.close();
      return true;
    }
    if (n > 0) {
      HangUpWatch.closeAfterThisAnswer(endPoint);
    }
    return false;
  }

  /** The upstream died mid-body: the client must see a truncated response, not a clean end. */
  private static void abortClient(HttpServletRequest req, Throwable cause) {
    jetty(req).getServletChannel().getEndPoint().close(cause);
  }

  /** Jetty's own request under a servlet request (the guard runs only on Jetty). */
  static ServletContextRequest jetty(HttpServletRequest req) {
    ServletContextRequest jetty = ServletContextRequest.getServletContextRequest(req);
    if (jetty == null) {
      throw new IllegalStateException("not a request Jetty serves: " + req);
    }
    return jetty;
  }

  /** True when a TCP connection to the upstream opens within {@code timeout}. */
  public boolean reachable(GuardConfig cfg, Duration timeout) {
    URI u = cfg.upstream();
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(u.getHost(), u.getPort()), (int) timeout.toMillis());
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
