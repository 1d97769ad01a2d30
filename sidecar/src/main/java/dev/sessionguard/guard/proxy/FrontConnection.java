package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.metrics.GuardMetrics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.RetainableByteBuffer;
import org.eclipse.jetty.server.AbstractConnectionFactory;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;

/**
 * The guarded port's own HTTP/1.1 connection, in front of Jetty's. It reads each request itself
 * and, when the request is a small POST of the plainest shape ({@link FrontHead}), gives it to the
 * {@link FastPath} with no Jetty request, response or channel in between, and writes the answer's
 * head itself. Every other request — another method, a body larger than the connection's buffer,
 * anything its strict parser leaves alone — and every request the fast path does not take goes,
 * with its bytes exactly as they arrived, to Jetty's own HTTP/1.1 connection, which serves it as it
 * serves everything; once that request has ended the connection comes back here ({@link HandBack}),
 * unless Jetty's answer closed it. The answers are the same either way; what it saves is Jetty's
 * per-request server machinery, half of a forwarded call's CPU.
 *
 * <p>One request at a time: the next one is read only once the answer has been written (requests
 * sent ahead wait in the buffer). While a request the fast path has committed to is served and
 * nothing was sent ahead of it, the connection stays interested in reading ({@link
 * Served#holdOpen}): were it not, the selector would take the socket out of its epoll set after the
 * request and put it back after the answer, two system calls per request. If the client sends
 * something (or closes) meanwhile, that is only noted, and read once the answer has been written.
 * Between requests an idle connection holds no buffer; the connector's idle timeout closes it.
 * While an answer is awaited or streams, the idle timeout ends the exchange only if a write to the
 * client is stuck: a quiet SSE answer is not a dead client, and the first-byte timeout bounds the
 * wait for the upstream.
 */
