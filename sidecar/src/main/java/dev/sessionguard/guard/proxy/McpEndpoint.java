package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.Ended;
import dev.sessionguard.guard.admission.InFlightLimits;
import dev.sessionguard.guard.admission.Lookup;
import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.admission.Reservation;
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
import dev.sessionguard.guard.lifecycle.SessionEnder;
import dev.sessionguard.guard.metrics.GuardMetrics;
import dev.sessionguard.guard.metrics.GuardMetrics.Era;
import dev.sessionguard.guard.proxy.Forwarder.Answer;
import dev.sessionguard.guard.proxy.Forwarder.Outcome;
import dev.sessionguard.policy.SessionPolicySpec.Activity;
import dev.sessionguard.policy.SessionPolicySpec.IdentitySource;
import dev.sessionguard.policy.SessionPolicySpec.Mode;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MCP endpoint, one request top to bottom: accept (bad input) → classify → identify → admit
 * (in-flight caps, then sessions) → forward → stream back → record.
 */
public final class McpEndpoint implements Handler {
  private static final Logger log = LoggerFactory.getLogger(McpEndpoint.class);
  // A draining guard is about to go: clients should retry soon, on another pod.
  private static final Duration DRAIN_RETRY = Duration.ofSeconds(1);

  private final ActivePolicy policy;
  private final SessionRegistry sessions;
  private final InFlightLimits requests;
  private final InFlightLimits streams;
  private final ThreadBudget threads;
  private final Identities identities;
  private final Forwarder forwarder;
  private final GuardMetrics metrics;
  private final SessionEnder ender;
  private final Drain drain;
  private final BodyBudget bodies;

  /**
   * Adoptions not yet decided, by session id. Another request of the same client on the same id
   * meanwhile joins the adoption rather than compete with it for the client's last slot.
   */
  private final Map<String, Adoption> adopting = new ConcurrentHashMap<>();

  /**
   * One adoption under way: its first request's admission, then the admitted requests of its client
   * on its id still in flight (identity matters: the last to leave removes it).
   */
  private static final class Adoption {
    final String client;
    private final CompletableFuture<Boolean> admitted = new CompletableFuture<>();
    private final AtomicInteger holders = new AtomicInteger();
    // Its client ended the session upstream (a DELETE the upstream accepted) while the adoption's
    // answer was still out: the session the answer would record is over already.
    volatile boolean deleted;
    // The requests taking part record one session: the first of them recorded counts and logs it.
    final AtomicBoolean counted = new AtomicBoolean();

    Adoption(String client) {
      this.client = client;
    }

    /** Its first request's admission is decided (the first call counts). */
    void admitted(boolean yes) {
      if (yes && !admitted.isDone()) {
        holders.incrementAndGet(); // before waiters see it
      }
      admitted.complete(yes);
    }

    /**
     * Whether its first request was admitted: waits for that admission (in memory at once, with
     * Redis one round trip), never for an upstream answer; false after 5 s.
     */
    boolean firstAdmitted() {
      try {
        return admitted.get(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      } catch (ExecutionException | TimeoutException e) {
        return false;
      }
    }

    /**
     * Takes part, for a request already admitted, if some other admitted request on the id is still
     * undecided (so the id's slot is counted meanwhile); false once the last has left.
     */
    boolean join() {
      for (int h = holders.get(); h > 0; h = holders.get()) {
        if (holders.compareAndSet(h, h + 1)) {
          return true;
        }
      }
      return false;
    }

    /** One request leaves; true when it was the last. */
    boolean leave() {
      return holders.decrementAndGet() <= 0;
    }
  }

  /** A request's part in an {@link Adoption}, given up once (by the thread serving it). */
  private final class Hold {
    private final String id;
    private final Adoption adoption;
    private boolean left;

    Hold(String id, Adoption adoption) {
      this.id = id;
      this.adoption = adoption;
    }

    /** Before the request's slot goes: a failure leaves nothing for others to join. */
    void leave() {
      if (!left && adoption != null) {
        left = true;
        if (adoption.leave()) {
          adopting.remove(id, adoption);
        }
      }
    }
  }

  public McpEndpoint(
      ActivePolicy policy,
      SessionRegistry sessions,
      InFlightLimits requests,
      InFlightLimits streams,
      ThreadBudget threads,
      Identities identities,
      Forwarder forwarder,
      GuardMetrics metrics,
      SessionEnder ender,
      Drain drain,
      BodyBudget bodies) {
    this.policy = policy;
    this.sessions = sessions;
    this.requests = requests;
    this.streams = streams;
    this.threads = threads;
    this.identities = identities;
    this.forwarder = forwarder;
    this.metrics = metrics;
    this.ender = ender;
    this.drain = drain;
    this.bodies = bodies;
  }

