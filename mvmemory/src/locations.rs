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
//! Clearing the table for the next block visits no location: every bucket
//! carries the *generation* (the block) that published it, and a bucket of
//! an earlier generation reads as empty. An arena slot keeps what an
//! earlier block left in it until an inserter of a later block fills it
//! again, so the last block's locations are dropped where the next block
//! touches their slots anyway, by the workers, not in a sweep through cold
//! memory on one thread before the block starts, while the other workers
//! wait (for 10,000 node transfers, about 6 MB; `docs/BENCHMARKS.md` has
//! what it cost and what skipping it gained).
//!
//! Invariants:
//! - a bucket goes from empty (or an earlier generation's) to naming one
//!   location of the current generation and stays so until
//!   [`Locations::clear`]; an arena slot is filled before the bucket that
//!   names it is published, and only its own inserter touches it before;
//! - only slots named by a bucket of the current generation, and the lanes
//!   of this block's groups, are ever read: other slots may hold an
//!   earlier block's locations;
//! - no bucket of an earlier generation can be taken for the current one:
//!   when the generation counter wraps, the index is zeroed;
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

/// An arena slot: empty, or an earlier block's location, until an inserter
/// fills it.
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
    /// `0` for a bucket never used, else `generation << 48 | hash tag << 32
    /// | (id + 1)` (see [`Locations::word`]).
    index: Box<[AtomicU64]>,
    arena: Box<[Slot<K, V>]>,
    /// Arena slots handed out; may pass the arena's length once it is full.
    claimed: AtomicUsize,
    /// The current block's generation, 1 to [`MAX_GENERATION`], in the top
    /// bits of each bucket it publishes.
    generation: u64,
    /// The keys this block gives lanes: the hot ones of the last block.
    hot: Vec<HotKey<K>>,
    /// Locations (not groups) of this block that may be hot in the next:
    /// noted as their versions pass each power of two from
    /// [`HOT_VERSIONS`] with mostly deltas, checked again when the table
    /// is cleared. A block notes few (the rule asks for blind writes by
    /// most of at least 64 transactions), and at most [`MAX_CANDIDATES`].
    candidates: Mutex<SmallVec<[LocationId; MAX_CANDIDATES]>>,
    /// What an absent lane reads as (never written).
    no_versions: Versions<V>,
}

/// How far a probe goes before it gives up on a full index; the index has
/// twice as many buckets as the arena has slots, so a probe this long means
/// a pathological hash, and the block goes sequential.
const MAX_PROBE: usize = 1 << 10;

/// The highest generation; the one after it zeroes the index and starts
/// again from 1. A bucket word keeps 16 bits for it.
const MAX_GENERATION: u64 = u16::MAX as u64;

/// Where the generation starts in a bucket word.
const GENERATION_SHIFT: u32 = 48;

/// The most hot candidates a block notes.
const MAX_CANDIDATES: usize = 16;

/// The bits of a key's hash that a bucket keeps, to skip most locations
/// of other keys without locking them.
fn tag(hash: u64) -> u64 {
    hash >> GENERATION_SHIFT
}

