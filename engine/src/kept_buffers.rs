//! The large buffers of an executor's last block, kept for its next one.
//!
//! A block of 10,000 node transfers fills megabytes of tables. Allocated
//! afresh for every block, they are new memory every time: the allocator
//! hands back pages the kernel must fault in and zero (a fifth of the
//! sequential executor's samples on node blocks, `docs/BENCHMARKS.md`), and
//! tables that grow by doubling copy themselves on the way. Kept, blocks
//! reuse the same pages at their full size: synthetic transfers ran 18%
//! faster sequentially. (On node blocks the time moved little: the
//! kernel's zeroing had also brought the fresh pages into the cache.)

use std::any::Any;
use std::sync::{Mutex, PoisonError};

/// One slot for the buffers of the executor's last block, of whatever type
/// the block's VM needs.
///
/// An executor takes the buffers for a block and puts them back after it.
/// Blocks executed at the same time on one executor do not share them: the
/// first takes them, the others allocate their own.
#[derive(Default)]
pub(crate) struct KeptBuffers(Mutex<Option<Box<dyn Any + Send>>>);

impl KeptBuffers {
    /// The kept buffers, if they are a `T`. Buffers of another type (from a
    /// block of another VM) are dropped.
    pub(crate) fn take<T: Any>(&self) -> Option<T> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        kept.downcast::<T>().ok().map(|buffers| *buffers)
    }

    /// Keeps `buffers` for the next block, in place of any kept before.
    pub(crate) fn put<T: Any + Send>(&self, buffers: T) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(buffers));
    }
}

impl std::fmt::Debug for KeptBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptBuffers").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_only_as_their_own_type_and_only_once() {
        let kept = KeptBuffers::default();
        assert_eq!(kept.take::<Vec<u8>>(), None);
        kept.put(vec![1u8, 2]);
        assert_eq!(kept.take::<Vec<u8>>(), Some(vec![1, 2]));
        assert_eq!(kept.take::<Vec<u8>>(), None);
        kept.put(vec![3u8]);
        assert_eq!(kept.take::<Vec<u16>>(), None);
        assert_eq!(kept.take::<Vec<u8>>(), None, "dropped by the wrong take");
    }
}
