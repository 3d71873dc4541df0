//! What a transaction sees while it executes speculatively.

use parex_mvmemory::{MvMemory, MvRead, ReadDescriptor, ReadOrigin};

use crate::vm::Suspend;
use crate::write_set::WriteSet;
use crate::{BaseStorage, Delta, Key, StorageError, TxnIndex, TxnView, Value};

/// The view of one incarnation: reads go to the multi-version memory (and
/// are recorded for validation), writes are buffered.
pub(crate) struct ParallelView<'a, K, V, S: ?Sized> {
    pub(crate) txn_idx: TxnIndex,
    pub(crate) memory: &'a MvMemory<K, V>,
    pub(crate) storage: &'a S,
    pub(crate) reads: &'a mut Vec<ReadDescriptor<K, V>>,
    pub(crate) writes: &'a mut WriteSet<K, V>,
    /// The lower transaction whose ESTIMATE this incarnation read.
    pub(crate) blocked_on: Option<TxnIndex>,
    pub(crate) storage_error: Option<StorageError>,
}

impl<K: Key, V: Value, S: BaseStorage<K, V> + ?Sized> ParallelView<'_, K, V, S> {
    /// Whether the incarnation was cut short and must not be recorded.
    pub(crate) fn suspended(&self) -> bool {
        self.blocked_on.is_some() || self.storage_error.is_some()
    }
}

/// A read of the state before `txn_idx`, recorded in `reads`.
fn read_before<K: Key, V: Value, S: BaseStorage<K, V> + ?Sized>(
    txn_idx: TxnIndex,
    memory: &MvMemory<K, V>,
    storage: &S,
    reads: &mut Vec<ReadDescriptor<K, V>>,
    blocked_on: &mut Option<TxnIndex>,
    storage_error: &mut Option<StorageError>,
    key: &K,
) -> Result<Option<V>, Suspend> {
    let mut base_value = None;
    loop {
        let read = memory.read(key, txn_idx, base_value.as_ref());
        let (value, origin) = match read {
            MvRead::Value(value, origin) => (value, origin),
            MvRead::Storage => {
                let value = match base_value.take() {
                    Some(value) => value,
                    None => storage.get(key).map_err(|error| {
                        *storage_error = Some(error);
                        Suspend::new()
                    })?,
                };
                (value, ReadOrigin::Storage)
            }
            MvRead::NeedsBase => {
                let value = storage.get(key).map_err(|error| {
                    *storage_error = Some(error);
                    Suspend::new()
                })?;
                base_value = Some(value);
                continue;
            }
            MvRead::Dependency(blocking) => {
                *blocked_on = Some(blocking);
                return Err(Suspend::new());
            }
        };
        reads.push(ReadDescriptor {
            key: key.clone(),
            origin,
        });
        return Ok(value);
    }
}

impl<K: Key, V: Value, S: BaseStorage<K, V> + ?Sized> TxnView<K, V> for ParallelView<'_, K, V, S> {
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
        if self.suspended() {
            return Err(Suspend::new());
        }
        let Self {
            txn_idx,
            memory,
            storage,
            reads,
            writes,
            blocked_on,
            storage_error,
        } = self;
        writes.read_through(key, |key| {
            read_before(
                *txn_idx,
                memory,
                *storage,
                reads,
                blocked_on,
                storage_error,
                key,
            )
        })
    }

    fn write(&mut self, key: K, value: V) {
        self.writes.write(key, value);
    }

    fn add_delta(&mut self, key: K, delta: Delta) {
        self.writes.add_delta(key, delta);
    }

    fn txn_idx(&self) -> TxnIndex {
        self.txn_idx
    }
}
