//! Generated workloads give the same chain on both execution paths.

mod common;

use common::*;
use parex_engine::FallbackReason;
use parex_node::audit::check_supply;
use parex_node::blockchain::{ExecutionConfig, ExecutionPath, ParallelStart};
use parex_node::workload::{
    devnet_block, generate_block_txs, in_memory_chain, DevAccounts, Workload,
};

const BLOCKS: u64 = 100;
const TXS: usize = 30;

fn same_chain_both_ways(workload: Workload) {
    let mut accounts = DevAccounts::new(64, 7);
    let mut sequential_chain = in_memory_chain(&accounts, sequential()).unwrap();
    let mut parallel_chain = in_memory_chain(&accounts, parallel()).unwrap();
    let mut orphaned = 0;
    for height in 1..=BLOCKS {
        let txs = generate_block_txs(workload, &mut accounts, TXS, height);
        let block =
            sequential_chain.build_block(accounts.public_key(height as usize % 64), height, txs);
        let a = sequential_chain.add_new_block(block.clone()).unwrap();
        let b = parallel_chain.add_new_block(block).unwrap();
        assert_eq!(a.path, ExecutionPath::Sequential);
        assert_eq!(b.path, ExecutionPath::Parallel);
        assert!(
            b.stats.workers >= 2,
            "Block-STM ran with {} workers",
            b.stats.workers
        );
        assert_eq!(a.outcomes, b.outcomes, "{workload} block {height}");
        assert_eq!(a.commitment, b.commitment, "{workload} block {height}");
        orphaned += a.orphaned();
    }
    assert_eq!(
        orphaned, 0,
        "the {workload} generator produced invalid transactions"
    );
    let storage = parallel_chain.storage().read().unwrap();
    for book in check_supply(&*storage).unwrap() {
        assert!(book.holds(), "{workload}: {book:?}");
    }
}

#[test]
fn a_node_with_default_settings_commits_the_sequential_chain() {
    // The parallel path as shipped: each block starts sequentially and
    // goes on with Block-STM only if its transactions prove expensive.
    let config = ExecutionConfig {
        min_txs_for_parallel: 0,
        execution_threads: 2,
        ..ExecutionConfig::default()
    };
    assert_eq!(config.parallel_start, ParallelStart::Probe);
    let mut accounts = DevAccounts::new(64, 5);
    let mut sequential_chain = in_memory_chain(&accounts, sequential()).unwrap();
    let mut default_chain = in_memory_chain(&accounts, config).unwrap();
    for height in 1..=40u64 {
        let txs = generate_block_txs(Workload::Mixed, &mut accounts, 100, height);
        let block = sequential_chain.build_block(accounts.public_key(1), height, txs);
        let a = sequential_chain.add_new_block(block.clone()).unwrap();
        let b = default_chain.add_new_block(block).unwrap();
        assert_eq!(b.path, ExecutionPath::Parallel);
        assert_eq!(a.outcomes, b.outcomes, "block {height}");
        assert_eq!(a.commitment, b.commitment, "block {height}");
    }
}

#[test]
fn uniform_workload_matches_both_ways() {
    same_chain_both_ways(Workload::Uniform);
}

#[test]
fn hot_workload_matches_both_ways() {
    same_chain_both_ways(Workload::Hot);
}

#[test]
fn chain_workload_matches_both_ways() {
    same_chain_both_ways(Workload::Chain);
}

#[test]
fn mixed_workload_matches_both_ways() {
    same_chain_both_ways(Workload::Mixed);
}

