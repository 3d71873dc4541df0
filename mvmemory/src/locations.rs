//! The location table: every location a block touches, in a dense arena,
//! found through an open-addressing index of atomic words.
//!
//! Why this shape: a transfer touches three locations and takes a fraction
//! of a microsecond, so the cost of the memory is its cache misses. The
//! arena keeps each location (key, versions, lock) in one place, allocated
//! in the order transactions first touch them; the index is one `u64` per
//! bucket, so a lookup reads one index word and one location. Read and
//! write sets keep [`LocationId`]s, so validation, ESTIMATE marking and
//! materialization go straight to the location without hashing again.
//!
//! Invariants:
//! - a bucket goes from empty to naming one location and stays so until
//!   [`Locations::clear`]; an arena slot is filled before the bucket that
//!   names it is published, and only its own inserter touches it before;
//! - a key has at most one published location: inserters of one key probe
//!   the same buckets, and the loser of the race for a bucket compares keys
//!   before it probes on;
//! - the arena never grows during a block (nobody holds a lock over it):
//!   when it is full, [`Locations::reserve`] says so and the engine finishes
//!   the block sequentially; the next block gets a larger table.

use parex_sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use parex_sync::{Mutex, MutexGuard};

use std::marker::PhantomData;

use crate::versions::Versions;

/// A location of the current block: an index into the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LocationId(u32);

impl LocationId {
    /// The location's place in the arena.
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// One location: its key, the key's hash (to find its bucket again when
/// the table is cleared), its versions, and the highest transaction that
/// recorded a read of it.
#[derive(Debug)]
pub(crate) struct Location<K, V> {
    pub(crate) key: K,
    pub(crate) hash: u64,
    pub(crate) versions: Versions<V>,
    /// The highest transaction whose recorded read set names this location
    /// (any incarnation; `0` also when none did, since nothing is below
    /// transaction 0). Only grows during a block. A transaction that
    /// writes here for the first time can have invalidated a validated
    /// read only if this is above it (see `MvMemory::record`).
    highest_reader: u32,
}

impl<K, V> Location<K, V> {
    /// Notes that `txn_idx` recorded a read of this location.
    pub(crate) fn note_reader(&mut self, txn_idx: crate::TxnIndex) {
        self.highest_reader = self.highest_reader.max(txn_idx as u32);
    }

    /// Whether a transaction above `txn_idx` recorded a read here.
    pub(crate) fn read_above(&self, txn_idx: crate::TxnIndex) -> bool {
        self.highest_reader as usize > txn_idx
    }
}

/// An arena slot: empty until an inserter fills it.
type Slot<K, V> = Mutex<Option<Location<K, V>>>;

/// The arena is full: the block needs a larger table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFull;

/// Arena slots claimed by one worker and not used yet: claiming them
/// 32 at a time (`RESERVATION_BATCH`) keeps the shared claim counter off the
/// path of most insertions (with a reservation per record, most
/// transactions of a block would update that one cache line). A block
/// wastes at most a batch per worker.
///
/// Made by [`MvMemory::reservation`](crate::MvMemory::reservation), one per
/// worker. It borrows the memory, so it cannot outlive the block: the
/// slots it holds belong to the current table, and `reset` (which needs
/// the memory exclusively) cannot run while it exists. Given to another
/// memory's `record`, it is not used: that memory claims each slot alone.
#[derive(Debug)]
pub struct Reservation<'m> {
    /// The address of the arena the slots belong to; only compared.
    table: usize,
    next: u32,
    end: u32,
    _table: PhantomData<&'m ()>,
}

/// Arena slots a [`Reservation`] claims at once.
#[cfg(not(loom))]
const RESERVATION_BATCH: usize = 32;
/// Under loom the table holds a handful of slots: one at a time.
#[cfg(loom)]
const RESERVATION_BATCH: usize = 1;

/// A locked location.
pub(crate) struct Locked<'a, K, V>(MutexGuard<'a, Option<Location<K, V>>>);

impl<K, V> Locked<'_, K, V> {
    /// The location; `None` only for a slot freed after a lost race, which
    /// no published bucket names.
    pub(crate) fn get(&mut self) -> Option<&mut Location<K, V>> {
        self.0.as_mut()
    }
}

/// The location table of one block.
#[derive(Debug)]
pub(crate) struct Locations<K, V> {
    /// `0` for an empty bucket, else `hash tag << 32 | (id + 1)`.
    index: Box<[AtomicU64]>,
    arena: Box<[Slot<K, V>]>,
    /// Arena slots handed out; may pass the arena's length once it is full.
    claimed: AtomicUsize,
}

/// How far a probe goes before it gives up on a full index; the index has
/// twice as many buckets as the arena has slots, so a probe this long means
/// a pathological hash, and the block goes sequential.
const MAX_PROBE: usize = 1 << 10;

fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl<K: Eq + Clone, V: crate::Value> Locations<K, V> {
    /// A table for up to `capacity` locations.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize / 2);
        let buckets = (capacity * 2).next_power_of_two();
        Self {
            index: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            arena: (0..capacity).map(|_| Mutex::new(None)).collect(),
            claimed: AtomicUsize::new(0),
        }
    }

    /// How many locations fit.
    pub(crate) fn capacity(&self) -> usize {
        self.arena.len()
    }

    /// Arena slots the block claimed (more than [`capacity`](Self::capacity)
    /// if it ran out, or if the last batch was cut short).
    pub(crate) fn claimed(&self) -> usize {
        self.claimed.load(SeqCst)
    }

    /// Empties the table, visiting only the slots the last block used.
    pub(crate) fn clear(&mut self) {
        let used = self.claimed.load(SeqCst).min(self.arena.len());
        let mask = self.index.len() - 1;
        for (id, slot) in self.arena[..used].iter_mut().enumerate() {
            let Some(location) = slot.get_mut().take() else {
                continue;
            };
            let word = tag(location.hash) << 32 | (id as u64 + 1);
            let mut pos = location.hash as usize & mask;
            for _ in 0..self.index.len() {
                // Exclusive access: nothing to order against.
                if self.index[pos].load(Relaxed) == word {
                    self.index[pos].store(0, Relaxed);
                    break;
                }
                pos = (pos + 1) & mask;
            }
        }
        self.claimed.store(0, Relaxed);
    }

    /// An empty reservation of this table's slots.
    pub(crate) fn reservation(&self) -> Reservation<'_> {
        Reservation {
            table: self.identity(),
            next: 0,
            end: 0,
            _table: PhantomData,
        }
    }

    /// Tells this table from every other one alive: its arena's address.
    fn identity(&self) -> usize {
        self.arena.as_ptr() as usize
    }

    /// Locks location `id`.
    pub(crate) fn lock(&self, id: LocationId) -> Locked<'_, K, V> {
        Locked(self.arena[id.index()].lock())
    }

    /// The location of `key`, locked, if the block has touched it.
    pub(crate) fn find(&self, key: &K, hash: u64) -> Option<(LocationId, Locked<'_, K, V>)> {
        let mask = self.index.len() - 1;
        let mut pos = hash as usize & mask;
        for _ in 0..MAX_PROBE.min(self.index.len()) {
            let word = self.index[pos].load(SeqCst);
            if word == 0 {
                return None;
            }
            if let Some(found) = self.matching(word, key, hash) {
                return Some(found);
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// The location a published bucket `word` names, locked, if it is
    /// `key`'s.
    fn matching(&self, word: u64, key: &K, hash: u64) -> Option<(LocationId, Locked<'_, K, V>)> {
        if word >> 32 != tag(hash) {
            return None;
        }
        let id = LocationId((word as u32).wrapping_sub(1));
        let mut locked = self.lock(id);
        let is_key = locked.get().is_some_and(|location| location.key == *key);
        is_key.then_some((id, locked))
    }

    /// The location of `key`, locked, created with no versions if the block
    /// had not touched it; slots come from `reservation`.
    pub(crate) fn find_or_insert(
        &self,
        key: &K,
        hash: u64,
        reservation: &mut Reservation<'_>,
    ) -> Result<(LocationId, Locked<'_, K, V>), MemoryFull> {
        let mask = self.index.len() - 1;
        let mut pos = hash as usize & mask;
        // The slot filled for the key, kept locked: once its bucket is
        // published, readers wait for the caller's operation on it.
        let mut filled: Option<(LocationId, Locked<'_, K, V>)> = None;
        for _ in 0..MAX_PROBE.min(self.index.len()) {
            let mut word = self.index[pos].load(SeqCst);
            if word == 0 {
                let (id, locked) = match filled.take() {
                    Some(filled) => filled,
                    None => {
                        let id = self.take(reservation)?;
                        let mut locked = self.lock(id);
                        *locked.0 = Some(Location {
                            key: key.clone(),
                            hash,
                            versions: Versions::new(),
                            highest_reader: 0,
                        });
                        (id, locked)
                    }
                };
                let new_word = tag(hash) << 32 | (u64::from(id.0) + 1);
                match self.index[pos].compare_exchange(0, new_word, SeqCst, SeqCst) {
                    Ok(_) => return Ok((id, locked)),
                    Err(current) => {
                        word = current;
                        filled = Some((id, locked));
                    }
                }
            }
            if let Some(found) = self.matching(word, key, hash) {
                if let Some((_, mut locked)) = filled {
                    // Another inserter published the key first; the slot
                    // filled for it stays unnamed.
                    locked.0.take();
                }
                return Ok(found);
            }
            pos = (pos + 1) & mask;
        }
        Err(MemoryFull)
    }

    fn take(&self, reservation: &mut Reservation<'_>) -> Result<LocationId, MemoryFull> {
        // Fits in u32: the arena's length does.
        if reservation.table != self.identity() {
            // Another table's slots: using them would hand out slots this
            // table gave someone else.
            return self.claim(1).map(|start| LocationId(start as u32));
        }
        if reservation.next == reservation.end {
            let start = self.claim(RESERVATION_BATCH)?;
            // The last batch may be cut short by the arena's end.
            reservation.next = start as u32;
            reservation.end = (start + RESERVATION_BATCH).min(self.arena.len()) as u32;
        }
        let id = LocationId(reservation.next);
        reservation.next += 1;
        Ok(id)
    }

    /// Claims `slots` slots; the first, if the arena has it.
    fn claim(&self, slots: usize) -> Result<usize, MemoryFull> {
        let start = self.claimed.fetch_add(slots, SeqCst);
        if start >= self.arena.len() {
            return Err(MemoryFull);
        }
        Ok(start)
    }
}
