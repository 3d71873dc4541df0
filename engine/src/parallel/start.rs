//! How a block starts: on the sequential executor, timed, going on in
//! parallel only if its transactions prove expensive.
//!
//! Whether Block-STM pays depends on what a transaction costs, not on how
//! many there are. Waking a worker and starting a block cost tens of
//! microseconds, and Block-STM's machinery (recording, validation,
//! materialization) about half a microsecond to a microsecond per
//! transaction on two cores. So a block of native transfers (0.1 to 1 µs
//! each) runs slower in parallel at every size, while 50 transactions of
//! 20 µs (a contract call, a proof check) are a millisecond of work that
//! two workers do in little more than half. The count says nothing of the
//! cost.
//!
//! So a block starts on the sequential executor and is timed
//! ([`StartPolicy::Probe`], the default). At checks, [`PROBE_GROWTH`] times
//! as many transactions apart, the time per transaction predicts both ways
//! of running the rest ([`worth_parallel`]); once Block-STM's prediction
//! wins clearly, the rest runs on it, over the state the sequential start
//! left ([`Overlay`]), with the VM seeing block indices ([`OffsetVm`]).
//! What the sequential start executed is kept: nothing runs twice. The
//! start runs in stretches between checks, each a call of the sequential
//! executor's own loop. A block of 10,000 transactions is checked 7 times
//! (after 1, 4, 16, …, 4,096); one that stays sequential loses only those
//! clock reads.
//!
//! A block big enough for two workers by count is priced stretch by
//! stretch, from the end of its first transaction on (the first is a node
//! block's reward, and comes after the block's set-up), and a stretch
//! that starts before the 16th transaction must show
//! [`COLD_START_MARGIN`] times the cost that switches: a block's first
//! transactions run on cold caches, several times slower than the rest.
//!
//! A check is a clock read, and a clock read in the middle of a block
//! costs far more than alone: the vDSO's `rdtscp` waits for every
//! instruction before it, cache misses included. A block of 20 cheap
//! transfers (2 µs) ran 5% slower for it. So the last block decides how a
//! block too small for two workers by count
//! ([`ParallelExecutor::workers_for`](super::ParallelExecutor::workers_for))
//! is checked ([`next_start`]), from the two clock reads that time every
//! block anyway:
//! - after one whose transactions cost under [`PROBE_WORTHY_NS_PER_TXN`]
//!   each, not at all: a node of cheap transactions pays for one checked
//!   block (the first is always checked), then for none;
//! - after one whose transactions proved expensive on Block-STM, from its
//!   first transaction on: each run sequentially is parallelism lost;
//! - after any other, from [`FIRST_PROBE`] transactions on.
//!
//! A block too small for two workers is priced from its start, at
//! [`FIRST_PROBE`] transactions and each [`PROBE_GROWTH`] times as many.
//! A larger block is checked whatever came before (but see below): a
//! block of expensive transactions after cheap ones must not lose its
//! parallelism.
//!
//! Checks cost an expensive block its first transactions run alone and a
//! helper woken that much later, 3 to 10% of a block of 20 to 100
//! transactions of 20 µs. So after a block that went on with Block-STM, a
//! block of up to [`AT_ONCE_MAX_TXNS`] transactions, of any size by
//! count, whose transactions would win clearly at what that block's cost
//! each ([`NextStart::price_ns`]) runs on Block-STM from its first
//! transaction, unchecked ([`at_once`]). A wrong guess costs it
//! Block-STM's machinery once: its own low price, whatever the number of
//! workers, sends the next block back to the sequential executor. A larger block
//! loses little to its checks, and would lose milliseconds to a wrong
//! guess.
//!
//! A block of fewer than [`FIRST_PROBE`] transactions, and one that ran
//! into an error, leave the choice as it was.

use std::time::Duration;

use crate::sequential::Written;
use crate::{
    BaseStorage, BlockError, Delta, ExecutionStats, StorageError, Suspend, TxnIndex, TxnView, Vm,
    VmError,
};

