//! How parallel a block can be: the dependencies it really has.

use std::collections::HashMap;

use parex_sync::Mutex;

use crate::sequential::SequentialRun;
use crate::vm::Suspend;
use crate::{BaseStorage, BlockError, Delta, TxnIndex, TxnOutcome, TxnView, Vm, VmError};

/// The read-after-write dependencies of a block, as sequential execution
/// gives them: transaction `j` depends on `i < j` when it reads a location
/// whose value `i` wrote or added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyProfile {
    /// Transactions in the block.
    pub txns: usize,
    /// The longest chain of dependent transactions (each counted as one
    /// unit of work); 0 for an empty block.
    pub critical_path: usize,
}

impl DependencyProfile {
    /// The best speedup any executor can reach on the block with `threads`
    /// workers: `min(threads, txns / critical_path)`.
    pub fn ideal_speedup(&self, threads: usize) -> f64 {
        if self.critical_path == 0 {
            return 1.0;
        }
        (self.txns as f64 / self.critical_path as f64).min(threads.max(1) as f64)
    }
}

/// Executes the block sequentially, recording what each transaction read
/// and wrote, and measures its critical path. Not meant for the hot path: it
/// is for benchmarks and diagnostics.
pub fn dependency_profile<VM, S>(
    vm: &VM,
    txns: &[VM::Txn],
    storage: &S,
) -> Result<DependencyProfile, BlockError>
where
    VM: Vm,
    S: BaseStorage<VM::Key, VM::Value>,
{
    let tracking = TrackingVm {
        inner: vm,
        accesses: Mutex::new(vec![Access::default(); txns.len()]),
    };
    let mut run = SequentialRun::new(None, Vec::new(), txns.len());
    run.execute(&tracking, txns, 0, storage)?;
    let accesses = tracking.accesses.into_inner();

    // For each location, the depth of the deepest transaction whose write
    // the current value includes.
    let mut depth_of: HashMap<&VM::Key, usize> = HashMap::new();
    let mut critical_path = 0;
    for (access, outcome) in accesses.iter().zip(&run.outcomes) {
        let depth = 1 + access
            .reads
            .iter()
            .filter_map(|key| depth_of.get(key))
            .max()
            .copied()
            .unwrap_or(0);
        critical_path = critical_path.max(depth);
        if matches!(outcome, TxnOutcome::DeltaOverflow) {
            continue;
        }
        for (key, is_delta) in &access.writes {
            let entry = depth_of.entry(key).or_insert(0);
            *entry = if *is_delta {
                (*entry).max(depth)
            } else {
                depth
            };
        }
    }
    Ok(DependencyProfile {
        txns: txns.len(),
        critical_path,
    })
}

#[derive(Debug, Clone)]
struct Access<K> {
    reads: Vec<K>,
    /// Each written key, and whether the write was only a delta.
    writes: Vec<(K, bool)>,
}

impl<K> Default for Access<K> {
    fn default() -> Self {
        Self {
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }
}

struct TrackingVm<'a, VM: Vm> {
    inner: &'a VM,
    accesses: Mutex<Vec<Access<VM::Key>>>,
}

impl<VM: Vm> Vm for TrackingVm<'_, VM> {
    type Txn = VM::Txn;
    type Key = VM::Key;
    type Value = VM::Value;
    type Output = VM::Output;
    const LOCATIONS_PER_TXN: usize = VM::LOCATIONS_PER_TXN;

    fn execute<View: TxnView<Self::Key, Self::Value>>(
        &self,
        txn: &Self::Txn,
        view: &mut View,
    ) -> Result<Self::Output, VmError> {
        let mut tracking = TrackingView {
            inner: view,
            access: Access::default(),
        };
        let result = self.inner.execute(txn, &mut tracking);
        let txn_idx = tracking.inner.txn_idx();
        if let Some(slot) = self.accesses.lock().get_mut(txn_idx) {
            *slot = tracking.access;
        }
        result
    }
}

struct TrackingView<'a, View, K> {
    inner: &'a mut View,
    access: Access<K>,
}

impl<K: Clone + PartialEq, V, View: TxnView<K, V>> TxnView<K, V> for TrackingView<'_, View, K> {
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
        self.access.reads.push(key.clone());
        self.inner.read(key)
    }

    fn write(&mut self, key: K, value: V) {
        self.access.writes.push((key.clone(), false));
        self.inner.write(key, value);
    }

    fn add_delta(&mut self, key: K, delta: Delta) {
        if !self.access.writes.iter().any(|(k, _)| *k == key) {
            self.access.writes.push((key.clone(), true));
        }
        self.inner.add_delta(key, delta);
    }

    fn txn_idx(&self) -> TxnIndex {
        self.inner.txn_idx()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vm::ChainVm;

    #[test]
    fn a_chain_has_a_critical_path_of_its_length_and_independent_txns_of_one() {
        let storage = crate::EmptyStorage;
        let chain: Vec<_> = (0..10).map(|i| (i, true)).collect();
        let profile = dependency_profile(&ChainVm, &chain, &storage).unwrap();
        assert_eq!(profile.critical_path, 10);
        assert_eq!(profile.ideal_speedup(4), 1.0);
        let independent: Vec<_> = (0..10).map(|i| (i, false)).collect();
        let profile = dependency_profile(&ChainVm, &independent, &storage).unwrap();
        assert_eq!(profile.critical_path, 1);
        assert_eq!(profile.ideal_speedup(4), 4.0);
        assert_eq!(profile.ideal_speedup(16), 10.0);
    }
}
