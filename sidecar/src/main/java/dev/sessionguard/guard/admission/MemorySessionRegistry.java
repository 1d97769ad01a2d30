package dev.sessionguard.guard.admission;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The session registry of one guard, in memory. One lock guards every structure, so each decision
 * sees and changes all counts at once; the lock is a {@link ReentrantLock} so that virtual threads
 * waiting on it never pin their carrier.
 *
 * <p>Two ordered indexes make reaping cost proportional to what expires: idle sessions ordered by
 * last activity (busy sessions leave it while busy), and every session ordered by creation.
 */
public final class MemorySessionRegistry implements SessionRegistry {
  private static final Comparator<Session> BY_ACTIVITY =
      Comparator.comparingLong((Session s) -> s.lastActivity).thenComparing(Session::id);
  private static final Comparator<Session> BY_CREATION =
      Comparator.comparingLong(Session::createdMillis).thenComparing(Session::id);

  private final Clock clock;
  private final Tombstones tombstones;
  private final ReentrantLock lock = new ReentrantLock();
  private final Map<String, Session> sessions = new HashMap<>();
  private final Map<String, Holdings> clients = new HashMap<>();
  private final Set<Reservation> pending = new HashSet<>();
  private final TreeSet<Session> idle = new TreeSet<>(BY_ACTIVITY);
  private final TreeSet<Session> byAge = new TreeSet<>(BY_CREATION);

  /** What one client holds; it exists only while it holds something. */
  private static final class Holdings {
    // Every session of the client shares this one copy of its name.
    final String client;
    final Set<Session> sessions = new HashSet<>();
    final Set<Reservation> pending = new HashSet<>();

    Holdings(String client) {
      this.client = client;
    }

    int size() {
      return sessions.size() + pending.size();
    }
  }

  public MemorySessionRegistry(Clock clock) {
    this(clock, new Tombstones(clock, 100_000, Duration.ofHours(1)));
  }

  public MemorySessionRegistry(Clock clock, Tombstones tombstones) {
    this.clock = clock;
    this.tombstones = tombstones;
  }

  @Override
  public Admission admit(String client, SessionCaps caps, boolean exempt, boolean force) {
    lock.lock();
    try {
      Holdings holdings = clients.get(client);
      int held = holdings == null ? 0 : holdings.size();
      List<Session> evicted = List.of();
      Refusal wouldRefuse = null;
      int total = sessions.size() + pending.size();
      boolean atClientCap = !exempt && held >= caps.perClient();
      if (total >= caps.max() || atClientCap) {
        // A client at its own cap makes room under both caps by its idlest session, so one that
        // restarted without a DELETE is not shut out of a full server either (unless the server
        // or the client holds more than its cap, lowered by a reload: then one ended is not room
        // enough, and the count must come down first). In DryRun the counts are over the caps by
        // the evictions DryRun did not make, which no lowered cap can be told from: a client at
        // its cap is taken as Enforce would have it there, evicting (an approximation).
        Session idlest =
            atClientCap
                    && caps.evictIdlest()
                    && (force || (total - 1 < caps.max() && held - 1 < caps.perClient()))
                ? idlestOf(holdings)
                : null;
        if (idlest == null) {
          wouldRefuse = total >= caps.max() ? Refusal.GLOBAL_SESSIONS : Refusal.CLIENT_SESSIONS;
        } else if (!force) {
          remove(idlest, true);
          evicted = List.of(idlest);
        } // DryRun: Enforce would evict, not refuse; nothing is ended
      }
      if (wouldRefuse != null && !force) {
        return new Admission.Refused(wouldRefuse);
      }
      Reservation reservation = new Reservation(client, exempt);
      pending.add(reservation);
      clients.computeIfAbsent(client, Holdings::new).pending.add(reservation);
      return new Admission.Admitted(reservation, Optional.ofNullable(wouldRefuse), evicted);
    } finally {
      lock.unlock();
    }
  }

  /** The client's least recently active session that is not busy, or null. */
  private static Session idlestOf(Holdings holdings) {
    Session idlest = null;
    if (holdings != null) {
      for (Session s : holdings.sessions) {
        if (s.busy == 0 && (idlest == null || BY_ACTIVITY.compare(s, idlest) < 0)) {
          idlest = s;
        }
      }
    }
    return idlest;
  }

