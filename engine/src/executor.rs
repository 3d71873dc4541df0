//! The one interface every executor offers.

use crate::{BaseStorage, BlockError, BlockOutput, Vm};

/// The block output of a VM's types.
pub type VmBlockOutput<VM> = BlockOutput<<VM as Vm>::Key, <VM as Vm>::Value, <VM as Vm>::Output>;

/// Executes a block of transactions on a base state.
///
/// Every implementation gives, for the same VM, transactions and storage, the
/// same [`BlockOutput::outcomes`] and [`BlockOutput::final_values`] (or the
/// same [`BlockError`]) as [`SequentialExecutor`](crate::SequentialExecutor):
/// one transaction after another, in block order.
pub trait Executor {
    /// Executes `txns` in block order on `storage`.
    fn execute<VM, S>(
        &self,
        vm: &VM,
        txns: &[VM::Txn],
        storage: &S,
    ) -> Result<VmBlockOutput<VM>, BlockError>
    where
        VM: Vm,
        S: BaseStorage<VM::Key, VM::Value>;
}
