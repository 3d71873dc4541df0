//! [`MvMemory`]: every location's versions, and every transaction's last read
//! and write sets.

use ahash::RandomState;
use hashbrown::HashTable;
use parex_sync::{CachePadded, Mutex, RwLock};
use smallvec::SmallVec;

use crate::read_set::{ReadDescriptor, ReadOrigin};
use crate::versions::{Entry, EntryData, Lookup, Versions};
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

/// One location in a shard: its key, the key's hash (kept for rehashing),
/// and its versions.
#[derive(Debug)]
struct Slot<K, V> {
    hash: u64,
    key: K,
    versions: Mutex<Versions<V>>,
}

type Shard<K, V> = CachePadded<RwLock<HashTable<Slot<K, V>>>>;

type TxnSlot<K, V> = CachePadded<Mutex<TxnRecord<K, V>>>;

/// The locations a transaction wrote, with their hashes, sorted by key.
/// Small transactions keep them inline: recording allocates nothing.
type WriteList<K> = SmallVec<[(K, u64); 4]>;

/// The last incarnation's reads and writes of one transaction.
#[derive(Debug)]
struct TxnRecord<K, V> {
    reads: SmallVec<[ReadDescriptor<K, V>; 4]>,
    writes: WriteList<K>,
}

impl<K, V> Default for TxnRecord<K, V> {
    fn default() -> Self {
        Self {
            reads: SmallVec::new(),
            writes: SmallVec::new(),
        }
    }
}

/// The multi-version memory of one block.
///
/// Invariants:
/// - a location's versions hold at most one entry per transaction: the one
///   written by the transaction's last recorded incarnation (or its ESTIMATE
///   after an abort);
/// - a transaction's write list names exactly the locations where it has an
///   entry, so stale entries are removed when a later incarnation stops
///   writing there;
/// - locks are taken in the order transaction record → shard → location, and
///   never the other way round, so no two operations deadlock;
/// - a location, once created, stays for the whole block (possibly with no
///   versions), so a shard only ever grows.
///
/// Locations live in a fixed number of shards, each a hash table behind a
/// read-write lock: a read takes one shard's lock in shared mode and one
/// location's mutex, never a global lock, and hashes the key once. A
/// location's versions live inline in the table (no allocation, no
/// reference count per location). A lock-free skip list would serve too, but
/// cannot run under loom; the shards keep the code the loom tests check
/// identical to the code that runs.
#[derive(Debug)]
pub struct MvMemory<K, V> {
    shards: Box<[Shard<K, V>]>,
    hasher: RandomState,
    txns: Vec<TxnSlot<K, V>>,
}

/// The number of shards the locations are spread over.
#[cfg(not(loom))]
pub const SHARDS: usize = 128;

/// Under loom, few shards: every shard lock taken is a step loom explores,
/// and materializing a block visits every shard.
#[cfg(loom)]
pub const SHARDS: usize = 4;

/// The hasher that picks a key's shard, randomly seeded per memory.
#[cfg(not(loom))]
fn shard_hasher() -> RandomState {
    RandomState::new()
}

