//! [`MvMemory`]: every location's versions, and every transaction's last read
//! and write sets.

use std::collections::HashMap;

use ahash::RandomState;
use parex_sync::{Arc, CachePadded, Mutex, RwLock};

use crate::read_set::{ReadDescriptor, ReadOrigin};
use crate::versions::{Entry, EntryData, Lookup, Versions};
use crate::{Delta, Incarnation, Key, TxnIndex, Value};

/// A value to be written by an incarnation: what
/// [`MvMemory::record`] takes for each location of a write set.
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
    /// them: read the base storage's value and call
    /// [`MvMemory::read`] again with it.
    NeedsBase,
    /// The version to read is an ESTIMATE of this lower transaction, whose
    /// next incarnation will probably rewrite it: wait for it.
    Dependency(TxnIndex),
}

/// The versions of one location, shared between the map and the write lists
/// of the transactions that wrote there.
type Cell<V> = Arc<Mutex<Versions<V>>>;

type Shard<K, V> = CachePadded<RwLock<HashMap<K, Cell<V>, RandomState>>>;

/// The last incarnation's reads and writes of one transaction.
#[derive(Debug)]
struct TxnRecord<K, V> {
    reads: Vec<ReadDescriptor<K, V>>,
    /// Sorted by key.
    writes: Vec<(K, Cell<V>)>,
    /// Scratch space for the next write list, kept for its capacity.
    spare: Vec<(K, Cell<V>)>,
}

impl<K, V> Default for TxnRecord<K, V> {
    fn default() -> Self {
        Self {
            reads: Vec::new(),
            writes: Vec::new(),
            spare: Vec::new(),
        }
    }
}

/// The multi-version memory of one block.
///
/// Invariants:
/// - a location's versions hold at most one entry per transaction: the one
///   written by the transaction's last recorded incarnation (or its ESTIMATE
///   after an abort);
/// - a transaction's `writes` list names exactly the locations where it has
///   an entry, so stale entries are removed when a later incarnation stops
///   writing there;
/// - locks are taken in the order transaction record → shard → location, and
///   never the other way round, so no two operations deadlock.
///
/// Locations live in a fixed number of shards, each a `HashMap` behind a
/// read-write lock: a read takes one shard's lock in shared mode and one
/// location's mutex, never a global lock. (A lock-free skip list would serve
/// too, but cannot run under loom; the shards keep the code the loom tests
/// check identical to the code that runs.)
#[derive(Debug)]
pub struct MvMemory<K, V> {
    shards: Box<[Shard<K, V>]>,
    hasher: RandomState,
    txns: Box<[CachePadded<Mutex<TxnRecord<K, V>>>]>,
}

