package dev.sessionguard.guard.proxy;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.ClientConnectionFactory;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.CyclicTimeout;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.RetainableByteBuffer;
import org.eclipse.jetty.io.Transport;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Invocable;

/**
 * The fast path's own keep-alive connections to the upstream: the request, already framed, is
 * written on the connection's end point, and the answer is parsed with Jetty's {@link HttpParser}
 * and handed on piece by piece as it is parsed, each piece written to the client before the next is
 * read (back-pressure). Jetty's HTTP client, which serves everything else (streams, session ends,
 * other paths), spends most of a request's CPU on per-exchange machinery a relay of one request on
 * a kept-alive connection does not need; these connections run on the same selectors, opened by the
 * same {@link ClientConnector}.
 *
 * <p>Idle connections wait in a last-in-first-out pool, one pool per upstream address; an idle
 * connection that becomes readable (the upstream closed it) or stays idle for the connector's idle
 * timeout is closed and leaves the pool. A busy one has no idle timeout: the first-byte timeout
 * bounds the wait for the answer's headers, and a quiet SSE answer is not a dead one. Like Jetty's
 * client, a request is not retried: a connection the upstream closes just as it is reused fails
 * that request.
 */
final class UpstreamLinks {
  /** Where an answer goes. Calls come one at a time, never concurrently. */
  interface Answer {
    /**
     * The final status and headers (interim 1xx answers are passed over). Nothing more comes until
     * {@code proceed} completes; failing it gives up the exchange.
     */
    void headers(int status, HttpFields headers, Callback proceed);

    /**
     * A piece of the body, {@code last} for the last one (which may be empty). The bytes are valid
     * until {@code written} completes, and nothing more comes until then; failing it (the client
     * went away) gives up the exchange, and {@link #failed} follows with that failure.
     */
    void content(ByteBuffer bytes, boolean last, Callback written);

    /**
     * The answer ended. Its connection is back in the pool already, unless it waits for the
     * request's write to end first or may not be reused.
     */
    void completed();

    /**
     * The exchange failed: no connection, a connection lost or cut, a malformed answer, no headers
     * within the first-byte timeout, or given up (a callback failed). Nothing follows; not called
     * after {@link #completed}. Once {@link #headers} was called, it comes from the answer's own
     * processing, after the callback last handed on has completed, like any other call (or from a
     * thread that closes the connection, as when the guard stops).
     */
    void failed(Throwable cause);
  }

  private static final int BUFFER = 16 * 1024;

  // The most of an answer's first bytes AnswerHead looks at; a longer head is Jetty's parser's.
  private static final int MAX_PLAIN_HEAD = 4096;

  // An upstream's answer headers as large as a client's request headers may be.
  static final int MAX_RESPONSE_HEADERS = 64 * 1024;

  private static final Object CLOSED = new Object();

  private static final int TRY = 0;
  private static final int COUNT = 1;
  private static final int PARSE = 2;

  private final ClientConnector connector;
  private volatile Pool pool = new Pool("", -1);

  UpstreamLinks(ClientConnector connector) {
    this.connector = connector;
  }

  /**
   * A framed request ({@code head} and {@code body}, which may be empty when the head's buffer
   * holds it) whose answer goes to {@code answer}.
   */
  static Call call(ByteBuffer head, ByteBuffer body, Answer answer) {
    return new Call(head, body, answer, null, 0);
  }

  /**
   * {@link #call(ByteBuffer, ByteBuffer, Answer)}, failed with {@link
   * UpstreamResponse.FirstByteTimeout} (its connection closed) unless the answer's headers arrive
   * within {@code firstByte} of {@code started} ({@link System#nanoTime}).
   */
  static Call call(
      ByteBuffer head, ByteBuffer body, Answer answer, Duration firstByte, long started) {
    return new Call(head, body, answer, firstByte, started + firstByte.toNanos());
  }

  /** Sends {@code call} to {@code host:port} on an idle connection, or on a new one. */
  void send(String host, int port, Call call) {
    Pool to = pool(host, port);
    Link link;
    while ((link = to.idle.pollFirst()) != null) {
      if (link.take(call)) {
        link.send(call);
        return;
      }
    }
    // Resolving the host may block: not on the thread that called (often a selector).
    connector.getExecutor().execute(() -> connect(to, call));
  }

