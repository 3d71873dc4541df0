//! Blocks of the test kit's [`ProgramVm`] for the engine's loom models:
//! `'static`, so that the loom threads running
//! [`ParallelBlock::run_worker`](parex_engine::ParallelBlock::run_worker) can
//! borrow them, and built once per test, not once per explored
//! interleaving.

use parex_engine::{BaseStorage, SequentialExecutor, StorageError};
use parex_testkit::{effect, Effect, Program, ProgramVm};

pub use parex_testkit::{effect_of, Op};

/// The VM every model runs.
pub static VM: ProgramVm = ProgramVm;

/// A base state in a static slice.
#[derive(Debug)]
pub struct Base(pub &'static [(u64, u64)]);

impl BaseStorage<u64, u64> for Base {
    fn get(&self, key: &u64) -> Result<Option<u64>, StorageError> {
        Ok(self.0.iter().find(|(k, _)| k == key).map(|&(_, v)| v))
    }
}

/// A block of one program per list of operations, kept for the rest of the
/// test run (once per test: a model's interleavings share it).
pub fn block(programs: &[&[Op]]) -> &'static [Program] {
    let programs = programs.iter().map(|ops| Program(ops.to_vec()));
    Vec::leak(programs.collect())
}

/// The reference: the block executed by [`SequentialExecutor`].
pub fn sequential_effect(txns: &[Program], base: &Base) -> Effect {
    effect(&SequentialExecutor::new(), txns, base)
}
