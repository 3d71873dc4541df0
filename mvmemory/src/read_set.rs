//! What an incarnation read, as recorded for validation.

use crate::{Incarnation, TxnIndex};

/// Where a read's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOrigin<V> {
    /// The base storage: no lower transaction had written the location.
    Storage,
    /// The full value written by this incarnation of a lower transaction.
    Version(TxnIndex, Incarnation),
    /// Deltas of lower transactions, applied to what was below them, gave
    /// this value; the second field is the highest transaction that
    /// contributed. Validated by value alone: other versions may give the
    /// same value, and the read stays right.
    Resolved(Option<V>, TxnIndex),
}

impl<V> ReadOrigin<V> {
    /// The highest lower transaction whose write the value includes;
    /// `None` for the base storage.
    pub fn writer(&self) -> Option<TxnIndex> {
        match self {
            Self::Storage => None,
            Self::Version(txn_idx, _) | Self::Resolved(_, txn_idx) => Some(*txn_idx),
        }
    }
}

/// One read of an incarnation: the location and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDescriptor<K, V> {
    /// The location read.
    pub key: K,
    /// Where the value came from.
    pub origin: ReadOrigin<V>,
}