/// How a [`ParallelExecutor`](super::ParallelExecutor) starts a block
/// ([`with_start`](super::ParallelExecutor::with_start)).
///
/// "Big enough by count" means big enough for two workers at
/// [`with_min_txns_per_worker`](super::ParallelExecutor::with_min_txns_per_worker)
/// transactions each; with 0 transactions per worker every block runs on
/// Block-STM from its first transaction, whatever the policy but
/// [`ParallelAfter`](Self::ParallelAfter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPolicy {
    /// Every block on the sequential executor, timed; the rest on
    /// Block-STM once the transactions so far show that it would finish
    /// clearly sooner. After a block that went on with Block-STM, a block
    /// of at most [`AT_ONCE_MAX_TXNS`] transactions runs on Block-STM from
    /// its first transaction if, at what that block's transactions cost
    /// each, it would finish clearly sooner there. The default: a block of
    /// cheap transactions runs slower than sequentially by no more than a
    /// few clock reads, whatever its size, but once right after expensive
    /// ones, on Block-STM at once.
    #[default]
    Probe,
    /// A block big enough by count on Block-STM from its first
    /// transaction, whatever its transactions cost; a smaller one as
    /// [`Probe`](Self::Probe). What Block-STM alone costs and gains:
    /// benchmarks compare it.
    ProbeSmall,
    /// A block big enough by count on Block-STM from its first
    /// transaction; a smaller one on the sequential executor, whatever its
    /// transactions cost.
    ByCount,
    /// The first `k` transactions of every block on the sequential
    /// executor, the rest on Block-STM, whatever they cost: the switch made
    /// deterministic, for tests and measurements.
    ParallelAfter(usize),
}

/// The first check of a block too small for two workers, in
/// transactions: a node block's first transaction is its reward, cheaper
/// than the rest, so one transaction alone would mislead.
pub(super) const FIRST_PROBE: usize = 4;

/// Each check comes after this many times the transactions of the last.
pub(super) const PROBE_GROWTH: usize = 4;

/// The cost per transaction, in nanoseconds, of the last block from which
/// the next block too small for two workers by count is probed: well below any cost that switches (at
/// least 3.5 µs on 2 threads), well above node transfers (about 0.5 µs),
/// and enough that a block of 20 costs 20 µs, on which a probe's 100-odd
/// nanoseconds are lost in the noise.
pub(super) const PROBE_WORTHY_NS_PER_TXN: u64 = 1_000;

/// What a block tells of how the next one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NextStart {
    /// After how many transactions the next block too small for two
    /// workers by count is first checked; 0 for not at all.
    pub(super) first_check: usize,
    /// What a transaction cost, in nanoseconds, as the sequential executor
    /// would run it, if the block went on with Block-STM; else 0. Whether
    /// the next block runs on Block-STM at once ([`at_once`]).
    pub(super) price_ns: u64,
}

/// What a block with statistics `last` tells of how the next starts;
/// `switch_price_ns` is what its transactions cost at the check that sent
/// it on to Block-STM, if one did; its workers shared `cores` cores. `None` for a block of fewer than
/// [`FIRST_PROBE`] transactions (an empty node block is its reward and
/// its payout): it says nothing of what transactions cost, and the choice
/// stays as it was.
///
/// The next small block is first checked:
/// - after one that a check sent on to Block-STM, or that ran on it at a
///   price of at least [`PROBE_WORTHY_NS_PER_TXN`], after 1 transaction:
///   its transactions proved expensive, every one run sequentially is
///   parallelism lost, and a check costs little against them (unless
///   [`at_once`] skips the checks);
/// - after one run sequentially whose transactions cost at least
///   [`PROBE_WORTHY_NS_PER_TXN`] each, after [`FIRST_PROBE`];
/// - after one of cheaper transactions, run either way, not at all.
///
/// The price of a block run on Block-STM from its first transaction is
/// the time its workers had together (the caller's, and each joined
/// helper's) after Block-STM's start ([`FIXED_COST_NS`], paid once
/// whatever the workers), per transaction, less its machinery
/// (`overhead_ns`, [`overhead_per_txn_ns`]): what the cost model would predict for it,
/// read backwards. Taking the start once per worker would price a block
/// of free transactions on 8 workers at 1.5 µs each, enough to run the
/// next on Block-STM at once, and the next after it. A block a check sent
/// on is priced by that check: its sequential start is in its wall time.
pub(super) fn next_start(
    last: &ExecutionStats,
    switch_price_ns: Option<u64>,
    overhead_ns: u128,
    cores: usize,
) -> Option<NextStart> {
    if last.txns < FIRST_PROBE {
        return None;
    }
    let price_ns = match last.parallel_from {
        None => 0,
        Some(0) => {
            // Workers past the cores took turns: the time they had
            // together is the cores'.
            let workers = (1 + last.helpers_joined).min(cores.max(1)) as u128;
            let busy = last.wall_time.as_nanos().saturating_sub(FIXED_COST_NS);
            let price = (busy * workers / last.txns as u128).saturating_sub(overhead_ns);
            u64::try_from(price).unwrap_or(u64::MAX)
        }
        Some(_) => switch_price_ns.unwrap_or(0),
    };
    let probe_worthy = u128::from(PROBE_WORTHY_NS_PER_TXN) * last.txns as u128;
    let first_check = match last.parallel_from {
        Some(0) if price_ns >= PROBE_WORTHY_NS_PER_TXN => 1,
        Some(0) => 0,
        Some(_) => 1,
        None if last.wall_time.as_nanos() >= probe_worthy => FIRST_PROBE,
        None => 0,
    };
    Some(NextStart {
        first_check,
        price_ns,
    })
}

