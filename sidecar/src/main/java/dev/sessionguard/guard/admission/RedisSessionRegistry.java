package dev.sessionguard.guard.admission;

import dev.sessionguard.guard.Failures;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.guard.admission.redis.Script;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The session registry shared by every guard of a policy, in Redis: the caps hold for the whole
 * server, not per pod. Each decision is one Lua script (see the scripts next to {@link Script}), so
 * guards racing each other admit exactly the allowed number, and every count is the size of a set
 * of live records.
 *
 * <p>Each guard holds a lease it renews; its reservations, the sessions it last served (it owns
 * them) and its POSTs in flight are indexed under it, and are purged (by any guard) once the lease
 * expires, so a crashed guard's slots come back within the lease TTL. A session whose owner's lease
 * is gone is taken over by the next guard that looks it up; once purged, its id is unknown (not
 * ended), so the client's next request adopts it again under the caps.
 *
 * <p>Only a session's owner reaps it ({@link #expire}): the owner has the client's latest {@code
 * Authorization} in memory, which the upstream DELETE needs. A purged session nobody adopts is an
 * orphan; once it is idle, any guard claims it (exactly one does) and deletes it upstream without
 * credentials, which an authenticating upstream may refuse (counted as a failed DELETE).
 *
 * <p>While Redis is unreachable, {@link FailureMode#Open} admits into a local {@link
 * MemorySessionRegistry} under the same caps (limits then hold per pod) and {@link
 * FailureMode#Closed} refuses new sessions with {@link Refusal#GLOBAL_SESSIONS}; in both, sessions
 * this guard has seen keep working. When Redis answers again, the renewer replays what was missed
 * (ends, cancels), copies the locally admitted sessions into Redis (over a cap if need be: they are
 * live upstream; new admissions wait until the count falls below it), and re-sends this guard's
 * POSTs in flight.
 *
 * <p>In-flight request and stream caps stay per pod ({@link InFlightLimits}): they protect the
 * pod's own threads and sockets, and must not cost a Redis round trip per request.
 */
public final class RedisSessionRegistry implements SessionRegistry, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisSessionRegistry.class);

  /** How long an ended session's id answers 404. */
  static final Duration TOMBSTONE_TTL = Duration.ofHours(1);

  /** A reservation this old is a lost reply, not an initialize still in progress. */
  static final Duration RESERVATION_MAX_AGE = Duration.ofMinutes(10);

  private static final int EXPIRE_BATCH = 1_000;
  private static final int ALIVE_BATCH = 1_000;
  private static final int REPLAY_MAX = 100_000;

  /** The cancel script's last argument: did the guard receive the admission's reply? */
  private static final String REPLY_LOST = "1";

  private static final String REPLY_RECEIVED = "0";

  private static final Script ADMIT = Script.named("admit");
  private static final Script CONFIRM = Script.named("confirm");
  private static final Script CANCEL = Script.named("cancel");
  private static final Script LOOKUP = Script.named("lookup");
  private static final Script END = Script.named("end");
  private static final Script STARTED = Script.named("started");
  private static final Script SERVE = Script.named("serve");
  private static final Script FINISHED = Script.named("finished");
  private static final Script EXPIRE = Script.named("expire");
  private static final Script RENEW = Script.named("renew");
  private static final Script RELEASE = Script.named("release");
  private static final Script IMPORT = Script.named("import");
  private static final Script RESYNC = Script.named("resync");
  private static final Script ALIVE = Script.named("alive");
  private static final Script HOLDERS = Script.named("holders");
  private static final List<Script> SCRIPTS =
      List.of(
          ADMIT, CONFIRM, CANCEL, LOOKUP, END, STARTED, SERVE, FINISHED, EXPIRE, RENEW, RELEASE,
          IMPORT, RESYNC, ALIVE, HOLDERS);

  private final RedisStore store;
  private final String guardId;
  private final Clock clock;
  private final String[] keys;
  private final String tombstoneMs;
  private final MemorySessionRegistry.Tombstones localTombstones;
  private final MemorySessionRegistry local;
  private final RedisClient client;
  private final ScheduledExecutorService renewer;

  private volatile StatefulRedisConnection<String, String> connection;
  private volatile boolean available;
  // The token of the last EXPIRE reply received: expire.lua returns a claim again until the next
  // call names its token, so a reply lost to a timeout does not lose its sessions' DELETEs.
  private volatile String claimsReceived = "";
  private volatile boolean leased;
  // The current outage was logged (the renewer's, and request threads' on a failed call).
  private volatile boolean downReported;

  /** When the lease was last renewed ({@link System#nanoTime}; the renewer thread's alone). */
  private long renewedAt;

  /** The counts Redis gave last, by name: what the gauges show while it is unreachable. */
  private final Map<String, Long> lastCounts = new ConcurrentHashMap<>();

  /** Reservations recorded in Redis, by their id there. */
  private final Map<Reservation, String> reserved = new ConcurrentHashMap<>();

  /** Redis sessions handed out, so a stream closer registered on one is found again. */
  private final Map<String, Session> seen = new ConcurrentHashMap<>();

  /** Sessions admitted locally while Redis was unreachable, not yet copied into it. */
  private final Map<String, Session> held = new ConcurrentHashMap<>();

  /**
   * Makes a held session's start (local confirm, held, its confirmation queued) and its local end
   * (no longer held, its end queued) one step each: an eviction or expiry landing between two of a
   * start's steps would queue the end ahead of the confirmation, or find nothing held yet, and
   * Redis would record the ended session, live.
   */
  private final Object heldLock = new Object();

  /**
   * Writes Redis missed while unreachable: {"end", id, tombstone ms}, {"confirm", rid, id, client,
   * created ms} (its script starts nothing: the re-sync after the outage carries the count) or
   * {"cancel", rid, whether the admission's reply was lost}.
   */
  private final Queue<String[]> replay = new ConcurrentLinkedQueue<>();

  private final AtomicInteger replaySize = new AtomicInteger();

  /**
   * This guard's POSTs in flight per session: the truth Redis is re-synced to. Updated, and its
   * update sent to Redis, under one lock, so Redis sees them in order.
   */
  private final Map<String, Integer> inFlight = new HashMap<>();

  private final ReentrantLock inFlightLock = new ReentrantLock();
  private volatile boolean inFlightLost;

  /**
   * The latest activity (epoch ms) on sessions whose update did not reach Redis (unreachable, or
   * the reply failed), sent with the next re-sync: without it, a session used all through an outage
   * would be reaped as idle as soon as Redis answers again. Under {@link #inFlightLock}.
   */
  private final Map<String, Long> missedActivity = new HashMap<>();

  /** Re-syncs of {@link #inFlight} sent (under its lock). */
  private int resyncs;

  /**
   * @param store the policy's Redis settings
   * @param guardId this guard among all that share the store (for example the pod name); unique
   * @param clock session times (creation, activity) come from it; leases use Redis time
   */
  public RedisSessionRegistry(RedisStore store, String guardId, Clock clock) {
    if (guardId.isEmpty() || guardId.contains(" ")) {
      throw new IllegalArgumentException("guard id must be non-empty, without spaces");
    }
    this.store = store;
    this.guardId = guardId;
    this.clock = clock;
    this.keys = new String[] {store.keyPrefix() + "sessions"};
    this.tombstoneMs = Long.toString(TOMBSTONE_TTL.toMillis());
    this.localTombstones = new MemorySessionRegistry.Tombstones(clock, 100_000, TOMBSTONE_TTL);
    this.local = new MemorySessionRegistry(clock, localTombstones);
    RedisURI uri = RedisURI.create(store.url());
    if (store.username() != null) {
      // an ACL user; one without a password (nopass) takes any
      uri.setAuthentication(
          store.username(),
          store.password() == null ? new char[0] : store.password().toCharArray());
    } else if (store.password() != null) {
      uri.setAuthentication(store.password().toCharArray());
    }
    uri.setTimeout(store.commandTimeout());
    this.client = RedisClient.create(uri);
    client.setOptions(
        ClientOptions.builder()
            .autoReconnect(true)
            // Fail at once while disconnected: admission falls back instead of queueing. A script
            // in flight when the connection drops fails too, never sent again after reconnecting
            // (it may have run: the guard's lost-reply handling applies).
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .socketOptions(SocketOptions.builder().connectTimeout(store.commandTimeout()).build())
            .timeoutOptions(TimeoutOptions.enabled(store.commandTimeout()))
            .build());
    this.renewer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "sessionguard-redis-lease");
              t.setDaemon(true);
              return t;
            });
  }

  /** A new guard id: the given name (the pod's) plus a random suffix, so a restart is new. */
  public static String guardId(String name) {
    return name + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /**
   * Connects, takes the lease and starts renewing it. Does not fail when Redis is down: the store
   * is then unavailable until a renewal succeeds.
   */
  public void start() {
    tick();
    long period = Math.min(store.leaseTtl().toMillis() / 3, 1_000);
    renewer.scheduleWithFixedDelay(this::tick, period, period, TimeUnit.MILLISECONDS);
  }

  /** Stops renewing and gives up the lease, so the other guards free this guard's slots now. */
  @Override
  public void close() {
    renewer.shutdownNow();
    if (available) {
      try {
        call(RELEASE, ScriptOutputType.INTEGER);
      } catch (RedisException e) {
        LOG.debug("could not release the lease; it expires on its own", e);
      }
    }
    shutdownClient();
  }

  /** Stops without a word to Redis, as a crash would (tests). */
  void halt() {
    renewer.shutdownNow();
    shutdownClient();
  }

  private void shutdownClient() {
    available = false;
    var c = connection;
    if (c != null) {
      c.close();
    }
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }

  /** False while Redis is unreachable: the failure mode decides admissions (health, metrics). */
  public boolean storeAvailable() {
    return available;
  }

  public FailureMode failureMode() {
    return store.failureMode();
  }

  /** Sessions admitted locally while Redis was unreachable and not yet copied into it. */
  public int localSessions() {
    return held.size();
  }

  public String guard() {
    return guardId;
  }

  // ---- Admission

  @Override
  public Admission admit(String client, SessionCaps caps, boolean exempt, boolean force) {
    if (available) {
      String rid = UUID.randomUUID().toString();
      try {
        List<Object> reply =
            call(
                ADMIT,
                ScriptOutputType.MULTI,
                now(),
                client,
                flag(exempt),
                flag(force),
                Integer.toString(caps.max()),
                Integer.toString(caps.perClient()),
                flag(caps.evictIdlest()),
                rid,
                tombstoneMs);
        if ("refused".equals(reply.get(0))) {
          return new Admission.Refused(Refusal.valueOf((String) reply.get(1)));
        }
        String would = (String) reply.get(1);
        List<Session> evicted =
            reply.size() > 2 ? List.of(endedSession(reply, 2)) : List.<Session>of();
        Reservation reservation = new Reservation(client, exempt);
        reserved.put(reservation, rid);
        return new Admission.Admitted(
            reservation,
            would.isEmpty() ? Optional.empty() : Optional.of(Refusal.valueOf(would)),
            evicted);
      } catch (RedisException e) {
        unavailable(e);
        // A timed-out script may still run: whatever it reserved is given back once Redis answers,
        // and what it evicted is left to the next expiry (its reply, naming it, never came).
        replay("cancel", rid, REPLY_LOST);
      }
    }
    return admitLocally(client, caps, exempt, force);
  }

  private Admission admitLocally(String client, SessionCaps caps, boolean exempt, boolean force) {
    boolean closed = store.failureMode() == FailureMode.Closed;
    if (closed && !force) {
      return new Admission.Refused(Refusal.GLOBAL_SESSIONS);
    }
    Admission admission = local.admit(client, caps, exempt, force);
    if (admission instanceof Admission.Admitted admitted) {
      admitted.evicted().forEach(s -> endedHere(s.id(), true));
      if (closed) {
        return new Admission.Admitted(
            admitted.reservation(),
            Optional.of(admitted.wouldRefuse().orElse(Refusal.GLOBAL_SESSIONS)),
            admitted.evicted());
      }
    }
    return admission;
  }

  @Override
  public Session confirm(
      Reservation reservation, String sessionId, boolean started, boolean activity) {
    String rid = reserved.remove(reservation);
    if (rid == null) {
      return confirmHeld(reservation, sessionId, started, activity);
    }
    reservation.open = false;
    if (available) {
      // counted before the script is sent, as startRequest counts, so re-syncs stay in order
      int resyncsBefore = started ? countStarted(sessionId) : 0;
      List<Object> reply;
      try {
        reply =
            call(
                CONFIRM,
                ScriptOutputType.MULTI,
                now(),
                rid,
                sessionId,
                reservation.client,
                flag(started),
                flag(activity));
      } catch (RedisException e) {
        unavailable(e);
        if (started) {
          notStarted(sessionId, resyncsBefore, true); // held below, and counted there
        }
        return confirmHeld(
            new Reservation(reservation.client, false), sessionId, started, activity, rid);
      }
      Session session = sessionOf(sessionId, (String) reply.get(1), (String) reply.get(2));
      if (started && !session.client().equals(reservation.client)) {
        notStarted(sessionId, resyncsBefore, false); // another client's: the script started none
      } else if (started) {
        startedCounted(resyncsBefore);
      }
      return session;
    }
    return confirmHeld(
        new Reservation(reservation.client, false), sessionId, started, activity, rid);
  }

  /**
   * The upstream issued the session: hold it here until Redis can record it. Its reservation keeps
   * the slot until then, and is turned into the session in one step (a cancel followed by an import
   * would let another guard take the slot in between: one session over the cap). A POST started
   * with it reaches Redis with the re-sync that follows the outage.
   */
  private Session confirmHeld(
      Reservation reservation, String sessionId, boolean started, boolean activity, String rid) {
    synchronized (heldLock) {
      Session session = confirmHeld(reservation, sessionId, started, activity);
      if (session.client().equals(reservation.client)) {
        replay("confirm", rid, sessionId, reservation.client, ms(session.created()));
      } else {
        replay("cancel", rid, REPLY_RECEIVED); // another's: nothing of this client's to record
      }
      return session;
    }
  }

  /**
   * Holds the session here (a reservation made here while Redis was unreachable, or above). An id
   * this guard knows as another client's live session stays that client's (Redis would say so too):
   * that session is returned, as a confirm in Redis would, and the reservation released.
   */
  private Session confirmHeld(
      Reservation reservation, String sessionId, boolean started, boolean activity) {
    synchronized (heldLock) {
      Session known = seen.get(sessionId);
      if (known != null && !known.client().equals(reservation.client)) {
        local.cancel(reservation);
        return known;
      }
      Session session = local.confirm(reservation, sessionId, started, activity);
      held.putIfAbsent(session.id(), session);
      if (started && session.client().equals(reservation.client)) {
        countStarted(sessionId);
      }
      return session;
    }
  }

  /**
   * A script started the POST {@link #countStarted} counted: a re-sync sent in between carried the
   * count already (for a session that existed then), so Redis may hold it twice; re-sync again.
   */
  private void startedCounted(int resyncsBefore) {
    inFlightLock.lock();
    try {
      if (resyncs != resyncsBefore) {
        inFlightLost = true;
      }
    } finally {
      inFlightLock.unlock();
    }
  }

  /** Counts a POST started on the session in {@link #inFlight}; returns the re-syncs so far. */
  private int countStarted(String sessionId) {
    inFlightLock.lock();
    try {
      inFlight.merge(sessionId, 1, Integer::sum);
      return resyncs;
    } finally {
      inFlightLock.unlock();
    }
  }

  @Override
  public void cancel(Reservation reservation) {
    String rid = reserved.remove(reservation);
    if (rid == null) {
      local.cancel(reservation);
      return;
    }
    reservation.open = false;
    if (available) {
      try {
        call(CANCEL, ScriptOutputType.INTEGER, rid, REPLY_RECEIVED);
        return;
      } catch (RedisException e) {
        unavailable(e);
      }
    }
    replay("cancel", rid, REPLY_RECEIVED);
  }

  // ---- Sessions

  @Override
  public Lookup lookup(String sessionId) {
    Session mine = held.get(sessionId);
    if (mine != null) {
      return new Lookup.Known(mine);
    }
    if (available) {
      try {
        return lookupOf(sessionId, call(LOOKUP, ScriptOutputType.MULTI, sessionId));
      } catch (RedisException e) {
        unavailable(e);
      }
    }
    // Unreachable: what this guard has seen keeps working.
    Session seenHere = seen.get(sessionId);
    if (seenHere != null) {
      return new Lookup.Known(seenHere);
    }
    return local.lookup(sessionId) instanceof Lookup.Ended
        ? new Lookup.Ended()
        : new Lookup.Unknown();
  }

  /** The {@code lookup} script's reply. */
  private Lookup lookupOf(String sessionId, List<Object> reply) {
    return switch ((String) reply.get(0)) {
      case "known" ->
          new Lookup.Known(sessionOf(sessionId, (String) reply.get(1), (String) reply.get(2)));
      case "ended" -> new Lookup.Ended();
      default -> new Lookup.Unknown();
    };
  }

  /**
   * A session held here (Redis could not record it yet) ended here: its end waits in the replay
   * behind its confirmation, or Redis would record it, live, once it answers again.
   */
  private Session endedHere(String sessionId, boolean remember) {
    synchronized (heldLock) {
      Session mine = held.remove(sessionId);
      if (mine != null) {
        replay("end", sessionId, tombstoneMs(remember));
      }
      return mine;
    }
  }

  @Override
  public Optional<Session> end(String sessionId, EndReason reason) {
    Optional<Session> ended = Optional.empty();
    // a held session's confirmation may still wait in the replay: its end is queued behind it,
    // whatever Redis answers now
    Session mine = endedHere(sessionId, true);
    if (mine != null) {
      local.end(sessionId, reason);
      ended = Optional.of(mine);
    }
    if (available) {
      try {
        List<Object> reply = call(END, ScriptOutputType.MULTI, sessionId, tombstoneMs);
        if (!reply.isEmpty()) {
          Session session = endedSession(sessionId, reply.get(0), reply.get(1));
          return ended.isPresent() ? ended : Optional.of(session);
        }
        return ended;
      } catch (RedisException e) {
        unavailable(e);
      }
    }
    if (mine == null) {
      replay("end", sessionId, tombstoneMs);
    }
    localTombstones.add(sessionId);
    Session seenHere = seen.remove(sessionId);
    return ended.isPresent() ? ended : Optional.ofNullable(seenHere);
  }

  /**
   * One script looks the session up and starts the POST. The POST is counted in {@link #inFlight}
   * when the script is sent, as {@link #requestStarted} counts it, so Redis sees counts and
   * re-syncs in order; a POST the script did not start is taken back out when the reply says so.
   */
  @Override
  public CompletionStage<Optional<Session>> startRequest(
      String sessionId, String client, boolean activity) {
    Session mine = held.get(sessionId);
    var c = connection;
    if (mine != null || !available || c == null) {
      // Held here through an outage, or Redis down: lookup() has the rest, as it would.
      if (mine == null || !mine.heldBy(client) || !requestStarted(mine, activity)) {
        return CompletableFuture.completedFuture(Optional.empty());
      }
      return CompletableFuture.completedFuture(Optional.of(mine));
    }
    RedisFuture<List<Object>> reply;
    int resyncsBefore;
    inFlightLock.lock();
    try {
      inFlight.merge(sessionId, 1, Integer::sum);
      resyncsBefore = resyncs;
      try {
        reply =
            SERVE.send(
                c.async(),
                ScriptOutputType.MULTI,
                keys,
                args(now(), sessionId, client == null ? "" : client, flag(activity)));
      } catch (RedisException e) {
        notStarted(sessionId, resyncsBefore, true);
        return CompletableFuture.completedFuture(Optional.empty());
      }
    } finally {
      inFlightLock.unlock();
    }
    return reply.handle(
        (r, failure) -> {
          if (failure == null && "known".equals(r.get(0)) && ((Long) r.get(3)) == 1) {
            try {
              Session session = sessionOf(sessionId, (String) r.get(1), (String) r.get(2));
              local.requestStarted(session, activity);
              return Optional.of(session);
            } catch (RuntimeException e) {
              LOG.error("starting a request on {} failed", SessionIds.shortHash(sessionId), e);
              notStarted(sessionId, resyncsBefore, true); // started in Redis: re-sync the count
              return Optional.<Session>empty();
            }
          }
          // Unknown, ended or another client's: lookup() decides. A failed reply (Redis restarted
          // empty answers NOSCRIPT, a timeout) may or may not have started the POST in Redis: the
          // next renewal loads the scripts again and re-syncs the counts.
          notStarted(sessionId, resyncsBefore, failure != null);
          return Optional.<Session>empty();
        });
  }

  /** Takes back the count {@link #startRequest} made for a POST it did not start. */
  private void notStarted(String sessionId, int resyncsBefore, boolean unsure) {
    inFlightLock.lock();
    try {
      inFlight.computeIfPresent(sessionId, (id, n) -> n == 1 ? null : n - 1);
      if (unsure || resyncs != resyncsBefore) {
        inFlightLost = true; // Redis may count it (a re-sync sent meanwhile did): re-sync again
      }
    } finally {
      inFlightLock.unlock();
    }
  }

  @Override
  public boolean requestStarted(Session session, boolean activity) {
    // Held here (admitted in an outage), or a Redis session this guard has seen and not seen end.
    if (!local.requestStarted(session, activity) && !seen.containsKey(session.id())) {
      return false;
    }
    inFlightLock.lock();
    try {
      inFlight.merge(session.id(), 1, Integer::sum);
      send(STARTED, session.id(), activity);
    } finally {
      inFlightLock.unlock();
    }
    return true;
  }

  @Override
  public void requestFinished(Session session, boolean activity) {
    finished(session, activity);
  }

  /** Waits for Redis's reply (at most the command timeout): other guards see the session idle. */
  @Override
  public void requestFinishedNow(Session session, boolean activity) {
    RedisFuture<Long> sent = finished(session, activity);
    if (sent != null) {
      try {
        sent.get(store.commandTimeout().toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (ExecutionException | TimeoutException e) {
        // noted as missed by send(): the next re-sync repairs it
      }
    }
  }

  private RedisFuture<Long> finished(Session session, boolean activity) {
    local.requestFinished(session, activity);
    inFlightLock.lock();
    try {
      Integer n = inFlight.get(session.id());
      if (n == null) {
        return null;
      }
      if (n == 1) {
        inFlight.remove(session.id());
      } else {
        inFlight.put(session.id(), n - 1);
      }
      return send(FINISHED, session.id(), activity);
    } finally {
      inFlightLock.unlock();
    }
  }

  /**
   * Sends a busy-count update without waiting (under {@link #inFlightLock}); a lost one is repaired
   * by the next re-sync, its activity included. Returns its reply to come, or null when not sent.
   */
  private RedisFuture<Long> send(Script script, String sessionId, boolean activity) {
    long at = clock.millis();
    var c = connection;
    if (!available || c == null) {
      missed(sessionId, activity, at);
      return null;
    }
    try {
      RedisFuture<Long> sent =
          script.send(
              c.async(),
              ScriptOutputType.INTEGER,
              keys,
              args(Long.toString(at), sessionId, flag(activity)));
      sent.whenComplete(
          (r, e) -> {
            if (e != null) {
              inFlightLock.lock();
              try {
                missed(sessionId, activity, at);
              } finally {
                inFlightLock.unlock();
              }
            }
          });
      return sent;
    } catch (RedisException e) {
      missed(sessionId, activity, at);
      return null;
    }
  }

  /** An update Redis did not get: re-sync, with its activity. Under {@link #inFlightLock}. */
  private void missed(String sessionId, boolean activity, long at) {
    inFlightLost = true;
    if (activity) {
      missedActivity.merge(sessionId, at, Math::max);
    }
  }

  @Override
  public List<Ended> expire(
      Duration idle, Duration lifetime, Duration hardBound, boolean remember) {
    List<Ended> ended = new ArrayList<>();
    for (Ended e : local.expire(idle, lifetime, hardBound, remember)) {
      endedHere(e.session().id(), remember);
      ended.add(e);
    }
    if (!available) {
      return ended;
    }
    try {
      Instant now = clock.instant();
      Instant bornBefore = now.minus(lifetime);
      while (true) {
        String token = UUID.randomUUID().toString();
        List<Object> reply =
            call(
                EXPIRE,
                ScriptOutputType.MULTI,
                ms(now.minus(idle)),
                ms(bornBefore),
                ms(bornBefore.minus(hardBound)),
                tombstoneMs(remember),
                Integer.toString(EXPIRE_BATCH),
                token,
                claimsReceived);
        claimsReceived = token; // a reply lost before this line is claimed again next time
        int idleClaimed = 0;
        for (int i = 0; i < reply.size(); i += 4) {
          EndReason reason = EndReason.valueOf((String) reply.get(i + 3));
          ended.add(new Ended(endedSession(reply, i), reason));
          if (reason == EndReason.IDLE) {
            idleClaimed++;
          }
        }
        if (idleClaimed < EXPIRE_BATCH) {
          break;
        }
      }
      // DryRun forgets sessions whose streams another guard may carry: left open there
      closeStreamsEndedElsewhere(remember);
    } catch (RedisException e) {
      unavailable(e);
    }
    return ended;
  }

  /** How long Redis remembers an ended id: 0 forgets it (DryRun), so its client re-adopts it. */
  private String tombstoneMs(boolean remember) {
    return remember ? tombstoneMs : "0";
  }

  /**
   * Another guard may have ended a session whose GET stream this guard carries: forget those here
   * and, unless {@code close} is false (DryRun), close their streams (the other guard sent the
   * upstream DELETE).
   */
  private void closeStreamsEndedElsewhere(boolean close) {
    List<Map.Entry<String, Session>> handedOut = new ArrayList<>(seen.entrySet());
    for (int from = 0; from < handedOut.size(); from += ALIVE_BATCH) {
      var batch = handedOut.subList(from, Math.min(from + ALIVE_BATCH, handedOut.size()));
      List<Object> alive =
          call(ALIVE, ScriptOutputType.MULTI, batch.stream().map(Map.Entry::getKey).toList());
      for (int i = 0; i < batch.size(); i++) {
        var entry = batch.get(i);
        if (((Long) alive.get(i)) == 0 && seen.remove(entry.getKey(), entry.getValue()) && close) {
          entry.getValue().closeStream();
        }
      }
    }
  }

  // ---- Counts

  @Override
  public int active() {
    return local.active() + (int) count("sessions", () -> redis().zcard(key("sessions")));
  }

  @Override
  public int pending() {
    // reservations resolve within a request: none is remembered past Redis's reach
    return local.pending() + (int) count(null, () -> redis().hlen(key("reservations")));
  }

  /** Clients holding something in Redis, plus those holding something locally. */
  @Override
  public int clients() {
    return local.clients() + (int) count("clients", () -> redis().scard(key("clients")));
  }

  @Override
  public List<Holder> topHolders(int limit) {
    Map<String, Integer> sessions = new HashMap<>();
    local.topHolders(Integer.MAX_VALUE).forEach(h -> sessions.put(h.client(), h.sessions()));
    if (available) {
      try {
        List<Object> reply = call(HOLDERS, ScriptOutputType.MULTI);
        for (int i = 0; i < reply.size(); i += 2) {
          sessions.merge(
              (String) reply.get(i), Integer.parseInt((String) reply.get(i + 1)), Integer::sum);
        }
      } catch (RedisException e) {
        unavailable(e);
      }
    }
    return sessions.entrySet().stream()
        .map(e -> new Holder(e.getKey(), e.getValue()))
        .sorted(Comparator.comparingInt(Holder::sessions).reversed().thenComparing(Holder::client))
        .limit(limit)
        .toList();
  }

  private interface Count {
    long get();
  }

  /**
   * A count Redis keeps; while Redis is unreachable, the last one it gave under {@code name} (its
   * sessions still live and are served meanwhile: the gauges must not fall to the few held here),
   * or 0 for a count not remembered ({@code name} null).
   */
  private long count(String name, Count count) {
    if (available) {
      try {
        long n = count.get();
        if (name != null) {
          lastCounts.put(name, n);
        }
        return n;
      } catch (RedisException e) {
        unavailable(e);
      }
    }
    return name == null ? 0 : lastCounts.getOrDefault(name, 0L);
  }

  // ---- Lease, recovery

  /** Renews the lease; after an outage, reconciles before admitting through Redis again. */
  private void tick() {
    try {
      if (!connected()) {
        return;
      }
      boolean recovering = !available;
      if (recovering || inFlightLost) {
        SCRIPTS.forEach(s -> s.load(redis()));
      }
      boolean first = !leased;
      renew();
      reconcile();
      if (recovering) {
        LOG.info(
            first
                ? "guard {} joined the Redis session store"
                : "Redis session store available again",
            guardId);
      }
      available = true;
      downReported = false;
    } catch (RedisException e) {
      unavailable(e);
    } catch (RuntimeException e) {
      LOG.error("lease renewal failed", e);
    }
  }

  /**
   * Renews the lease. One found lapsed, or this guard purged since the last renewal (a request's
   * script may have taken the lease again first), means Redis lost this guard's POSTs in flight.
   */
  private void renew() {
    long held =
        call(RENEW, ScriptOutputType.INTEGER, ms(clock.instant().minus(RESERVATION_MAX_AGE)));
    renewedAt = System.nanoTime();
    if (held == 0 && leased) {
      LOG.warn(
          "guard {} lost its Redis lease (no renewal within leaseTtl, or Redis restarted"
              + " empty); its sessions there were given up: those it is serving are taken back,"
              + " clients re-adopt the others",
          guardId);
      inFlightLost = true;
    }
    leased = true;
  }

  /** Renews the lease when a third of it has passed: a long replay must not let it lapse. */
  private void renewIfDue() {
    if (System.nanoTime() - renewedAt > store.leaseTtl().toNanos() / 3) {
      renew();
    }
  }

  private boolean connected() {
    var c = connection;
    if (c != null && !available && !c.isOpen()) {
      // Reconnect now rather than after the client's growing back-off.
      c.closeAsync();
      connection = null;
      c = null;
    }
    if (c == null) {
      try {
        connection = client.connect(StringCodec.UTF8);
      } catch (RedisException e) {
        unavailable(e);
        return false;
      }
    }
    return true;
  }

  private void reconcile() {
    for (String[] op = replay.peek(); op != null; op = replay.peek()) {
      switch (op[0]) {
        case "end" -> call(END, ScriptOutputType.MULTI, op[1], op[2]);
        case "confirm" ->
            call(
                CONFIRM,
                ScriptOutputType.MULTI,
                op[4], // when it was confirmed here: its lifetime counts from then
                op[1],
                op[2],
                op[3],
                flag(false),
                flag(false));
        default -> call(CANCEL, ScriptOutputType.INTEGER, op[1], op[2]);
      }
      replay.poll();
      replaySize.decrementAndGet();
      renewIfDue();
    }
    for (Session session : List.copyOf(held.values())) {
      call(
          IMPORT,
          ScriptOutputType.INTEGER,
          now(),
          session.id(),
          session.client(),
          ms(session.created()));
      seen.put(session.id(), session);
      if (held.remove(session.id(), session)) {
        // Redis holds it now; the local copy goes without a tombstone.
        local.end(session.id(), EndReason.CLIENT);
        localTombstones.forget(session.id());
      } else {
        // It ended while being copied: end the copy too.
        call(END, ScriptOutputType.MULTI, session.id(), tombstoneMs);
        seen.remove(session.id(), session);
      }
      inFlightLost = true;
      renewIfDue();
    }
    if (inFlightLost) {
      resyncInFlight();
    }
  }

  private void resyncInFlight() {
    RedisFuture<Long> sent;
    Map<String, Long> activity;
    inFlightLock.lock();
    try {
      inFlightLost = false;
      resyncs++;
      List<String> triples = new ArrayList<>();
      inFlight.forEach(
          (id, n) -> {
            Long act = missedActivity.get(id);
            triples.add(id);
            triples.add(Integer.toString(n));
            triples.add(act == null ? "0" : act.toString());
          });
      missedActivity.forEach(
          (id, act) -> {
            if (!inFlight.containsKey(id)) {
              triples.add(id);
              triples.add("0");
              triples.add(act.toString());
            }
          });
      activity = new HashMap<>(missedActivity);
      missedActivity.clear();
      try {
        sent = RESYNC.send(connection.async(), ScriptOutputType.INTEGER, keys, args(triples));
      } catch (RuntimeException e) {
        resyncFailed(activity); // under the lock already: it is reentrant
        throw e;
      }
    } finally {
      inFlightLock.unlock();
    }
    try {
      sent.get(store.commandTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      resyncFailed(activity);
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      resyncFailed(activity);
      throw new RedisException("re-sync of requests in flight failed", e);
    }
  }

  /** A re-sync that may not have arrived: sent again next time, with the activity it carried. */
  private void resyncFailed(Map<String, Long> activity) {
    inFlightLock.lock();
    try {
      inFlightLost = true;
      activity.forEach((id, at) -> missed(id, true, at));
    } finally {
      inFlightLock.unlock();
    }
  }

  private void unavailable(RuntimeException e) {
    inFlightLost = true;
    // Once per outage, the first one included: a guard that never reached Redis (a wrong user or
    // password, a missing ACL permission) says why instead of failing silently; the root cause
    // (WRONGPASS, NOPERM) is in the connect error's cause. Redis's messages never carry the
    // password.
    if (available || !downReported) {
      available = false;
      downReported = true;
      LOG.warn(
          "Redis session store unavailable ({}); failureMode {}",
          Failures.describe(e),
          store.failureMode());
    }
  }

  private void replay(String... op) {
    if (replaySize.incrementAndGet() > REPLAY_MAX) {
      replaySize.decrementAndGet();
      LOG.warn("too many writes waiting for Redis; dropping one");
      return;
    }
    replay.add(op);
  }

  // ---- Helpers

  private RedisCommands<String, String> redis() {
    var c = connection;
    if (c == null) {
      throw new RedisException("not connected");
    }
    return c.sync();
  }

  private <T> T call(Script script, ScriptOutputType type, String... args) {
    return script.run(redis(), type, keys, args(List.of(args)));
  }

  private <T> T call(Script script, ScriptOutputType type, List<String> args) {
    return script.run(redis(), type, keys, args(args));
  }

  private String[] args(String... own) {
    return args(List.of(own));
  }

  private String[] args(List<String> own) {
    String[] all = new String[3 + own.size()];
    all[0] = store.keyPrefix();
    all[1] = guardId;
    all[2] = Long.toString(store.leaseTtl().toMillis());
    for (int i = 0; i < own.size(); i++) {
      all[3 + i] = own.get(i);
    }
    return all;
  }

  private String key(String name) {
    return store.keyPrefix() + name;
  }

  /** The session object for a live Redis session: the one handed out before, if any. */
  private Session sessionOf(String id, String client, String created) {
    long createdMs = Long.parseLong(created);
    return seen.compute(
        id,
        (k, s) ->
            s != null && s.createdMillis() == createdMs && s.client().equals(client)
                ? s
                : new Session(id, client, createdMs));
  }

  private Session endedSession(List<Object> reply, int at) {
    return endedSession((String) reply.get(at), reply.get(at + 1), reply.get(at + 2));
  }

  private Session endedSession(String id, Object client, Object created) {
    Session s = seen.remove(id);
    return s != null ? s : new Session(id, (String) client, Long.parseLong((String) created));
  }

  private String now() {
    return ms(clock.instant());
  }

  private static String ms(Instant instant) {
    return Long.toString(instant.toEpochMilli());
  }

  private static String flag(boolean b) {
    return b ? "1" : "0";
  }
}
