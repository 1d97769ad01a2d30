package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.InFlightLimits;
import dev.sessionguard.guard.admission.Session;
import dev.sessionguard.guard.admission.SessionIds;
import dev.sessionguard.guard.admission.SessionRegistry;
import dev.sessionguard.guard.admission.ThreadBudget;
import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.guard.identity.Client;
import dev.sessionguard.guard.identity.Identification;
import dev.sessionguard.guard.identity.Identities;
import dev.sessionguard.guard.identity.RequestFacts;
import dev.sessionguard.guard.lifecycle.Drain;
import dev.sessionguard.guard.metrics.GuardMetrics.Era;
import dev.sessionguard.policy.SessionPolicySpec.Mode;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hot path: a JSON-RPC POST on a live session (or, in the 2026-07-28 era, any JSON-RPC POST but
 * a listen), served without a thread hand-off. It runs where Jetty reads the request (the
 * selector), sends upstream without waiting and relays the answer as it arrives, so a request costs
 * no thread wake-ups of its own. It takes the request only when every check lets it through without
 * blocking (a client named without waiting — by address, trusted header, or a bearer token verified
 * lately; enforcing; not draining; a valid session id; a live session owned by the client, found in
 * memory or with one asynchronous Redis lookup; headers that agree with the body; room in the
 * in-flight caps; not {@code initialize}); anything else — a refusal, a request that creates or
 * adopts a session, GET, DELETE, Redis unreachable, a token to verify — goes on, with its body, to
 * {@link McpEndpoint} on a thread of its own, which decides exactly as it always does. The answers
 * are the same either way.
 */
public final class FastPath extends Handler.Wrapper {
  private static final Logger log = LoggerFactory.getLogger(FastPath.class);

  private final ActivePolicy policy;
  private final McpEndpoint mcp;
  private final SessionRegistry sessions;
  private final InFlightLimits requests;
  private final ThreadBudget threads;
  private final Identities identities;
  private final Forwarder forwarder;
  private final Drain drain;
  private final Executor blocking;

  /**
   * @param blocking where requests the fast path does not take are handled (they may block)
   */
  public FastPath(
      ActivePolicy policy,
      McpEndpoint mcp,
      SessionRegistry sessions,
      InFlightLimits requests,
      ThreadBudget threads,
      Identities identities,
      Forwarder forwarder,
      Drain drain,
      Executor blocking) {
    this.policy = policy;
    this.mcp = mcp;
    this.sessions = sessions;
    this.requests = requests;
    this.threads = threads;
    this.identities = identities;
    this.forwarder = forwarder;
    this.drain = drain;
    this.blocking = blocking;
  }

  /** Never blocks: Jetty may call it on the thread that read the request. */
  @Override
  public InvocationType getInvocationType() {
    return InvocationType.NON_BLOCKING;
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    GuardConfig cfg = policy.get();
    HttpFields headers = request.getHeaders();
    Era era = Classification.eraOf(headers.get("MCP-Protocol-Version"));
    if (FrontConnection.declined(request)
        || McpEndpoint.repeatedHeader(headers, McpEndpoint.identityHeader(cfg))
            != null // the endpoint refuses it
        || !candidate(
            cfg,
            era,
            request.getMethod(),
            Request.getPathInContext(request),
            headers,
            request.getLength())) {
      return elsewhere(request, response, callback);
    }
    Content.Source.asByteArrayAsync(
        request,
        (int) request.getLength(),
        Promise.Invocable.from(
            InvocationType.NON_BLOCKING,
            body -> serve(cfg, era, new JettyPeer(request, response, callback, body), body),
            callback::failed));
    return true;
  }