public final class FrontConnection extends AbstractConnection.NonBlocking
    implements Connection.UpgradeFrom, Connection.UpgradeTo {

  private static final byte[] CRLF = {'\r', '\n'};
  private static final byte[] LAST_CHUNK = "0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  private final Factory factory;
  private final Connector connector;
  // The Jetty connection that served the request before this one, or null.
  private final HttpConnection from;
  // Unread bytes, from the start of the request being served (flush mode); null when none.
  private RetainableByteBuffer buffer;
  private String remote;
  // The request being served, from its head's parse until its exchange ends.
  private volatile Served current;
  // The last head parsed on this connection: the next is likely its repeat (FrontHead#again).
  private FrontHead last;
  // Read interest while a request is served: NONE, ARMED (registered, not fired) or FIRED
  // (readable meanwhile, to be read once the exchange ends).
  private final AtomicInteger reads = new AtomicInteger(NONE);
  private static final int NONE = 0;
  private static final int ARMED = 1;
  private static final int FIRED = 2;
  // Whether the thread that read the request is still giving it to the fast path.
  private volatile boolean taking;

  private FrontConnection(
      Factory factory, Connector connector, EndPoint endPoint, HttpConnection from) {
    super(endPoint, connector.getExecutor());
    this.factory = factory;
    this.connector = connector;
    this.from = from;
  }

  /** Makes the guarded port's connections: this kind first, Jetty's behind it. */
  public static final class Factory extends AbstractConnectionFactory {
    private final FastPath fast;
    private final HttpConnectionFactory http;
    private final GuardMetrics metrics;

    public Factory(FastPath fast, HttpConnectionFactory http, GuardMetrics metrics) {
      super("sessionguard-http/1.1");
      this.fast = fast;
      this.http = http;
      this.metrics = metrics;
      setInputBufferSize(http.getInputBufferSize());
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      return configure(new FrontConnection(this, connector, endPoint, null), connector, endPoint);
    }

    /** The connection Jetty's upgrades to once {@code done}'s request has ended. */
    Connection handBack(Connector connector, HttpConnection done) {
      return configure(
          new FrontConnection(this, connector, done.getEndPoint(), done),
          connector,
          done.getEndPoint());
    }

    /**
     * Jetty's own connection, for the bytes handed over on {@code endPoint}.
     *
     * @param declined whether the fast path has seen the request and passed it on
     */
    private Connection jetty(Connector connector, EndPoint endPoint, boolean declined) {
      HttpConnection connection = new OpenInPlace(config(), connector, endPoint, declined);
      connection.setTransferEncodingChunkMaxLength(http.getTransferEncodingChunkMaxLength());
      return configure(connection, connector, endPoint);
    }

    private HttpConfiguration config() {
      return http.getHttpConfiguration();
    }
  }

  /**
   * Jetty's connection, which reads the bytes handed over to it at once, on the thread that hands
   * them over, as it would on the selector that read them. Jetty's own would read them on a pool
   * thread: a hop per request handed over, and a window in which Jetty's error answer (a 431) races
   * the rest of the request and may lose.
   */
  private static final class OpenInPlace extends HttpConnection {
    private final boolean declined;
    private boolean opening;

    OpenInPlace(
        HttpConfiguration config, Connector connector, EndPoint endPoint, boolean declined) {
      super(config, connector, endPoint);
      this.declined = declined;
    }

    @Override
    public void onOpen() {
      opening = true;
      try {
        super.onOpen();
      } finally {
        opening = false;
      }
    }

    @Override
    public Executor getExecutor() {
      if (opening) {
        opening = false; // once: the read that opening starts
        return Runnable::run;
      }
      return super.getExecutor();
    }
  }

  /**
   * Whether the fast path has already seen {@code request} on a front connection and passed it on:
   * then the guard's other handling takes it without asking again. (A connection handed over serves
   * one request, then comes back.)
   */
  static boolean declined(Request request) {
    return request.getConnectionMetaData().getConnection() instanceof OpenInPlace jetty
        && jetty.declined;
  }

  /**
   * Outermost on the guarded port: a request Jetty serves on a connection that came from a {@link
   * FrontConnection} goes back to one when it has ended (Jetty upgrades to the connection named by
   * {@link HttpStream#UPGRADE_CONNECTION_ATTRIBUTE} when it completes a request).
   */
  public static final class HandBack extends Handler.Wrapper {
    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      ConnectionMetaData meta = request.getConnectionMetaData();
      // Not after an Expect: 100-continue, whose unread body only Jetty knows to skip or close on.
      if (meta.getConnection() instanceof HttpConnection http
          && meta.getHttpVersion() == HttpVersion.HTTP_1_1
          && !request.getHeaders().contains(HttpHeader.EXPECT)) {
        Factory front = meta.getConnector().getConnectionFactory(Factory.class);
        if (front != null) {
          request.setAttribute(
              HttpStream.UPGRADE_CONNECTION_ATTRIBUTE, front.handBack(meta.getConnector(), http));
        }
      }
      return super.handle(request, response, callback);
    }
  }

  @Override
  public void onUpgradeTo(ByteBuffer unread) {
    buffer = acquire(unread.remaining());
    BufferUtil.append(buffer.getByteBuffer(), unread);
  }

  @Override
  public void onOpen() {
    super.onOpen();
    if (from != null && !(from.getGenerator().isPersistent() && !from.getParser().isClosed())) {
      // Jetty's answer closes the connection (it left that to the connection it upgrades to);
      // otherwise Jetty would read on from here, as this connection does.
      getEndPoint().shutdownOutput();
    }
    if (buffer != null && buffer.hasRemaining()) {
      getExecutor().execute(this::process);
    } else {
      fillInterested();
    }
  }

  @Override
  public void onFillable() {
    if (reads.compareAndSet(ARMED, FIRED)) {
      return; // a request is being served: what came is read once its answer is written
    }
    process();
  }

  @Override
  public void onFillInterestedFailed(Throwable cause) {
    if (reads.compareAndSet(ARMED, FIRED)) {
      // Armed while serving, and failed (a stuck write timed out, or the endpoint closed): the
      // exchange fails with its write; Jetty's handling would read on meanwhile.
      getEndPoint().close(cause);
      return;
    }
    super.onFillInterestedFailed(cause);
  }

  @Override
  public boolean onIdleExpired(TimeoutException timeout) {
    Served served = current;
    // Idle, or a request arriving too slowly: closed. Serving: only a stuck write fails.
    return served == null || served.writing;
  }

  @Override
  public ByteBuffer onUpgradeFrom() {
    ByteBuffer unread = null;
    if (buffer != null) {
      ByteBuffer bytes = buffer.getByteBuffer();
      if (bytes.hasRemaining()) {
        unread = ByteBuffer.allocate(bytes.remaining());
        unread.put(bytes).flip();
      }
      releaseBuffer();
    }
    return unread;
  }

  /** Reads and serves requests until one is being served, more bytes are awaited, or it closed. */
  private void process() {
    try {
      while (true) {
        EndPoint endPoint = getEndPoint();
        if (!endPoint.isOpen()) {
          releaseBuffer();
          return;
        }
        // The answer said close: read until the client closes too, dropping what it sends, so
        // that nothing left unread makes the close a reset.
        boolean draining = endPoint.isOutputShutdown();
        if (!draining && buffer != null && buffer.hasRemaining() && serveNext()) {
          return;
        }
        if (buffer == null) {
          buffer = acquire(0);
        }
        ByteBuffer bytes = buffer.getByteBuffer();
        if (draining) {
          BufferUtil.clear(bytes);
        } else if (bytes.remaining() >= capacity()) {
          handOver(); // a request larger than this connection serves
          return;
        }
        int filled = endPoint.fill(bytes);
        if (filled == 0) {
          if (!buffer.hasRemaining()) {
            releaseBuffer();
          }
          fillInterested();
          return;
        }
        if (filled < 0) {
          releaseBuffer();
          endPoint.close();
          return;
        }
      }
    } catch (Throwable x) {
      releaseBuffer();
      getEndPoint().close(x);
    }
  }

  /**
   * Serves the request the buffer starts with: true when it went to the fast path or to Jetty,
   * false when more bytes are needed.
   */
  private boolean serveNext() {
    ByteBuffer bytes = buffer.getByteBuffer();
    byte[] request = bytes.array(); // a heap buffer: parsed where it was read
    int from = bytes.arrayOffset() + bytes.position();
    int to = from + bytes.remaining();
    // Jetty's limit counts the head's bytes up to its last line; past it and a few more, Jetty
    // would answer 431 too, and then lose the answer to a body that arrives later.
    int allowed = factory.config().getRequestHeaderSize();
    boolean judged = allowed + 4 <= capacity();
    int maxHead = judged ? allowed + 4 : capacity();
    FrontHead head = last == null ? null : last.again(request, from, to, maxHead);
    if (head == null) {
      head = FrontHead.parse(request, from, to, maxHead);
      if (head.repeat() != null) {
        last = head;
      }
    }
    if (head == FrontHead.MORE) {
      return false;
    }
    if (head == FrontHead.LONG && judged) {
      headersTooLarge();
      return true;
    }
    if (head == FrontHead.NOT_MINE) {
      int whole = FrontHead.declaredEnd(request, from, to);
      if (whole > to - from && whole <= capacity()) {
        return false; // Jetty gets it whole, as it would have read it
      }
    }
    if (head == FrontHead.NOT_MINE
        || head == FrontHead.LONG
        || head.size() > allowed
        || head.size() + head.length() > capacity()) {
      handOver();
      return true;
    }
    if (to - from < head.size() + head.length()) {
      return false;
    }
    byte[] body =
        Arrays.copyOfRange(request, from + head.size(), from + head.size() + head.length());
    Served served = new Served(head, to - from == head.size() + head.length());
    current = served;
    taking = true;
    try {
      factory.fast.take(served, "POST", head.path(), body);
    } finally {
      taking = false;
    }
    return true;
  }

  /** Gives the connection, with every unread byte from the current request on, to Jetty's. */
  private void handOver() {
    handOver(false);
  }

  /** {@link #handOver()}; {@code declined} when the fast path saw the request and passed it on. */
  private void handOver(boolean declined) {
    current = null;
    getEndPoint().upgrade(factory.jetty(connector, getEndPoint(), declined));
  }

  /**
   * Headers over the limit: 431 with the guard's JSON-RPC error, as Jetty's error handler answers
   * it, then the connection closes once the client has sent what it would.
   */
  private void headersTooLarge() {
    RefusalLog.refused(
        factory.metrics, Refusal.TOO_LARGE, HttpStatus.REQUEST_HEADER_FIELDS_TOO_LARGE_431);
    releaseBuffer();
    Served refusal = new Served(null, false);
    refusal.status(HttpStatus.REQUEST_HEADER_FIELDS_TOO_LARGE_431);
    refusal.failing = true; // Connection: close
    refusal.answerHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    refusal.write(
        true,
        ByteBuffer.wrap(GuardError.HEADERS_TOO_LARGE.body(null, Refusal.TOO_LARGE)),
        Callback.from(
            () -> {
              getEndPoint().shutdownOutput();
              process(); // reads and drops the rest, until the client closes
            },
            x -> getEndPoint().close(x)));
  }

  private int capacity() {
    return getInputBufferSize();
  }

  /**
   * A buffer as large as Jetty's connection asks for, so that whatever is handed over fits Jetty's
   * request buffer. On the heap: the request is parsed in its array (a socket read into it copies
   * through a direct buffer of the JDK's, as a direct one would have to be copied out here).
   */
  private RetainableByteBuffer acquire(int atLeast) {
    return connector.getByteBufferPool().acquire(Math.max(capacity(), atLeast), false);
  }

  private void releaseBuffer() {
    if (buffer != null) {
      buffer.release();
      buffer = null;
    }
  }

  private String remoteAddr() {
    String address = remote;
    if (address == null) {
      address =
          getEndPoint().getRemoteSocketAddress() instanceof java.net.InetSocketAddress inet
              ? Request.getHostName(inet)
              : String.valueOf(getEndPoint().getRemoteSocketAddress());
      remote = address;
    }
    return address;
  }

  /** One request the fast path was given, and its answer. */
  private final class Served implements FastPath.Peer {
    private final FrontHead head;
    // Nothing was sent after this request: the connection may stay interested in reading.
    private final boolean alone;
    private int status = 200;
    private HttpFields.Mutable answer;
    private boolean committed;
    private boolean chunked;
    private boolean close;
    private boolean failing;
    private long written;
    private volatile boolean writing;

    Served(FrontHead head, boolean alone) {
      this.head = head;
      this.alone = alone;
    }

    @Override
    public HttpFields headers() {
      return head.headers();
    }

    @Override
    public String remoteAddr() {
      return FrontConnection.this.remoteAddr();
    }

    @Override
    public String pathQuery() {
      return head.pathQuery();
    }

    @Override
    public String scheme() {
      return "http";
    }

    @Override
    public FrontHead.Repeat repeat() {
      return head.repeat();
    }

    @Override
    public void holdOpen() {
      // The connection's idle handling knows an exchange runs. The fast path has committed to
      // this request (it is not handed on after this): stay interested in reading, unless the
      // answer will close the connection or bytes sent ahead wait in the buffer. Only on the
      // thread that read the request: from another (the reply of a Redis lookup) the interest
      // would have to wake the selector, a context switch per request instead of two calls.
      if (taking && alone && !head.close() && reads.compareAndSet(NONE, ARMED)) {
        fillInterested();
      }
    }

    @Override
    public void status(int code) {
      status = code;
    }

    @Override
    public HttpFields.Mutable answerHeaders() {
      if (answer == null) {
        answer = HttpFields.build();
        if (factory.config().getSendDateHeader()) {
          answer.put(connector.getServer().getDateField());
        }
      }
      return answer;
    }

    @Override
    public void write(boolean last, ByteBuffer bytes, Callback done) {
      int n = bytes.remaining();
      written += n;
      ByteBuffer[] out;
      if (!committed) {
        committed = true;
        boolean small = n <= Forwarder.INLINE_BODY;
        HeadBytes head = head(last, n, small ? n : 0);
        if (small && !chunked) {
          // A whole small answer, as it nearly always is: head and body in one buffer (the JDK
          // copies each heap buffer it writes into a temporary direct one).
          out = new ByteBuffer[] {head.bytes(bytes).buffer()};
        } else {
          out =
              chunked ? chunk(head.buffer(), bytes, last) : new ByteBuffer[] {head.buffer(), bytes};
        }
      } else {
        out = chunked ? chunk(null, bytes, last) : new ByteBuffer[] {bytes};
      }
      writing = true;
      getEndPoint()
          .write(
              Callback.from(
                  InvocationType.NON_BLOCKING,
                  () -> {
                    writing = false;
                    done.succeeded();
                  },
                  x -> {
                    writing = false;
                    done.failed(x);
                  }),
              out);
    }

    /** A piece of a chunked answer, after {@code head} unless null; the last chunk if last. */
    private static ByteBuffer[] chunk(ByteBuffer head, ByteBuffer bytes, boolean last) {
      List<ByteBuffer> out = new ArrayList<>(5);
      if (head != null) {
        out.add(head);
      }
      int n = bytes.remaining();
      if (n > 0) {
        out.add(
            ByteBuffer.wrap((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII)));
        out.add(bytes);
        out.add(ByteBuffer.wrap(CRLF));
      }
      if (last) {
        out.add(ByteBuffer.wrap(LAST_CHUNK));
      }
      return out.toArray(ByteBuffer[]::new);
    }

    /**
     * The status line and headers, framing the body as Jetty's generator would, with room for
     * {@code room} more bytes after them.
     */
    private HeadBytes head(boolean last, int n, int room) {
      HttpFields fields = answer == null ? answerHeaders() : answer;
      HeadBytes out = new HeadBytes(256 + room);
      out.ascii("HTTP/1.1 ").number(status).ascii(" ").ascii(HttpStatus.getMessage(status)).crlf();
      for (HttpField field : fields) {
        out.field(field.getName(), field.getValue());
      }
      if (!HttpStatus.hasNoBody(status) && !fields.contains(HttpHeader.CONTENT_LENGTH)) {
        if (last) {
          out.ascii("Content-Length: ").number(n).crlf();
        } else {
          chunked = true;
          out.ascii("Transfer-Encoding: chunked").crlf();
        }
      }
      close = failing || head == null || head.close() || connector.isShutdown();
      if (close) {
        out.ascii("Connection: close").crlf();
      }
      return out.crlf();
    }

    @Override
    public long contentWritten() {
      return written;
    }

    @Override
    public void succeeded(boolean inPlace) {
      current = null;
      // The buffer and the output first: once the read interest is taken back below, a read
      // firing now may run process() on the selector's thread, and it must find them settled.
      ByteBuffer bytes = buffer.getByteBuffer();
      bytes.position(bytes.position() + head.size() + head.length());
      boolean sentAhead = bytes.hasRemaining();
      if (close) {
        getEndPoint().shutdownOutput();
      } else if (!sentAhead) {
        releaseBuffer();
      }
      // ARMED: still registered, or firing now (onFillable then finds NONE and reads).
      int meanwhile = reads.getAndSet(NONE);
      if (close) {
        if (meanwhile == ARMED) {
          return; // the registered read drains what the client still sends
        }
      } else if (!sentAhead) {
        // Nothing sent ahead: the client sends its next request once it has read this answer,
        // so a read now would find nothing. Wait for it without trying.
        if (meanwhile == NONE) {
          fillInterested();
        }
        if (meanwhile != FIRED) {
          return;
        }
      }
      if (inPlace) {
        process();
      } else {
        getExecutor().execute(FrontConnection.this::process);
      }
    }

    @Override
    public void failed(Throwable cause) {
      current = null;
      releaseBuffer();
      if (committed) {
        getEndPoint().close(cause); // the client must see the answer cut
        return;
      }
      // Nothing sent yet: an error answer, as Jetty's error handler writes it, and then close.
      status = HttpStatus.INTERNAL_SERVER_ERROR_500;
      failing = true;
      answer = null;
      answerHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
      write(
          true,
          ByteBuffer.wrap(JettyGuards.JsonRpcErrorHandler.body(status)),
          Callback.from(() -> getEndPoint().close(), x -> getEndPoint().close(x)));
    }

    @Override
    public void elsewhere() {
      handOver(true);
    }
  }
}