  /** Connections waiting idle in the pool (for tests and diagnostics). */
  int idle() {
    return pool.idle.size();
  }

  private Pool pool(String host, int port) {
    Pool current = pool;
    if (current.port == port && current.host.equals(host)) {
      return current;
    }
    synchronized (this) {
      current = pool;
      if (current.port != port || !current.host.equals(host)) {
        Pool old = current;
        current = new Pool(host, port);
        pool = current;
        // The upstream moved (a new policy): the old one's idle connections are not used again.
        Link link;
        while ((link = old.idle.pollFirst()) != null) {
          link.closeIdle();
        }
      }
      return current;
    }
  }

  private void connect(Pool to, Call call) {
    Map<String, Object> context = new HashMap<>();
    context.put(Transport.CONTEXT_KEY, Transport.TCP_IP);
    context.put(
        ClientConnectionFactory.CONTEXT_KEY,
        (ClientConnectionFactory) (endPoint, ctx) -> new Link(to, endPoint, call));
    context.put(
        ClientConnector.CONNECTION_PROMISE_CONTEXT_KEY,
        Promise.<Connection>from(connection -> ((Link) connection).send(call), call::fail));
    try {
      connector.connect(new InetSocketAddress(to.host, to.port), context);
    } catch (RuntimeException x) { // e.g. an unresolved host
      call.fail(x);
    }
  }

  /** The idle connections to one upstream address. */
  private record Pool(String host, int port, Deque<Link> idle) {
    Pool(String host, int port) {
      this(host, port, new ConcurrentLinkedDeque<>());
    }
  }

  /** One request's claim on a connection. */
  static final class Call {
    private final ByteBuffer head;
    private final ByteBuffer body;
    private final Answer answer;
    private final Duration firstByte; // null: no deadline
    private final long deadline;
    private final AtomicBoolean over = new AtomicBoolean();
    // Set once, by whichever comes first: the answer's headers handed on, or a failure from
    // another thread (the first-byte timer, the request's write) before them. After the headers
    // only the thread processing the answer ends it, so the answer's calls never overlap.
    private final AtomicBoolean decided = new AtomicBoolean();

    private Call(
        ByteBuffer head, ByteBuffer body, Answer answer, Duration firstByte, long deadline) {
      this.head = head;
      this.body = body;
      this.answer = answer;
      this.firstByte = firstByte;
      this.deadline = deadline;
    }

    private void fail(Throwable cause) {
      if (over.compareAndSet(false, true)) {
        answer.failed(cause);
      }
    }

    private void complete() {
      if (over.compareAndSet(false, true)) {
        answer.completed();
      }
    }
  }

