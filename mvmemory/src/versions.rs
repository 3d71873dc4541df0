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
    /// below them (or to the base value), they give this. The highest
    /// delta's transaction comes with it.
    Resolved(Option<V>, TxnIndex),
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
        // One slice for the whole search: each access through the
        // `SmallVec` asks again whether it spilled.
        let entries: &[Entry<V>] = &self.entries;
        let mut below = entries.len();
        for _ in 0..4 {
            match below.checked_sub(1).map(|last| &entries[last]) {
                Some(entry) if entry.txn_idx() >= end => below -= 1,
                _ => return below,
            }
        }
        entries[..below].partition_point(|entry| entry.txn_idx() < end)
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
            // The usual case (versions arrive mostly in index order), and
            // cheaper than a general insertion.
            None => self.entries.push(entry),
            Some(_) => self.entries.insert(at, entry),
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

    /// The number of versions that are deltas.
    pub(crate) fn deltas(&self) -> usize {
        self.entries
            .iter()
            .filter(|entry| matches!(entry.data, EntryData::Delta(_)))
            .count()
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

    /// The versions of transactions above `after` (all if `None`), lowest
    /// first.
    fn ascending_above(&self, after: Option<TxnIndex>) -> Merge<'a, V, LANES> {
        Merge::new(self.lanes.map(|lane| match after {
            Some(after) => &lane[lane.partition_point(|entry| entry.txn_idx() <= after)..],
            None => lane,
        }))
    }

    /// The highest transaction with a version: the highest of the lanes'
    /// last versions.
    pub(crate) fn last_writer(&self) -> Option<TxnIndex> {
        let mut last: Option<TxnIndex> = None;
        for lane in self.lanes {
            if let Some(entry) = lane.last() {
                if last.is_none_or(|last| entry.txn_idx() > last) {
                    last = Some(entry.txn_idx());
                }
            }
        }
        last
    }

    /// What a transaction above these versions reads. `base` is the base
    /// storage's value when the caller has it (needed only under deltas).
    pub(crate) fn lookup(&self, base: Option<&Option<V>>) -> Lookup<'a, V> {
        // Most reads: one lane, its highest version a full value.
        if let [lane] = self.lanes.as_slice() {
            if let Some(entry) = lane.last().filter(|entry| !entry.estimate()) {
                if let EntryData::Value(value) = &entry.data {
                    return Lookup::Version {
                        txn_idx: entry.txn_idx(),
                        incarnation: entry.incarnation(),
                        value,
                    };
                }
            }
        }
        // The highest version that is a full value or an ESTIMATE: every
        // version above it is a delta. Each lane is searched on its own, a
        // plain slice walk: a hot location holds thousands of deltas, all
        // walked while its lanes are locked. The entry comes with its
        // value, `None` for an ESTIMATE.
        let mut top: Option<(&'a Entry<V>, Option<&'a V>)> = None;
        for lane in self.lanes {
            let found = lane.iter().rev().find_map(|entry| match &entry.data {
                _ if entry.estimate() => Some((entry, None)),
                EntryData::Value(value) => Some((entry, Some(value))),
                EntryData::Delta(_) => None,
            });
            if let Some(found) = found {
                if top.is_none_or(|(top, _)| found.0.txn_idx() > top.txn_idx()) {
                    top = Some(found);
                }
            }
        }
        let after = top.map(|(entry, _)| entry.txn_idx());
        // The highest delta above the top version, if any.
        let last_delta = self
            .last_writer()
            .filter(|&last| after.is_none_or(|after| last > after));
        match (top, last_delta) {
            (Some((entry, None)), _) => Lookup::Dependency(entry.txn_idx()),
            (Some((_, Some(value))), Some(last)) => Lookup::Resolved(
                apply_deltas(Some(value.clone()), self.ascending_above(after)).0,
                last,
            ),
            (Some((entry, Some(value))), None) => Lookup::Version {
                txn_idx: entry.txn_idx(),
                incarnation: entry.incarnation(),
                value,
            },
            (None, None) => Lookup::Storage,
            (None, Some(last)) => match base {
                None => Lookup::NeedsBase,
                Some(base) => Lookup::Resolved(
                    apply_deltas(base.clone(), self.ascending_above(None)).0,
                    last,
                ),
            },
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

/// The versions of several lanes in transaction order, lowest first.
///
/// A lane holds whole runs of consecutive transactions (see `lane_of` in
/// `locations.rs`), so the merge gallops: once it has found the lane with
/// the next version, it keeps taking that lane's versions, comparing each
/// with one number only, until the lane reaches the next version of
/// another lane (its `bound`), and only then looks at every lane again.
/// Walking a hot location's thousands of deltas (a read of a fee
/// accumulator) then costs about what walking one list does, while every
/// lane's lock is held. With one lane it is a slice walk.
struct Merge<'a, V, const LANES: usize> {
    lanes: [&'a [Entry<V>]; LANES],
    /// The lane being taken from; `LANES` before the first look at all
    /// lanes.
    current: usize,
    /// The next version of the other lanes (`None`: they have none):
    /// `current` may go on below it.
    bound: Option<TxnIndex>,
}

impl<'a, V, const LANES: usize> Merge<'a, V, LANES> {
    fn new(lanes: [&'a [Entry<V>]; LANES]) -> Self {
        Self {
            lanes,
            current: LANES,
            bound: None,
        }
    }

    /// Takes the next version of `lane`.
    #[inline]
    fn take(&mut self, lane: usize) -> Option<&'a Entry<V>> {
        let (entry, rest) = self.lanes[lane].split_first()?;
        self.lanes[lane] = rest;
        Some(entry)
    }
}

impl<'a, V, const LANES: usize> Iterator for Merge<'a, V, LANES> {
    type Item = &'a Entry<V>;

    #[inline]
    fn next(&mut self) -> Option<&'a Entry<V>> {
        if LANES == 1 {
            return self.take(0);
        }
        let head = self.lanes.get(self.current).and_then(|lane| lane.first());
        if let Some(entry) = head {
            if self.bound.is_none_or(|bound| entry.txn_idx() < bound) {
                return self.take(self.current);
            }
        }
        // The current lane is used up or has reached another lane's next
        // version: find the lane with the next version, and the version
        // after it among the others. Lanes never share a transaction.
        let mut best: Option<(usize, TxnIndex)> = None;
        let mut second: Option<TxnIndex> = None;
        for (lane, entries) in self.lanes.iter().enumerate() {
            let Some(txn_idx) = entries.first().map(Entry::txn_idx) else {
                continue;
            };
            match best {
                Some((_, first)) if txn_idx > first => {
                    if second.is_none_or(|second| txn_idx < second) {
                        second = Some(txn_idx);
                    }
                }
                _ => {
                    second = best.map(|(_, first)| first);
                    best = Some((lane, txn_idx));
                }
            }
        }
        let (lane, _) = best?;
        self.current = lane;
        self.bound = second;
        self.take(lane)
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn versions(txns: &[TxnIndex]) -> Versions<u64> {
        let mut versions = Versions::new();
        for &txn_idx in txns {
            versions.insert(txn_idx, 0, EntryData::Value(txn_idx as u64));
        }
        versions
    }

    proptest! {
        /// Whatever way the transactions are spread over the lanes (runs,
        /// scattered, some lanes empty), the merge walks every version once,
        /// in transaction order, from any starting point, and the last
        /// writer is the highest of all.
        #[test]
        fn the_merge_of_lanes_is_the_sorted_list_of_their_versions(
            lane_of in prop::collection::vec(0..4usize, 0..200),
            after in prop::option::of(0..200usize),
        ) {
            let mut lanes: [Vec<TxnIndex>; 4] = Default::default();
            for (txn_idx, &lane) in lane_of.iter().enumerate() {
                lanes[lane].push(txn_idx);
            }
            let lanes = lanes.map(|txns| versions(&txns));
            let below = Below::lanes([&lanes[0], &lanes[1], &lanes[2], &lanes[3]], usize::MAX);
            let all: Vec<TxnIndex> = (0..lane_of.len()).collect();
            prop_assert_eq!(below.last_writer(), all.last().copied());
            let ascending: Vec<TxnIndex> =
                below.ascending_above(after).map(Entry::txn_idx).collect();
            let expected: Vec<TxnIndex> = all
                .iter()
                .copied()
                .filter(|&txn_idx| after.is_none_or(|after| txn_idx > after))
                .collect();
            prop_assert_eq!(ascending, expected);
        }
    }
}
