//! [`MvMemory`]: every location's versions, and every transaction's last read
//! and write sets.

use ahash::RandomState;
use parex_sync::atomic::{AtomicUsize, Ordering::SeqCst};
use parex_sync::Mutex;
use smallvec::SmallVec;

use crate::locations::{
    lane_of, LocationId, Locations, Locked, MemoryFull, Reservation, LANES, MAX_HOT,
};
use crate::read_set::{ReadDescriptor, ReadOrigin};
use crate::versions::{Below, EntryData, Lookup};
use crate::{Delta, Incarnation, Key, TxnIndex, Value};

/// A value to be written by an incarnation: what [`MvMemory::record`] takes
/// for each location of a write set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp<V> {
    /// Sets the location.
    Value(V),
    /// Adds to the location without having read it.
    Delta(Delta),
}

/// What a transaction reads at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MvRead<V> {
    /// No lower transaction wrote the location: read the base storage.
    Storage,
    /// The value, and where it came from (record it in the read set).
    Value(Option<V>, ReadOrigin<V>),
    /// Lower transactions added deltas to the location with nothing below
    /// them: read the base storage's value and call [`MvMemory::read`] again
    /// with it.
    NeedsBase,
    /// The version to read is an ESTIMATE of this lower transaction, whose
    /// next incarnation will probably rewrite it: wait for it.
    Dependency(TxnIndex),
}

/// The last incarnation's reads and writes of one transaction, by
/// location. Small transactions keep them inline: recording allocates
/// nothing.
#[derive(Debug)]
struct TxnRecord<V> {
    reads: SmallVec<[(LocationId, ReadOrigin<V>); 4]>,
    /// Sorted, each location once.
    writes: SmallVec<[LocationId; 4]>,
}

impl<V> Default for TxnRecord<V> {
    fn default() -> Self {
        Self {
            reads: SmallVec::new(),
            writes: SmallVec::new(),
        }
    }
}

/// Locations a block is expected to touch per transaction when its memory
/// is sized, unless told otherwise
/// ([`MvMemory::with_locations_per_txn`]); a block that touches more
/// finishes sequentially and the memory grows for the next one.
#[cfg(not(loom))]
pub const DEFAULT_LOCATIONS_PER_TXN: usize = 4;
/// Under loom every arena slot is a model-checked lock.
#[cfg(loom)]
pub const DEFAULT_LOCATIONS_PER_TXN: usize = 2;

/// The fewest locations a memory is sized for.
#[cfg(not(loom))]
const MIN_LOCATIONS: usize = 256;
/// Under loom every arena slot is a model-checked lock: a handful.
#[cfg(loom)]
const MIN_LOCATIONS: usize = 4;

/// The multi-version memory of one block.
///
/// Invariants:
/// - a location's versions hold at most one entry per transaction: the one
///   written by the transaction's last recorded incarnation (or its ESTIMATE
///   after an abort);
/// - a transaction's write list names exactly the locations where it has an
///   entry, so stale entries are removed when a later incarnation stops
///   writing there, and materialization finds every location through its
///   last writer;
/// - locks are taken in the order transaction record → location, one
///   location at a time, so no two operations deadlock;
/// - a location, once created, stays for the whole block (possibly with no
///   versions).
///
/// Locations live in a `Locations` table (`locations.rs`): a read hashes the key once,
/// reads one index word and locks one location; nothing global is locked
/// and nothing is allocated. Read and write sets name locations by id, so
/// validation and materialization never hash.
#[derive(Debug)]
pub struct MvMemory<K, V> {
    locations: Locations<K, V>,
    hasher: RandomState,
    txns: Vec<Mutex<TxnRecord<V>>>,
    /// The lowest transaction whose record found the table full, or
    /// [`NOT_FULL`]: how [`reset`](Self::reset) sizes the next table.
    full_at: AtomicUsize,
    /// Locations per transaction the current table was sized for at
    /// least: [`reset`](Self::reset) keeps it, and
    /// [`reset_touched`](Self::reset_touched) sets it anew.
    locations_per_txn: usize,
}

/// [`MvMemory::full_at`] when the table did not run out.
const NOT_FULL: usize = usize::MAX;

/// The hasher of a memory's keys, randomly seeded per memory.
#[cfg(not(loom))]
fn key_hasher() -> RandomState {
    RandomState::new()
}