  /**
   * One connection to the upstream. Its state is null while idle in the pool, the {@link Call} it
   * serves while busy, or {@link #CLOSED}. Its answer is processed by one thread at a time: the one
   * the selector calls when bytes arrive, or the one that completes a callback it waits for. The
   * parser's events are noted and handed on once the parser has returned, so a callback that
   * completes on another thread never meets the parser mid-step.
   */
  private final class Link extends AbstractConnection.NonBlocking
      implements HttpParser.ResponseHandler {
    private final Pool pool;
    private final AtomicReference<Object> state;
    private final HttpParser parser;
    private final Resume resume = new Resume();
    // The first-byte deadline of the call it serves: one timer per connection, re-armed per call
    // without a scheduler task of its own (an earlier wake-up re-schedules itself).
    private final CyclicTimeout firstByte;
    // The answer being parsed, on the processing thread.
    private RetainableByteBuffer buffer;
    private int status;
    private HttpVersion version;
    private HttpFields.Mutable fields;
    private boolean keepAlive;
    private boolean headersDue;
    private ByteBuffer contentDue;
    private boolean lastDue;
    private boolean lastHandedOn;
    private boolean interim;
    private boolean ended;
    // The request's write failed once the answer had begun: the answer is read on, to its end or
    // its failure, and the connection is not reused.
    private volatile boolean requestFailed;
    // How the answer is read: TRY its head as a plain one (AnswerHead), COUNT the plain answer's
    // body (remaining bytes of it), or PARSE it all with Jetty's parser.
    private int mode = TRY;
    private int remaining;
    private Throwable broken;
    // The parts of an exchange still running: the request's write and the answer. The connection
    // goes back to the pool when both have ended, whichever ends last (the write's callback may
    // run after the answer, or an upstream may answer before it has read the whole body).
    private final AtomicInteger parts = new AtomicInteger();

    Link(Pool pool, EndPoint endPoint, Call first) {
      super(endPoint, connector.getExecutor());
      this.pool = pool;
      this.state = new AtomicReference<>(first);
      parts.set(2); // before an answer can be read, even one sent before the request
      this.firstByte =
          new CyclicTimeout(connector.getScheduler()) {
            @Override
            public void onTimeoutExpired() {
              if (state.get() instanceof Call call
                  && call.firstByte != null
                  && call.decided.compareAndSet(false, true)) {
                fail(call, new UpstreamResponse.FirstByteTimeout(call.firstByte));
              }
            }
          };
      this.parser = new HttpParser(this, MAX_RESPONSE_HEADERS, HttpCompliance.RFC9110);
      parser.setHeaderCacheSize(JettyGuards.HEADER_CACHE);
    }

    @Override
    public void onOpen() {
      super.onOpen();
      fillInterested();
    }

    /** From the pool: serves {@code call} unless the connection closed meanwhile. */
    boolean take(Call call) {
      parts.set(2); // only the taker touches it while the connection is idle
      requestFailed = false;
      return state.compareAndSet(null, call);
    }

    /** Writes the call's request; the answer arrives through the read interest it already has. */
    void send(Call call) {
      if (call.firstByte != null) {
        firstByte.schedule(call.deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
      }
      Callback written =
          Callback.from(
              Invocable.InvocationType.NON_BLOCKING,
              () -> partEnded(call),
              // Once the answer is being relayed, its processing ends it: its end or the
              // connection's failure; the connection is then not reused.
              x -> {
                if (call.decided.compareAndSet(false, true)) {
                  fail(call, x);
                } else if (!requestFailed) {
                  requestFailed = true;
                  if (call.over.get() && state.compareAndSet(call, CLOSED)) {
                    getEndPoint().close(x); // the answer has ended: nothing else would close it
                  }
                }
              });
      getEndPoint().write(written, call.head, call.body); // an empty body is skipped
    }

    /** Closes it if it is idle (its upstream moved). */
    void closeIdle() {
      if (state.compareAndSet(null, CLOSED)) {
        getEndPoint().close();
      }
    }

    private void fail(Call call, Throwable cause) {
      if (state.compareAndSet(call, CLOSED)) {
        getEndPoint().close(cause);
      }
      call.fail(cause);
    }

    @Override
    public void onClose(Throwable cause) {
      super.onClose(cause);
      firstByte.destroy();
      Object was = state.getAndSet(CLOSED);
      pool.idle.remove(this);
      if (was instanceof Call call) {
        call.fail(cause != null ? cause : new EOFException("upstream connection closed"));
      }
    }

    @Override
    public boolean onIdleExpired(TimeoutException timeout) {
      // An idle connection expires, and one whose answer has ended but whose request the upstream
      // never took; a busy one may be relaying a quiet SSE answer. It is closed here, whole:
      // Jetty's own handling would only shut its output and wait.
      Object now = state.get();
      if ((now == null || (now instanceof Call call && call.over.get()))
          && state.compareAndSet(now, CLOSED)) {
        getEndPoint().close(timeout);
      }
      return false;
    }

    @Override
    public void onFillable() {
      if (state.get() == null && state.compareAndSet(null, CLOSED)) {
        // Readable while idle: the upstream closed it, or sent what nobody asked for.
        getEndPoint().close();
        return;
      }
      if (state.get() instanceof Call call) {
        process(call);
      } else {
        getEndPoint().close(); // closed already: nothing may stay half-open
      }
    }

    /** Reads and parses the answer until it ends, more bytes are needed, or a callback waits. */
    private void process(Call call) {
      try {
        while (state.get() == call) {
          if (buffer == null) {
            // Not direct: AnswerHead reads the buffer's array.
            buffer = connector.getByteBufferPool().acquire(BUFFER, false);
          }
          ByteBuffer bytes = buffer.getByteBuffer();
          if (parse(call, bytes)) {
            return;
          }
          BufferUtil.clear(bytes); // the parser took it all
          int filled = getEndPoint().fill(bytes);
          if (filled > 0) {
            continue;
          }
          if (filled == 0) {
            releaseBuffer();
            fillInterested();
            return;
          }
          if (requestFailed) { // the close may be the failure's, not the answer's end
            failed(call, new EOFException("upstream closed the connection it failed to read"));
            return;
          }
          parser.atEOF(); // ends an answer delimited by the connection's close, else fails it
          keepAlive = false;
          if (!parse(call, bytes)) {
            failed(
                call, new EOFException("upstream closed the connection before the answer ended"));
          }
          return;
        }
        releaseBuffer(); // failed or given up meanwhile
      } catch (Throwable x) {
        failed(call, x);
      }
    }

    /**
     * Parses what the buffer holds and hands on what it found. True when processing stops here: the
     * answer ended (the connection is back in the pool, or closed), failed, or waits for a
     * callback, whose completion processes on.
     */
    private boolean parse(Call call, ByteBuffer bytes) {
      while (true) {
        boolean event;
        if (mode == TRY && bytes.hasRemaining() && plainHead(bytes)) {
          event = true;
        } else if (mode == COUNT) {
          event = plainContent(bytes);
        } else if (mode == TRY) {
          event = false; // no bytes yet
        } else {
          try {
            event = parser.parseNext(bytes);
          } catch (Throwable x) { // the parser's own checks, on bytes it cannot make sense of
            broken = new IOException("bad answer from the upstream", x);
            event = true;
          }
        }
        if (state.get() != call) {
          releaseBuffer();
          return true;
        }
        if (broken != null) {
          Throwable cause = broken;
          broken = null;
          return failed(call, cause);
        }
        if (interim) { // a 1xx before the answer: parse on
          interim = false;
          parser.reset();
          continue;
        }
        if (headersDue) {
          headersDue = false;
          if (!call.decided.compareAndSet(false, true)) {
            releaseBuffer(); // failed from another thread just before: it ends the call
            return true;
          }
          firstByte.cancel();
          call.answer.headers(status, fields, resume.arm());
          if (stopped(call)) {
            return true;
          }
        } else if (contentDue != null) {
          ByteBuffer piece = contentDue;
          contentDue = null;
          lastHandedOn = lastDue;
          call.answer.content(piece, lastDue, resume.arm());
          if (stopped(call)) {
            return true;
          }
        } else if (ended) {
          if (!lastHandedOn) {
            lastHandedOn = true;
            call.answer.content(BufferUtil.EMPTY_BUFFER, true, resume.arm());
            if (stopped(call)) {
              return true;
            }
          }
          end(call, bytes);
          return true;
        } else if (!event) {
          return false;
        }
      }
    }

    /**
     * Takes the answer's head at the start of the buffer if it is a plain one, whole ({@link
     * AnswerHead}): true with its status and headers due; otherwise false, and Jetty's parser reads
     * the answer from the same bytes.
     */
    private boolean plainHead(ByteBuffer bytes) {
      int from = bytes.arrayOffset() + bytes.position(); // a heap buffer: parsed where it lies
      AnswerHead head =
          AnswerHead.parse(bytes.array(), from, from + Math.min(bytes.remaining(), MAX_PLAIN_HEAD));
      if (head == AnswerHead.NOT_MINE) {
        mode = PARSE;
        return false;
      }
      bytes.position(bytes.position() + head.size());
      mode = COUNT;
      remaining = head.length();
      status = head.status();
      fields = head.headers();
      keepAlive = head.keepAlive();
      headersDue = true;
      return true;
    }

    /** The plain answer's next piece of body, or its end: false when more bytes are needed. */
    private boolean plainContent(ByteBuffer bytes) {
      if (remaining == 0) {
        ended = true;
        return true;
      }
      int n = Math.min(remaining, bytes.remaining());
      if (n == 0) {
        return false;
      }
      contentDue = bytes.slice(bytes.position(), n);
      bytes.position(bytes.position() + n);
      remaining -= n;
      lastDue = remaining == 0;
      return true;
    }

    /** After handing a callback on: true when processing stops (it waits, or it failed). */
    private boolean stopped(Call call) {
      if (resume.waiting()) {
        return true;
      }
      Throwable cause = resume.takeFailure();
      return cause != null && failed(call, cause);
    }

    /** Fails the call and gives the buffer back (unless a callback still holds it). */
    private boolean failed(Call call, Throwable cause) {
      fail(call, cause);
      releaseBuffer();
      return true;
    }

    /** The answer ended and was handed on whole: reuse the connection if it may be. */
    private void end(Call call, ByteBuffer bytes) {
      boolean reusable = keepAlive && !bytes.hasRemaining() && !requestFailed;
      releaseBuffer();
      parser.reset();
      mode = TRY;
      fields = null;
      ended = false;
      lastHandedOn = false;
      if (!reusable) {
        call.complete(); // first: closing fails a pending write, which must not fail the call
        if (state.compareAndSet(call, CLOSED)) {
          getEndPoint().close(); // the answer said so, or bytes nobody asked for followed it
        }
        return;
      }
      partEnded(call); // back in the pool before the exchange ends: its next request takes it
      call.complete();
    }

    /** One part of the exchange ended; after both, the connection goes back to the pool. */
    private void partEnded(Call call) {
      if (parts.decrementAndGet() == 0 && state.compareAndSet(call, null)) {
        fillInterested();
        pool.idle.offerFirst(this);
      }
    }

    private void releaseBuffer() {
      if (buffer != null && !resume.waiting()) {
        buffer.release();
        buffer = null;
      }
    }

    @Override
    public void startResponse(HttpVersion version, int status, String reason) {
      this.version = version;
      this.status = status;
      this.fields = HttpFields.build();
    }

    @Override
    public void parsedHeader(HttpField field) {
      fields.add(field);
    }

    @Override
    public boolean headerComplete() {
      if (status == 101) {
        broken = new IOException("the upstream switched protocols unasked");
        return true;
      }
      if (status < 200) {
        return false; // its end comes next, see messageComplete
      }
      keepAlive =
          version == HttpVersion.HTTP_1_1
              ? !fields.contains(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString())
              : fields.contains(HttpHeader.CONNECTION, HttpHeaderValue.KEEP_ALIVE.asString());
      headersDue = true;
      return true;
    }

    @Override
    public boolean content(ByteBuffer item) {
      long length = parser.getContentLength();
      contentDue = item;
      lastDue = length >= 0 && parser.getContentRead() >= length;
      return true;
    }

    @Override
    public boolean contentComplete() {
      return false;
    }

    @Override
    public boolean messageComplete() {
      if (status < 200) {
        interim = true;
      } else {
        ended = true;
      }
      return true;
    }

    @Override
    public void earlyEOF() {
      broken = new EOFException("upstream closed the connection before the answer ended");
    }

    @Override
    public void badMessage(HttpException failure) {
      broken = new IOException("bad answer from the upstream: " + failure.getReason());
    }

    /**
     * The callback handed on with each event. Completed at once (the common case) the processing
     * thread goes on; completed later, the completing thread takes over the processing.
     */
    private final class Resume implements Callback {
      private static final int IDLE = 0;
      private static final int ARMED = 1;
      private static final int WAITING = 2;
      private final AtomicInteger phase = new AtomicInteger(IDLE);
      private Throwable failure; // written before the phase moves, read after

      Callback arm() {
        phase.set(ARMED);
        return this;
      }

      /** True when the processing thread must stop: the callback has not completed yet. */
      boolean waiting() {
        return phase.get() == WAITING || phase.compareAndSet(ARMED, WAITING);
      }

      Throwable takeFailure() {
        Throwable cause = failure;
        failure = null;
        return cause;
      }

      @Override
      public void succeeded() {
        if (phase.getAndSet(IDLE) == WAITING) {
          if (state.get() instanceof Call call) {
            process(call);
          } else {
            releaseBuffer();
          }
        }
      }

      @Override
      public void failed(Throwable cause) {
        failure = cause;
        if (phase.getAndSet(IDLE) == WAITING) {
          takeFailure();
          if (state.get() instanceof Call call) {
            fail(call, cause);
          }
          releaseBuffer();
        }
      }

      @Override
      public InvocationType getInvocationType() {
        return InvocationType.NON_BLOCKING;
      }
    }
  }
}
