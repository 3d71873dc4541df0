//! Parallel execution equals sequential execution, on every outcome and
//! every final value, over generated blocks of every shape the executors
//! must survive.

use std::collections::HashMap;
use std::sync::OnceLock;

use parex_engine::{ParallelExecutor, SequentialExecutor, StartPolicy};
use parex_testkit::{effect, quiet_program_panics, Op, Program};
use proptest::prelude::*;

/// The access pattern of a generated block.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Random reads and writes over the whole key space.
    Uniform,
    /// Every transaction reads and writes one hot key.
    HotKey,
    /// Transaction `i` reads what transaction `i - 1` wrote.
    Chain,
    /// Every transaction adds to one accumulator without reading it.
    HotAccumulator,
    /// Deltas and reads of the same keys, interleaved.
    DeltasAndReads,
    /// What a transaction writes depends on what it read.
    Redirects,
    /// Transactions panic or fail on some values only.
    Panics,
    /// Values near `u64::MAX` and large deltas, so that some overflow.
    Overflow,
    /// A strict chain for the first `chain` transactions (each reads what
    /// the one before wrote, a full value or a delta), uniform ones after:
    /// the first worker's serial streak, its halts and held helpers, and
    /// chains that stop short of them.
    SerialStart { chain: u64 },
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Uniform),
        Just(Shape::HotKey),
        Just(Shape::Chain),
        Just(Shape::HotAccumulator),
        Just(Shape::DeltasAndReads),
        Just(Shape::Redirects),
        Just(Shape::Panics),
        Just(Shape::Overflow),
        (0u64..200).prop_map(|chain| Shape::SerialStart { chain }),
    ]
}

/// Transaction `idx` of a block of `shape`.
fn program(shape: Shape, keys: u64, idx: u64) -> BoxedStrategy<Program> {
    match shape {
        // Chain keys live above the uniform ones.
        Shape::SerialStart { chain } if idx < chain => {
            let (read, written) = (1_000 + idx, 1_000 + idx + 1);
            prop_oneof![
                any::<u64>()
                    .prop_map(move |c| Program(vec![Op::Read(read), Op::Write(written, c)])),
                (-5i128..100)
                    .prop_map(move |d| Program(vec![Op::Read(read), Op::Delta(written, d)])),
            ]
            .boxed()
        }
        _ => prop::collection::vec(op(shape, keys, idx), 1..6)
            .prop_map(Program)
            .boxed(),
    }
}

