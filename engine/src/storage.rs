//! The state a block starts from.

/// The state before the block: what a read sees when no earlier transaction
/// of the block wrote the location. It does not change while a block runs.
///
/// Implementations are read from all workers at once; a read should be cheap
/// (a chain typically loads what a block touches into memory first).
pub trait BaseStorage<K, V>: Sync {
    /// The value of `key` before the block, or `None` if it has none.
    fn get(&self, key: &K) -> Result<Option<V>, StorageError>;
}

/// A base storage could not be read. The block fails with
/// [`BlockError::Storage`](crate::BlockError::Storage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

impl<K, V, S> BaseStorage<K, V> for &S
where
    S: BaseStorage<K, V> + ?Sized,
{
    fn get(&self, key: &K) -> Result<Option<V>, StorageError> {
        (**self).get(key)
    }
}

impl<K, V, H> BaseStorage<K, V> for std::collections::HashMap<K, V, H>
where
    K: Eq + std::hash::Hash + Sync,
    V: Clone + Sync,
    H: std::hash::BuildHasher + Sync,
{
    fn get(&self, key: &K) -> Result<Option<V>, StorageError> {
        Ok(std::collections::HashMap::get(self, key).cloned())
    }
}

impl<K, V> BaseStorage<K, V> for std::collections::BTreeMap<K, V>
where
    K: Ord + Sync,
    V: Clone + Sync,
{
    fn get(&self, key: &K) -> Result<Option<V>, StorageError> {
        Ok(std::collections::BTreeMap::get(self, key).cloned())
    }
}

/// An empty state.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyStorage;

impl<K, V> BaseStorage<K, V> for EmptyStorage {
    fn get(&self, _key: &K) -> Result<Option<V>, StorageError> {
        Ok(None)
    }
}