/// The most transactions a block may have to run on Block-STM from its
/// first transaction because the block before went on with Block-STM at a
/// price that wins ([`StartPolicy::Probe`], and the blocks
/// [`StartPolicy::ProbeSmall`] starts as `Probe` does).
///
/// What that gains an expensive block is about constant (its first
/// transactions not run alone, its helper woken sooner: 55–60 µs for
/// transactions of 20 µs), while a wrong guess costs a cheap block
/// Block-STM's machinery once, in proportion to its size: 34–45 µs for
/// 100 to 128 synthetic transfers. `--example alternating` on 2 cores,
/// against a build with this limit at 0: runs of blocks of 100
/// transactions of 20 µs went from 1.80x to 1.89x a round, of 128 from
/// 1.83x to 1.88x; alternating strictly with blocks of as many transfers
/// (each then at 0.24x), a round went from 1.78x to 1.73x at 100 and from
/// 1.82x to 1.76x at 128. At 256 an earlier, temporary version measured
/// a gain of 1.6% against a loss of 4%. A larger block is always
/// checked.
pub const AT_ONCE_MAX_TXNS: usize = 128;

/// The workers of a block of `txns` transactions that should run on
/// Block-STM from its first transaction, after a block that went on with
/// Block-STM at `price_ns` a transaction ([`next_start`]): one of
/// at most [`AT_ONCE_MAX_TXNS`] whose transactions, at that price, would
/// finish clearly sooner there ([`worth_parallel`]) on as many of its
/// workers as `cores` run at once; `None` to check it instead.
///
/// Checks cost such a block its first transactions run alone and a
/// helper woken that much later: measured against Block-STM from the
/// first transaction, 20 transactions of 20 µs ran 1.48x against 1.62x,
/// 50 of them 1.71x against 1.76x, 100 of them 1.79x against 1.90x
/// (temporary examples alternating the executors at 8de860c; `parex
/// bench --workload heavy` now shows the shipped executor level with
/// Block-STM). A cheap block after an expensive one pays Block-STM's cost
/// once, and its low price sends the next one back to the sequential
/// executor.
pub(super) fn at_once(
    price_ns: u64,
    threads: usize,
    cores: usize,
    txns: usize,
    overhead_ns: u128,
) -> Option<usize> {
    let workers = rest_workers(threads, txns);
    let on_cores = workers.min(cores);
    let elapsed = Duration::from_nanos(price_ns.saturating_mul(txns as u64));
    (txns <= AT_ONCE_MAX_TXNS
        && on_cores >= 2
        && worth_parallel(elapsed, txns, txns, on_cores, 1, overhead_ns))
    .then_some(workers)
}

/// The fewest transactions of the rest per worker: each worker is then
/// worth its wake-up, and a block's end stays balanced.
const MIN_TXNS_PER_PROBED_WORKER: usize = 4;

