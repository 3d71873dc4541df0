//! The synchronization facade of Parex.
//!
//! Every atomic, lock, spin and thread that `parex-scheduler`, `parex-mvmemory`
//! and the engine's worker loop use comes from this crate. Normally it
//! re-exports `std` (and `crossbeam-utils`' [`CachePadded`]); compiled with
//! `RUSTFLAGS="--cfg loom"` it re-exports [loom]'s model-checked twins instead,
//! so the `loom-tests` crate explores the interleavings of the *real* code,
//! not of a copy written for the tests. The layout follows tokio's `src/loom/`.
//!
//! Three deliberate differences from `std`:
//! - [`Mutex`] is a spin lock (a `lock_api` mutex over one atomic flag),
//!   not `std`'s futex mutex: the executor holds its locks for tens of
//!   nanoseconds, and a spin lock's unlock is a plain store where `std`'s is
//!   a second read-modify-write. Measured on the 2-core machines: 4–9% off
//!   a block of cheap transfers, 15–17% off one where every transaction
//!   also pays into one fee accumulator (`docs/BENCHMARKS.md`, "What was
//!   measured and fixed"). Under loom it is
//!   loom's mutex, which models any correct lock.
//! - [`Mutex::lock`] and the [`RwLock`] guards ignore poisoning. A panic inside
//!   a critical section of the executor is reported through the block's result;
//!   the data it guards is rebuilt for every block, so a poisoned flag would
//!   only turn one failed block into every later block failing too (the spin
//!   lock has no poisoning at all).
//! - [`Backoff`] spins with [`spin_loop`] and then yields the thread; under loom
//!   every step is a yield, which is what loom needs to explore a spin loop.
//!
//! [loom]: https://docs.rs/loom

#![deny(missing_docs)]

pub use crossbeam_utils::CachePadded;

#[cfg(not(loom))]
mod imp {
    pub use std::sync::atomic;
    pub use std::sync::Arc;
    pub use std::thread;

    /// One step of a busy wait.
    #[inline]
    pub fn spin_loop() {
        std::hint::spin_loop();
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic;
    pub use loom::sync::Arc;
    pub use loom::thread;

    /// One step of a busy wait: under loom, a yield so that the model checker
    /// can schedule the thread being waited for.
    #[inline]
    pub fn spin_loop() {
        loom::thread::yield_now();
    }
}

pub use imp::*;

#[cfg(not(loom))]
use std::sync as inner;

#[cfg(loom)]
use loom::sync as inner;

#[cfg(not(loom))]
mod spin_lock;

/// A mutual-exclusion lock whose [`lock`](Mutex::lock) ignores poisoning.
#[cfg(loom)]
#[derive(Debug, Default)]
pub struct Mutex<T>(inner::Mutex<T>);

/// A mutual-exclusion lock for short critical sections: a spin lock.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Mutex<T>(lock_api::Mutex<spin_lock::RawSpinLock, T>);

/// The guard of a [`Mutex`].
#[cfg(loom)]
pub type MutexGuard<'a, T> = inner::MutexGuard<'a, T>;

/// The guard of a [`Mutex`].
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, spin_lock::RawSpinLock, T>;

#[cfg(not(loom))]
impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self(lock_api::Mutex::new(value))
    }

    /// Locks the mutex, spinning (then yielding) while it is taken.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock()
    }

    /// What the mutex guards, through exclusive access: no locking.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// Consumes the mutex and returns what it guards.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(loom)]
impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self(inner::Mutex::new(value))
    }

    /// Locks the mutex, blocking the thread until it is free.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the mutex guards, through exclusive access: no locking.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Consumes the mutex and returns what it guards.
    pub fn into_inner(self) -> T {
        self.0
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A reader-writer lock whose guards ignore poisoning.
#[derive(Debug, Default)]
pub struct RwLock<T>(inner::RwLock<T>);

/// A shared guard of a [`RwLock`].
pub type RwLockReadGuard<'a, T> = inner::RwLockReadGuard<'a, T>;
/// An exclusive guard of a [`RwLock`].
pub type RwLockWriteGuard<'a, T> = inner::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Self(inner::RwLock::new(value))
    }

    /// Shared access.
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Exclusive access.
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Exponential backoff for spin loops: a few rounds of [`spin_loop`], then
/// [`thread::yield_now`], so that a waiting worker gives its core away when
/// there are more workers than cores.
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_LIMIT: u32 = 6;

    /// A fresh backoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits a little longer each call.
    #[inline]
    pub fn snooze(&mut self) {
        if cfg!(loom) || self.step > Self::SPIN_LIMIT {
            thread::yield_now();
        } else {
            for _ in 0..(1u32 << self.step) {
                spin_loop();
            }
            self.step += 1;
        }
    }

    /// Starts over after progress was made.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }
}
