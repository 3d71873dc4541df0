//! The versions of one location: what each transaction of the block last
//! wrote there, ordered by transaction index.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::{Delta, Incarnation, TxnIndex, Value};

/// What one incarnation wrote at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryData<V> {
    /// A full value.
    Value(V),
    /// An amount added to the value below it.
    Delta(PackedDelta),
}

/// A [`Delta`] stored without `i128`'s 16-byte alignment, which would
/// otherwise double the size of every version of a small value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackedDelta([u64; 2]);

impl From<Delta> for PackedDelta {
    fn from(delta: Delta) -> Self {
        let bits = delta as u128;
        Self([bits as u64, (bits >> 64) as u64])
    }
}

impl PackedDelta {
    fn get(self) -> Delta {
        (u128::from(self.0[1]) << 64 | u128::from(self.0[0])) as Delta
    }
}

/// The ESTIMATE bit of [`Entry::tagged_incarnation`].
const ESTIMATE: u32 = 1 << 31;

/// A version: the transaction and incarnation that wrote it, the data, and
/// whether that incarnation has since been aborted (an ESTIMATE: the next
/// incarnation will probably write here again, so readers wait for it
/// instead of reading what is below).
///
/// 32 bytes for a `u64` value: the ESTIMATE flag lives in the top bit of the
/// incarnation (a transaction would need 2^31 incarnations to reach it).
#[derive(Debug, Clone)]
pub(crate) struct Entry<V> {
    txn_idx: u32,
    tagged_incarnation: u32,
    data: EntryData<V>,
}

impl<V> Entry<V> {
    fn txn_idx(&self) -> TxnIndex {
        self.txn_idx as TxnIndex
    }

    fn incarnation(&self) -> Incarnation {
        self.tagged_incarnation & !ESTIMATE
    }

    fn estimate(&self) -> bool {
        self.tagged_incarnation & ESTIMATE != 0
    }
}

/// What a transaction sees at a location, before anything is cloned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a, V> {
    /// No lower transaction wrote the location: the base storage's value.
    Storage,
    /// The highest lower version is a full value.
    Version {
        txn_idx: TxnIndex,
        incarnation: Incarnation,
        value: &'a V,
    },
    /// The highest lower versions are deltas; applied in order to the value
    /// below them (or to the base value), they give this.
    Resolved(Option<V>),
    /// Resolving the deltas needs the base storage's value: ask again with it.
    NeedsBase,
    /// The highest lower version that matters is an ESTIMATE of this
    /// transaction.
    Dependency(TxnIndex),
}

/// The versions of one location, sorted by transaction index.
///
/// Most locations are written by one or two transactions of a block (an
/// account sends once and is credited once), so the first two versions live
/// inline: such a location costs no allocation of its own. Versions
/// mostly arrive in index order (workers take low indices first), so an
/// insertion is usually an append.
#[derive(Debug)]
pub(crate) struct Versions<V> {
    entries: SmallVec<[Entry<V>; 2]>,
}

impl<V: Value> Versions<V> {
    pub(crate) fn new() -> Self {
        Self {
            entries: SmallVec::new(),
        }
    }

    /// The number of versions of transactions below `end`.
    ///
    /// Looks at the last few versions first: versions mostly arrive in
    /// index order, so a writer's place is usually at the end, and a hot
    /// location (a fee accumulator with a version per transaction) must
    /// not cost a binary search over thousands of versions, a cache miss
    /// each, while its lock is held.
    fn below(&self, end: TxnIndex) -> usize {
        let mut below = self.entries.len();
        for _ in 0..4 {
            match below.checked_sub(1).map(|last| &self.entries[last]) {
                Some(entry) if entry.txn_idx() >= end => below -= 1,
                _ => return below,
            }
        }
        self.entries[..below].partition_point(|entry| entry.txn_idx() < end)
    }