/// What starting Block-STM costs a block before its first transaction
/// runs in parallel: the helpers' wake-up and start, and the block's
/// set-up. Measured on the 2-core development machine at 11–13 µs for the
/// wake-up and 27–47 µs until the helper runs its first task, during which
/// the caller already executes (`docs/BENCHMARKS.md`).
const FIXED_COST_NS: u128 = 30_000;

/// Block-STM's machinery per location a transaction touches (recording,
/// validation, materialization happen location by location): 1 µs for
/// a VM of 4 locations a transaction, the default. Synthetic transfers
/// (up to 4) cost 0.45 µs on the development machine (the cost sweep in
/// `docs/BENCHMARKS.md`), rounded up. A fixed 1 µs whatever the VM sent
/// 83–100% of 10,000-transfer node blocks (6 locations) to Block-STM on
/// a later machine of the same kind, at 0.68–0.77x of the sequential
/// executor; priced per location, 8–50% of them, at 0.83–0.99x (three
/// alternated pairs of `parex bench --workload node-transfer --txs 10000
/// --runs 12`, `docs/BENCHMARKS.md`, "The shipped executor").
const OVERHEAD_PER_LOCATION_NS: u128 = 250;

/// Block-STM's machinery per transaction of a VM whose transactions touch
/// about `locations_per_txn` locations ([`Vm::LOCATIONS_PER_TXN`]).
pub(super) fn overhead_per_txn_ns(locations_per_txn: usize) -> u128 {
    OVERHEAD_PER_LOCATION_NS * locations_per_txn.max(1) as u128
}

/// The share of each added worker's time, in percent, that goes into
/// transactions (two plain threads reach 1.81–1.99x here).
const PARALLEL_EFFICIENCY_PCT: u128 = 95;

/// The predicted parallel time must be at most this share, in percent, of
/// the predicted sequential time: a switch that a misjudged cost makes
/// slower is what this path exists to avoid.
const REQUIRED_GAIN_PCT: u128 = 80;

/// How many times the cost that switches a stretch of a block's first
/// transactions must show, when a large block is priced stretch by
/// stretch: the first transactions run on cold caches. Node transfers of
/// 0.6 µs took 1.5–2.9 µs each from the 2nd to the 4th transaction of a
/// 10,000-transaction block, and 1.1–1.4 µs to the 16th, against a
/// threshold near 2 µs; 20 µs transactions pass four times over.
pub(super) const COLD_START_MARGIN: u128 = 4;

/// The stretches that start before this transaction are priced with
/// [`COLD_START_MARGIN`].
pub(super) const COLD_STRETCH_END: usize = FIRST_PROBE * PROBE_GROWTH;

/// The workers the rest of `rest` transactions gets, of `threads`.
pub(super) fn rest_workers(threads: usize, rest: usize) -> usize {
    threads.min(rest.div_ceil(MIN_TXNS_PER_PROBED_WORKER))
}

/// Whether `rest` more transactions, priced at what `done` cost together
/// (`elapsed`), would finish clearly sooner on Block-STM with `workers`
/// workers, at a machinery of `overhead_ns` a transaction
/// ([`overhead_per_txn_ns`]), than sequentially, even were they `margin`
/// times cheaper.
///
/// With `c = elapsed / (done * margin)` per transaction, `w` workers at
/// efficiency `e` and required gain `g`, Block-STM is predicted to take
/// `FIXED + (c + OVERHEAD) * rest / (w * e)` against `c * rest`
/// sequentially; it wins when that is at most `g` times as long. The
/// inequality is computed multiplied out, in integers: a probe costs a
/// clock read and a few multiplications, which a block of 20 cheap
/// transactions (2 µs) notices at a float division or two.
pub(super) fn worth_parallel(
    elapsed: Duration,
    done: usize,
    rest: usize,
    workers: usize,
    margin: u128,
    overhead_ns: u128,
) -> bool {
    let (elapsed, done, rest, workers) = (
        elapsed.as_nanos(),
        margin * done as u128,
        rest as u128,
        workers as u128,
    );
    // `F + (c + o) r 100 / (w e) <= g c r / 100`, times `100 w e done`.
    let gain = (REQUIRED_GAIN_PCT * workers * PARALLEL_EFFICIENCY_PCT).saturating_sub(10_000);
    done > 0
        && gain > 0
        && elapsed * rest * gain
            >= done
                * (100 * workers * PARALLEL_EFFICIENCY_PCT * FIXED_COST_NS
                    + 10_000 * overhead_ns * rest)
}

