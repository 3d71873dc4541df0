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
    /// this value. Validated by value, since many versions contributed.
    Resolved(Option<V>),
}

/// One read of an incarnation: the location and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDescriptor<K, V> {
    /// The location read.
    pub key: K,
    /// Where the value came from.
    pub origin: ReadOrigin<V>,
}