  @Override
  public void handle(Context ctx) throws IOException {
    GuardConfig cfg = policy.get(); // one policy for the whole request
    HttpServletRequest req = ctx.req();
    HttpServletResponse res = ctx.res();

    // Accept: bad input is answered here; nothing is forwarded and no cap moves.
    String origin = req.getHeader("Origin");
    if (origin != null && !cfg.allowedOrigins().contains(origin)) {
      if (!dryRun(cfg)) {
        refuse(res, Refusal.ORIGIN, null, null);
        return;
      }
      wouldRefuse(Refusal.ORIGIN, null);
    }
    String repeated = repeatedHeader(Forwarder.jetty(req).getHeaders(), identityHeader(cfg));
    if (repeated != null) {
      // the guard reads the first; an upstream reading the last would act on another session
      invalidRequest(res, repeated + " appears more than once");
      return;
    }
    String sessionId = req.getHeader("Mcp-Session-Id");
    if (sessionId != null && !SessionIds.isValid(sessionId)) {
      // (the id is not quoted: it holds what a log line should not)
      RefusalLog.refused(metrics, Refusal.INVALID_REQUEST, GuardError.INVALID_SESSION_ID.status());
      GuardError.INVALID_SESSION_ID.write(res, null, Refusal.INVALID_REQUEST, null);
      return;
    }
    try (BodyBudget.Held held = bodies.hold()) { // the body's memory, until the answer ends
      byte[] body;
      try {
        body =
            BoundedBody.readAll(
                req::getInputStream, req.getContentLengthLong(), cfg.maxBodyBytes(), held);
      } catch (BoundedBody.TooLarge e) {
        refuse(res, Refusal.TOO_LARGE, null, null);
        return;
      } catch (BodyBudget.Exhausted e) {
        refuse(res, Refusal.BODY_MEMORY, null, cfg.retryAfter());
        return;
      }
      serve(ctx, cfg, sessionId, body);
    }
  }

  /** A request whose body is read: classified, its client named and admitted, then served. */
  private void serve(Context ctx, GuardConfig cfg, String sessionId, byte[] body)
      throws IOException {
    HttpServletRequest req = ctx.req();
    HttpServletResponse res = ctx.res();

    // Classify.
    Era era = Classification.eraOf(req.getHeader("MCP-Protocol-Version"));
    String rpcMethod = null;
    JsonNode id = null;
    JsonNode message = null;
    if ("POST".equals(req.getMethod()) && body.length > 0) {
      try {
        message = Envelope.tree(body); // what the guard reads of it, never the whole tree
      } catch (IOException e) {
        refuse(res, Refusal.PARSE_ERROR, null, null);
        return;
      }
      String ambiguity = Envelope.ambiguity(body);
      if (ambiguity != null) {
        invalidRequest(res, ambiguity);
        return;
      }
      if (message != null && message.isObject()) {
        rpcMethod = message.path("method").isTextual() ? message.get("method").asText() : null;
        id = message.get("id");
      }
    }
    Classification labelled = new Classification(era, rpcMethod, id, sessionId);
    Classification request = onHeldSession(labelled) ? labelled.asSessionEra() : labelled;
    if (id != null) {
      req.setAttribute(Forwarder.RPC_ID, id); // for a 502 the relay may have to answer
    }
    if (drain.refusingNewWork() && !onKnownSession(request)) {
      refuse(res, Refusal.DRAINING, request.id(), DRAIN_RETRY);
      return;
    }
    if (era == Era.PER_REQUEST && "POST".equals(req.getMethod())) {
      // 2026-07-28: Mcp-Method / Mcp-Name must say what the body says, or routing lies.
      Optional<String> mismatch = HeaderCheck.mismatch(message, req::getHeader);
      if (mismatch.isPresent()) {
        RefusalLog.refused(metrics, Refusal.HEADER_MISMATCH, GuardError.HEADER_MISMATCH.status());
        GuardError.HEADER_MISMATCH.write(
            res, request.id(), Refusal.HEADER_MISMATCH, null, mismatch.get());
        return;
      }
    }

    // Identify.
    Identification who = identities.current(cfg.identity()).identify(facts(req));
    if (who instanceof Identification.Refused r) {
      metrics.refused(r.reason());
      if (r.challenge() != null) {
        res.setHeader("WWW-Authenticate", r.challenge());
      }
      GuardError error = GuardError.forRefusal(r.reason());
      error.write(res, request.id(), r.reason(), error.status() == 503 ? cfg.retryAfter() : null);
      log.info("refused identity reason={} why={}", r.reason().label(), printable(r.message()));
      return;
    }
    Client client = ((Identification.Named) who).client();

    // Admit: every request holds an in-flight permit until its answer ends; a stream (listen,
    // or a standalone GET) holds a stream permit instead, for the life of the stream.
    String name = client.exempt() ? null : client.name();
    InFlightLimits.Grant grant =
        request.opensStream(req.getMethod())
            ? streams.acquire(
                name,
                threads.streams(cfg.inFlight()),
                cfg.inFlight().perClientStreams(),
                dryRun(cfg))
            : requests.acquire(
                name, threads.requests(cfg.inFlight()), cfg.inFlight().perClient(), dryRun(cfg));
    if (!grant.granted()) {
      refuse(res, grant.refusal(), request.id(), cfg.retryAfter());
      return;
    }
    if (grant.refusal() != null) {
      wouldRefuse(grant.refusal(), client);
    }
    try {
      if (request.era() == Era.PER_REQUEST) {
        // No sessions: GET, DELETE, Mcp-Session-Id untouched; but another client's session id
        // (a listen or an initialize naming it) is not passed on as this client's.
        if (namesAnothersSession(cfg, request, client)) {
          refuseNotOwner(ctx, request, client);
          return;
        }
        passThrough(ctx, cfg, request, body, client);
      } else if (request.isInitialize()) {
        initialize(ctx, cfg, request, body, client);
      } else if (request.sessionId() == null) {
        passThrough(ctx, cfg, request, body, client); // not a session (yet): the upstream decides
      } else {
        onSession(ctx, cfg, request, body, client);
      }
    } finally {
      grant.permit().close(); // the answer, or its stream, has ended
    }
  }