  /**
   * Serves a request a {@link FrontConnection} read whole, or passes it back to it.
   *
   * @param path the request's path as it was sent (not decoded: it matches the MCP path only if it
   *     is exactly that)
   */
  void take(Peer peer, String method, String path, byte[] body) {
    GuardConfig cfg = policy.get();
    HttpFields headers = peer.headers();
    Era era = Classification.eraOf(headers.get("MCP-Protocol-Version"));
    String identityHeader = McpEndpoint.identityHeader(cfg);
    // (a repeated Mcp- header made the head not the front connection's already)
    if (candidate(cfg, era, method, path, headers, body.length)
        && (identityHeader == null || !McpEndpoint.repeats(headers, identityHeader))) {
      serve(cfg, era, peer, body);
    } else {
      peer.elsewhere();
    }
  }

  /** What can be known before reading the body: could this be the hot path's? */
  private boolean candidate(
      GuardConfig cfg, Era era, String method, String path, HttpFields headers, long length) {
    if (!"POST".equals(method) || cfg.policy().mode() == Mode.DryRun || drain.refusingNewWork()) {
      return false;
    }
    String sessionId = headers.get("Mcp-Session-Id");
    String origin = headers.get(HttpHeader.ORIGIN);
    // A session-era request needs its session; a per-request-era one carries none that counts.
    return (sessionId == null ? era == Era.PER_REQUEST : SessionIds.isValid(sessionId))
        && (origin == null || cfg.allowedOrigins().contains(origin))
        && length > 0
        && length <= Math.min(cfg.maxBodyBytes(), MAX_BODY)
        && cfg.mcpPath().equals(path);
  }

  /**
   * The largest body the fast path reads: a larger one (rare on a held session) goes to the
   * endpoint, which holds it to the guard's {@link BodyBudget}.
   */
  static final int MAX_BODY = 64 << 10;

  /** The body is here: take the request if every check lets it through, else pass it on. */
  private void serve(GuardConfig cfg, Era era, Peer peer, byte[] body) {
    HttpFields headers = peer.headers();
    boolean perRequest = era == Era.PER_REQUEST;
    // A session-era request needs only its method and id: its params are skipped, not built.
    Envelope envelope = Envelope.read(body, perRequest);
    if (envelope == null) {
      peer.elsewhere(); // malformed, a response, a batch: refused or handled there
      return;
    }
    Classification rpc =
        new Classification(era, envelope.method(), envelope.id(), headers.get("Mcp-Session-Id"));
    if (rpc.isInitializeOfEitherEra()
        || rpc.isListen() // a stream, held to the stream caps
        || (perRequest && HeaderCheck.mismatch(envelope.tree(), headers::get).isPresent())) {
      peer.elsewhere();
      return;
    }
    RequestFacts facts =
        new RequestFacts(
            peer.remoteAddr(), headers::get, Forwarder.values(headers, HttpHeader.X_FORWARDED_FOR));
    // A token not verified lately may need its signing keys fetched: that is the endpoint's.
    Identification who =
        identities
            .ready(cfg.identity())
            .flatMap(identity -> identity.identifyWithoutWaiting(facts))
            .orElse(null);
    if (!(who instanceof Identification.Named named)) {
      peer.elsewhere();
      return;
    }
    Client client = named.client();
    InFlightLimits.Grant grant =
        requests.acquire(
            client.exempt() ? null : client.name(),
            threads.requests(cfg.inFlight()),
            cfg.inFlight().perClient(),
            false);
    if (!grant.granted()) {
      peer.elsewhere();
      return;
    }
    InFlightLimits.Permit permit = grant.permit();
    if (perRequest && rpc.sessionId() == null) {
      // The per-request era has no sessions.
      new Exchange(cfg, rpc, null, permit, peer).start(body);
      return;
    }
    // A request on a session the guard holds is that session's, whatever era its label names
    // (a session-era upstream makes sessions of 2026-07-28-labelled initializes too): busy,
    // active. Not held here: the endpoint decides (a per-request one then passes untouched).
    Classification onSession = rpc.asSessionEra();
    CompletionStage<Optional<Session>> lookup;
    try {
      // In memory the session is known at once; with Redis this goes on when its reply is read.
      lookup =
          sessions.startRequest(
              rpc.sessionId(),
              McpEndpoint.boundToClients(cfg) ? client.name() : null,
              McpEndpoint.activity(cfg, onSession));
    } catch (RuntimeException x) {
      lookup = CompletableFuture.failedStage(x);
    }
    lookup.whenComplete(
        (found, x) -> {
          if (x != null || found.isEmpty()) {
            permit.close();
            if (x != null) {
              log.warn("session lookup failed; the request goes the endpoint's way", x);
            }
            peer.elsewhere(); // not live, not the client's, or not known here: the endpoint's
            return;
          }
          // Busy from here until the answer (or its SSE) ends.
          new Exchange(cfg, onSession, found.get(), permit, peer).start(body);
        });
  }

