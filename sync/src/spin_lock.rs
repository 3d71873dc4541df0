//! The raw lock behind [`Mutex`](crate::Mutex) outside loom.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::Backoff;

/// A test-and-test-and-set spin lock with backoff.
///
/// Why not `std`'s mutex: the executor's critical sections last tens of
/// nanoseconds, and `std`'s unlock is an atomic swap (it must learn whether
/// to wake a sleeper), so every lock costs two read-modify-write
/// instructions. Here unlocking is a plain release store. A waiter spins a
/// little, then yields its core (see [`Backoff`]), so a holder that was
/// preempted gets to run.
#[derive(Debug)]
pub struct RawSpinLock {
    locked: AtomicBool,
}

// SAFETY: `lock` and `try_lock` succeed only by moving `locked` from false
// to true with acquire ordering, and `unlock` (called only by the holder)
// moves it back with release ordering: one holder at a time, and each
// holder sees everything the previous one wrote.
unsafe impl lock_api::RawMutex for RawSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        locked: AtomicBool::new(false),
    };

    type GuardMarker = lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        if self.try_lock() {
            return;
        }
        let mut backoff = Backoff::new();
        loop {
            // Wait on a plain load: the line stays shared until it is free.
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
            if self.try_lock() {
                return;
            }
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use crate::Mutex;

    /// Increments under the lock from more threads than cores: a lost
    /// update (two holders at once) or a missed release shows in the sum.
    #[test]
    fn increments_under_the_lock_from_many_threads_all_count() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 50_000;
        let counter = Mutex::new((0usize, 0usize));
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..ROUNDS {
                        let mut guard = counter.lock();
                        // Two fields written apart: a second holder would
                        // see them differ.
                        guard.0 += 1;
                        assert_eq!(guard.0, guard.1 + 1);
                        guard.1 += 1;
                    }
                });
            }
        });
        assert_eq!(counter.into_inner(), (THREADS * ROUNDS, THREADS * ROUNDS));
    }
}