fn op(shape: Shape, keys: u64, idx: u64) -> BoxedStrategy<Op> {
    let key = 0..keys;
    match shape {
        Shape::Uniform => prop_oneof![
            4 => key.clone().prop_map(Op::Read),
            4 => (key.clone(), any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
            1 => key.prop_map(Op::WriteIndex),
        ]
        .boxed(),
        Shape::HotKey => prop_oneof![
            Just(Op::Read(0)),
            any::<u64>().prop_map(|c| Op::Write(0, c)),
            (key, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
        ]
        .boxed(),
        Shape::Chain => prop_oneof![
            Just(Op::Read(idx.saturating_sub(1) % keys)),
            any::<u64>().prop_map(move |c| Op::Write(idx % keys, c)),
        ]
        .boxed(),
        Shape::HotAccumulator => prop_oneof![
            3 => (-5i128..100).prop_map(|d| Op::Delta(0, d)),
            1 => key.clone().prop_map(Op::Read),
            1 => (key, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
        ]
        .boxed(),
        Shape::DeltasAndReads => {
            let few = 0..keys.min(4);
            prop_oneof![
                (few.clone(), -50i128..50).prop_map(|(k, d)| Op::Delta(k, d)),
                few.clone().prop_map(Op::Read),
                (few, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c % 1000)),
            ]
            .boxed()
        }
        Shape::Redirects => prop_oneof![
            key.clone().prop_map(move |k| Op::Redirect { key: k, keys }),
            (key, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
        ]
        .boxed(),
        Shape::Panics => prop_oneof![
            (key.clone(), 2u64..5).prop_map(|(k, m)| Op::PanicIf {
                key: k,
                modulus: m * 97
            }),
            (key.clone(), 2u64..5).prop_map(|(k, m)| Op::FailIf {
                key: k,
                modulus: m * 89
            }),
            key.clone().prop_map(Op::Read),
            (key, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
        ]
        .boxed(),
        Shape::SerialStart { .. } => op(Shape::Uniform, keys, idx),
        Shape::Overflow => {
            let few = 0..keys.min(3);
            prop_oneof![
                (few.clone(), any::<i64>()).prop_map(|(k, d)| Op::Delta(k, i128::from(d) * 4)),
                few.clone().prop_map(Op::Read),
                (few, any::<u64>()).prop_map(|(k, c)| Op::Write(k, c)),
            ]
            .boxed()
        }
    }
}

#[derive(Debug, Clone)]
struct Block {
    shape: Shape,
    txns: Vec<Program>,
    storage: HashMap<u64, u64>,
    threads: usize,
    /// Whether heavy contention may halt the block and finish it
    /// sequentially (both ways must give the sequential result).
    fallback: bool,
}

fn block() -> impl Strategy<Value = Block> {
    (
        shape(),
        2u64..=1000,
        0usize..=500,
        1usize..=4,
        any::<bool>(),
    )
        .prop_flat_map(|(shape, keys, size, threads, fallback)| {
            let txns: Vec<_> = (0..size as u64)
                .map(|idx| program(shape, keys, idx))
                .collect();
            let high = matches!(shape, Shape::Overflow);
            let storage = prop::collection::hash_map(
                0..keys,
                if high {
                    (u64::MAX - 1_000..=u64::MAX).boxed()
                } else {
                    any::<u64>().boxed()
                },
                0..(keys as usize).min(64),
            );
            (Just(shape), txns, storage, Just((threads, fallback)))
        })
        .prop_map(|(shape, txns, storage, (threads, fallback))| Block {
            shape,
            txns,
            storage,
            threads,
            fallback,
        })
}

/// Executors are built once: their worker pools are reused by every case,
/// as a node reuses its executor for every block.
fn executor(threads: usize, fallback: bool) -> &'static ParallelExecutor {
    static EXECUTORS: OnceLock<Vec<ParallelExecutor>> = OnceLock::new();
    &EXECUTORS.get_or_init(|| {
        [false, true]
            .into_iter()
            .flat_map(|fallback| {
                (1..=4).map(move |threads| {
                    ParallelExecutor::new(threads)
                        .unwrap()
                        .with_min_txns_per_worker(0)
                        .with_contention_fallback(fallback)
                })
            })
            .collect()
    })[usize::from(fallback) * 4 + threads - 1]
}

fn cases() -> u32 {
    std::env::var("PAREX_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn parallel_equals_sequential(block in block()) {
        quiet_program_panics();
        let expected = effect(&SequentialExecutor::new(), &block.txns, &block.storage);
        let actual = effect(executor(block.threads, block.fallback), &block.txns, &block.storage);
        prop_assert_eq!(
            actual,
            expected,
            "shape {:?}, {} threads, fallback {}",
            block.shape,
            block.threads,
            block.fallback
        );
    }

    /// A block too small for two workers that goes on in parallel after a
    /// sequential start, wherever it switches (past the end included).
    #[test]
    fn a_sequential_start_then_block_stm_equals_sequential(
        block in block(),
        first in 0usize..=80,
    ) {
        quiet_program_panics();
        let switching = ParallelExecutor::new(block.threads)
            .unwrap()
            .with_min_txns_per_worker(usize::MAX)
            .with_start(StartPolicy::ParallelAfter(first))
            .with_contention_fallback(block.fallback);
        let expected = effect(&SequentialExecutor::new(), &block.txns, &block.storage);
        let actual = effect(&switching, &block.txns, &block.storage);
        prop_assert_eq!(
            actual,
            expected,
            "shape {:?}, {} threads, fallback {}, parallel after {}",
            block.shape,
            block.threads,
            block.fallback,
            first
        );
    }
}