/// Under loom, fixed seeds: loom replays a model many times and requires
/// every iteration to touch the same objects, so a key must land in the same
/// bucket (the same atomic) each time, which a fresh random seed would break.
#[cfg(loom)]
fn key_hasher() -> RandomState {
    RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

impl<K: Key, V: Value> MvMemory<K, V> {
    /// Memory for a block of `block_size` transactions, sized for
    /// [`DEFAULT_LOCATIONS_PER_TXN`] locations each.
    pub fn new(block_size: usize) -> Self {
        Self::with_locations_per_txn(block_size, DEFAULT_LOCATIONS_PER_TXN)
    }

    /// Memory for a block of `block_size` transactions that touch about
    /// `locations_per_txn` locations each (0 counts as 1): this table, and
    /// every later one [`reset`](Self::reset) makes, holds at least that
    /// many per transaction.
    pub fn with_locations_per_txn(block_size: usize, locations_per_txn: usize) -> Self {
        let locations_per_txn = locations_per_txn.max(1);
        Self {
            locations: Locations::new(Self::locations_for(block_size, locations_per_txn)),
            hasher: key_hasher(),
            txns: (0..block_size).map(|_| Mutex::default()).collect(),
            full_at: AtomicUsize::new(NOT_FULL),
            locations_per_txn,
        }
    }

    fn locations_for(block_size: usize, locations_per_txn: usize) -> usize {
        block_size
            .saturating_mul(locations_per_txn)
            .max(MIN_LOCATIONS)
    }

    /// Empties the memory for a block of `block_size` transactions, keeping
    /// its allocations: an executor that runs block after block then pays
    /// for no fresh memory (and its page faults) per block. If the last
    /// block ran out of locations, the table grows (2x to 8x, by how far
    /// into the block it ran out).
    pub fn reset(&mut self, block_size: usize) {
        self.reset_touched(block_size, self.locations_per_txn, usize::MAX);
    }

    /// [`reset`](Self::reset) for transactions that touch about
    /// `locations_per_txn` locations each (0 counts as 1), whatever the
    /// memory was sized for before: memory reused across VMs gets each
    /// VM's own sizing. Only the records below `touched` are cleared: no
    /// transaction at or above it recorded anything in the last block (a
    /// block halted early recorded only its start).
    pub fn reset_touched(&mut self, block_size: usize, locations_per_txn: usize, touched: usize) {
        self.locations_per_txn = locations_per_txn.max(1);
        let needed = match self.full_at.swap(NOT_FULL, SeqCst) {
            NOT_FULL => Self::locations_for(block_size, self.locations_per_txn),
            at => {
                // The last block ran out while recording transaction `at`:
                // grow in proportion to how far into it that was (blocks
                // execute roughly in order), by at least 2x and at most 8x,
                // so that one odd block cannot make the table huge.
                let capacity = self.locations.capacity();
                let estimate = self.locations.claimed().saturating_mul(self.txns.len()) / (at + 1);
                estimate
                    .clamp(capacity.saturating_mul(2), capacity.saturating_mul(8))
                    .max(Self::locations_for(block_size, self.locations_per_txn))
            }
        };
        if needed > self.locations.capacity() {
            self.locations = Locations::new(needed);
        } else {
            self.locations.clear();
        }
        self.txns.truncate(block_size);
        let touched = touched.min(self.txns.len());
        for slot in &mut self.txns[..touched] {
            let record = slot.get_mut();
            record.reads.clear();
            record.writes.clear();
        }
        self.txns.resize_with(block_size, Mutex::default);
    }

    /// Gives `key` lanes in the current block, as if the last block had
    /// written it from many transactions (for tests of the lanes, which
    /// otherwise need a block before). The memory must be empty: right
    /// after [`new`](Self::new) or [`reset`](Self::reset).
    #[doc(hidden)]
    pub fn make_hot(&mut self, key: K) {
        let hash = self.hash(&key);
        self.locations.make_hot(key, hash);
    }

    /// A worker's reservation of location slots for this block: pass it
    /// to every [`record`](Self::record) of that worker.
    pub fn reservation(&self) -> Reservation<'_> {
        self.locations.reservation()
    }

    /// The number of transactions this memory was made for.
    pub fn block_size(&self) -> usize {
        self.txns.len()
    }

    /// The bytes this memory's tables hold: the location index and arena,
    /// and a record per transaction, as sized for the blocks it served
    /// (they are kept from block to block). Constant time. What spills
    /// from them comes on top: a location's versions beyond two, a
    /// transaction's reads beyond four or writes beyond four, and keys'
    /// and values' own heap data.
    pub fn table_bytes(&self) -> usize {
        self.locations.table_bytes() + self.txns.capacity() * size_of::<Mutex<TxnRecord<V>>>()
    }

    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// What transaction `txn_idx` reads at `key`: the highest version written
    /// by a lower transaction. `base` is the base storage's value, needed only
    /// after [`MvRead::NeedsBase`].
    pub fn read(&self, key: &K, txn_idx: TxnIndex, base: Option<&Option<V>>) -> MvRead<V> {
        let hash = self.hash(key);
        if let Some(hot) = self.locations.hot_key(key, hash) {
            let Some(group) = self.locations.find_group(hot) else {
                return MvRead::Storage;
            };
            let group = self.locations.lock_lanes::<LANES>(group);
            return mv_read(Below::lanes(self.locations.lanes(&group), txn_idx).lookup(base));
        }
        let Some((_, mut locked)) = self.locations.find(key, hash) else {
            return MvRead::Storage;
        };
        let Some(location) = locked.get() else {
            return MvRead::Storage;
        };
        mv_read(location.versions.lookup(txn_idx, base))
    }

    /// Records what incarnation `incarnation` of `txn_idx` read and wrote,
    /// replacing its previous incarnation's writes.
    ///
    /// `writes` must hold each key once. `reads` is drained (its capacity
    /// stays with the caller, for the next incarnation). New locations take
    /// their slots from `reservation`, the calling worker's for this block.
    /// Returns whether the incarnation wrote a location the previous one did
    /// not *and* that a transaction above has recorded a read of: only
    /// then may a validated read above have missed this write, and the
    /// scheduler must revalidate the transactions above (a wave). A reader
    /// that records its read later validates after this write and sees it:
    /// the reader's note and this write's check are made under the
    /// location's lock, so one of them sees the other. (The paper waves on
    /// every new location; for a first incarnation that is every write, and
    /// most of those waves revalidate transactions that never read it.)
    /// Fails when the block touches more locations
    /// than the memory holds; the incarnation is then only partly recorded,
    /// and the block must not go on in parallel (the next
    /// [`reset`](Self::reset) makes room).
    pub fn record(
        &self,
        txn_idx: TxnIndex,
        incarnation: Incarnation,
        reads: &mut Vec<ReadDescriptor<K, V>>,
        writes: impl IntoIterator<Item = (K, WriteOp<V>)>,
        reservation: &mut Reservation<'_>,
    ) -> Result<bool, MemoryFull> {
        let mut record = self.txns[txn_idx].lock();
        let record = &mut *record;
        // Each written location (for a hot key, this transaction's lane of
        // its group), and whether a transaction above had recorded a read
        // of it when this version went in.
        let mut written = SmallVec::<[(K, LocationId, bool); 6]>::new();
        for (key, op) in writes {
            let (id, mut locked, group) = self.locate(&key, txn_idx, reservation)?;
            let data = match op {
                WriteOp::Value(value) => EntryData::Value(value),
                WriteOp::Delta(delta) => EntryData::Delta(delta.into()),
            };
            let also_read = reads.iter().any(|read| read.key == key);
            let mut read_above = false;
            if let Some(location) = locked.get() {
                location.versions.insert(txn_idx, incarnation, data);
                read_above = location.read_above(txn_idx);
                if group.is_none() {
                    self.locations.note_versions(id, &location.versions);
                }
            }
            if also_read {
                self.note_reader(locked, group, txn_idx);
            }
            written.push((key, id, read_above));
        }

        // The read set by location: a location read from storage is
        // created now, so that validation finds it without hashing. Most
        // reads are of locations the transaction also wrote.
        record.reads.clear();
        for read in reads.drain(..) {
            let id = match written.iter().find(|(key, ..)| *key == read.key) {
                Some(&(_, id, _)) => id,
                None => {
                    let (id, locked, group) = self.locate(&read.key, txn_idx, reservation)?;
                    self.note_reader(locked, group, txn_idx);
                    id
                }
            };
            record.reads.push((id, read.origin));
        }
        written.sort_unstable_by_key(|&(_, id, _)| id);

        // Remove what the previous incarnation wrote and this one did not;
        // note whether this one wrote somewhere new that was read above.
        // Both lists are sorted.
        let mut wrote_new_location = false;
        let mut previous = record.writes.iter().copied().peekable();
        for &(_, id, read_above) in &written {
            while let Some(old) = previous.next_if(|old| *old < id) {
                self.remove_version(old, txn_idx);
            }
            if previous.next_if(|old| *old == id).is_none() && read_above {
                wrote_new_location = true;
            }
        }
        for old in previous {
            self.remove_version(old, txn_idx);
        }
        // In place: a write list that outgrew its inline room keeps its
        // allocation from incarnation to incarnation and block to block.
        record.writes.clear();
        for &(_, id, _) in &written {
            record.writes.push(id);
        }
        Ok(wrote_new_location)
    }

    /// The location of `key`, locked, created if new, and for a hot key
    /// the first slot of its group (the location returned is then
    /// `txn_idx`'s lane); when the table is full, notes that `txn_idx`
    /// found it so (for [`reset`](Self::reset)).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn locate(
        &self,
        key: &K,
        txn_idx: TxnIndex,
        reservation: &mut Reservation<'_>,
    ) -> Result<(LocationId, Locked<'_, K, V>, Option<LocationId>), MemoryFull> {
        let hash = self.hash(key);
        let located = match self.locations.hot_key(key, hash) {
            Some(hot) => self.locations.group(hot, reservation).map(|group| {
                let lane = LocationId::new(group.index() + lane_of(txn_idx));
                (lane, self.locations.lock(lane), Some(group))
            }),
            None => self
                .locations
                .find_or_insert(key, hash, reservation)
                .map(|(id, locked)| (id, locked, None)),
        };
        located.inspect_err(|_| {
            self.full_at.fetch_min(txn_idx, SeqCst);
        })
    }

    /// Notes `txn_idx` as a reader of the location `locate` returned: in
    /// the locked location itself, or, for a hot key, in every lane of its
    /// group (a first write in any lane must see it), one lock at a time.
    #[inline(always)]
    fn note_reader(
        &self,
        mut locked: Locked<'_, K, V>,
        group: Option<LocationId>,
        txn_idx: TxnIndex,
    ) {
        let Some(group) = group else {
            if let Some(location) = locked.get() {
                location.note_reader(txn_idx);
            }
            return;
        };
        drop(locked);
        for lane in 0..LANES {
            if let Some(location) = self
                .locations
                .lock(LocationId::new(group.index() + lane))
                .get()
            {
                location.note_reader(txn_idx);
            }
        }
    }

    fn remove_version(&self, id: LocationId, txn_idx: TxnIndex) {
        if let Some(location) = self.locations.lock(id).get() {
            location.versions.remove(txn_idx);
        }
    }

    /// Marks every version the transaction's last incarnation wrote as an
    /// ESTIMATE: it was aborted, and its next incarnation will probably write
    /// the same locations.
    pub fn convert_writes_to_estimates(&self, txn_idx: TxnIndex) {
        let record = self.txns[txn_idx].lock();
        for &id in &record.writes {
            if let Some(location) = self.locations.lock(id).get() {
                location.versions.mark_estimate(txn_idx);
            }
        }
    }

    /// Whether every read of the transaction's last incarnation would still
    /// see the same version (or, under deltas, the same value).
    ///
    /// `base` reads the base storage, needed only for locations where lower
    /// transactions wrote nothing but deltas.
    pub fn validate_read_set<E>(
        &self,
        txn_idx: TxnIndex,
        mut base: impl FnMut(&K) -> Result<Option<V>, E>,
    ) -> Result<bool, E> {
        let record = self.txns[txn_idx].lock();
        for (id, origin) in &record.reads {
            let valid = match self.still_reads(*id, txn_idx, origin, None) {
                Ok(valid) => valid,
                Err(key) => {
                    // Without the location's lock: the base storage is the
                    // caller's, and may take its time.
                    let base_value = base(&key)?;
                    self.still_reads(*id, txn_idx, origin, Some(&base_value))
                        .unwrap_or(false)
                }
            };
            if !valid {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether a read by `txn_idx` at location `id` still has `origin`;
    /// `Err(key)` if the answer needs the base value of `key`.
    fn still_reads(
        &self,
        id: LocationId,
        txn_idx: TxnIndex,
        origin: &ReadOrigin<V>,
        base: Option<&Option<V>>,
    ) -> Result<bool, K> {
        if let Some(group) = self.locations.group_containing(id) {
            let locked = self.locations.lock_lanes::<LANES>(group);
            let lookup = Below::lanes(self.locations.lanes(&locked), txn_idx).lookup(base);
            return match still_has_origin(lookup, origin) {
                Some(valid) => Ok(valid),
                // Every lane of a group has the key.
                None => Locations::key_of(&locked[0]).map_or(Ok(false), Err),
            };
        }
        let mut locked = self.locations.lock(id);
        let Some(location) = locked.get() else {
            return Ok(matches!(origin, ReadOrigin::Storage));
        };
        still_has_origin(location.versions.lookup(txn_idx, base), origin)
            .ok_or_else(|| location.key.clone())
    }

    /// Appends to `out` the final value of every location whose last writer
    /// below `end` is in `txns`, in block order (by that writer, ties by
    /// key); returns the first transaction whose delta overflowed at one of
    /// those locations, if any. Every transaction below `end` must have
    /// finished.
    ///
    /// Each location is visited once, through its last writer's write list,
    /// so different threads can materialize different ranges at once and
    /// the block's final values are the ranges' outputs end to end.
    pub fn materialize_txns<E>(
        &self,
        txns: std::ops::Range<TxnIndex>,
        end: TxnIndex,
        mut base: impl FnMut(&K) -> Result<Option<V>, E>,
        out: &mut Vec<(K, V)>,
    ) -> Result<Option<TxnIndex>, E> {
        let mut first_overflow: Option<TxnIndex> = None;
        let mut last_writers = LastWriters::default();
        for txn_idx in txns.start..txns.end.min(end) {
            let record = self.txns[txn_idx].lock();
            let first = out.len();
            for &id in &record.writes {
                if last_writers.known_other_than(id, txn_idx) {
                    continue;
                }
                let at = Materializing {
                    txn_idx,
                    end,
                    last_writers: &mut last_writers,
                    first_overflow: &mut first_overflow,
                };
                let value = match self.locations.group_containing(id) {
                    Some(group) => self.materialize_at::<LANES, E>(group, at, &mut base)?,
                    None => self.materialize_at::<1, E>(id, at, &mut base)?,
                };
                out.extend(value);
            }
            out[first..].sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(first_overflow)
    }

    /// The final value of the location in the `N` lanes from `first`, if
    /// `at.txn_idx` is its last writer below `at.end`; see
    /// [`materialize_txns`](Self::materialize_txns).
    #[inline(always)]
    fn materialize_at<const N: usize, E>(
        &self,
        first: LocationId,
        at: Materializing<'_>,
        base: &mut impl FnMut(&K) -> Result<Option<V>, E>,
    ) -> Result<Option<(K, V)>, E> {
        let mut locked = self.locations.lock_lanes::<N>(first);
        let below = Below::lanes(self.locations.lanes(&locked), at.end);
        let last_writer = below.last_writer();
        if last_writer != Some(at.txn_idx) {
            at.last_writers.remember(first, N, last_writer);
            return Ok(None);
        }
        let Some(key) = Locations::key_of(&locked[0]) else {
            return Ok(None);
        };
        let (value, overflow) = if below.needs_base() {
            // Without the location's lock, as in validation.
            drop(locked);
            let base_value = base(&key)?;
            locked = self.locations.lock_lanes::<N>(first);
            Below::lanes(self.locations.lanes(&locked), at.end).materialize(Some(&base_value))
        } else {
            below.materialize(None)
        };
        if let Some(idx) = overflow {
            *at.first_overflow = Some(at.first_overflow.map_or(idx, |first| first.min(idx)));
        }
        Ok(value.map(|value| (key, value)))
    }

    /// Every location written by a transaction below `end`, with its value
    /// after them, in block order (by the transaction that last wrote it,
    /// ties by key); and the first transaction below `end` whose delta
    /// overflowed, if any.
    pub fn materialize<E>(
        &self,
        end: TxnIndex,
        base: impl FnMut(&K) -> Result<Option<V>, E>,
    ) -> Result<FinalValues<K, V>, E> {
        let mut values = Vec::new();
        let first_overflow = self.materialize_txns(0..end, end, base, &mut values)?;
        Ok(FinalValues {
            values,
            first_overflow,
        })
    }
}

/// Whether a read that found `origin` would find it again, now that a
/// lookup finds `lookup`; `None` if that needs the base storage's value.
#[inline]
fn still_has_origin<V: Value>(lookup: Lookup<'_, V>, origin: &ReadOrigin<V>) -> Option<bool> {
    Some(match (lookup, origin) {
        (Lookup::Storage, ReadOrigin::Storage) => true,
        (
            Lookup::Version {
                txn_idx,
                incarnation,
                ..
            },
            ReadOrigin::Version(read_idx, read_incarnation),
        ) => txn_idx == *read_idx && incarnation == *read_incarnation,
        (Lookup::Resolved(value, _), ReadOrigin::Resolved(read, _)) => value == *read,
        (Lookup::NeedsBase, ReadOrigin::Resolved(..)) => return None,
        _ => false,
    })
}

/// What a read that looked up `lookup` returns.
#[inline]
fn mv_read<V: Value>(lookup: Lookup<'_, V>) -> MvRead<V> {
    match lookup {
        Lookup::Storage => MvRead::Storage,
        Lookup::Version {
            txn_idx,
            incarnation,
            value,
        } => MvRead::Value(
            Some(value.clone()),
            ReadOrigin::Version(txn_idx, incarnation),
        ),
        Lookup::Resolved(value, writer) => {
            MvRead::Value(value.clone(), ReadOrigin::Resolved(value, writer))
        }
        Lookup::NeedsBase => MvRead::NeedsBase,
        Lookup::Dependency(blocking) => MvRead::Dependency(blocking),
    }
}

/// Locations whose last writer below the end of a materialization is
/// not the transaction that looked them up, a few at a time, as one
/// [`MvMemory::materialize_txns`] call found them.
///
/// A hot location (a fee accumulator) is in nearly every transaction's
/// write list; without this, materializing would lock it once per
/// transaction, from every thread at once, and its cache line would cross
/// between the cores at each. Remembering is sound because materialization
/// runs after every transaction below its end has finished: a location's
/// last writer below it no longer changes.
/// A hot key's group is remembered apart, whole: its lanes are consecutive
/// ids, which would fill every slot of the others. Every group of the
/// block has its place (a node block has two, the gas fee and the burned
/// supply, which every transaction writes: with one place they would evict
/// each other at every transaction).
#[derive(Default)]
struct LastWriters {
    locations: [Option<(LocationId, Option<TxnIndex>)>; 8],
    groups: [Option<(LocationId, Option<TxnIndex>)>; MAX_HOT],
}

impl LastWriters {
    fn slot(id: LocationId) -> usize {
        id.index() % 8
    }

    /// Whether `id`'s last writer is known, and is not `txn_idx`.
    #[inline]
    fn known_other_than(&self, id: LocationId, txn_idx: TxnIndex) -> bool {
        let last = match self.locations[Self::slot(id)] {
            Some((known, last)) if known == id => last,
            // Places fill in order: a block without hot keys stops here.
            _ if self.groups[0].is_none() => return false,
            _ => {
                let group = self.groups.iter().flatten().find(|(first, _)| {
                    (first.index()..first.index() + LANES).contains(&id.index())
                });
                match group {
                    Some(&(_, last)) => last,
                    None => return false,
                }
            }
        };
        last != Some(txn_idx)
    }

    /// Remembers the last writer of the location in the `lanes` slots from
    /// `first`.
    #[inline]
    fn remember(&mut self, first: LocationId, lanes: usize, last_writer: Option<TxnIndex>) {
        if lanes == 1 {
            self.locations[Self::slot(first)] = Some((first, last_writer));
        } else if let Some(place) = self
            .groups
            .iter_mut()
            .find(|place| place.is_none_or(|(known, _)| known == first))
        {
            *place = Some((first, last_writer));
        }
    }
}

/// Where a [`MvMemory::materialize_txns`] call stands.
struct Materializing<'a> {
    txn_idx: TxnIndex,
    end: TxnIndex,
    last_writers: &'a mut LastWriters,
    first_overflow: &'a mut Option<TxnIndex>,
}

/// Every location's value after a prefix of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalValues<K, V> {
    /// The locations the prefix wrote and their values, in the order of the
    /// transactions that last wrote them (ties in key order).
    pub values: Vec<(K, V)>,
    /// The first transaction of the prefix whose delta overflowed.
    pub first_overflow: Option<TxnIndex>,
}

#[cfg(test)]
mod tests {
    use super::*;

    type Memory = MvMemory<u32, u64>;

    fn write(
        memory: &Memory,
        txn: TxnIndex,
        inc: Incarnation,
        writes: &[(u32, WriteOp<u64>)],
    ) -> bool {
        memory
            .record(
                txn,
                inc,
                &mut Vec::new(),
                writes.iter().cloned(),
                &mut memory.reservation(),
            )
            .unwrap()
    }

    fn no_base(_: &u32) -> Result<Option<u64>, ()> {
        Ok(None)
    }

    #[test]
    fn recording_more_locations_than_the_memory_holds_fails_and_reset_grows_it() {
        let mut memory = Memory::new(1);
        let too_many = (0..MIN_LOCATIONS as u32 + 1).map(|k| (k, WriteOp::Value(1)));
        assert_eq!(
            memory.record(
                0,
                0,
                &mut Vec::new(),
                too_many.clone(),
                &mut memory.reservation()
            ),
            Err(MemoryFull)
        );
        memory.reset(1);
        assert_eq!(
            memory.record(0, 0, &mut Vec::new(), too_many, &mut memory.reservation()),
            Ok(false)
        );
        assert_eq!(
            memory.read(&7, 1, None),
            MvRead::Value(Some(1), ReadOrigin::Version(0, 0))
        );
    }

    /// Clearing must leave no bucket naming a location: stale buckets would
    /// pile up block after block until no probe found room, and stale
    /// locations (still in their slots) would be read. Dense blocks (3 new
    /// locations per transaction: 768 of 2,048 buckets) alternate with
    /// sparse ones (8 locations in one reservation of 32 slots).
    #[test]
    fn a_memory_reused_for_block_after_block_of_new_keys_is_emptied_each_time() {
        const TXNS: usize = 256;
        let mut memory = Memory::new(TXNS);
        for (block, keys_per_txn) in
            (0..20).map(|block| (block, if block % 2 == 0 { 3 } else { 0 }))
        {
            let first = block as u32 * 1_000;
            // One worker's reservation for the whole block, as in the engine.
            let mut reservation = memory.reservation();
            for txn in 0..TXNS {
                let keys = match keys_per_txn {
                    0 if txn < 8 => vec![first + txn as u32],
                    0 => vec![],
                    n => (0..n).map(|k| first + (txn * n + k) as u32).collect(),
                };
                let writes = keys.into_iter().map(|key| (key, WriteOp::Value(1)));
                memory
                    .record(txn, 0, &mut Vec::new(), writes, &mut reservation)
                    .unwrap();
            }
            assert_eq!(
                memory.read(&first, TXNS, None),
                MvRead::Value(Some(1), ReadOrigin::Version(0, 0))
            );
            memory.reset(TXNS);
            assert!(memory.locations.index_is_empty(), "block {block}");
            assert_eq!(memory.read(&first, TXNS, None), MvRead::Storage);
        }
    }

    /// Buckets carry the generation of the block that published them, in
    /// 16 bits; when the counter wraps, the index must be zeroed, or the
    /// buckets of the first block of the cycle would name their locations
    /// again, which stay in their slots until a later block fills them.
    #[test]
    fn buckets_of_the_last_cycle_stay_empty_when_the_generation_wraps() {
        let mut memory = Memory::new(4);
        write(&memory, 0, 0, &[(1, WriteOp::Value(5))]);
        memory.reset(4);
        // As if every generation but the last had passed without a block
        // filling key 1's slot again.
        memory.locations.skip_to_last_generation();
        assert_eq!(memory.read(&1, 1, None), MvRead::Storage);
        memory.reset(4);
        assert!(memory.locations.index_is_empty());
        assert_eq!(memory.read(&1, 1, None), MvRead::Storage);
        write(&memory, 0, 0, &[(1, WriteOp::Value(6))]);
        assert_eq!(
            memory.read(&1, 1, None),
            MvRead::Value(Some(6), ReadOrigin::Version(0, 0))
        );
    }

    /// A hot key's lanes must read, validate and materialize exactly like
    /// one list of versions: the same operations on a memory that gives
    /// key 1 lanes and on one that does not, compared.
    #[test]
    fn a_hot_keys_lanes_behave_like_one_list_of_versions() {
        const TXNS: usize = 80;
        // Room for a batch of slots per `write` (each takes a reservation).
        let plain = Memory::new(TXNS * 50);
        let mut laned = Memory::new(TXNS * 50);
        // Two hot keys, as in a node block (gas fee, burned supply):
        // materialization remembers both groups' last writers.
        laned.make_hot(1);
        laned.make_hot(3);
        let writes = |txn: usize, inc: u32| -> Vec<(u32, WriteOp<u64>)> {
            let op = match (txn + inc as usize) % 5 {
                0 => WriteOp::Value(txn as u64 * 10),
                _ => WriteOp::Delta(txn as i128 + 1),
            };
            vec![
                (1, op),
                (3, WriteOp::Delta(2)),
                (100 + txn as u32, WriteOp::Value(7)),
            ]
        };
        // Out of order, as workers record.
        for txn in (0..TXNS).rev().step_by(2).chain((0..TXNS).step_by(2)) {
            for memory in [&plain, &laned] {
                write(memory, txn, 0, &writes(txn, 0));
            }
        }
        // Otherwise the comparisons below would compare two plain memories.
        assert!(has_lanes(&laned, 1) && has_lanes(&laned, 3) && !has_lanes(&plain, 1));
        // An ESTIMATE, a rewrite and a write that moves elsewhere.
        for memory in [&plain, &laned] {
            memory.convert_writes_to_estimates(37);
            write(memory, 53, 1, &writes(53, 1));
            write(memory, 61, 1, &[(2, WriteOp::Value(3))]);
        }
        for txn in 0..=TXNS {
            for base in [None, Some(&Some(5)), Some(&None)] {
                for key in [1, 3] {
                    assert_eq!(
                        plain.read(&key, txn, base),
                        laned.read(&key, txn, base),
                        "{key} {txn}"
                    );
                }
            }
        }
        let base = |key: &u32| Ok::<_, ()>((*key == 1).then_some(5));
        for memory in [&plain, &laned] {
            write(memory, 37, 1, &writes(37, 1));
        }
        assert_eq!(
            plain.materialize(TXNS, base).unwrap(),
            laned.materialize(TXNS, base).unwrap()
        );
        // A reader above, validated before and after a lower write.
        for memory in [&plain, &laned] {
            let origin = match memory.read(&1, TXNS, Some(&Some(5))) {
                MvRead::Value(_, origin) => origin,
                other => panic!("{other:?}"),
            };
            let mut reads = vec![ReadDescriptor { key: 1, origin }];
            memory
                .record(TXNS, 0, &mut reads, [], &mut memory.reservation())
                .unwrap();
            assert_eq!(memory.validate_read_set(TXNS, base), Ok(true));
            // A delta becomes a value below the reader.
            write(memory, 78, 2, &writes(78, 2));
            assert_eq!(memory.validate_read_set(TXNS, base), Ok(false));
        }
    }

    /// Whether `key`'s location in `memory` is a group of lanes.
    fn has_lanes(memory: &Memory, key: u32) -> bool {
        let hot = memory.locations.hot_key(&key, memory.hash(&key));
        hot.and_then(|hot| memory.locations.find_group(hot))
            .is_some()
    }

    #[test]
    fn a_key_written_by_many_transactions_gets_lanes_in_the_next_block() {
        let mut memory = Memory::new(HOT_TXNS);
        const HOT_TXNS: usize = 64;
        for txn in 0..HOT_TXNS {
            // Key 1 by every transaction, key 2 by one less than needed.
            let key_2 = (txn + 1 < HOT_TXNS).then_some((2, WriteOp::Delta(1)));
            // Keys 3 and 4 by every transaction, three quarters of them
            // (48) blind deltas for key 3, one fewer for key 4: the rest
            // set values, as writers that read the key first do.
            let op = |deltas: usize| match txn < deltas {
                true => WriteOp::Delta(1),
                false => WriteOp::Value(7),
            };
            let writes: Vec<_> = [(1, WriteOp::Delta(1)), (3, op(48)), (4, op(47))]
                .into_iter()
                .chain(key_2)
                .collect();
            write(&memory, txn, 0, &writes);
        }
        assert!(!has_lanes(&memory, 1), "lanes from the next block on");
        memory.reset(HOT_TXNS);
        for txn in 0..3 {
            let writes = [1, 2, 3, 4].map(|key| (key, WriteOp::Delta(1)));
            write(&memory, txn, 0, &writes);
        }
        assert!(has_lanes(&memory, 1));
        assert!(!has_lanes(&memory, 2));
        assert!(has_lanes(&memory, 3));
        assert!(!has_lanes(&memory, 4), "mostly read-modify-write");
        // A key hot in one block and not written in the next is not hot
        // in the one after.
        memory.reset(HOT_TXNS);
        write(&memory, 0, 0, &[(1, WriteOp::Delta(1))]);
        assert!(!has_lanes(&memory, 1));
    }

    #[test]
    fn another_memorys_reservation_never_hands_out_a_slot_twice() {
        let (first, second) = (Memory::new(4), Memory::new(4));
        let (mut theirs, mut ours) = (first.reservation(), second.reservation());
        let value = |n| [(n, WriteOp::Value(u64::from(n)))];
        // Each reservation now holds a batch of its own table's slots.
        first
            .record(0, 0, &mut Vec::new(), value(1), &mut theirs)
            .unwrap();
        second
            .record(0, 0, &mut Vec::new(), value(10), &mut ours)
            .unwrap();
        // The first table's reservation, given to the second table, must not
        // hand out the second table's next slot: `ours` holds it.
        second
            .record(1, 0, &mut Vec::new(), value(11), &mut theirs)
            .unwrap();
        second
            .record(2, 0, &mut Vec::new(), value(12), &mut ours)
            .unwrap();
        for (key, writer) in [(10, 0), (11, 1), (12, 2)] {
            assert_eq!(
                second.read(&key, 3, None),
                MvRead::Value(Some(u64::from(key)), ReadOrigin::Version(writer, 0))
            );
        }
    }

    #[test]
    fn a_read_sees_the_highest_lower_version_or_storage() {
        let memory = Memory::new(4);
        assert_eq!(memory.read(&1, 3, None), MvRead::Storage);
        write(&memory, 0, 0, &[(1, WriteOp::Value(10))]);
        write(&memory, 2, 0, &[(1, WriteOp::Value(20))]);
        assert_eq!(memory.read(&1, 0, None), MvRead::Storage);
        assert_eq!(
            memory.read(&1, 1, None),
            MvRead::Value(Some(10), ReadOrigin::Version(0, 0))
        );
        assert_eq!(
            memory.read(&1, 2, None),
            MvRead::Value(Some(10), ReadOrigin::Version(0, 0))
        );
        assert_eq!(
            memory.read(&1, 3, None),
            MvRead::Value(Some(20), ReadOrigin::Version(2, 0))
        );
    }

    #[test]
    fn an_aborted_incarnation_leaves_estimates_that_readers_wait_on() {
        let memory = Memory::new(3);
        write(&memory, 0, 0, &[(1, WriteOp::Value(10))]);
        memory.convert_writes_to_estimates(0);
        assert_eq!(memory.read(&1, 2, None), MvRead::Dependency(0));
        // The next incarnation replaces the estimate.
        write(&memory, 0, 1, &[(1, WriteOp::Value(11))]);
        assert_eq!(
            memory.read(&1, 2, None),
            MvRead::Value(Some(11), ReadOrigin::Version(0, 1))
        );
    }

    /// Records incarnation 0 of `txn`: it read `keys` from storage and
    /// wrote `writes`.
    fn record_storage_reads(
        memory: &Memory,
        txn: TxnIndex,
        keys: &[u32],
        writes: &[(u32, WriteOp<u64>)],
    ) -> bool {
        let mut reads = keys
            .iter()
            .map(|&key| ReadDescriptor {
                key,
                origin: ReadOrigin::Storage,
            })
            .collect();
        memory
            .record(
                txn,
                0,
                &mut reads,
                writes.iter().cloned(),
                &mut memory.reservation(),
            )
            .unwrap()
    }

    fn record_reads(memory: &Memory, txn: TxnIndex, keys: &[u32]) -> bool {
        record_storage_reads(memory, txn, keys, &[])
    }

    #[test]
    fn recording_replaces_the_previous_write_set_and_reports_new_locations_read_above() {
        let memory = Memory::new(3);
        // Transaction 2 read locations 1 and 3; nobody read location 2.
        assert!(!record_reads(&memory, 2, &[1, 3]));
        assert!(write(
            &memory,
            0,
            0,
            &[(1, WriteOp::Value(1)), (2, WriteOp::Value(2))]
        ));
        // Same locations: nothing new.
        assert!(!write(
            &memory,
            0,
            1,
            &[(2, WriteOp::Value(3)), (1, WriteOp::Value(4))]
        ));
        // Location 2 is no longer written: its version is removed.
        assert!(!write(&memory, 0, 2, &[(1, WriteOp::Value(5))]));
        assert_eq!(memory.read(&2, 1, None), MvRead::Storage);
        // New, but read by nobody above: no wave needed.
        assert!(!write(&memory, 0, 3, &[(2, WriteOp::Value(6))]));
        assert_eq!(memory.read(&1, 1, None), MvRead::Storage);
        // New and read above.
        assert!(write(&memory, 0, 4, &[(3, WriteOp::Value(7))]));
        // Read only below the writer: no wave.
        assert!(!record_reads(&memory, 1, &[4]));
        assert!(!write(&memory, 2, 0, &[(4, WriteOp::Value(8))]));
    }

    #[test]
    fn a_read_of_a_location_the_reader_also_writes_counts_as_a_read_above() {
        let memory = Memory::new(3);
        record_storage_reads(&memory, 2, &[1], &[(1, WriteOp::Value(1))]);
        assert!(write(&memory, 0, 0, &[(1, WriteOp::Value(5))]));
        // Only written above, as a blind delta: no reader to revalidate.
        assert!(!write(&memory, 0, 1, &[(2, WriteOp::Delta(1))]));
        assert!(!write(&memory, 1, 0, &[(2, WriteOp::Delta(1))]));
    }

    #[test]
    fn validation_fails_when_a_read_would_see_another_version() {
        let memory = Memory::new(3);
        record_reads(&memory, 2, &[1]);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(true));
        // A lower transaction now writes what transaction 2 read from storage.
        write(&memory, 1, 0, &[(1, WriteOp::Value(1))]);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(false));

        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Version(1, 0),
        }];
        memory
            .record(2, 1, &mut reads, [], &mut memory.reservation())
            .unwrap();
        assert_eq!(memory.validate_read_set(2, no_base), Ok(true));
        // Same location, new incarnation: stale.
        write(&memory, 1, 1, &[(1, WriteOp::Value(1))]);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(false));
        // An estimate is never valid.
        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Version(1, 1),
        }];
        memory
            .record(2, 2, &mut reads, [], &mut memory.reservation())
            .unwrap();
        memory.convert_writes_to_estimates(1);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(false));
    }

    #[test]
    fn deltas_resolve_over_the_value_below_or_the_base_value() {
        let memory = Memory::new(4);
        write(&memory, 0, 0, &[(1, WriteOp::Delta(5))]);
        write(&memory, 1, 0, &[(1, WriteOp::Delta(-2))]);
        assert_eq!(memory.read(&1, 2, None), MvRead::NeedsBase);
        assert_eq!(
            memory.read(&1, 2, Some(&Some(100))),
            MvRead::Value(Some(103), ReadOrigin::Resolved(Some(103), 1))
        );
        write(&memory, 2, 0, &[(1, WriteOp::Value(7))]);
        write(&memory, 3, 0, &[(1, WriteOp::Delta(1))]);
        assert_eq!(
            memory.read(&1, 3, None),
            MvRead::Value(Some(7), ReadOrigin::Version(2, 0))
        );
        assert_eq!(
            memory.read(&1, 4, None),
            MvRead::Value(Some(8), ReadOrigin::Resolved(Some(8), 3))
        );
    }

    #[test]
    fn delta_writers_do_not_invalidate_each_other_but_invalidate_readers() {
        let memory = Memory::new(3);
        write(&memory, 0, 0, &[(1, WriteOp::Delta(1))]);
        write(&memory, 1, 0, &[(1, WriteOp::Delta(1))]);
        let base = |_: &u32| Ok::<_, ()>(Some(10));
        assert_eq!(memory.validate_read_set(1, base), Ok(true));
        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Resolved(Some(12), 1),
        }];
        memory
            .record(2, 0, &mut reads, [], &mut memory.reservation())
            .unwrap();
        assert_eq!(memory.validate_read_set(2, base), Ok(true));
        write(&memory, 0, 1, &[(1, WriteOp::Delta(2))]);
        assert_eq!(memory.validate_read_set(2, base), Ok(false));
    }

    #[test]
    fn materialize_sorts_applies_deltas_and_reports_the_first_overflow() {
        let memory = Memory::new(4);
        write(
            &memory,
            0,
            0,
            &[(9, WriteOp::Value(1)), (3, WriteOp::Delta(2))],
        );
        write(&memory, 1, 0, &[(5, WriteOp::Value(u64::MAX))]);
        write(&memory, 2, 0, &[(5, WriteOp::Delta(1))]);
        write(&memory, 3, 0, &[(3, WriteOp::Delta(1))]);
        let all = memory.materialize(4, |_| Ok::<_, ()>(Some(10))).unwrap();
        assert_eq!(all.values, vec![(9, 1), (5, u64::MAX), (3, 13)]);
        assert_eq!(all.first_overflow, Some(2));
        let prefix = memory.materialize(2, |_| Ok::<_, ()>(None)).unwrap();
        assert_eq!(prefix.values, vec![(3, 2), (9, 1), (5, u64::MAX)]);
        assert_eq!(prefix.first_overflow, None);
        // After transaction 0 alone: its delta over the base value.
        let first = memory.materialize(1, |_| Ok::<_, ()>(Some(10))).unwrap();
        assert_eq!(first.values, vec![(3, 12), (9, 1)]);
    }
}