  /** Hands a request the fast path does not take, whole, to the handlers behind it. */
  private boolean elsewhere(Request request, Response response, Callback callback) {
    blocking.execute(
        () -> {
          try {
            if (!super.handle(request, response, callback)) {
              Response.writeError(request, response, callback, 404);
            }
          } catch (Throwable x) {
            Response.writeError(request, response, callback, x);
          }
        });
    return true;
  }

  /** {@link #elsewhere(Request, Response, Callback)} once its body has been read here. */
  private void elsewhere(Request request, Response response, Callback callback, byte[] body) {
    elsewhere(new ReadAgain(request, body), response, callback);
  }

  /** A request whose body was read already: reads it again from memory. */
  private static final class ReadAgain extends Request.Wrapper {
    private final Content.Source body;

    ReadAgain(Request request, byte[] body) {
      super(request);
      this.body = Content.Source.from(ByteBuffer.wrap(body));
    }

    @Override
    public Content.Chunk read() {
      return body.read();
    }

    @Override
    public void demand(Runnable demandCallback) {
      body.demand(demandCallback);
    }

    @Override
    public void fail(Throwable failure) {
      body.fail(failure);
    }
  }

  /**
   * A client's request as the fast path sees it, and where its answer goes: Jetty's request and
   * response, or a {@link FrontConnection}. The answer side follows Jetty's {@link Response}:
   * status and headers are set, then go with the first write.
   */
  interface Peer {
    HttpFields headers();

    /** The client's address, as Jetty's {@link Request#getRemoteAddr} gives it. */
    String remoteAddr();

    /** The path and query as the client sent them. */
    String pathQuery();

    /** {@code http}, or {@code https} behind TLS. */
    String scheme();

    /**
     * Shared with the requests on this connection whose heads repeat this one's, for what is made
     * once from a head; null when there is none.
     */
    FrontHead.Repeat repeat();

    /**
     * From now on only a failed write ends the exchange early: a quiet answer is not a dead one.
     */
    void holdOpen();

    void status(int status);

    HttpFields.Mutable answerHeaders();

    /** Writes a piece of the answer; the first write sends status and headers before it. */
    void write(boolean last, ByteBuffer bytes, Callback done);

    /** Bytes of the answer's body written so far. */
    long contentWritten();

    /**
     * The exchange ended with its answer whole.
     *
     * @param inPlace whether the client's next request may be read on this thread (an upstream or
     *     client I/O thread, or one that may block), see {@link GuardThreadPool}
     */
    void succeeded(boolean inPlace);

    /** The exchange failed: the client must see a cut answer (or an error), not a clean end. */
    void failed(Throwable cause);

    /** Not the fast path's: the request, with its body, goes to the guard's other handling. */
    void elsewhere();
  }

  /** A request that came through Jetty's own HTTP handling (and this handler). */
  private final class JettyPeer implements Peer {
    private final Request request;
    private final Response response;
    private final Callback callback;
    private final byte[] body;

    JettyPeer(Request request, Response response, Callback callback, byte[] body) {
      this.request = request;
      this.response = response;
      this.callback = callback;
      this.body = body;
    }

    @Override
    public HttpFields headers() {
      return request.getHeaders();
    }

    @Override
    public String remoteAddr() {
      return Request.getRemoteAddr(request);
    }

    @Override
    public String pathQuery() {
      return request.getHttpURI().getPathQuery();
    }