  /** An {@code initialize}: the only request that creates a session. */
  private void initialize(
      Context ctx, GuardConfig cfg, Classification request, byte[] body, Client client)
      throws IOException {
    Admission admission =
        sessions.admit(client.name(), cfg.sessionCaps(), client.exempt(), dryRun(cfg));
    if (admission instanceof Admission.Refused refused) {
      refuse(ctx.res(), refused.reason(), request.id(), cfg.retryAfter());
      return;
    }
    Admission.Admitted admitted =
        admitted(admission, client, cfg, ctx.req().getHeader("Authorization"));
    Reservation reservation = admitted.reservation();
    try (UpstreamResponse response = forward(ctx, cfg, request, body)) {
      if (response == null) {
        return; // answered with 502/504; the reservation is released below
      }
      String issued = response.header("Mcp-Session-Id");
      if (!is2xx(response) || issued == null) {
        sessions.cancel(reservation); // an error, or a stateless server: nothing to record
        forwarder.relay(ctx.req(), ctx.res(), response);
        return;
      }
      record(ctx, request, client, response, issued, reservation);
    } finally {
      sessions.cancel(reservation); // released on every path that did not confirm it
    }
  }

  /**
   * Records the session the upstream issued on {@code reservation} and relays its answer; the
   * caller releases the reservation if this did not confirm it.
   */
  private void record(
      Context ctx,
      Classification request,
      Client client,
      UpstreamResponse response,
      String issued,
      Reservation reservation)
      throws IOException {
    if (refusedAsInvalid(ctx, request, issued)) {
      return;
    }
    // busy while its answer streams: a second initialize at the client's cap cannot evict it
    Session session = sessions.confirm(reservation, issued, true, true);
    if (refusedAsAnothers(ctx, request, client, session)) {
      return;
    }
    Runnable finish = finisher(session, true, true);
    Outcome outcome;
    try {
      session.rememberAuthorization(ctx.req().getHeader("Authorization"));
      metrics.admitted(false);
      log.info("admitted session={} client={}", SessionIds.shortHash(issued), hash(client));
      outcome =
          Forwarder.clientClosed(ctx.req())
              ? Outcome.CLIENT_GONE // it gave up waiting: ended below, not relayed
              : forwarder.relay(ctx.req(), ctx.res(), response, finish);
    } finally {
      if (finish != null) {
        finish.run();
      }
    }
    // The client may never have seen the id: nobody else can use or end this session. Unless
    // the guard cut the answer by stopping: then the session stays, like every other one, for
    // the upstream and (with Redis) the guards that remain.
    if (outcome != Outcome.COMPLETE && !ender.stopping()) {
      sessions
          .end(session.id(), EndReason.UPSTREAM)
          .ifPresent(s -> ender.end(new Ended(s, EndReason.UPSTREAM)));
    }
  }

