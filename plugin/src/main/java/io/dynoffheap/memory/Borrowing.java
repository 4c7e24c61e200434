package io.dynoffheap.memory;

/**
 * The outcome of asking a {@link MemoryTarget} for memory: granted in full, or denied with the
 * reason and the setting that would change the answer. Targets never grant part of a request.
 *
 * <p>A grant carries no data, so it is one shared instance and the hot path allocates nothing.
 */
public final class Borrowing {
  private static final Borrowing GRANTED = new Borrowing(true, "", "");

  private final boolean granted;
  private final String reason;
  private final String setting;

  private Borrowing(boolean granted, String reason, String setting) {
    this.granted = granted;
    this.reason = reason;
    this.setting = setting;
  }

  public static Borrowing granted() {
    return GRANTED;
  }

  /**
   * @param reason what was asked and what was available, in words a user can act on
   * @param setting the configuration change that would let the request through
   */
  public static Borrowing denied(String reason, String setting) {
    return new Borrowing(false, reason, setting);
  }

  public boolean isGranted() {
    return granted;
  }

  /** Why the request was denied; empty when granted. */
  public String reason() {
    return reason;
  }

  /** What to change so that it would not be denied; empty when granted. */
  public String setting() {
    return setting;
  }

  @Override
  public String toString() {
    return granted ? "granted" : "denied: " + reason + " (" + setting + ")";
  }
}
