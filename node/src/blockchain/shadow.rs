//! Shadow execution: both paths on one block, compared.

use std::path::{Path, PathBuf};

use parex_engine::{BlockError, VmBlockOutput};

use super::Snapshot;
use crate::chain::Block;
use crate::codec::Encode;
use crate::crypto::Hash;
use crate::storage::Storage;
use crate::vm::ChainVm;

/// Where the paths first differ, as an engine transaction index (0 is the
/// reward), or `None` if only the final values differ.
pub fn first_difference(
    sequential: &VmBlockOutput<ChainVm>,
    parallel: &Result<VmBlockOutput<ChainVm>, BlockError>,
) -> Option<Option<usize>> {
    let Ok(parallel) = parallel else {
        return Some(match parallel {
            Err(
                BlockError::TxnFailed { txn_idx, .. } | BlockError::TxnPanicked { txn_idx, .. },
            ) => Some(*txn_idx),
            _ => None,
        });
    };
    if sequential.effect() == parallel.effect() {
        return None;
    }
    let index = sequential
        .outcomes
        .iter()
        .zip(&parallel.outcomes)
        .position(|(a, b)| a != b)
        .or_else(|| {
            (sequential.outcomes.len() != parallel.outcomes.len())
                .then(|| sequential.outcomes.len().min(parallel.outcomes.len()))
        });
    Some(index)
}

/// Writes the block and its pre-state to a JSON file in `dir`, so that the
/// divergence can be replayed without the node's database.
pub fn write_reproducer<S: Storage>(
    dir: &Path,
    block: &Block,
    base: &Snapshot<'_, S>,
    first_txn: Option<usize>,
    detail: &str,
) -> std::io::Result<PathBuf> {
    let hash: Hash = block.hash();
    let pre_state: Vec<_> = base
        .entries()
        .into_iter()
        .map(|(key, value)| {
            serde_json::json!([
                hex::encode(key.to_bytes()),
                value.map(|value| hex::encode(value.to_bytes()))
            ])
        })
        .collect();
    let report = serde_json::json!({
        "topoheight": block.header.topoheight,
        "block_hash": hash.to_string(),
        "first_differing_txn": first_txn,
        "detail": detail,
        "block": hex::encode(block.to_bytes()),
        "pre_state": pre_state,
    });
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!(
        "divergence-{}-{}.json",
        block.header.topoheight,
        &hash.to_string()[..16]
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use parex_engine::{BlockOutput, ExecutionStats, TxnOutcome};

    use super::*;
    use crate::crypto::PublicKey;
    use crate::storage::MemoryStorage;
    use crate::vm::TxResult;

    fn output(outcomes: Vec<TxnOutcome<TxResult>>) -> VmBlockOutput<ChainVm> {
        BlockOutput {
            outcomes,
            final_values: Vec::new(),
            stats: ExecutionStats::default(),
        }
    }

    #[test]
    fn divergence_names_the_first_differing_transaction_and_writes_a_reproducer() {
        let applied = TxnOutcome::Applied(TxResult::Applied);
        let a = output(vec![applied.clone(), applied.clone(), applied.clone()]);
        let b = output(vec![applied.clone(), applied, TxnOutcome::DeltaOverflow]);
        assert_eq!(first_difference(&a, &Ok(a.clone())), None);
        assert_eq!(first_difference(&a, &Ok(b)), Some(Some(2)));
        let failed = Err(BlockError::TxnFailed {
            txn_idx: 1,
            message: "boom".into(),
        });
        assert_eq!(first_difference(&a, &failed), Some(Some(1)));

        let dir = std::env::temp_dir().join(format!("parex-shadow-{}", std::process::id()));
        let storage = MemoryStorage::new();
        let base = Snapshot::prefetch(&storage, &mut []).unwrap();
        let block = Block::new(3, Hash::ZERO, 0, PublicKey([1; 32]), Vec::new());
        let path = write_reproducer(&dir, &block, &base, Some(2), "test").unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(report["topoheight"], 3);
        assert_eq!(report["first_differing_txn"], 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