  /** Answers 502 for an issued session id outside visible ASCII; true when it did. */
  private boolean refusedAsInvalid(Context ctx, Classification request, String issued)
      throws IOException {
    if (SessionIds.isValid(issued)) {
      return false;
    }
    GuardError.UPSTREAM_FAILED.write(ctx.res(), request.id(), null, null);
    log.warn("upstream issued a session id outside visible ASCII; answered 502");
    return true;
  }

  /**
   * A session the upstream issued on a request the guard took for one that makes none (an {@code
   * initialize} sent with a 2026-07-28 version, or inside a batch): admitted now, held to the caps
   * like any other, or deleted upstream and refused as its {@code initialize} would have been.
   */
  private void admitIssued(
      Context ctx,
      GuardConfig cfg,
      Classification request,
      Client client,
      UpstreamResponse response,
      String issued)
      throws IOException {
    if (refusedAsInvalid(ctx, request, issued)) { // before admission: nothing to count or evict
      return;
    }
    Admission admission =
        sessions.admit(client.name(), cfg.sessionCaps(), client.exempt(), dryRun(cfg));
    String authorization = ctx.req().getHeader("Authorization");
    if (admission instanceof Admission.Refused refused) {
      Session unrecorded = Session.unrecorded(issued, client.name());
      unrecorded.rememberAuthorization(authorization);
      ender.discard(unrecorded);
      refuse(ctx.res(), refused.reason(), request.id(), cfg.retryAfter());
      return;
    }
    Reservation reservation = admitted(admission, client, cfg, authorization).reservation();
    try {
      record(ctx, request, client, response, issued, reservation);
    } finally {
      sessions.cancel(reservation);
    }
  }

  /** A request that names a session. */
  private void onSession(
      Context ctx, GuardConfig cfg, Classification request, byte[] body, Client client)
      throws IOException {
    Lookup lookup = sessions.lookup(request.sessionId());
    if (lookup instanceof Lookup.Ended) {
      GuardError.SESSION_NOT_FOUND.write(ctx.res(), request.id(), null, null);
      return;
    }
    if (lookup instanceof Lookup.Known known) {
      if (boundToClients(cfg) && !known.session().client().equals(client.name())) {
        refuseNotOwner(ctx, request, client);
        return;
      }
      exchange(ctx, cfg, request, body, client, known.session());
      return;
    }
    if ("DELETE".equals(ctx.req().getMethod())) {
      // Ending a session nobody holds takes no slot. If the upstream ended it, the registry
      // forgets it too (with a shared store: a dead guard's orphan, no longer to be reaped).
      try (UpstreamResponse response = forward(ctx, cfg, request, body)) {
        if (response != null) {
          if (is2xx(response)) {
            Adoption adoption = adopting.get(request.sessionId());
            if (adoption != null && adoption.client.equals(client.name())) {
              adoption.deleted = true; // its answer, still out, must not record the session
            }
            ended(request.sessionId(), EndReason.CLIENT);
          }
          forwarder.relay(ctx.req(), ctx.res(), response);
        }
      }
      return;
    }
    adopt(ctx, cfg, request, body, client);
  }