    /// Sets `txn_idx`'s version. Transaction indices and incarnations fit
    /// in 31 bits: blocks are far smaller.
    pub(crate) fn insert(
        &mut self,
        txn_idx: TxnIndex,
        incarnation: Incarnation,
        data: EntryData<V>,
    ) {
        let entry = Entry {
            txn_idx: txn_idx as u32,
            tagged_incarnation: incarnation & !ESTIMATE,
            data,
        };
        let at = self.below(txn_idx);
        match self.entries.get_mut(at) {
            Some(existing) if existing.txn_idx() == txn_idx => *existing = entry,
            _ => self.entries.insert(at, entry),
        }
    }

    /// Removes `txn_idx`'s version, if any.
    pub(crate) fn remove(&mut self, txn_idx: TxnIndex) {
        let at = self.below(txn_idx);
        if matches!(self.entries.get(at), Some(entry) if entry.txn_idx() == txn_idx) {
            self.entries.remove(at);
        }
    }

    /// Marks `txn_idx`'s version as an ESTIMATE.
    pub(crate) fn mark_estimate(&mut self, txn_idx: TxnIndex) {
        let at = self.below(txn_idx);
        if let Some(entry) = self.entries.get_mut(at) {
            if entry.txn_idx() == txn_idx {
                entry.tagged_incarnation |= ESTIMATE;
            }
        }
    }

    /// The versions below `end`, to read.
    pub(crate) fn below_end(&self, end: TxnIndex) -> Below<'_, V, 1> {
        Below::lanes([self], end)
    }

    /// What transaction `txn_idx` reads here. `base` is the base storage's
    /// value when the caller has it (needed only under deltas).
    pub(crate) fn lookup(&self, txn_idx: TxnIndex, base: Option<&Option<V>>) -> Lookup<'_, V> {
        self.below_end(txn_idx).lookup(base)
    }

    /// The number of versions.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The versions of one location below some transaction, read as one list
/// in transaction order. They come in one or more *lanes*, sorted lists
/// whose transactions do not overlap: a hot location keeps a lane per
/// group of transactions, each under its own lock (see `locations.rs`),
/// and a reader holds every lane's lock while it reads.
pub(crate) struct Below<'a, V, const LANES: usize> {
    lanes: [&'a [Entry<V>]; LANES],
}

impl<'a, V: Value, const LANES: usize> Below<'a, V, LANES> {
    /// The versions of `lanes` below `end`.
    pub(crate) fn lanes(lanes: [&'a Versions<V>; LANES], end: TxnIndex) -> Self {
        Self {
            lanes: lanes.map(|lane| &lane.entries[..lane.below(end)]),
        }
    }

    /// The versions, highest transaction first.
    fn descending(&self) -> Merge<'a, V, LANES, true> {
        Merge(self.lanes)
    }