/// The state after a block's sequential start: what the start wrote, over
/// the state before the block. The base storage of the rest's Block-STM
/// run.
pub(super) struct Overlay<'a, K, V, S: ?Sized> {
    pub(super) written: &'a Written<K, V>,
    pub(super) base: &'a S,
}

impl<K, V, S> BaseStorage<K, V> for Overlay<'_, K, V, S>
where
    K: crate::Key,
    V: crate::Value,
    S: BaseStorage<K, V> + ?Sized,
{
    fn get(&self, key: &K) -> Result<Option<V>, StorageError> {
        self.written.get_over(key, self.base)
    }
}

/// A VM run on the block's transactions from `first_idx` on, as a block of
/// their own: its views report indices in the whole block, so that a VM
/// that asks [`TxnView::txn_idx`] sees what the sequential executor shows
/// it.
pub(super) struct OffsetVm<'a, VM> {
    pub(super) inner: &'a VM,
    pub(super) first_idx: TxnIndex,
}

impl<VM: Vm> Vm for OffsetVm<'_, VM> {
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
        self.inner.execute(
            txn,
            &mut OffsetView {
                inner: view,
                first_idx: self.first_idx,
            },
        )
    }
}

struct OffsetView<'a, View> {
    inner: &'a mut View,
    first_idx: TxnIndex,
}

impl<K, V, View: TxnView<K, V>> TxnView<K, V> for OffsetView<'_, View> {
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
        self.inner.read(key)
    }

    fn write(&mut self, key: K, value: V) {
        self.inner.write(key, value);
    }

    fn add_delta(&mut self, key: K, delta: Delta) {
        self.inner.add_delta(key, delta);
    }

    fn txn_idx(&self) -> TxnIndex {
        self.first_idx + self.inner.txn_idx()
    }
}