#[test]
fn test_hybrid_mode_threshold() {
    let config = ExecutionConfig {
        min_txs_for_parallel: 20,
        parallel_execution_enabled: true,
        execution_threads: 2,
        // Block-STM itself on the 20-transaction block, not the engine's
        // sequential path for blocks too small for two workers.
        min_txs_per_worker: 0,
        ..ExecutionConfig::default()
    };
    let mut accounts = DevAccounts::new(64, 3);
    let mut chain = in_memory_chain(&accounts, config).unwrap();
    let txs = generate_block_txs(Workload::Uniform, &mut accounts, 19, 1);
    assert_eq!(
        apply(&mut chain, txs).unwrap().path,
        ExecutionPath::Sequential
    );
    let txs = generate_block_txs(Workload::Uniform, &mut accounts, 20, 2);
    let summary = apply(&mut chain, txs).unwrap();
    assert_eq!(summary.path, ExecutionPath::Parallel);
    assert_eq!(summary.stats.workers, 2);
}

#[test]
fn shadow_execution_runs_both_and_agrees() {
    let config = ExecutionConfig {
        shadow_execution: true,
        ..parallel()
    };
    let mut accounts = DevAccounts::new(16, 5);
    let mut chain = in_memory_chain(&accounts, config).unwrap();
    let txs = generate_block_txs(Workload::Mixed, &mut accounts, 25, 9);
    let summary = apply(&mut chain, txs).unwrap();
    assert_eq!(summary.path, ExecutionPath::Shadow);
    assert!(!summary.diverged);
}

#[test]
fn adaptive_execution_tries_both_paths_and_keeps_the_chain() {
    let config = ExecutionConfig {
        adaptive_execution: true,
        min_txs_for_parallel: 20,
        ..parallel()
    };
    let mut accounts = DevAccounts::new(64, 11);
    let mut adaptive = in_memory_chain(&accounts, config).unwrap();
    let mut reference = in_memory_chain(&accounts, sequential()).unwrap();
    let mut paths = Vec::new();
    for height in 1..=40u64 {
        // Every fourth block is too small to be eligible.
        let txs = if height % 4 == 0 { 10 } else { 30 };
        let txs = generate_block_txs(Workload::Mixed, &mut accounts, txs, height);
        let block = reference.build_block(miner().public_key(), height, txs);
        let expected = reference.add_new_block(block.clone()).unwrap();
        let summary = adaptive.add_new_block(block).unwrap();
        assert_eq!(summary.commitment, expected.commitment, "block {height}");
        assert_eq!(summary.outcomes, expected.outcomes, "block {height}");
        if height % 4 == 0 {
            assert_eq!(summary.path, ExecutionPath::Sequential, "block {height}");
        } else {
            paths.push(summary.path);
        }
    }
    // The first eligible block measures the parallel path, the second the
    // sequential one; after that each block takes the faster, which a
    // loaded machine may change, but both were measured.
    assert_eq!(paths[0], ExecutionPath::Parallel);
    assert_eq!(paths[1], ExecutionPath::Sequential);
    assert_eq!(paths.len(), 30);
}

/// The devnet's mixed blocks of 100 fit the memory `ChainVm` declares
/// (`Vm::LOCATIONS_PER_TXN`): none hands over to the sequential executor
/// for a full memory, though the third block at seeds 1 and 3 outgrew the
/// engine's default sizing. Accounts, miners, block seeds and settings as
/// `parex devnet --parallel-start block-stm` on two threads.
#[test]
fn mixed_devnet_blocks_fit_the_memory_the_vm_declares() {
    let config = ExecutionConfig {
        execution_threads: 2,
        parallel_start: ParallelStart::BlockStm,
        ..ExecutionConfig::default()
    };
    for seed in [1u64, 3] {
        let mut accounts = DevAccounts::new(1000, seed);
        let mut chain = in_memory_chain(&accounts, config.clone()).unwrap();
        for topoheight in 1..=3u64 {
            let (miner, txs) = devnet_block(Workload::Mixed, &mut accounts, 100, seed, topoheight);
            let block = chain.build_block(miner, topoheight, txs);
            let summary = chain.add_new_block(block).unwrap();
            assert_eq!(summary.path, ExecutionPath::Parallel);
            assert_ne!(
                summary.stats.fallback_reason,
                Some(FallbackReason::MemoryFull),
                "seed {seed}, block {topoheight}: {:?}",
                summary.stats
            );
        }
    }
}