/// Whether versions written at one location (or at each lane of a group of
/// `lanes`) qualify it for lanes in the next block.
fn hot_enough<V: crate::Value>(versions: &Versions<V>, lanes: usize) -> bool {
    versions.len() * lanes >= HOT_VERSIONS
        && versions.deltas() * 4 >= versions.len() * HOT_DELTA_QUARTERS
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
            generation: 1,
            hot: Vec::new(),
            candidates: Mutex::new(SmallVec::new()),
            no_versions: Versions::new(),
        }
    }

    /// How many locations fit.
    pub(crate) fn capacity(&self) -> usize {
        self.arena.len()
    }

    /// The bytes of the index and the arena.
    pub(crate) fn table_bytes(&self) -> usize {
        size_of_val(&*self.index) + size_of_val(&*self.arena)
    }

    /// Arena slots the block claimed (more than [`capacity`](Self::capacity)
    /// if it ran out, or if the last batch was cut short).
    pub(crate) fn claimed(&self) -> usize {
        self.claimed.load(SeqCst)
    }

    /// Empties the table for the next block: a new generation, so that no
    /// bucket names a location any more. Gives lanes in the next block to
    /// the keys that were hot in this one, judged from this block's groups
    /// and candidates alone.
    pub(crate) fn clear(&mut self) {
        let used = self.claimed.load(SeqCst).min(self.arena.len());
        let groups = self
            .hot
            .iter()
            .filter_map(|hot| hot.group.load(Relaxed).checked_sub(1))
            .map(|first| (first as usize, LANES));
        let candidates = self
            .candidates
            .get_mut()
            .drain(..)
            .map(|id| (id.index(), 1));
        let mut hot = Vec::new();
        for (id, lanes) in groups.chain(candidates) {
            // For a group, the first lane's share stands for all: its lanes
            // hold about as many versions each.
            let slot = self.arena[..used].get_mut(id).map(Mutex::get_mut);
            if let Some(Some(location)) = slot {
                if hot.len() < MAX_HOT && hot_enough(&location.versions, lanes) {
                    hot.push(HotKey {
                        key: location.key.clone(),
                        hash: location.hash,
                        group: AtomicU32::new(0),
                    });
                }
            }
        }
        self.hot = hot;
        if self.generation == MAX_GENERATION {
            // The next generation would be 1 again: buckets of the first
            // block of this cycle must not come back to life.
            for word in &self.index[..] {
                // Exclusive access: nothing to order against.
                word.store(0, Relaxed);
            }
            self.generation = 1;
        } else {
            self.generation += 1;
        }
        self.claimed.store(0, Relaxed);
    }

    /// Notes that location `id` (not a group's lane) now has `versions`:
    /// a candidate for lanes in the next block when they are many and
    /// mostly deltas. Called with the location locked, after each insert.
    #[inline]
    pub(crate) fn note_versions(&self, id: LocationId, versions: &Versions<V>) {
        let len = versions.len();
        if len < HOT_VERSIONS || !len.is_power_of_two() || !hot_enough(versions, 1) {
            return;
        }
        let mut candidates = self.candidates.lock();
        if candidates.len() < MAX_CANDIDATES && !candidates.contains(&id) {
            candidates.push(id);
        }
    }

    /// The word of a bucket that names location `id` of `hash`'s key in
    /// the current generation.
    fn word(&self, hash: u64, id: LocationId) -> u64 {
        self.generation << GENERATION_SHIFT | tag(hash) << 32 | (u64::from(id.0) + 1)
    }

    /// Whether bucket `word` was published in the current generation: an
    /// earlier one's reads as empty.
    fn live(&self, word: u64) -> bool {
        word >> GENERATION_SHIFT == self.generation
    }

    /// Makes the current generation the last before the counter wraps (for
    /// tests of the wrap).
    #[cfg(test)]
    pub(crate) fn skip_to_last_generation(&mut self) {
        self.generation = MAX_GENERATION;
    }

    /// Whether no bucket names a location of the current generation (for
    /// tests of `clear`).
    #[cfg(test)]
    pub(crate) fn index_is_empty(&self) -> bool {
        self.index.iter().all(|word| !self.live(word.load(Relaxed)))
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
            if !self.live(word) {
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
        // The generation and the tag in one comparison.
        if word >> 32 != self.generation << (GENERATION_SHIFT - 32) | tag(hash) {
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
            if !self.live(word) {
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
                        // before the first slot is published. Filling a
                        // slot drops what an earlier block left there.
                        for lane in 1..lanes {
                            *self.lock(LocationId(id.0 + lane as u32)).0 = Some(location());
                        }
                        let mut locked = self.lock(id);
                        *locked.0 = Some(location());
                        (id, locked)
                    }
                };
                let new_word = self.word(hash, id);
                // From the empty or stale word seen: a bucket is published
                // once per generation.
                match self.index[pos].compare_exchange(word, new_word, SeqCst, SeqCst) {
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