    /// The versions of transactions above `after` (all if `None`), lowest
    /// first.
    fn ascending_above(&self, after: Option<TxnIndex>) -> Merge<'a, V, LANES, false> {
        Merge(self.lanes.map(|lane| match after {
            Some(after) => &lane[lane.partition_point(|entry| entry.txn_idx() <= after)..],
            None => lane,
        }))
    }

    /// The highest transaction with a version.
    pub(crate) fn last_writer(&self) -> Option<TxnIndex> {
        self.descending().next().map(Entry::txn_idx)
    }

    /// What a transaction above these versions reads. `base` is the base
    /// storage's value when the caller has it (needed only under deltas).
    pub(crate) fn lookup(&self, base: Option<&Option<V>>) -> Lookup<'a, V> {
        // Walk down to the highest full value, through deltas.
        let mut saw_delta = false;
        for entry in self.descending() {
            if entry.estimate() {
                return Lookup::Dependency(entry.txn_idx());
            }
            match &entry.data {
                EntryData::Value(value) if !saw_delta => {
                    return Lookup::Version {
                        txn_idx: entry.txn_idx(),
                        incarnation: entry.incarnation(),
                        value,
                    };
                }
                EntryData::Value(value) => {
                    let above = self.ascending_above(Some(entry.txn_idx()));
                    return Lookup::Resolved(apply_deltas(Some(value.clone()), above).0);
                }
                EntryData::Delta(_) => saw_delta = true,
            }
        }
        match (saw_delta, base) {
            (false, _) => Lookup::Storage,
            (true, None) => Lookup::NeedsBase,
            (true, Some(base)) => {
                Lookup::Resolved(apply_deltas(base.clone(), self.ascending_above(None)).0)
            }
        }
    }

    /// Whether resolving these versions needs the base storage's value:
    /// the lowest is a delta.
    pub(crate) fn needs_base(&self) -> bool {
        matches!(
            self.ascending_above(None).next(),
            Some(Entry {
                data: EntryData::Delta(_),
                ..
            })
        )
    }

    /// The value after every version, and the first transaction whose delta
    /// overflowed on the way, if any. `base` is required when
    /// [`needs_base`](Self::needs_base); without it, an absent value is
    /// assumed.
    ///
    /// Every delta is checked, also those a later full value hides: a delta
    /// that overflowed reverts its whole transaction all the same.
    pub(crate) fn materialize(&self, base: Option<&Option<V>>) -> (Option<V>, Option<TxnIndex>) {
        let mut current: Option<Cow<'_, V>> = base.and_then(|b| b.as_ref()).map(Cow::Borrowed);
        let mut first_overflow = None;
        for entry in self.ascending_above(None) {
            match &entry.data {
                EntryData::Value(value) => current = Some(Cow::Borrowed(value)),
                EntryData::Delta(delta) => match V::apply_delta(current.as_deref(), delta.get()) {
                    Some(next) => current = Some(Cow::Owned(next)),
                    None => {
                        first_overflow.get_or_insert(entry.txn_idx());
                    }
                },
            }
        }
        (current.map(Cow::into_owned), first_overflow)
    }
}

/// The versions of several lanes in transaction order: highest first when
/// `DESCENDING`, else lowest first. Each step looks at every lane's next
/// version, so it costs a few comparisons for a few lanes, and nothing
/// more for one.
struct Merge<'a, V, const LANES: usize, const DESCENDING: bool>([&'a [Entry<V>]; LANES]);

impl<'a, V, const LANES: usize, const DESCENDING: bool> Iterator
    for Merge<'a, V, LANES, DESCENDING>
{
    type Item = &'a Entry<V>;

    #[inline]
    fn next(&mut self) -> Option<&'a Entry<V>> {
        if LANES == 1 {
            // One lane: a slice walk.
            let (entry, rest) = if DESCENDING {
                self.0[0].split_last()?
            } else {
                self.0[0].split_first()?
            };
            self.0[0] = rest;
            return Some(entry);
        }
        let mut best: Option<(usize, TxnIndex)> = None;
        for (lane, entries) in self.0.iter().enumerate() {
            let next = if DESCENDING {
                entries.last()
            } else {
                entries.first()
            };
            if let Some(entry) = next {
                let better = best.is_none_or(|(_, txn_idx)| {
                    if DESCENDING {
                        entry.txn_idx() > txn_idx
                    } else {
                        entry.txn_idx() < txn_idx
                    }
                });
                if better {
                    best = Some((lane, entry.txn_idx()));
                }
            }
        }
        let (lane, _) = best?;
        let entries = self.0[lane];
        let (entry, rest) = if DESCENDING {
            entries.split_last()?
        } else {
            entries.split_first()?
        };
        self.0[lane] = rest;
        Some(entry)
    }
}

/// Applies the deltas among `entries` in order on `start`. A delta that does
/// not fit is skipped (its transaction will be reverted) and reported as the
/// first overflow, by the index of the transaction that wrote it.
fn apply_deltas<'a, V: Value + 'a>(
    mut current: Option<V>,
    entries: impl IntoIterator<Item = &'a Entry<V>>,
) -> (Option<V>, Option<TxnIndex>) {
    let mut first_overflow = None;
    for entry in entries {
        if let EntryData::Delta(delta) = entry.data {
            match V::apply_delta(current.as_ref(), delta.get()) {
                Some(next) => current = Some(next),
                None => {
                    first_overflow.get_or_insert(entry.txn_idx());
                }
            }
        }
    }
    (current, first_overflow)
}