    @Override
    public String scheme() {
      String scheme = request.getHttpURI().getScheme();
      return scheme == null ? "http" : scheme;
    }

    @Override
    public FrontHead.Repeat repeat() {
      return null; // Jetty parsed the head: nothing of it is kept between requests
    }

    @Override
    public void holdOpen() {
      request.addIdleTimeoutListener(timeout -> false);
    }

    @Override
    public void status(int status) {
      response.setStatus(status);
    }

    @Override
    public HttpFields.Mutable answerHeaders() {
      return response.getHeaders();
    }

    @Override
    public void write(boolean last, ByteBuffer bytes, Callback done) {
      response.write(last, bytes, done);
    }

    @Override
    public long contentWritten() {
      return Response.getContentBytesWritten(response);
    }

    @Override
    public void succeeded(boolean inPlace) {
      if (inPlace) {
        GuardThreadPool.succeedInPlace(callback);
      } else {
        callback.succeeded();
      }
    }

    @Override
    public void failed(Throwable cause) {
      callback.failed(cause);
    }

    @Override
    public void elsewhere() {
      FastPath.this.elsewhere(request, response, callback, body);
    }
  }

  /**
   * One request on the way to the upstream and its answer on the way back, on the guard's own
   * upstream connections. Exactly one of the answer's headers and the exchange's failure (the
   * first-byte timeout among them: the upstream connection enforces it) decides how it goes on. Its
   * session's POST was started when the session was found ({@link SessionRegistry#startRequest});
   * the exchange finishes it, once.
   */
  private final class Exchange implements UpstreamLinks.Answer {
    private static final int WAITING = 0;
    private static final int ANSWERED = 1;
    private static final int FAILED = 2;

    private final GuardConfig cfg;
    private final Classification rpc;
    private final Session session;
    private final InFlightLimits.Permit permit;
    private final Peer peer;
    private final boolean activity;
    private final AtomicInteger state = new AtomicInteger(WAITING);
    private final AtomicBoolean finished = new AtomicBoolean();
    private long started;
    private volatile long declared = -1;

    /** Whether anything of the upstream's answer (its headers, or bytes) was written out. */
    private volatile boolean sentToClient;

    private volatile boolean clientFailed;

    Exchange(
        GuardConfig cfg,
        Classification rpc,
        Session session,
        InFlightLimits.Permit permit,
        Peer peer) {
      this.cfg = cfg;
      this.rpc = rpc;
      this.session = session;
      this.permit = permit;
      this.peer = peer;
      this.activity = McpEndpoint.activity(cfg, rpc);
    }

    void start(byte[] body) {
      if (session != null) {
        // For a DELETE the guard may send when it ends the session.
        session.rememberAuthorization(peer.headers().get(HttpHeader.AUTHORIZATION));
      }
      try {
        // A quiet SSE answer is not a dead client: only a failed write ends the exchange early.
        peer.holdOpen();
        started = System.nanoTime();
        forwarder.send(
            cfg,
            UpstreamLinks.call(
                forwarder.head(cfg, peer, body),
                Forwarder.bodyAfter(body),
                this,
                cfg.firstByteTimeout(),
                started));
      } catch (RuntimeException x) {
        // Nothing else would end this exchange (it may run in a callback that swallows throws).
        state.set(FAILED);
        finish();
        peer.failed(x);
      }
    }

    /** The upstream failed before answering: the guard answers 502 or 504 itself. */
    private void answer(GuardError error, String why, Callback done) {
      log.warn("upstream {}: {}", error.status(), why);
      peer.status(error.status());
      // the guard's own answer: none of the upstream's headers, if they came, but the Date
      HttpFields.Mutable headers = peer.answerHeaders();
      HttpField date = headers.getField(HttpHeader.DATE);
      headers.clear();
      if (date != null) {
        headers.put(date);
      }
      headers.put(HttpHeader.CONTENT_TYPE, "application/json");
      peer.write(true, ByteBuffer.wrap(error.body(rpc.id(), null)), done);
    }