const SHARDS: usize = 128;

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
        let hasher = shard_hasher();
        let per_shard = block_size.div_ceil(SHARDS) * 2;
        let shards = (0..SHARDS)
            .map(|_| {
                CachePadded::new(RwLock::new(HashMap::with_capacity_and_hasher(
                    per_shard,
                    hasher.clone(),
                )))
            })
            .collect();
        let txns = (0..block_size)
            .map(|_| CachePadded::new(Mutex::new(TxnRecord::default())))
            .collect();
        Self {
            shards,
            hasher,
            txns,
        }
    }

    /// The number of transactions this memory was made for.
    pub fn block_size(&self) -> usize {
        self.txns.len()
    }

    fn shard(&self, key: &K) -> &Shard<K, V> {
        let hash = self.hasher.hash_one(key);
        // The high bits: the shard's own map uses the low ones.
        &self.shards[(hash >> 57) as usize % SHARDS]
    }

    /// The location's versions, creating them if needed.
    fn cell(&self, key: &K) -> Cell<V> {
        let shard = self.shard(key);
        if let Some(cell) = shard.read().get(key) {
            return Arc::clone(cell);
        }
        let mut map = shard.write();
        Arc::clone(
            map.entry(key.clone())
                .or_insert_with(|| Arc::new(Mutex::new(Versions::new()))),
        )
    }

    /// Calls `f` with the location's versions, if any transaction wrote it.
    fn with_versions<R>(&self, key: &K, f: impl FnOnce(&Versions<V>) -> R) -> Option<R> {
        let shard = self.shard(key).read();
        let cell = shard.get(key)?;
        let versions = cell.lock();
        Some(f(&versions))
    }

    /// What transaction `txn_idx` reads at `key`: the highest version written
    /// by a lower transaction. `base` is the base storage's value, needed only
    /// after [`MvRead::NeedsBase`].
    pub fn read(&self, key: &K, txn_idx: TxnIndex, base: Option<&Option<V>>) -> MvRead<V> {
        self.with_versions(key, |versions| match versions.lookup(txn_idx, base) {
            Lookup::Storage => MvRead::Storage,
            Lookup::Version {
                txn_idx,
                incarnation,
                value,
            } => MvRead::Value(
                Some(value.clone()),
                ReadOrigin::Version(txn_idx, incarnation),
            ),
            Lookup::Resolved(value) => MvRead::Value(value.clone(), ReadOrigin::Resolved(value)),
            Lookup::NeedsBase => MvRead::NeedsBase,
            Lookup::Dependency(blocking) => MvRead::Dependency(blocking),
        })
        .unwrap_or(MvRead::Storage)
    }

    /// Records what incarnation `incarnation` of `txn_idx` read and wrote,
    /// replacing its previous incarnation's writes.
    ///
    /// `writes` must hold each key once. `reads` is taken (the vector left in
    /// its place is the previous read set, cleared, kept for its capacity).
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
        std::mem::swap(&mut record.reads, reads);
        reads.clear();

        let mut next = std::mem::take(&mut record.spare);
        next.clear();
        for (key, value) in writes {
            let cell = match record.writes.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => Arc::clone(&record.writes[i].1),
                Err(_) => self.cell(&key),
            };
            let data = match value {
                WriteOp::Value(value) => EntryData::Value(value),
                WriteOp::Delta(delta) => EntryData::Delta(delta),
            };
            cell.lock().entries.insert(
                txn_idx,
                Entry {
                    incarnation,
                    estimate: false,
                    data,
                },
            );
            next.push((key, cell));
        }
        next.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        // Remove what the previous incarnation wrote and this one did not;
        // note whether this one wrote somewhere new. Both lists are sorted.
        let mut wrote_new_location = false;
        let mut previous = record.writes.iter().peekable();
        for (key, _) in &next {
            while let Some((old_key, old_cell)) = previous.next_if(|(k, _)| k < key) {
                let _ = old_key;
                old_cell.lock().entries.remove(&txn_idx);
            }
            if previous.next_if(|(k, _)| k == key).is_none() {
                wrote_new_location = true;
            }
        }
        for (_, old_cell) in previous {
            old_cell.lock().entries.remove(&txn_idx);
        }

        record.spare = std::mem::replace(&mut record.writes, next);
        record.spare.clear();
        wrote_new_location
    }

    /// Marks every version the transaction's last incarnation wrote as an
    /// ESTIMATE: it was aborted, and its next incarnation will probably write
    /// the same locations.
    pub fn convert_writes_to_estimates(&self, txn_idx: TxnIndex) {
        let record = self.txns[txn_idx].lock();
        for (_, cell) in &record.writes {
            if let Some(entry) = cell.lock().entries.get_mut(&txn_idx) {
                entry.estimate = true;
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
        for read in &record.reads {
            let valid = match self.still_reads(&read.key, txn_idx, &read.origin, None) {
                Some(valid) => valid,
                None => {
                    let base_value = base(&read.key)?;
                    self.still_reads(&read.key, txn_idx, &read.origin, Some(&base_value))
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
        txn_idx: TxnIndex,
        origin: &ReadOrigin<V>,
        base: Option<&Option<V>>,
    ) -> Option<bool> {
        let verdict = self.with_versions(key, |versions| {
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

    /// The value of `key` after every transaction below `end` (all of which
    /// must have finished), and whether any of them wrote it; with the first
    /// of them whose delta there overflowed.
    ///
    /// `base` reads the base storage when the location's lowest version is a
    /// delta.
    pub fn value_below<E>(
        &self,
        key: &K,
        end: TxnIndex,
        base: impl FnOnce(&K) -> Result<Option<V>, E>,
    ) -> Result<Option<Materialized<V>>, E> {
        let needs_base = self
            .with_versions(key, |versions| versions.needs_base(end))
            .unwrap_or(false);
        let base_value = if needs_base { Some(base(key)?) } else { None };
        Ok(self
            .with_versions(key, |versions| {
                let (value, first_overflow) = versions.materialize(end, base_value.as_ref());
                let written = versions.entries.range(..end).next().is_some();
                written.then_some(Materialized {
                    value,
                    first_overflow,
                })
            })
            .flatten())
    }

    /// Every location written by a transaction below `end`, with its value
    /// after them, sorted by key; and the first transaction below `end` whose
    /// delta overflowed, if any. All transactions below `end` must have
    /// finished.
    ///
    /// Locations whose final value is absent are left out.
    pub fn materialize<E>(
        &self,
        end: TxnIndex,
        mut base: impl FnMut(&K) -> Result<Option<V>, E>,
    ) -> Result<(Vec<(K, V)>, Option<TxnIndex>), E> {
        let mut values = Vec::new();
        let mut first_overflow: Option<TxnIndex> = None;
        for shard in self.shards.iter() {
            let map = shard.read();
            for (key, cell) in map.iter() {
                let versions = cell.lock();
                let base_value = if versions.needs_base(end) {
                    Some(base(key)?)
                } else {
                    None
                };
                if versions.entries.range(..end).next().is_none() {
                    continue;
                }
                let (value, overflow) = versions.materialize(end, base_value.as_ref());
                if let Some(idx) = overflow {
                    first_overflow = Some(first_overflow.map_or(idx, |first| first.min(idx)));
                }
                if let Some(value) = value {
                    values.push((key.clone(), value));
                }
            }
        }
        values.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok((values, first_overflow))
    }

    /// The read set of the transaction's last recorded incarnation, as
    /// `(key, origin)` pairs (for dependency analysis after a block).
    pub fn with_read_set<R>(
        &self,
        txn_idx: TxnIndex,
        f: impl FnOnce(&[ReadDescriptor<K, V>]) -> R,
    ) -> R {
        f(&self.txns[txn_idx].lock().reads)
    }
}

/// A location's value after a prefix of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialized<V> {
    /// The value, if it has one.
    pub value: Option<V>,
    /// The first transaction of the prefix whose delta here overflowed.
    pub first_overflow: Option<TxnIndex>,
}
