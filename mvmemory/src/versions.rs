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

    /// The highest transaction below `end` with a version here.
    pub(crate) fn last_writer_below(&self, end: TxnIndex) -> Option<TxnIndex> {
        let below = self.below(end);
        below
            .checked_sub(1)
            .map(|last| self.entries[last].txn_idx())
    }

    /// What transaction `txn_idx` reads here. `base` is the base storage's
    /// value when the caller has it (needed only under deltas).
    pub(crate) fn lookup(&self, txn_idx: TxnIndex, base: Option<&Option<V>>) -> Lookup<'_, V> {
        let below = &self.entries[..self.below(txn_idx)];
        // Walk down to the highest full value, through deltas.
        let mut saw_delta = false;
        for (pos, entry) in below.iter().enumerate().rev() {
            if entry.estimate() {
                return Lookup::Dependency(entry.txn_idx());
            }
            match &entry.data {
                EntryData::Value(value) if pos + 1 == below.len() => {
                    return Lookup::Version {
                        txn_idx: entry.txn_idx(),
                        incarnation: entry.incarnation(),
                        value,
                    };
                }
                EntryData::Value(value) => {
                    return Lookup::Resolved(
                        apply_deltas(Some(value.clone()), &below[pos + 1..]).0,
                    );
                }
                EntryData::Delta(_) => saw_delta = true,
            }
        }
        match (saw_delta, base) {
            (false, _) => Lookup::Storage,
            (true, None) => Lookup::NeedsBase,
            (true, Some(base)) => Lookup::Resolved(apply_deltas(base.clone(), below).0),
        }
    }

    /// Whether resolving this location's versions below `end` needs the base
    /// storage's value: its lowest version is a delta.
    pub(crate) fn needs_base(&self, end: TxnIndex) -> bool {
        matches!(
            self.entries[..self.below(end)].first(),
            Some(Entry {
                data: EntryData::Delta(_),
                ..
            })
        )
    }

    /// The value after every version below `end`, and the first transaction
    /// whose delta overflowed on the way, if any. `base` is required when
    /// [`needs_base`](Self::needs_base); without it, an absent value is
    /// assumed.
    ///
    /// Every delta is checked, also those a later full value hides: a delta
    /// that overflowed reverts its whole transaction all the same.
    pub(crate) fn materialize(
        &self,
        end: TxnIndex,
        base: Option<&Option<V>>,
    ) -> (Option<V>, Option<TxnIndex>) {
        let mut current: Option<Cow<'_, V>> = base.and_then(|b| b.as_ref()).map(Cow::Borrowed);
        let mut first_overflow = None;
        for entry in &self.entries[..self.below(end)] {
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

/// Applies the deltas among `entries` in order on `start`. A delta that does
/// not fit is skipped (its transaction will be reverted) and reported as the
/// first overflow, by the index of the transaction that wrote it.
fn apply_deltas<V: Value>(
    mut current: Option<V>,
    entries: &[Entry<V>],
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