    @Override
    public void headers(int status, HttpFields answer, Callback proceed) {
      if (!state.compareAndSet(WAITING, ANSWERED)) {
        proceed.failed(new IOException("answered already")); // failed just before
        return;
      }
      mcp.upstreamAnswered(
          rpc.era(),
          System.nanoTime() - started,
          status,
          Forwarder.values(answer, HttpHeader.WWW_AUTHENTICATE));
      if (status == 404 && session != null) {
        // The upstream forgot the session: end it before the client hears (the registry may
        // call Redis, so on a thread that may wait), then relay the answer from there.
        blocking.execute(
            () -> {
              try {
                mcp.ended(session.id(), EndReason.UPSTREAM);
              } catch (RuntimeException x) {
                log.warn("ending session {} after the upstream's 404 failed", session, x);
              }
              respond(status, answer, proceed);
            });
      } else {
        respond(status, answer, proceed);
      }
    }

    /** Status and end-to-end headers; an SSE answer's go at once, before its first event. */
    private void respond(int status, HttpFields answer, Callback proceed) {
      peer.status(status);
      HttpFields.Mutable out = peer.answerHeaders();
      boolean sse = Forwarder.answerHeaders(answer, out::add, out::put);
      declared = answer.getLongField(HttpHeader.CONTENT_LENGTH);
      if (sse) {
        sentToClient = true;
        peer.write(false, BufferUtil.EMPTY_BUFFER, toClient(proceed));
      } else {
        proceed.succeeded();
      }
    }

    @Override
    public void content(ByteBuffer bytes, boolean last, Callback written) {
      if (last || declared >= 0 && peer.contentWritten() + bytes.remaining() >= declared) {
        finish(); // the upstream's answer is all in: idle before the client can send its next
      }
      sentToClient = true;
      peer.write(last, bytes, toClient(written));
    }

    /** Completes {@code then} once a write to the client ends, noting a failure as the client's. */
    private Callback toClient(Callback then) {
      return Callback.from(
          InvocationType.NON_BLOCKING,
          then::succeeded,
          x -> {
            clientFailed = true; // gone, or not reading
            then.failed(x);
          });
    }

    @Override
    public void completed() {
      done(true).succeeded();
    }

    @Override
    public void failed(Throwable cause) {
      if (state.compareAndSet(WAITING, FAILED)) {
        if (cause instanceof UpstreamResponse.FirstByteTimeout) {
          // On the scheduler's thread: the client's next request is read on a pool thread.
          answer(GuardError.UPSTREAM_TIMEOUT, cause.getMessage(), done(false));
          return;
        }
        answer(
            GuardError.UPSTREAM_FAILED,
            cause instanceof SocketTimeoutException ? "connect timed out" : cause.toString(),
            done(true));
      } else if (state.get() == ANSWERED) {
        if (!clientFailed && declared >= 0 && peer.contentWritten() == declared) {
          done(true).succeeded(); // only the end-of-body marker was missing: the client has it all
        } else if (!sentToClient) {
          // Its headers came, not a byte of its body: nothing of the answer has left, so the
          // guard answers 502 as for an upstream that failed before answering.
          answer(GuardError.UPSTREAM_FAILED, cause.toString(), done(true));
        } else {
          done(true).failed(cause); // the client must see a cut answer, not a clean end
        }
      } // else timed out: answered already
    }

    /**
     * Once the answer has ended, however: the permit and the session's busy mark go back.
     *
     * @param inPlace see {@link Peer#succeeded}
     */
    private Callback done(boolean inPlace) {
      return Callback.from(
          () -> {
            finish();
            peer.succeeded(inPlace);
          },
          x -> {
            finish();
            peer.failed(x);
          });
    }

    private void finish() {
      if (finished.compareAndSet(false, true)) {
        permit.close();
        if (session != null) {
          try {
            sessions.requestFinished(session, activity);
          } catch (RuntimeException x) { // the answer still ends for the client
            log.error("finishing a request on session {} failed", session, x);
          }
        }
      }
    }
  }
}