  /**
   * A session-era request on an id the guard never saw: adoption is admission. While one request of
   * a client adopts an id (admitted, its upstream answer not yet in), another of the same client on
   * the same id — its GET stream and next POST sent together, as after a guard restart — joins it:
   * admitted without counting against the client's cap (the global cap still applies), after
   * waiting for the first one's admission but never for its upstream answer, and the two become one
   * session, one slot.
   */
  private void adopt(
      Context ctx, GuardConfig cfg, Classification request, byte[] body, Client client)
      throws IOException {
    String id = request.sessionId();
    Adoption mine = new Adoption(client.name());
    Adoption held = adopting.putIfAbsent(id, mine); // the adoption this request takes part in
    boolean joining = false;
    if (held == null) {
      if (sessions.lookup(id) instanceof Lookup.Known) {
        // Another adoption of it was recorded after this request looked: it is served as a
        // held session is (another client's gets 404 before anything is forwarded).
        adopting.remove(id, mine);
        mine.admitted(false);
        onSession(ctx, cfg, request, body, client);
        return;
      }
      held = mine;
    } else if (held.client.equals(client.name())) {
      joining = held.firstAdmitted(); // a refused one admits nobody past the cap
      if (!joining) {
        held = null;
        if (sessions.lookup(id) instanceof Lookup.Known) {
          onSession(ctx, cfg, request, body, client); // (it found the id recorded meanwhile)
          return;
        }
      }
    } else if (boundToClients(cfg)) {
      refuseNotOwner(ctx, request, client); // another client is adopting it: not this one's
      return;
    } else {
      held = null;
    }
    Hold hold = new Hold(id, held == mine ? mine : null); // a joiner's, once it has joined
    try {
      Admission admission =
          sessions.admit(
              client.name(), cfg.sessionCaps().refusing(), client.exempt() || joining, dryRun(cfg));
      if (joining && admission instanceof Admission.Admitted exempt) {
        if (held.join()) { // with its own slot held, while another's still is
          hold = new Hold(id, held);
        } else {
          // The adoption was decided meanwhile: recorded, the session is served as held (not
          // adopted, nor counted, a second time); else this request is on its own, held to the cap.
          sessions.cancel(exempt.reservation());
          if (sessions.lookup(id) instanceof Lookup.Known) {
            onSession(ctx, cfg, request, body, client);
            return;
          }
          admission =
              sessions.admit(
                  client.name(), cfg.sessionCaps().refusing(), client.exempt(), dryRun(cfg));
        }
      }
      if (held == mine) {
        mine.admitted(admission instanceof Admission.Admitted);
      }
      if (admission instanceof Admission.Refused refused) {
        hold.leave();
        if (sessions.lookup(id) instanceof Lookup.Known) {
          onSession(ctx, cfg, request, body, client); // adopted by another request meanwhile
          return;
        }
        metrics.refused(refused.reason());
        GuardError.SESSION_NOT_FOUND.write(ctx.res(), request.id(), null, null);
        log.info("refused adoption client={} reason={}", hash(client), refused.reason().label());
        return;
      }
      adopted(ctx, cfg, request, body, client, admission, hold);
    } finally {
      if (held == mine) {
        mine.admitted(false); // if it threw before deciding: nobody waits in vain
      }
      hold.leave();
    }
  }

  /** An admitted adoption: forwarded, and recorded when the upstream answers 2xx. */
  private void adopted(
      Context ctx,
      GuardConfig cfg,
      Classification request,
      byte[] body,
      Client client,
      Admission admission,
      Hold hold)
      throws IOException {
    Admission.Admitted admitted =
        admitted(admission, client, cfg, ctx.req().getHeader("Authorization"));
    Reservation reservation = admitted.reservation();
    try (UpstreamResponse response = forward(ctx, cfg, request, body)) {
      if (response == null) {
        return;
      }
      if (!is2xx(response)) {
        hold.leave(); // before the slot goes
        sessions.cancel(reservation);
        forwarder.relay(ctx.req(), ctx.res(), response);
        return;
      }
      // a POST is busy with its answer from the start, as on any held session
      boolean post = "POST".equals(ctx.req().getMethod());
      Session session =
          sessions.confirm(reservation, request.sessionId(), post, activity(cfg, request));
      hold.leave(); // held now: later requests find it
      if (hold.adoption != null && hold.adoption.deleted) {
        // its client deleted it meanwhile: forgotten (and remembered as ended) at once rather
        // than held until the reaper's DELETE finds it gone
        ended(session.id(), EndReason.CLIENT);
      }
      boolean mine = session.client().equals(client.name());
      Runnable finish = post && mine ? finisher(session, activity(cfg, request), true) : null;
      try {
        if (boundToClients(cfg) && !mine) {
          // Another client's adoption of this id (on another guard) recorded it first.
          refuseNotOwner(ctx, request, client);
          return;
        }
        session.rememberAuthorization(ctx.req().getHeader("Authorization"));
        if (hold.adoption == null || hold.adoption.counted.compareAndSet(false, true)) {
          metrics.admitted(true);
          log.info(
              "adopted session={} client={}",
              SessionIds.shortHash(request.sessionId()),
              hash(client));
        }
        stream(ctx, cfg, request, session, response, finish);
      } finally {
        if (finish != null) {
          finish.run();
        }
      }
    } finally {
      hold.leave(); // before the slot goes
      sessions.cancel(reservation);
    }
  }

  /** 404, not forwarded: the session is another client's, and its existence is not revealed. */
  private void refuseNotOwner(Context ctx, Classification request, Client client)
      throws IOException {
    metrics.refused(Refusal.NOT_OWNER);
    GuardError.SESSION_NOT_FOUND.write(ctx.res(), request.id(), null, null); // as if unknown
    log.info(
        "refused session={} client={} reason=not_owner",
        SessionIds.shortHash(request.sessionId()),
        hash(client));
  }

