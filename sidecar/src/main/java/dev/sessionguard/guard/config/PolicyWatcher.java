package dev.sessionguard.guard.config;

import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the policy file and hands each new valid version to a listener.
 *
 * <p>Any change in the file's directory triggers a re-read, and so does a periodic check, so every
 * way a file changes is seen: writes in place, a new file renamed over the old one, and the
 * Kubernetes ConfigMap volume's swap of its {@code ..data} symlink (the file is read through its
 * symlinks). A version is acted on only when its bytes differ from the last one read; an invalid
 * version is reported and the last good policy stays in force. Where the directory cannot be
 * watched (the node's inotify limits reached, say), the periodic check alone goes on.
 */
public final class PolicyWatcher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PolicyWatcher.class);

  /** What the watcher found. */
  public interface Listener {
    /** A new valid policy. */
    void applied(PolicyFile policy);

    /** A new version that cannot be used; the previous policy stays. */
    void rejected(List<String> problems);
  }

  private final Path file;
  private final Duration poll;
  private final Listener listener;
  private final Watches watches;
  private final Reads reads;
  private final Thread thread;

  /** How long a new version must hold still before it is acted on. */
  static final Duration SETTLE = Duration.ofMillis(100);

  private volatile boolean running = true;
  private byte[] last;
  // why the file could not be used at the last check, and what of that was logged
  private String unusable;
  private String reported;

  /**
   * @param file the policy file
   * @param initial the bytes of the version already loaded, so it is not applied twice
   * @param poll the longest time a change can go unseen when no file event arrives
   */
  public PolicyWatcher(Path file, byte[] initial, Duration poll, Listener listener) {
    this(file, initial, poll, listener, PolicyWatcher::watch, Files::readAllBytes);
  }

  /** Opens a watch of a directory's entries. */
  interface Watches {
    WatchService open(Path dir) throws IOException;
  }

  /** Reads the file's bytes. */
  interface Reads {
    byte[] read(Path file) throws IOException;
  }

  PolicyWatcher(Path file, byte[] initial, Duration poll, Listener listener, Watches watches) {
    this(file, initial, poll, listener, watches, Files::readAllBytes);
  }

  PolicyWatcher(
      Path file, byte[] initial, Duration poll, Listener listener, Watches watches, Reads reads) {
    this.reads = reads;
    this.watches = watches;
    this.file = file;
    this.poll = poll;
    this.listener = listener;
    this.last = initial;
    this.thread = new Thread(this::run, "policy-watcher");
    this.thread.setDaemon(true);
  }

  /** Starts watching. */
  public PolicyWatcher start() {
    thread.start();
    return this;
  }

  private static WatchService watch(Path dir) throws IOException {
    WatchService watch = dir.getFileSystem().newWatchService();
    try {
      dir.register(
          watch,
          StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_MODIFY,
          StandardWatchEventKinds.ENTRY_DELETE);
      return watch;
    } catch (IOException | RuntimeException e) {
      watch.close();
      throw e;
    }
  }

  private void run() {
    Path dir = file.toAbsolutePath().getParent();
    WatchService watch = null;
    try {
      watch = watches.open(dir);
    } catch (IOException e) {
      LOG.warn("cannot watch {}: {}; reading the policy every {} instead", dir, e, poll);
    }
    try {
      while (running) {
        if (watch == null) {
          Thread.sleep(poll.toMillis());
        } else {
          var key = watch.poll(poll.toMillis(), TimeUnit.MILLISECONDS);
          if (key != null) {
            key.pollEvents();
            key.reset();
          }
        }
        try {
          check();
        } catch (RuntimeException e) {
          // One failed reload must not end the watching: the next change is read as usual.
          LOG.error("applying {} failed; the next change is read as usual", file, e);
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      Thread.currentThread().interrupt();
    } finally {
      if (watch != null) {
        try {
          watch.close();
        } catch (IOException e) {
          LOG.debug("closing the watch of {}", dir, e);
        }
      }
    }
  }

  /**
   * Re-reads the file and acts if it changed; public for callers that know it changed. A version is
   * acted on once it holds still for {@link #SETTLE}: a file written in place, line by line, would
   * otherwise be applied (or refused) half-written, since the first lines of a policy are often a
   * valid policy of their own.
   */
  public synchronized void check() {
    byte[] bytes = read();
    if (bytes == null || Arrays.equals(bytes, last)) {
      return;
    }
    try {
      Thread.sleep(SETTLE.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (!Arrays.equals(bytes, read())) {
      return; // still being written: the write's own event (or the next poll) reads the rest
    }
    last = bytes;
    try {
      PolicyFile policy =
          PolicyFile.parse(
              new String(bytes, java.nio.charset.StandardCharsets.UTF_8),
              PolicyValidator.Mode.STANDALONE);
      listener.applied(policy);
    } catch (InvalidPolicyException e) {
      listener.rejected(e.problems());
    }
  }

  /**
   * The file's bytes, or null while it cannot be used: absent (between a rename and the next write
   * it may briefly be), unreadable, or empty (a write in place truncates it first). What lasts past
   * one check is logged, once; and so is its end.
   */
  private byte[] read() {
    String problem;
    byte[] bytes = null;
    try {
      bytes = reads.read(file);
      problem = bytes.length == 0 ? "it is empty" : null;
    } catch (IOException e) {
      problem = "it cannot be read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
    }
    if (problem == null) {
      if (reported != null) {
        LOG.info("policy file {} can be read again", file);
      }
      unusable = null;
      reported = null;
      return bytes;
    }
    if (problem.equals(unusable) && !problem.equals(reported)) {
      LOG.warn("policy file {}: {}; the policy in force stays", file, problem);
      reported = problem;
    }
    unusable = problem;
    return null;
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
  }
}
