//! A toy VM whose blocks are `'static`, so that the loom threads running
//! [`ParallelBlock::run_worker`](parex_engine::ParallelBlock::run_worker) can
//! borrow them without leaking anything per explored interleaving.

use parex_engine::{
    BaseStorage, BlockError, Delta, Executor, SequentialExecutor, StorageError, TxnOutcome,
    TxnView, Vm, VmBlockOutput, VmError,
};

/// One operation of a [`Txn`]. What a transaction writes depends on what it
/// read (through `acc`), so an incarnation that read a stale value writes a
/// different value and the final state shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Reads a key; its value (or 0) is added to `acc` and to the output.
    Read(u64),
    /// Writes `acc + c` to a key.
    Write(u64, u64),
    /// Adds to a key without reading it (a blind delta).
    Delta(u64, Delta),
}

/// A transaction: a fixed program.
#[derive(Debug)]
pub struct Txn(pub &'static [Op]);

/// Runs [`Txn`]s over `u64` keys and values; the output is every value read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ToyVm;

impl Vm for ToyVm {
    type Txn = Txn;
    type Key = u64;
    type Value = u64;
    type Output = Vec<Option<u64>>;

    fn execute<V: TxnView<u64, u64>>(
        &self,
        txn: &Txn,
        view: &mut V,
    ) -> Result<Self::Output, VmError> {
        let mut acc: u64 = 0;
        let mut seen = Vec::new();
        for op in txn.0 {
            match *op {
                Op::Read(key) => {
                    let value = view.read(&key)?;
                    acc = acc.wrapping_add(value.unwrap_or(0));
                    seen.push(value);
                }
                Op::Write(key, c) => view.write(key, acc.wrapping_add(c)),
                Op::Delta(key, delta) => view.add_delta(key, delta),
            }
        }
        Ok(seen)
    }
}

/// A base state in a static slice.
#[derive(Debug)]
pub struct Base(pub &'static [(u64, u64)]);

impl BaseStorage<u64, u64> for Base {
    fn get(&self, key: &u64) -> Result<Option<u64>, StorageError> {
        Ok(self.0.iter().find(|(k, _)| k == key).map(|&(_, v)| v))
    }
}

/// What must be equal between executors: outcomes and final values.
pub type Effect = Result<(Vec<TxnOutcome<Vec<Option<u64>>>>, Vec<(u64, u64)>), BlockError>;

/// The effect of a block's output.
pub fn effect(output: Result<VmBlockOutput<ToyVm>, BlockError>) -> Effect {
    output.map(|output| (output.outcomes, output.final_values))
}

/// The reference: the block executed by [`SequentialExecutor`].
pub fn sequential_effect(txns: &[Txn], base: &Base) -> Effect {
    effect(SequentialExecutor::new().execute(&ToyVm, txns, base))
}