  @Override
  public Session confirm(
      Reservation reservation, String sessionId, boolean started, boolean activity) {
    lock.lock();
    try {
      release(reservation);
      Session existing = sessions.get(sessionId);
      if (existing != null) {
        if (started && existing.client().equals(reservation.client)) {
          requestStarted(existing, activity); // reentrant
        }
        return existing;
      }
      Holdings holdings = clients.computeIfAbsent(reservation.client, Holdings::new);
      Session session = new Session(sessionId, holdings.client, clock.millis());
      sessions.put(sessionId, session);
      holdings.sessions.add(session);
      if (started) {
        session.busy = 1;
      } else {
        idle.add(session);
      }
      byAge.add(session);
      tombstones.forget(sessionId);
      return session;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void cancel(Reservation reservation) {
    lock.lock();
    try {
      release(reservation);
    } finally {
      lock.unlock();
    }
  }

  private void release(Reservation reservation) {
    if (!reservation.open) {
      return;
    }
    reservation.open = false;
    pending.remove(reservation);
    Holdings holdings = clients.get(reservation.client);
    if (holdings != null) {
      holdings.pending.remove(reservation);
      if (holdings.size() == 0) {
        clients.remove(reservation.client);
      }
    }
  }

  /** Under one lock: a session the reaper ends meanwhile is not started. */
  @Override
  public CompletionStage<Optional<Session>> startRequest(
      String sessionId, String client, boolean activity) {
    lock.lock();
    try {
      Session session = sessions.get(sessionId);
      if (session == null || !session.heldBy(client)) {
        return CompletableFuture.completedFuture(Optional.empty());
      }
      requestStarted(session, activity);
      return CompletableFuture.completedFuture(Optional.of(session));
    } finally {
      lock.unlock();
    }
  }

  @Override
  public Lookup lookup(String sessionId) {
    lock.lock();
    try {
      Session session = sessions.get(sessionId);
      if (session != null) {
        return new Lookup.Known(session);
      }
      return tombstones.contains(sessionId) ? new Lookup.Ended() : new Lookup.Unknown();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public Optional<Session> end(String sessionId, EndReason reason) {
    lock.lock();
    try {
      Session session = sessions.get(sessionId);
      if (session == null) {
        return Optional.empty();
      }
      remove(session, true);
      return Optional.of(session);
    } finally {
      lock.unlock();
    }
  }

  private void remove(Session session, boolean remember) {
    sessions.remove(session.id());
    idle.remove(session);
    byAge.remove(session);
    Holdings holdings = clients.get(session.client());
    if (holdings != null) {
      holdings.sessions.remove(session);
      if (holdings.size() == 0) {
        clients.remove(session.client());
      }
    }
    if (remember) {
      tombstones.add(session.id());
    }
  }

  @Override
  public boolean requestStarted(Session session, boolean activity) {
    lock.lock();
    try {
      if (sessions.get(session.id()) != session) {
        return false;
      }
      if (session.busy++ == 0) {
        idle.remove(session);
      }
      if (activity) {
        session.lastActivity = clock.millis();
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void requestFinished(Session session, boolean activity) {
    lock.lock();
    try {
      if (sessions.get(session.id()) != session || session.busy == 0) {
        return;
      }
      if (activity) {
        session.lastActivity = clock.millis();
      }
      if (--session.busy == 0) {
        idle.add(session);
      }
    } finally {
      lock.unlock();
    }
  }

  @Override
  public List<Ended> expire(
      Duration idleTimeout, Duration lifetime, Duration hardBound, boolean remember) {
    lock.lock();
    try {
      long now = clock.millis();
      List<Ended> ended = new ArrayList<>();
      long idleBefore = now - idleTimeout.toMillis();
      while (!idle.isEmpty() && idle.first().lastActivity <= idleBefore) {
        Session s = idle.first();
        remove(s, remember);
        ended.add(new Ended(s, EndReason.IDLE));
      }
      long bornBefore = now - lifetime.toMillis();
      long hardBefore = bornBefore - hardBound.toMillis();
      Iterator<Session> oldest = byAge.iterator();
      List<Session> expired = new ArrayList<>();
      while (oldest.hasNext()) {
        Session s = oldest.next();
        if (s.createdMillis() > bornBefore) {
          break;
        }
        // A busy session finishes its POSTs first, up to the hard bound.
        if (s.busy == 0 || s.createdMillis() <= hardBefore) {
          expired.add(s);
        }
      }
      for (Session s : expired) {
        remove(s, remember);
        ended.add(new Ended(s, EndReason.LIFETIME));
      }
      tombstones.expire();
      return ended;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public int active() {
    lock.lock();
    try {
      return sessions.size();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public int pending() {
    lock.lock();
    try {
      return pending.size();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public int clients() {
    lock.lock();
    try {
      return clients.size();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public List<Holder> topHolders(int limit) {
    lock.lock();
    try {
      return clients.entrySet().stream()
          .filter(e -> !e.getValue().sessions.isEmpty())
          .map(e -> new Holder(e.getKey(), e.getValue().sessions.size()))
          .sorted(
              Comparator.comparingInt(Holder::sessions).reversed().thenComparing(Holder::client))
          .limit(limit)
          .toList();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Ids of sessions that ended, remembered for a while so later requests get 404. Thread-safe on
   * its own: the Redis registry shares one with its local registry, outside that one's lock.
   */
  public static final class Tombstones {
    private final Clock clock;
    private final int capacity;
    private final Duration ttl;
    private final LinkedHashMap<String, Instant> ended = new LinkedHashMap<>();

    public Tombstones(Clock clock, int capacity, Duration ttl) {
      this.clock = clock;
      this.capacity = capacity;
      this.ttl = ttl;
    }

    synchronized void add(String id) {
      ended.remove(id);
      ended.put(id, clock.instant().plus(ttl));
      if (ended.size() > capacity) {
        ended.remove(ended.keySet().iterator().next());
      }
    }

    synchronized void forget(String id) {
      ended.remove(id);
    }

    synchronized boolean contains(String id) {
      Instant until = ended.get(id);
      return until != null && until.isAfter(clock.instant());
    }

    synchronized void expire() {
      Instant now = clock.instant();
      Iterator<Instant> it = ended.values().iterator();
      while (it.hasNext() && !it.next().isAfter(now)) {
        it.remove();
      }
    }

    synchronized int size() {
      return ended.size();
    }
  }
}
