//! The versions of one location: what each transaction of the block last
//! wrote there, ordered by transaction index.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{Delta, Incarnation, TxnIndex, Value};

/// What one incarnation wrote at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryData<V> {
    /// A full value.
    Value(V),
    /// An amount added to the value below it.
    Delta(Delta),
}

/// A version: the data, the incarnation that wrote it, and whether that
/// incarnation has since been aborted (an ESTIMATE: the next incarnation will
/// probably write here again, so readers wait for it instead of reading
/// what is below).
#[derive(Debug, Clone)]
pub(crate) struct Entry<V> {
    pub(crate) incarnation: Incarnation,
    pub(crate) estimate: bool,
    pub(crate) data: EntryData<V>,
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

/// Applies `deltas` in order on `start`. A delta that does not fit is
/// skipped (its transaction will be reverted) and reported as the first
/// overflow, by the index of the transaction that wrote it.
pub(crate) fn apply_deltas<'a, V: Value + 'a>(
    mut current: Option<V>,
    deltas: impl Iterator<Item = (&'a TxnIndex, &'a Entry<V>)>,
) -> (Option<V>, Option<TxnIndex>) {
    let mut first_overflow = None;
    for (txn_idx, entry) in deltas {
        if let EntryData::Delta(delta) = entry.data {
            match V::apply_delta(current.as_ref(), delta) {
                Some(next) => current = Some(next),
                None => {
                    first_overflow.get_or_insert(*txn_idx);
                }
            }
        }
    }
    (current, first_overflow)
}

/// The versions of one location.
#[derive(Debug)]
pub(crate) struct Versions<V> {
    pub(crate) entries: BTreeMap<TxnIndex, Entry<V>>,
}

impl<V: Value> Versions<V> {
    pub(crate) fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    /// What transaction `txn_idx` reads here. `base` is the base storage's
    /// value when the caller has it (needed only under deltas).
    pub(crate) fn lookup(&self, txn_idx: TxnIndex, base: Option<&Option<V>>) -> Lookup<'_, V> {
        let below = self.entries.range(..txn_idx).rev();
        // The lowest delta of the run of deltas just below `txn_idx`.
        let mut run_start = None;
        for (&idx, entry) in below {
            if entry.estimate {
                return Lookup::Dependency(idx);
            }
            match &entry.data {
                EntryData::Value(value) => {
                    let Some(first_delta) = run_start else {
                        return Lookup::Version {
                            txn_idx: idx,
                            incarnation: entry.incarnation,
                            value,
                        };
                    };
                    let deltas = self.entries.range(first_delta..txn_idx);
                    return Lookup::Resolved(apply_deltas(Some(value.clone()), deltas).0);
                }
                EntryData::Delta(_) => run_start = Some(idx),
            }
        }
        match (run_start, base) {
            (None, _) => Lookup::Storage,
            (Some(_), None) => Lookup::NeedsBase,
            (Some(first_delta), Some(base)) => {
                let deltas = self.entries.range(first_delta..txn_idx);
                Lookup::Resolved(apply_deltas(base.clone(), deltas).0)
            }
        }
    }

    /// Whether resolving this location's versions needs the base
    /// storage's value: its lowest version below `end` is a delta.
    pub(crate) fn needs_base(&self, end: TxnIndex) -> bool {
        matches!(
            self.entries.range(..end).next(),
            Some((
                _,
                Entry {
                    data: EntryData::Delta(_),
                    ..
                }
            ))
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
        for (&idx, entry) in self.entries.range(..end) {
            match &entry.data {
                EntryData::Value(value) => current = Some(Cow::Borrowed(value)),
                EntryData::Delta(delta) => match V::apply_delta(current.as_deref(), *delta) {
                    Some(next) => current = Some(Cow::Owned(next)),
                    None => {
                        first_overflow.get_or_insert(idx);
                    }
                },
            }
        }
        (current.map(Cow::into_owned), first_overflow)
    }
}
