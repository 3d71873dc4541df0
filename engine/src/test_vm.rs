//! A VM for the crate's unit tests.

use crate::{TxnView, Vm, VmError};

/// Transaction `(i, link)` writes key `i`: one more than it read at key
/// `i - 1` when `link` is set (a chain, where a stale read changes the
/// write), 1 otherwise; and adds 1 to a counter at key `u32::MAX`.
pub(crate) struct ChainVm;

impl Vm for ChainVm {
    type Txn = (u32, bool);
    type Key = u32;
    type Value = u64;
    type Output = ();

    fn execute<V: TxnView<u32, u64>>(
        &self,
        txn: &(u32, bool),
        view: &mut V,
    ) -> Result<(), VmError> {
        let (i, link) = *txn;
        let seen = match i.checked_sub(1) {
            Some(below) if link => view.read(&below)?,
            _ => None,
        };
        view.write(i, seen.unwrap_or(0) + 1);
        view.add_delta(u32::MAX, 1);
        Ok(())
    }
}