/// Under loom, fixed seeds: loom replays a model many times and requires
/// every iteration to touch the same objects, so a key must land in the same
/// shard (the same lock) each time, which a fresh random seed would break.
#[cfg(loom)]
fn shard_hasher() -> RandomState {
    RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

impl<K: Key, V: Value> MvMemory<K, V> {
    /// Memory for a block of `block_size` transactions.
    pub fn new(block_size: usize) -> Self {
        let per_shard = block_size.div_ceil(SHARDS) * 2;
        let shards = (0..SHARDS)
            .map(|_| CachePadded::new(RwLock::new(HashTable::with_capacity(per_shard))))
            .collect();
        let txns = (0..block_size)
            .map(|_| CachePadded::new(Mutex::new(TxnRecord::default())))
            .collect();
        Self {
            shards,
            hasher: shard_hasher(),
            txns,
        }
    }

    /// Empties the memory for a block of `block_size` transactions, keeping
    /// its allocations: a executor that runs block after block then pays
    /// for no fresh memory (and its page faults) per block.
    pub fn reset(&mut self, block_size: usize) {
        for shard in self.shards.iter() {
            shard.write().clear();
        }
        self.txns.truncate(block_size);
        for slot in &self.txns {
            let mut record = slot.lock();
            record.reads.clear();
            record.writes.clear();
        }
        self.txns.resize_with(block_size, || {
            CachePadded::new(Mutex::new(TxnRecord::default()))
        });
    }

    /// The number of transactions this memory was made for.
    pub fn block_size(&self) -> usize {
        self.txns.len()
    }

    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Shard<K, V> {
        // The top bits: the table itself uses the low ones.
        &self.shards[(hash >> 57) as usize % SHARDS]
    }

    /// Calls `f` with the location's versions, if it exists.
    fn with_versions<R>(&self, key: &K, hash: u64, f: impl FnOnce(&Versions<V>) -> R) -> Option<R> {
        let table = self.shard(hash).read();
        let slot = table.find(hash, |slot| slot.key == *key)?;
        let versions = slot.versions.lock();
        Some(f(&versions))
    }

    /// Calls `f` with the location's versions, if it exists.
    fn update_versions(&self, key: &K, hash: u64, f: impl FnOnce(&mut Versions<V>)) {
        let table = self.shard(hash).read();
        if let Some(slot) = table.find(hash, |slot| slot.key == *key) {
            f(&mut slot.versions.lock());
        }
    }

    /// Calls `f` with the location's versions, creating the location first
    /// if needed. An existing location is updated under the shard's shared
    /// lock, so workers writing one hot location (a fee accumulator) only
    /// contend on that location's own short critical section; the shard is
    /// locked exclusively only to create a location.
    fn upsert_versions(&self, key: &K, hash: u64, f: impl FnOnce(&mut Versions<V>)) {
        let shard = self.shard(hash);
        {
            let table = shard.read();
            if let Some(slot) = table.find(hash, |slot| slot.key == *key) {
                f(&mut slot.versions.lock());
                return;
            }
        }
        let mut table = shard.write();
        let slot = table
            .entry(hash, |slot| slot.key == *key, |slot| slot.hash)
            .or_insert_with(|| Slot {
                hash,
                key: key.clone(),
                versions: Mutex::new(Versions::new()),
            });
        f(&mut slot.get().versions.lock());
    }

    /// What transaction `txn_idx` reads at `key`: the highest version written
    /// by a lower transaction. `base` is the base storage's value, needed only
    /// after [`MvRead::NeedsBase`].
    pub fn read(&self, key: &K, txn_idx: TxnIndex, base: Option<&Option<V>>) -> MvRead<V> {
        self.with_versions(key, self.hash(key), |versions| {
            match versions.lookup(txn_idx, base) {
                Lookup::Storage => MvRead::Storage,
                Lookup::Version {
                    txn_idx,
                    incarnation,
                    value,
                } => MvRead::Value(
                    Some(value.clone()),
                    ReadOrigin::Version(txn_idx, incarnation),
                ),
                Lookup::Resolved(value) => {
                    MvRead::Value(value.clone(), ReadOrigin::Resolved(value))
                }
                Lookup::NeedsBase => MvRead::NeedsBase,
                Lookup::Dependency(blocking) => MvRead::Dependency(blocking),
            }
        })
        .unwrap_or(MvRead::Storage)
    }

    /// Records what incarnation `incarnation` of `txn_idx` read and wrote,
    /// replacing its previous incarnation's writes.
    ///
    /// `writes` must hold each key once. `reads` is drained (its capacity
    /// stays with the caller, for the next incarnation).
    /// Returns whether the incarnation wrote a location the previous one did
    /// not: then transactions above may have read past it, and the scheduler
    /// must revalidate them.
    pub fn record(
        &self,
        txn_idx: TxnIndex,
        incarnation: Incarnation,
        reads: &mut Vec<ReadDescriptor<K, V>>,
        writes: impl IntoIterator<Item = (K, WriteOp<V>)>,
    ) -> bool {
        let mut record = self.txns[txn_idx].lock();
        let record = &mut *record;
        record.reads.clear();
        record.reads.extend(reads.drain(..));

        let mut next = WriteList::new();
        for (key, op) in writes {
            let hash = self.hash(&key);
            let data = match op {
                WriteOp::Value(value) => EntryData::Value(value),
                WriteOp::Delta(delta) => EntryData::Delta(delta),
            };
            let entry = Entry {
                incarnation,
                estimate: false,
                data,
            };
            self.upsert_versions(&key, hash, |versions| versions.insert(txn_idx, entry));
            next.push((key, hash));
        }
        next.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        // Remove what the previous incarnation wrote and this one did not;
        // note whether this one wrote somewhere new. Both lists are sorted.
        let mut wrote_new_location = false;
        let mut previous = record.writes.iter().peekable();
        for (key, _) in &next {
            while let Some((old_key, old_hash)) = previous.next_if(|(k, _)| k < key) {
                self.update_versions(old_key, *old_hash, |v| v.remove(txn_idx));
            }
            if previous.next_if(|(k, _)| k == key).is_none() {
                wrote_new_location = true;
            }
        }
        for (old_key, old_hash) in previous {
            self.update_versions(old_key, *old_hash, |v| v.remove(txn_idx));
        }

        record.writes = next;
        wrote_new_location
    }

    /// Marks every version the transaction's last incarnation wrote as an
    /// ESTIMATE: it was aborted, and its next incarnation will probably write
    /// the same locations.
    pub fn convert_writes_to_estimates(&self, txn_idx: TxnIndex) {
        let record = self.txns[txn_idx].lock();
        for (key, hash) in &record.writes {
            self.update_versions(key, *hash, |v| v.mark_estimate(txn_idx));
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
        for read in &record.reads {
            let hash = self.hash(&read.key);
            let valid = match self.still_reads(&read.key, hash, txn_idx, &read.origin, None) {
                Some(valid) => valid,
                None => {
                    let base_value = base(&read.key)?;
                    self.still_reads(&read.key, hash, txn_idx, &read.origin, Some(&base_value))
                        .unwrap_or(false)
                }
            };
            if !valid {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether a read by `txn_idx` at `key` still has `origin`; `None` if the
    /// answer needs the base value.
    fn still_reads(
        &self,
        key: &K,
        hash: u64,
        txn_idx: TxnIndex,
        origin: &ReadOrigin<V>,
        base: Option<&Option<V>>,
    ) -> Option<bool> {
        let verdict = self.with_versions(key, hash, |versions| {
            match (versions.lookup(txn_idx, base), origin) {
                (Lookup::Storage, ReadOrigin::Storage) => Some(true),
                (
                    Lookup::Version {
                        txn_idx: idx,
                        incarnation,
                        ..
                    },
                    ReadOrigin::Version(read_idx, read_incarnation),
                ) => Some(idx == *read_idx && incarnation == *read_incarnation),
                (Lookup::Resolved(value), ReadOrigin::Resolved(read)) => Some(value == *read),
                (Lookup::NeedsBase, ReadOrigin::Resolved(_)) => None,
                _ => Some(false),
            }
        });
        verdict.unwrap_or(Some(matches!(origin, ReadOrigin::Storage)))
    }

    /// How many shards the locations are spread over: the units of
    /// [`materialize_shard`](Self::materialize_shard).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Appends to `out`, for every location of shard `shard` that a
    /// transaction below `end` wrote, `(last writer below end, key, value
    /// after every transaction below end)`; returns the first transaction
    /// whose delta overflowed at one of those locations, if any. Every
    /// transaction below `end` must have finished.
    ///
    /// Shards are independent: different threads can materialize different
    /// shards at once. [`in_block_order`] puts the parts together.
    pub fn materialize_shard<E>(
        &self,
        shard: usize,
        end: TxnIndex,
        mut base: impl FnMut(&K) -> Result<Option<V>, E>,
        out: &mut Vec<(TxnIndex, K, V)>,
    ) -> Result<Option<TxnIndex>, E> {
        let mut first_overflow: Option<TxnIndex> = None;
        let Some(shard) = self.shards.get(shard) else {
            return Ok(None);
        };
        let table = shard.read();
        for slot in table.iter() {
            let versions = slot.versions.lock();
            let Some(last_writer) = versions.last_writer_below(end) else {
                continue;
            };
            let base_value = if versions.needs_base(end) {
                Some(base(&slot.key)?)
            } else {
                None
            };
            let (value, overflow) = versions.materialize(end, base_value.as_ref());
            if let Some(idx) = overflow {
                first_overflow = Some(first_overflow.map_or(idx, |first| first.min(idx)));
            }
            if let Some(value) = value {
                out.push((last_writer, slot.key.clone(), value));
            }
        }
        Ok(first_overflow)
    }

    /// Every location written by a transaction below `end`, with its value
    /// after them, in block order (see [`in_block_order`]); and the first
    /// transaction below `end` whose delta overflowed, if any.
    pub fn materialize<E>(
        &self,
        end: TxnIndex,
        mut base: impl FnMut(&K) -> Result<Option<V>, E>,
    ) -> Result<FinalValues<K, V>, E> {
        let mut parts = Vec::new();
        let mut first_overflow: Option<TxnIndex> = None;
        for shard in 0..self.shards.len() {
            if let Some(idx) = self.materialize_shard(shard, end, &mut base, &mut parts)? {
                first_overflow = Some(first_overflow.map_or(idx, |first| first.min(idx)));
            }
        }
        Ok(FinalValues {
            values: in_block_order(end, [parts]),
            first_overflow,
        })
    }
}

/// Orders materialized locations by the transaction that last wrote them,
/// ties by key: the block order every executor reports final values in.
///
/// A counting sort on the writer's index (all below `end`), then a sort of
/// each transaction's few locations by key: linear in the number of
/// locations, where a comparison sort of them all would dominate the end of
/// a block.
pub fn in_block_order<K: Ord, V>(
    end: TxnIndex,
    parts: impl IntoIterator<Item = Vec<(TxnIndex, K, V)>>,
) -> Vec<(K, V)> {
    let parts: Vec<_> = parts.into_iter().collect();
    let mut starts = vec![0usize; end + 1];
    for (writer, _, _) in parts.iter().flatten() {
        if let Some(count) = starts.get_mut(writer + 1) {
            *count += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let total = starts.last().copied().unwrap_or(0);
    let mut placed: Vec<Option<(K, V)>> = (0..total).map(|_| None).collect();
    let mut next = starts.clone();
    for (writer, key, value) in parts.into_iter().flatten() {
        if let Some(position) = next.get_mut(writer) {
            placed[*position] = Some((key, value));
            *position += 1;
        }
    }
    for range in starts.windows(2) {
        if range[1] - range[0] > 1 {
            placed[range[0]..range[1]].sort_unstable_by(|a, b| match (a, b) {
                (Some(a), Some(b)) => a.0.cmp(&b.0),
                _ => std::cmp::Ordering::Equal,
            });
        }
    }
    placed.into_iter().flatten().collect()
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
        memory.record(txn, inc, &mut Vec::new(), writes.iter().cloned())
    }

    fn no_base(_: &u32) -> Result<Option<u64>, ()> {
        Ok(None)
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

    #[test]
    fn recording_replaces_the_previous_write_set_and_reports_new_locations() {
        let memory = Memory::new(2);
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
        assert!(write(&memory, 0, 3, &[(3, WriteOp::Value(6))]));
        assert_eq!(memory.read(&1, 1, None), MvRead::Storage);
    }

    #[test]
    fn validation_fails_when_a_read_would_see_another_version() {
        let memory = Memory::new(3);
        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Storage,
        }];
        memory.record(2, 0, &mut reads, []);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(true));
        // A lower transaction now writes what transaction 2 read from storage.
        write(&memory, 1, 0, &[(1, WriteOp::Value(1))]);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(false));

        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Version(1, 0),
        }];
        memory.record(2, 1, &mut reads, []);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(true));
        // Same location, new incarnation: stale.
        write(&memory, 1, 1, &[(1, WriteOp::Value(1))]);
        assert_eq!(memory.validate_read_set(2, no_base), Ok(false));
        // An estimate is never valid.
        let mut reads = vec![ReadDescriptor {
            key: 1,
            origin: ReadOrigin::Version(1, 1),
        }];
        memory.record(2, 2, &mut reads, []);
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
            MvRead::Value(Some(103), ReadOrigin::Resolved(Some(103)))
        );
        write(&memory, 2, 0, &[(1, WriteOp::Value(7))]);
        write(&memory, 3, 0, &[(1, WriteOp::Delta(1))]);
        assert_eq!(
            memory.read(&1, 3, None),
            MvRead::Value(Some(7), ReadOrigin::Version(2, 0))
        );
        assert_eq!(
            memory.read(&1, 4, None),
            MvRead::Value(Some(8), ReadOrigin::Resolved(Some(8)))
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
            origin: ReadOrigin::Resolved(Some(12)),
        }];
        memory.record(2, 0, &mut reads, []);
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
