//! The buffered writes of one incarnation, shared by every executor's view so
//! that read-your-own-writes and delta arithmetic mean the same everywhere.

pub use parex_mvmemory::WriteOp;

use crate::vm::Suspend;
use crate::{Delta, Key, Value};

/// The writes of one incarnation, in first-write order, one op per key.
///
/// A buffer is reused from transaction to transaction ([`clear`](Self::clear)
/// keeps its capacity), so executing a transaction allocates nothing in the
/// steady state. Lookups are linear: write sets are small, and a scan of a
/// few entries beats hashing.
#[derive(Debug)]
pub struct WriteSet<K, V> {
    ops: Vec<(K, WriteOp<V>)>,
    overflowed: bool,
}

impl<K, V> Default for WriteSet<K, V> {
    fn default() -> Self {
        Self {
            ops: Vec::new(),
            overflowed: false,
        }
    }
}

impl<K: Key, V: Value> WriteSet<K, V> {
    /// Forgets every write, keeping the allocation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.overflowed = false;
    }

    /// Whether a delta of this transaction overflowed against its own writes
    /// (the transaction is then reverted).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The buffered ops.
    pub fn ops(&self) -> &[(K, WriteOp<V>)] {
        &self.ops
    }

    /// Takes the ops out in first-write order, leaving the buffer empty
    /// with its capacity.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (K, WriteOp<V>)> {
        self.ops.drain(..)
    }

    fn position(&self, key: &K) -> Option<usize> {
        self.ops.iter().position(|(k, _)| k == key)
    }

    /// Sets `key` to `value`, replacing any earlier write or delta of this
    /// transaction.
    pub fn write(&mut self, key: K, value: V) {
        match self.position(&key) {
            Some(i) => self.ops[i].1 = WriteOp::Value(value),
            None => self.ops.push((key, WriteOp::Value(value))),
        }
    }

    /// Adds `delta` to `key`: folded into an earlier write or delta of this
    /// transaction, or buffered as a blind delta.
    pub fn add_delta(&mut self, key: K, delta: Delta) {
        let Some(i) = self.position(&key) else {
            self.ops.push((key, WriteOp::Delta(delta)));
            return;
        };
        let folded = match &self.ops[i].1 {
            WriteOp::Value(value) => V::apply_delta(Some(value), delta).map(WriteOp::Value),
            WriteOp::Delta(earlier) => earlier.checked_add(delta).map(WriteOp::Delta),
        };
        match folded {
            Some(op) => self.ops[i].1 = op,
            None => self.overflowed = true,
        }
    }

    /// Reads `key` as this transaction sees it: its own write if it has one,
    /// else `committed` (the state before the transaction), plus its own
    /// pending delta.
    pub fn read_through(
        &mut self,
        key: &K,
        committed: impl FnOnce(&K) -> Result<Option<V>, Suspend>,
    ) -> Result<Option<V>, Suspend> {
        let delta = match self.position(key).map(|i| &self.ops[i].1) {
            Some(WriteOp::Value(value)) => return Ok(Some(value.clone())),
            Some(WriteOp::Delta(delta)) => *delta,
            None => return committed(key),
        };
        let before = committed(key)?;
        match V::apply_delta(before.as_ref(), delta) {
            Some(after) => Ok(Some(after)),
            None => {
                // The transaction will be reverted whatever it does next; what
                // it reads now only has to be deterministic.
                self.overflowed = true;
                Ok(before)
            }
        }
    }
}
