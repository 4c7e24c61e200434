package io.dynoffheap.nativebridge;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link PoolReservations} for tests: grants up to a budget (admission is one CAS, so
 * concurrent reservations cannot overshoot), throws an IllegalStateException with a
 * readable reason beyond it, counts calls and remembers which threads called.
 */
class CountingReservations implements PoolReservations {

    final long budget;
    final AtomicLong total = new AtomicLong();
    final AtomicLong reserveCalls = new AtomicLong();
    final AtomicLong releaseCalls = new AtomicLong();
    final AtomicLong badCalls = new AtomicLong();
    final Set<String> callingThreads = ConcurrentHashMap.newKeySet();
    final Set<Boolean> callingThreadDaemon = ConcurrentHashMap.newKeySet();

    CountingReservations() {
        this(Long.MAX_VALUE);
    }

    CountingReservations(long budget) {
        this.budget = budget;
    }

    @Override
    public void reserve(long bytes) {
        reserveCalls.incrementAndGet();
        noteThread();
        if (bytes <= 0) {
            badCalls.incrementAndGet();
        }
        long current;
        do {
            current = total.get();
            if (current > budget - bytes) {
                throw new IllegalStateException("test budget of " + budget
                        + " bytes exhausted: " + current + " reserved, " + bytes + " requested");
            }
        } while (!total.compareAndSet(current, current + bytes));
    }

    @Override
    public void release(long bytes) {
        releaseCalls.incrementAndGet();
        noteThread();
        if (bytes <= 0 || total.addAndGet(-bytes) < 0) {
            badCalls.incrementAndGet();
        }
    }

    private void noteThread() {
        Thread t = Thread.currentThread();
        callingThreads.add(t.getName());
        callingThreadDaemon.add(t.isDaemon());
    }
}
