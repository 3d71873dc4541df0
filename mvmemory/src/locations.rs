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
//! - a hot key's location is a *group* of [`LANES`] consecutive slots, each
//!   holding the versions of the transactions of one lane ([`lane_of`]):
//!   only the first slot is named by a bucket; a transaction's version is
//!   always in its own lane, so no version ever moves between lanes;
//! - the arena never grows during a block (nobody holds a lock over it):
//!   when it is full, [`Locations::reserve`] says so and the engine finishes
//!   the block sequentially; the next block gets a larger table.

use parex_sync::atomic::{
    AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use parex_sync::{Mutex, MutexGuard};

use std::marker::PhantomData;

use smallvec::SmallVec;

use crate::versions::Versions;

/// A location of the current block: an index into the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LocationId(u32);

impl LocationId {
    /// The location at place `index` of the arena (which fits in `u32`).
    pub(crate) fn new(index: usize) -> Self {
        Self(index as u32)
    }

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
    /// read only if this is above it (see `MvMemory::record`). A reader of
    /// a group notes itself in every lane.
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

/// Lanes of a hot key's location. Enough that the runs the workers execute
/// at the same time (neighbouring runs of [`LANE_RUN`]) are in different
/// lanes, so two workers rarely take the same lane's lock.
#[cfg(not(loom))]
pub(crate) const LANES: usize = 8;
#[cfg(loom)]
pub(crate) const LANES: usize = 2;

/// Consecutive transactions per lane: the engine's longest claim, so that a
/// worker's run stays in one lane.
#[cfg(not(loom))]
const LANE_RUN: usize = 16;
#[cfg(loom)]
const LANE_RUN: usize = 1;

/// The lane of a hot key that holds `txn_idx`'s version. Neighbouring runs
/// (what the workers execute at the same time) go to lanes three slots
/// apart: neighbouring slots share cache lines.
pub(crate) fn lane_of(txn_idx: crate::TxnIndex) -> usize {
    (txn_idx / LANE_RUN * 3) % LANES
}

/// Versions a location must have had in one block for the next block to
/// give its key lanes: a location most transactions write, such as a fee
/// accumulator, whose one lock and version list the workers would
/// otherwise take turns on at every transaction.
const HOT_VERSIONS: usize = 64;

/// Of those, the share that must be deltas, in quarters: lanes are for
/// blind writes. A key whose writers mostly read it first (an account
/// that sends many transactions) would pay for lanes at every read, which
/// locks and merges all of them (measured: 10,000 transfers between 100
/// accounts ran 7-9% slower with their busiest accounts laned).
const HOT_DELTA_QUARTERS: usize = 3;

/// The most keys a block gives lanes.
pub(crate) const MAX_HOT: usize = 4;

/// A key this block gives lanes, and its group once created.
#[derive(Debug)]
pub(crate) struct HotKey<K> {
    key: K,
    hash: u64,
    /// The group's first slot + 1, or 0 before the group exists: set once
    /// the group is published, so that later accesses skip the index and
    /// the first slot's lock.
    group: AtomicU32,
}

impl<K> HotKey<K> {
    /// The group's first slot: remembered, or else found by `locate` (which
    /// also creates it, for a writer) and remembered.
    fn first_slot<E>(
        &self,
        locate: impl FnOnce() -> Result<Option<LocationId>, E>,
    ) -> Result<Option<LocationId>, E> {
        if let Some(first) = self.group.load(SeqCst).checked_sub(1) {
            return Ok(Some(LocationId(first)));
        }
        let first = locate()?;
        if let Some(first) = first {
            self.group.store(first.0 + 1, SeqCst);
        }
        Ok(first)
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
    /// The keys this block gives lanes: the hot ones of the last block.
    hot: Vec<HotKey<K>>,
    /// What an absent lane reads as (never written).
    no_versions: Versions<V>,
}

/// How far a probe goes before it gives up on a full index; the index has
/// twice as many buckets as the arena has slots, so a probe this long means
/// a pathological hash, and the block goes sequential.
const MAX_PROBE: usize = 1 << 10;

/// Used locations per index bucket from which clearing zeroes the whole
/// index instead of each used bucket (see `Locations::clear`).
const WHOLE_INDEX_RATIO: usize = 16;

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
            hot: Vec::new(),
            no_versions: Versions::new(),
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

    /// Empties the table, visiting only the slots the last block used, and
    /// gives lanes in the next block to the keys that were hot in this one.
    pub(crate) fn clear(&mut self) {
        let used = self.claimed.load(SeqCst).min(self.arena.len());
        let mask = self.index.len() - 1;
        // Finding each location's bucket again is a cache miss per
        // location, at a random place of the index; zeroing the whole
        // index streams through it, which the hardware prefetches. The
        // second wins once the locations fill more than about one bucket
        // in `WHOLE_INDEX_RATIO` (10,000 transfers fill one in 6 on the
        // node, one in 9 in the synthetic benchmark).
        let whole_index = used.saturating_mul(WHOLE_INDEX_RATIO) >= self.index.len();
        let mut hot = Vec::new();
        // Which slots are lanes follows from this block's hot keys.
        let groups: SmallVec<[usize; MAX_HOT]> = self
            .hot
            .iter()
            .filter_map(|hot| hot.group.load(Relaxed).checked_sub(1))
            .map(|first| first as usize)
            .collect();
        for (id, slot) in self.arena[..used].iter_mut().enumerate() {
            let slot = slot.get_mut();
            if let Some(location) = slot.as_ref() {
                let group = match groups.is_empty() {
                    true => None,
                    false => groups
                        .iter()
                        .find(|&&first| (first..first + LANES).contains(&id)),
                };
                // Only a group's first slot is named by a bucket; it stands
                // for all its lanes.
                let lanes = match group {
                    Some(&first) if first != id => 0,
                    Some(_) => LANES,
                    None => 1,
                };
                // A group's lanes hold about as many versions each.
                let versions = location.versions.len() * lanes;
                // For a group, the first lane's share stands for all.
                if versions >= HOT_VERSIONS
                    && hot.len() < MAX_HOT
                    && location.versions.deltas() * 4
                        >= location.versions.len() * HOT_DELTA_QUARTERS
                {
                    hot.push(HotKey {
                        key: location.key.clone(),
                        hash: location.hash,
                        group: AtomicU32::new(0),
                    });
                }
                if lanes > 0 && !whole_index {
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
            }
            // Dropped where it is: a location moved out first is copied
            // whole, which doubled the time of this loop.
            *slot = None;
        }
        if whole_index {
            for word in &self.index[..] {
                word.store(0, Relaxed);
            }
        }
        self.hot = hot;
        self.claimed.store(0, Relaxed);
    }

    /// Whether no bucket names a location (for tests of `clear`).
    #[cfg(test)]
    pub(crate) fn index_is_empty(&self) -> bool {
        self.index.iter().all(|word| word.load(Relaxed) == 0)
    }

    /// Gives `key` lanes in this block, as if it had been hot in the last
    /// (for tests). The table must be empty.
    pub(crate) fn make_hot(&mut self, key: K, hash: u64) {
        if self.hot.len() < MAX_HOT {
            self.hot.push(HotKey {
                key,
                hash,
                group: AtomicU32::new(0),
            });
        }
    }

    /// `key`'s entry among this block's hot keys, if it has lanes.
    #[inline]
    pub(crate) fn hot_key(&self, key: &K, hash: u64) -> Option<&HotKey<K>> {
        if self.hot.is_empty() {
            return None;
        }
        self.hot
            .iter()
            .find(|hot| hot.hash == hash && hot.key == *key)
    }

    /// The first slot of hot key `hot`'s group, if the block has touched it.
    pub(crate) fn find_group(&self, hot: &HotKey<K>) -> Option<LocationId> {
        let found = hot.first_slot(|| {
            Ok::<_, std::convert::Infallible>(self.find(&hot.key, hot.hash).map(|(id, _)| id))
        });
        found.unwrap_or_else(|never| match never {})
    }

    /// The first slot of hot key `hot`'s group, created if new.
    pub(crate) fn group(
        &self,
        hot: &HotKey<K>,
        reservation: &mut Reservation<'_>,
    ) -> Result<LocationId, MemoryFull> {
        let first = hot.first_slot(|| {
            self.find_or_insert_lanes(&hot.key, hot.hash, LANES, reservation)
                .map(|(id, _)| Some(id))
        })?;
        first.ok_or(MemoryFull)
    }

    /// The first slot of the hot key's group that slot `id` is a lane of,
    /// if it is one. Every group of the block is in its hot key's entry
    /// before any id of it is handed out.
    #[inline]
    pub(crate) fn group_containing(&self, id: LocationId) -> Option<LocationId> {
        if self.hot.is_empty() {
            return None;
        }
        self.hot.iter().find_map(|hot| {
            let first = hot.group.load(SeqCst).checked_sub(1)?;
            (first..first + LANES as u32)
                .contains(&id.0)
                .then_some(LocationId(first))
        })
    }

    /// Locks the `N` slots from `first` (a group's lanes, or one location),
    /// in order: the only order in which more than one is locked.
    pub(crate) fn lock_lanes<const N: usize>(&self, first: LocationId) -> [Locked<'_, K, V>; N] {
        std::array::from_fn(|lane| self.lock(LocationId(first.0 + lane as u32)))
    }

    /// The versions in locked slots.
    pub(crate) fn lanes<'g, const N: usize>(
        &'g self,
        locked: &'g [Locked<'_, K, V>; N],
    ) -> [&'g Versions<V>; N] {
        std::array::from_fn(|lane| {
            locked[lane]
                .0
                .as_ref()
                .map_or(&self.no_versions, |location| &location.versions)
        })
    }

    /// The key of a locked slot.
    pub(crate) fn key_of(locked: &Locked<'_, K, V>) -> Option<K> {
        locked.0.as_ref().map(|location| location.key.clone())
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
        self.find_or_insert_lanes(key, hash, 1, reservation)
    }

    /// [`find_or_insert`](Self::find_or_insert) of a location of `lanes`
    /// consecutive slots (a group, when more than one); returns its first
    /// slot, locked.
    #[inline(always)]
    fn find_or_insert_lanes(
        &self,
        key: &K,
        hash: u64,
        lanes: usize,
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
                        let id = self.take(reservation, lanes)?;
                        let location = || Location {
                            key: key.clone(),
                            hash,
                            versions: Versions::new(),
                            highest_reader: 0,
                        };
                        // The other lanes first: nobody can reach them
                        // before the first slot is published.
                        for lane in 1..lanes {
                            *self.lock(LocationId(id.0 + lane as u32)).0 = Some(location());
                        }
                        let mut locked = self.lock(id);
                        *locked.0 = Some(location());
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
                if let Some((id, mut locked)) = filled {
                    // Another inserter published the key first; the slots
                    // filled for it stay unnamed.
                    locked.0.take();
                    drop(locked);
                    for lane in 1..lanes {
                        self.lock(LocationId(id.0 + lane as u32)).0.take();
                    }
                }
                return Ok(found);
            }
            pos = (pos + 1) & mask;
        }
        Err(MemoryFull)
    }

    /// `slots` consecutive slots; the first.
    #[inline]
    fn take(
        &self,
        reservation: &mut Reservation<'_>,
        slots: usize,
    ) -> Result<LocationId, MemoryFull> {
        // Fits in u32: the arena's length does.
        if reservation.table != self.identity() {
            // Another table's slots: using them would hand out slots this
            // table gave someone else.
            let start = self.claim(slots)?;
            return if start + slots <= self.arena.len() {
                Ok(LocationId(start as u32))
            } else {
                Err(MemoryFull)
            };
        }
        if ((reservation.end - reservation.next) as usize) < slots {
            let batch = RESERVATION_BATCH.max(slots);
            let start = self.claim(batch)?;
            // The last batch may be cut short by the arena's end.
            reservation.next = start as u32;
            reservation.end = (start + batch).min(self.arena.len()) as u32;
            if ((reservation.end - reservation.next) as usize) < slots {
                return Err(MemoryFull);
            }
        }
        let id = LocationId(reservation.next);
        reservation.next += slots as u32;
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
