//! A small programmable VM for the engine's tests and its loom models: each
//! transaction is a list of operations over `u64` keys and values, so
//! generators and models can build every access pattern the executors must
//! agree on, and compare them on one [`Effect`].

#![deny(missing_docs)]

use parex_engine::{
    BaseStorage, BlockError, Executor, TxnOutcome, TxnView, Vm, VmBlockOutput, VmError,
};

/// One operation of a transaction. Values written depend on everything the
/// transaction read before (its running `acc`), so a stale read changes the
/// writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Reads a key; its value is mixed into `acc` and into the output.
    Read(u64),
    /// Writes `acc + c` to a key.
    Write(u64, u64),
    /// Adds a delta to a key without reading it.
    Delta(u64, i128),
    /// Reads a key and writes `value + 1` to the key named by that value
    /// (modulo `keys`): the write set depends on what was read.
    Redirect {
        /// The key read.
        key: u64,
        /// How many keys the written one is taken from.
        keys: u64,
    },
    /// Writes the transaction's index in the block, as its view reports it
    /// ([`TxnView::txn_idx`]), to a key.
    WriteIndex(u64),
    /// Reads a key and panics if its value is divisible by `modulus`.
    PanicIf {
        /// The key read.
        key: u64,
        /// Panics on multiples of this (0 counts as 1).
        modulus: u64,
    },
    /// Reads a key and fails the block if its value is divisible by `modulus`.
    FailIf {
        /// The key read.
        key: u64,
        /// Fails on multiples of this (0 counts as 1).
        modulus: u64,
    },
}

/// A transaction: a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program(pub Vec<Op>);

/// Executes [`Program`]s; the output is every value read, in order.
#[derive(Debug, Default)]
pub struct ProgramVm;

impl Vm for ProgramVm {
    type Txn = Program;
    type Key = u64;
    type Value = u64;
    type Output = Vec<Option<u64>>;

    fn execute<V: TxnView<u64, u64>>(
        &self,
        txn: &Program,
        view: &mut V,
    ) -> Result<Self::Output, VmError> {
        let mut acc: u64 = 0;
        let mut seen = Vec::new();
        let mut read = |view: &mut V, key: u64, acc: &mut u64| -> Result<Option<u64>, VmError> {
            let value = view.read(&key)?;
            *acc = acc.wrapping_mul(31).wrapping_add(value.unwrap_or(7));
            seen.push(value);
            Ok(value)
        };
        for op in &txn.0 {
            match *op {
                Op::Read(key) => {
                    read(view, key, &mut acc)?;
                }
                Op::Write(key, c) => view.write(key, acc.wrapping_add(c)),
                Op::Delta(key, delta) => view.add_delta(key, delta),
                Op::WriteIndex(key) => view.write(key, view.txn_idx() as u64),
                Op::Redirect { key, keys } => {
                    let value = read(view, key, &mut acc)?.unwrap_or(0);
                    view.write(value % keys.max(1), value.wrapping_add(1));
                }
                Op::PanicIf { key, modulus } => {
                    let value = read(view, key, &mut acc)?.unwrap_or(0);
                    if value % modulus.max(1) == 0 {
                        panic!("program panics on value {value} at key {key}");
                    }
                }
                Op::FailIf { key, modulus } => {
                    let value = read(view, key, &mut acc)?.unwrap_or(0);
                    if value % modulus.max(1) == 0 {
                        return Err(VmError::Fatal(format!("value {value} at key {key}")));
                    }
                }
            }
        }
        Ok(seen)
    }
}

/// Silences the panic messages the programs raise on purpose.
pub fn quiet_program_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or("");
            if !message.starts_with("program panics") {
                default(info);
            }
        }));
    });
}

/// The outcomes and final values, or the block error: what every executor
/// must agree on.
pub type Effect = Result<(Vec<TxnOutcome<Vec<Option<u64>>>>, Vec<(u64, u64)>), BlockError>;

/// The effect of a block's output (statistics left out).
pub fn effect_of(output: Result<VmBlockOutput<ProgramVm>, BlockError>) -> Effect {
    output.map(|output| (output.outcomes, output.final_values))
}

/// What `executor` makes of the block.
pub fn effect<E: Executor, S: BaseStorage<u64, u64>>(
    executor: &E,
    txns: &[Program],
    storage: &S,
) -> Effect {
    effect_of(executor.execute(&ProgramVm, txns, storage))
}
