//! The standard comparison matrix and single comparisons of the synthetic
//! workloads, as `parex bench` runs them.

use parex_engine::{BlockError, EngineError};

use crate::harness::{compare, runs_for, Contenders, Row};
use crate::workload::{block, BenchVm, Workload};

/// One comparison to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The workload.
    pub workload: Workload,
    /// Transactions in the block.
    pub txns: usize,
    /// Accounts the transfers spread over.
    pub accounts: usize,
    /// Threads of the parallel executor.
    pub threads: usize,
}

/// The standard matrix at `threads` threads: the seed's block sizes (20, 50,
/// 100) up to 10,000 for every workload, and the contention sweep (2 to
/// 10,000 accounts) for transfers of 10,000 transactions.
pub fn standard_matrix(threads: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    for workload in Workload::ALL {
        for txns in [20, 50, 100, 1_000, 10_000] {
            cases.push(Case {
                workload,
                txns,
                accounts: txns.max(2),
                threads,
            });
        }
    }
    for accounts in [2, 10, 100, 1_000] {
        cases.push(Case {
            workload: Workload::Transfer,
            txns: 10_000,
            accounts,
            threads,
        });
    }
    cases
}

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The executor could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A block failed (a bug: the workloads are valid).
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// Runs each case `runs` times per executor; calls `progress` after each.
pub fn run_cases(
    cases: &[Case],
    runs: usize,
    mut progress: impl FnMut(usize, &Row),
) -> Result<Vec<Row>, BenchError> {
    let mut rows = Vec::with_capacity(cases.len());
    let mut executors: Option<Contenders> = None;
    for (i, case) in cases.iter().enumerate() {
        if executors.as_ref().map(Contenders::threads) != Some(case.threads) {
            executors = Some(Contenders::new(case.threads, None)?);
        }
        let Some(contenders) = executors.as_ref() else {
            continue;
        };
        let runs = runs_for(case.txns, runs);
        let block = block(case.workload, case.txns, case.accounts, 42);
        let row = compare(
            case.workload.name(),
            case.accounts,
            &BenchVm,
            &block.txns,
            &block.genesis,
            contenders,
            runs,
        )?;
        progress(i, &row);
        rows.push(row);
    }
    Ok(rows)
}