  /** A request on a session the guard holds. */
  private void exchange(
      Context ctx,
      GuardConfig cfg,
      Classification request,
      byte[] body,
      Client client,
      Session session)
      throws IOException {
    boolean post = "POST".equals(ctx.req().getMethod());
    boolean activity = activity(cfg, request);
    // busy until the answer (or its SSE) ends
    if (post && !sessions.requestStarted(session, activity)) {
      // Gone since it was looked up (reaped, evicted, ended by another request; with Redis,
      // perhaps purged with a dead guard): looked up again, as if it came now.
      onSession(ctx, cfg, request, body, client);
      return;
    }
    Runnable finish = post ? finisher(session, activity, false) : null;
    session.rememberAuthorization(ctx.req().getHeader("Authorization")); // for a DELETE we send
    try (UpstreamResponse response = forward(ctx, cfg, request, body)) {
      if (response == null) {
        return;
      }
      if (response.status() == 404) {
        ended(session.id(), EndReason.UPSTREAM);
      } else if ("DELETE".equals(ctx.req().getMethod()) && is2xx(response)) {
        ended(session.id(), EndReason.CLIENT);
      } else if (post && issuedAnother(ctx, cfg, request, client, response, session.id())) {
        // A session made on a request sent on this one (an initialize in a batch): held to the
        // caps like any other, or deleted upstream and refused.
        return;
      }
      relayOnSession(ctx, session, response, finish);
    } finally {
      if (finish != null) {
        finish.run();
      }
    }
  }

  /**
   * The answer on a just-adopted session: busy while it streams, like any POST ({@code finish}:
   * made busy by its confirmation already, finished by the caller too).
   */
  private void stream(
      Context ctx,
      GuardConfig cfg,
      Classification request,
      Session session,
      UpstreamResponse response,
      Runnable finish)
      throws IOException {
    boolean activity = activity(cfg, request);
    if (finish == null
        && "POST".equals(ctx.req().getMethod())
        && sessions.requestStarted(session, activity)) {
      finish = finisher(session, activity, false);
    }
    try {
      relayOnSession(ctx, session, response, finish);
    } finally {
      if (finish != null) {
        finish.run();
      }
    }
  }

  /**
   * Finishes a POST on {@code session} once, however many paths ask: before the end of its answer
   * reaches the client (so the client's next request finds the session idle), or on failure. {@code
   * recorded}: only once the store has it (a session's first answer, after which a client at its
   * cap may at once open another, through any guard, evicting this one).
   */
  private Runnable finisher(Session session, boolean activity, boolean recorded) {
    AtomicBoolean done = new AtomicBoolean();
    return () -> {
      if (done.compareAndSet(false, true)) {
        if (recorded) {
          sessions.requestFinishedNow(session, activity);
        } else {
          sessions.requestFinished(session, activity);
        }
      }
    };
  }

  /**
   * Streams back ({@code finish}, if not null, runs before the answer's end reaches the client); a
   * standalone GET stream can be closed by whoever ends the session.
   */
  private void relayOnSession(
      Context ctx, Session session, UpstreamResponse response, Runnable finish) throws IOException {
    if (!"GET".equals(ctx.req().getMethod()) || !is2xx(response)) {
      forwarder.relay(ctx.req(), ctx.res(), response, finish);
      return;
    }
    // The standalone stream: ending the session closes it.
    Runnable unregister = session.onEnd(() -> response.abort(new IOException("the session ended")));
    try {
      forwarder.relay(ctx.req(), ctx.res(), response);
    } finally {
      unregister.run();
    }
  }

  /** Forwards one request that needs no session decision. */
  private void passThrough(
      Context ctx, GuardConfig cfg, Classification request, byte[] body, Client client)
      throws IOException {
    try (UpstreamResponse response = forward(ctx, cfg, request, body)) {
      if (response == null) {
        return;
      }
      if (issuedAnother(ctx, cfg, request, client, response, request.sessionId())) {
        return;
      }
      forwarder.relay(ctx.req(), ctx.res(), response);
    }
  }

  /**
   * Answers a 2xx answer that issued a session id other than {@code sessionId}: one unknown is
   * admitted ({@link #admitIssued}), one live as another client's is refused ({@link
   * #refusedAsAnothers}); whether it answered.
   */
  private boolean issuedAnother(
      Context ctx,
      GuardConfig cfg,
      Classification request,
      Client client,
      UpstreamResponse response,
      String sessionId)
      throws IOException {
    String issued = response.header("Mcp-Session-Id");
    if (!is2xx(response) || issued == null || issued.equals(sessionId)) {
      return false;
    }
    Lookup found = sessions.lookup(issued);
    if (found instanceof Lookup.Unknown) {
      admitIssued(ctx, cfg, request, client, response, issued);
      return true;
    }
    return found instanceof Lookup.Known known
        && refusedAsAnothers(ctx, request, client, known.session());
  }