impl BlockError {
    /// The error as the whole block reports it, for an error of the part
    /// of the block that starts at `first_idx`.
    pub(super) fn shifted(self, first_idx: TxnIndex) -> Self {
        match self {
            BlockError::TxnPanicked { txn_idx, message } => BlockError::TxnPanicked {
                txn_idx: txn_idx + first_idx,
                message,
            },
            BlockError::TxnFailed { txn_idx, message } => BlockError::TxnFailed {
                txn_idx: txn_idx + first_idx,
                message,
            },
            BlockError::Storage { txn_idx, error } => BlockError::Storage {
                txn_idx: txn_idx + first_idx,
                error,
            },
            BlockError::Internal(message) => BlockError::Internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machinery of a VM of the default 4 locations a transaction.
    const DEFAULT: u128 = 1_000;

    #[test]
    fn the_machinery_grows_with_the_locations_a_transaction_touches() {
        assert_eq!(overhead_per_txn_ns(4), DEFAULT);
        assert_eq!(overhead_per_txn_ns(6), 1_500);
        assert_eq!(overhead_per_txn_ns(0), overhead_per_txn_ns(1));
        // Node transfers (6 locations) of 2 µs, 4 of them then 9,998 to
        // go: they would switch at 1 µs of machinery, not at 1.5 µs.
        assert!(worth_parallel(8 * MICROS, 4, 9_998, 2, 1, DEFAULT));
        assert!(!worth_parallel(
            8 * MICROS,
            4,
            9_998,
            2,
            1,
            overhead_per_txn_ns(6)
        ));
    }

    const MICROS: Duration = Duration::from_micros(1);

    #[test]
    fn only_expensive_transactions_are_worth_the_switch() {
        // 4 transactions of 20 µs, 46 to go: Block-STM wins by far.
        assert!(worth_parallel(80 * MICROS, 4, 46, 2, 1, DEFAULT));
        // Node transfers of about a microsecond never are.
        assert!(!worth_parallel(4 * MICROS, 4, 59, 2, 1, DEFAULT));
        assert!(!worth_parallel(16 * MICROS, 16, 47, 2, 1, DEFAULT));
        // Too few left for two workers, however expensive.
        assert!(!worth_parallel(
            400 * MICROS,
            4,
            2,
            rest_workers(2, 2),
            1,
            DEFAULT
        ));
        // Enough to cover the start only when expensive enough.
        assert!(!worth_parallel(40 * MICROS, 4, 5, 2, 1, DEFAULT));
        assert!(worth_parallel(160 * MICROS, 4, 5, 2, 1, DEFAULT));
        // One worker, or nothing measured, never switches.
        assert!(!worth_parallel(80 * MICROS, 4, 46, 1, 1, DEFAULT));
        assert!(!worth_parallel(80 * MICROS, 0, 46, 2, 1, DEFAULT));
        // More workers lower the cost that pays.
        assert!(!worth_parallel(8 * MICROS, 4, 59, 2, 1, DEFAULT));
        assert!(worth_parallel(8 * MICROS, 4, 59, 8, 1, DEFAULT));
        // A cold start: the 2nd to 4th node transfers of a large block
        // can cost 9 µs together; only the margin keeps them sequential,
        // while three of 20 µs still switch.
        assert!(worth_parallel(9 * MICROS, 3, 9_998, 2, 1, DEFAULT));
        assert!(!worth_parallel(
            9 * MICROS,
            3,
            9_998,
            2,
            COLD_START_MARGIN,
            DEFAULT
        ));
        assert!(worth_parallel(
            60 * MICROS,
            3,
            96,
            2,
            COLD_START_MARGIN,
            DEFAULT
        ));
    }

    /// The statistics of a block of `txns` transactions that took
    /// `micros`, `helpers_joined` helpers besides the caller, and went on
    /// with Block-STM from `parallel_from`.
    fn last(
        micros: u32,
        txns: usize,
        helpers_joined: usize,
        parallel_from: Option<usize>,
    ) -> ExecutionStats {
        ExecutionStats {
            txns,
            wall_time: micros * MICROS,
            helpers_joined,
            parallel_from,
            ..ExecutionStats::default()
        }
    }

    fn first_check(last: &ExecutionStats, switch_price_ns: Option<u64>) -> Option<usize> {
        next_start(last, switch_price_ns, DEFAULT, usize::MAX).map(|next| next.first_check)
    }

    fn price(last: &ExecutionStats, switch_price_ns: Option<u64>) -> Option<u64> {
        next_start(last, switch_price_ns, DEFAULT, usize::MAX).map(|next| next.price_ns)
    }

    #[test]
    fn blocks_are_probed_after_one_of_a_microsecond_a_transaction() {
        assert_eq!(first_check(&last(20, 20, 0, None), None), Some(FIRST_PROBE));
        assert_eq!(first_check(&last(19, 20, 0, None), None), Some(0));
        // One that a check sent on to Block-STM may have taken less than
        // its sequential time: the next is checked at once.
        assert_eq!(first_check(&last(5, 20, 1, Some(4)), Some(20_000)), Some(1));
        // So is one that ran on Block-STM at a price that shows expensive
        // transactions; one that ran on it cheaply, as one of cheap
        // transactions run sequentially, not at all.
        assert_eq!(first_check(&last(230, 20, 1, Some(0)), None), Some(1));
        assert_eq!(first_check(&last(25, 20, 1, Some(0)), None), Some(0));
        // Fewer transactions than the first check say nothing: an empty
        // node block is two.
        assert_eq!(
            next_start(&last(50, 2, 0, None), None, DEFAULT, usize::MAX),
            None
        );
        assert_eq!(
            next_start(&last(0, 0, 0, None), None, DEFAULT, usize::MAX),
            None
        );
    }

    #[test]
    fn a_block_is_priced_by_its_workers_time_after_the_start_or_by_its_check() {
        // Two workers' time after the start, per transaction, less the
        // machinery.
        assert_eq!(price(&last(230, 20, 1, Some(0)), None), Some(19_000));
        assert_eq!(price(&last(130, 20, 0, Some(0)), None), Some(4_000));
        assert_eq!(price(&last(40, 20, 1, Some(0)), None), Some(0));
        // A block a check sent on: what the check measured.
        assert_eq!(
            price(&last(230, 20, 1, Some(4)), Some(21_000)),
            Some(21_000)
        );
        assert_eq!(price(&last(230, 20, 1, Some(4)), None), Some(0));
        // One that never ran on Block-STM.
        assert_eq!(price(&last(400, 20, 0, None), None), Some(0));
    }

    #[test]
    fn blocks_of_free_transactions_on_block_stm_never_price_the_next_onto_it() {
        // What the cost model predicts for a block of transactions that
        // cost nothing, on any number of workers, and what the 2-core
        // machines measured (helpers up 13 µs after the call, Block-STM's
        // cost per transaction at 2 threads up to 1.5 µs): read back as a
        // price, it must never send the next block to Block-STM at once.
        for workers in 2..=16 {
            for txns in FIRST_PROBE..=AT_ONCE_MAX_TXNS {
                let w = workers as u128;
                let n = txns as u128;
                let predicted = FIXED_COST_NS + n * DEFAULT * 100 / (w * PARALLEL_EFFICIENCY_PCT);
                let measured = 13_000 + n * 1_500 / w;
                for wall in [predicted, measured] {
                    let stats = ExecutionStats {
                        txns,
                        wall_time: Duration::from_nanos(wall as u64),
                        helpers_joined: workers - 1,
                        parallel_from: Some(0),
                        ..ExecutionStats::default()
                    };
                    let price = price(&stats, None).unwrap_or(0);
                    assert_eq!(
                        at_once(price, workers, usize::MAX, txns, DEFAULT),
                        None,
                        "{workers} workers, {txns} transactions, {wall} ns: {price} ns each"
                    );
                }
            }
        }
    }

    #[test]
    fn a_block_runs_on_block_stm_at_once_at_a_price_that_wins() {
        // 20 µs transactions win at 20 and at 8; 1 µs ones never do.
        assert_eq!(at_once(20_000, 2, usize::MAX, 20, DEFAULT), Some(2));
        assert_eq!(at_once(20_000, 2, usize::MAX, 8, DEFAULT), Some(2));
        assert_eq!(
            at_once(20_000, 8, usize::MAX, AT_ONCE_MAX_TXNS, DEFAULT),
            Some(8)
        );
        // A larger block is checked, whatever the last one cost.
        assert_eq!(
            at_once(20_000, 2, usize::MAX, AT_ONCE_MAX_TXNS + 1, DEFAULT),
            None
        );
        assert_eq!(at_once(1_000, 2, usize::MAX, 20, DEFAULT), None);
        assert_eq!(at_once(0, 2, usize::MAX, 20, DEFAULT), None);
        // Too few transactions, or one thread, for two workers.
        assert_eq!(at_once(200_000, 2, usize::MAX, 4, DEFAULT), None);
        assert_eq!(at_once(20_000, 1, usize::MAX, 20, DEFAULT), None);
    }

    #[test]
    fn predictions_count_no_more_workers_than_cores() {
        // Transactions of 1 µs win on 16 cores, not on 2: 16 threads on 2
        // cores keep them sequential. 20 µs ones win on 2 cores, and run
        // on every worker the block gets.
        assert_eq!(at_once(1_000, 16, 16, 100, DEFAULT), Some(16));
        assert_eq!(at_once(1_000, 16, 2, 100, DEFAULT), None);
        assert_eq!(at_once(20_000, 16, 2, 100, DEFAULT), Some(16));
        assert_eq!(at_once(20_000, 16, 1, 100, DEFAULT), None);
        // 16 workers that took turns on 2 cores had the cores' time: priced
        // by all 16, 200 µs after the start would be 160 µs a transaction.
        let shared = last(230, 20, 15, Some(0));
        let price_on = |cores| next_start(&shared, None, DEFAULT, cores).map(|next| next.price_ns);
        assert_eq!(price_on(2), Some(19_000));
        assert_eq!(price_on(16), Some(159_000));
    }

    #[test]
    fn the_rest_gets_a_worker_per_few_transactions() {
        assert_eq!(rest_workers(2, 1), 1);
        assert_eq!(rest_workers(2, 5), 2);
        assert_eq!(rest_workers(16, 19), 5);
        assert_eq!(rest_workers(16, 100), 16);
    }
}