  /**
   * Answers 502 when the upstream issued {@code client} an id live as another client's session;
   * true when it did. An upstream that numbers its sessions may issue an id again after a restart:
   * handing this client another's session (and its DELETE to the other) is worse than a 502, and
   * the id is not deleted upstream, where it is the other client's too.
   */
  private boolean refusedAsAnothers(
      Context ctx, Classification request, Client client, Session session) throws IOException {
    if (session.client().equals(client.name())) {
      return false;
    }
    GuardError.UPSTREAM_FAILED.write(ctx.res(), request.id(), null, null);
    log.warn(
        "upstream issued session={} live as another client's; answered 502",
        SessionIds.shortHash(session.id()));
    return true;
  }

  /** Sends upstream; on failure answers 502/504 itself and returns null. */
  private UpstreamResponse forward(
      Context ctx, GuardConfig cfg, Classification request, byte[] body) throws IOException {
    boolean stream = request.opensStream(ctx.req().getMethod());
    Answer answer =
        forwarder.send(forwarder.request(cfg, ctx.req(), body, stream), cfg.firstByteTimeout());
    if (answer instanceof Answer.Failed failed) {
      failed.error().write(ctx.res(), request.id(), null, null);
      log.warn("upstream {}: {}", failed.error().status(), failed.why());
      return null;
    }
    Answer.Response r = (Answer.Response) answer;
    upstreamAnswered(
        request.era(),
        r.took().toNanos(),
        r.response().status(),
        r.response().headerValues("WWW-Authenticate"));
    return r.response();
  }

  /** What the upstream's answer headers tell the metrics and the identity check. */
  void upstreamAnswered(Era era, long tookNanos, int status, List<String> authenticate) {
    metrics.upstreamAnswered(era, tookNanos);
    identities.upstreamAnswered(status, authenticate);
  }

  /** The client-side end of a session that the registry still holds (DELETE, upstream 404). */
  void ended(String sessionId, EndReason reason) {
    sessions
        .end(sessionId, reason)
        .ifPresent(
            s -> {
              metrics.ended(reason);
              s.closeStream();
              SessionEnder.logEnded(new Ended(s, reason));
            });
  }

  /** The admitted reservation; sessions evicted for it are ended upstream, would-bes counted. */
  private Admission.Admitted admitted(
      Admission admission, Client client, GuardConfig cfg, String authorization) {
    Admission.Admitted admitted = (Admission.Admitted) admission;
    admitted.wouldRefuse().ifPresent(r -> wouldRefuse(r, client));
    for (Session evicted : admitted.evicted()) {
      if (boundToClients(cfg)) {
        // The client's own session: when another guard served it last (a shared store), this
        // guard never saw its token, and the upstream refuses a DELETE without one. The request
        // asking for the eviction comes from the same verified client.
        evicted.rememberAuthorizationIfNone(authorization);
      }
      try {
        ender.end(new Ended(evicted, EndReason.EVICTED));
      } catch (RuntimeException x) { // the admission stands: its reservation is the caller's
        log.error("ending evicted session {} failed", evicted, x);
      }
    }
    return admitted;
  }

  /**
   * A 2026-07-28-labelled request on a session the guard holds is that session's (busy, active,
   * ended by its DELETE): a session-era upstream makes sessions of labelled initializes too, and
   * the guard counts them. A listen stays a listen, held to the stream caps, and an initialize an
   * initialize of its era (admitted if the upstream issues a session, as the fast path has it).
   */
  private boolean onHeldSession(Classification labelled) {
    return labelled.era() == Era.PER_REQUEST
        && labelled.sessionId() != null
        && !labelled.isListen()
        && !labelled.isInitializeOfEitherEra()
        && sessions.lookup(labelled.sessionId()) instanceof Lookup.Known;
  }

  /** Whether the request names a session the guard holds for another client, which it may not. */
  private boolean namesAnothersSession(GuardConfig cfg, Classification request, Client client) {
    return request.sessionId() != null
        && boundToClients(cfg)
        && sessions.lookup(request.sessionId()) instanceof Lookup.Known known
        && !known.session().client().equals(client.name());
  }

  /** While draining, only sessions the guard holds (or saw end) are still served. */
  private boolean onKnownSession(Classification request) {
    return request.era() == Era.SESSION
        && request.sessionId() != null
        && !(sessions.lookup(request.sessionId()) instanceof Lookup.Unknown);
  }

  private static boolean dryRun(GuardConfig cfg) {
    return cfg.policy().mode() == Mode.DryRun;
  }

  /** DryRun let through what Enforce would have refused: counted and logged, nothing else. */
  private void wouldRefuse(Refusal reason, Client client) {
    metrics.dryRunRefused(reason);
    log.info(
        "dryrun would-refuse reason={} client={}",
        reason.label(),
        client == null ? "-" : hash(client));
  }

  /** A session belongs to the client that opened it when clients are named by credentials. */
  static boolean boundToClients(GuardConfig cfg) {
    IdentitySource source = cfg.identity().source();
    return source == IdentitySource.Jwt || source == IdentitySource.Header;
  }

  static boolean activity(GuardConfig cfg, Classification request) {
    return cfg.activity() == Activity.AnyRequest || "tools/call".equals(request.rpcMethod());
  }

  /** The MCP headers the guard decides on: each may appear once. */
  private static final List<String> SINGLE_HEADERS =
      List.of("Mcp-Session-Id", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name");

  /**
   * The header that names the client, which may appear only once too (the guard reads the first, an
   * upstream that reads the last would take the request for another client's): the policy's header,
   * {@code Authorization} with Jwt, none with Address.
   */
  static String identityHeader(GuardConfig cfg) {
    return switch (cfg.identity().source()) {
      case Header -> cfg.identity().header();
      case Jwt -> "Authorization";
      case Address -> null;
    };
  }

  /** Whether {@code headers} carry {@code name} more than once. */
  static boolean repeats(HttpFields headers, String name) {
    boolean seen = false;
    for (HttpField field : headers) {
      if (field.getName().equalsIgnoreCase(name)) {
        if (seen) {
          return true;
        }
        seen = true;
      }
    }
    return false;
  }

  /**
   * The first of {@link #SINGLE_HEADERS}, and {@code identityHeader} (may be null), that {@code
   * headers} repeat, or null.
   */
  static String repeatedHeader(HttpFields headers, String identityHeader) {
    if (identityHeader != null && repeats(headers, identityHeader)) {
      return identityHeader;
    }
    int seen = 0;
    for (HttpField field : headers) {
      String name = field.getName();
      for (int i = 0; i < SINGLE_HEADERS.size(); i++) {
        if (name.equalsIgnoreCase(SINGLE_HEADERS.get(i))) {
          if ((seen & 1 << i) != 0) {
            return SINGLE_HEADERS.get(i);
          }
          seen |= 1 << i;
        }
      }
    }
    return null;
  }

  /**
   * 400 / -32600 for a request that would not mean the same to the guard and to every upstream;
   * refused in DryRun too, as bad input is.
   */
  private void invalidRequest(HttpServletResponse res, String detail) throws IOException {
    metrics.refused(Refusal.INVALID_REQUEST);
    log.info("refused reason=invalid_request status=400 why={}", printable(detail));
    GuardError.INVALID_REQUEST.write(res, null, Refusal.INVALID_REQUEST, null, detail);
  }

  private void refuse(
      HttpServletResponse res, Refusal reason, JsonNode id, java.time.Duration retry)
      throws IOException {
    RefusalLog.refuse(metrics, res, reason, id, retry);
  }

  static RequestFacts facts(HttpServletRequest req) {
    return new RequestFacts(
        req.getRemoteAddr(), req::getHeader, Collections.list(req.getHeaders("X-Forwarded-For")));
  }

  /**
   * A message that may quote the client (a token's header, in the JWT library's words), fit for one
   * log line: control characters replaced, at most 200 characters.
   */
  static String printable(String message) {
    if (message == null) {
      return null;
    }
    int end = Math.min(message.length(), 200);
    if (end < message.length() && Character.isHighSurrogate(message.charAt(end - 1))) {
      end--; // not half a character
    }
    StringBuilder out = new StringBuilder(end + 1);
    for (int i = 0; i < end; i++) {
      char c = message.charAt(i);
      // C0 and C1 controls, and the Unicode line and paragraph separators
      boolean breaks = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
      out.append(breaks ? '?' : c);
    }
    return end < message.length() ? out.append('…').toString() : out.toString();
  }

  private static boolean is2xx(UpstreamResponse response) {
    return response.status() / 100 == 2;
  }

  private static String hash(Client client) {
    return SessionIds.shortHash(client.name());
  }
}
