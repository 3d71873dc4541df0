//! Each known defect of the first TOS parallel attempt, as a test that runs
//! on both execution paths.

mod common;

use common::*;
use parex_engine::{Executor, SequentialExecutor, TxnOutcome};
use parex_node::blockchain::{ApplicableChainState, Blockchain, BlockchainError, ExecutionConfig};
use parex_node::chain::constants::{
    burned_part, BLOCK_REWARD, MIN_TX_FEE, NATIVE_ASSET, TX_VERSION,
};
use parex_node::chain::{Payload, TransferOutput, TxBody, TxError};
use parex_node::crypto::{Hash, KeyPair};
use parex_node::state::{StateKey, StateValue};
use parex_node::storage::{RocksStorage, Storage};
use parex_node::vm::{ChainTxn, ChainVm, TxResult, VerifiedTx};
use parex_node::workload::{devnet_genesis, DevAccounts, NATIVE_PER_ACCOUNT};

#[test]
fn two_transfers_to_one_account_are_both_credited() {
    for (name, config) in both() {
        let (mut chain, mut accounts) = chain(4, config);
        let txs = vec![
            transfer(&mut accounts, 0, 3, 100),
            transfer(&mut accounts, 1, 3, 250),
        ];
        apply(&mut chain, txs).unwrap();
        assert_eq!(
            balance(&chain, accounts.public_key(3), NATIVE_ASSET),
            NATIVE_PER_ACCOUNT + 350,
            "{name}"
        );
    }
}

#[test]
fn fees_are_deducted_burned_and_paid_to_the_miner() {
    for (name, config) in both() {
        let (mut chain, mut accounts) = chain(4, config);
        let txs = vec![
            transfer(&mut accounts, 0, 1, 100),
            transfer(&mut accounts, 2, 3, 100),
        ];
        let summary = apply(&mut chain, txs).unwrap();
        let sender = balance(&chain, accounts.public_key(0), NATIVE_ASSET);
        assert_eq!(sender, NATIVE_PER_ACCOUNT - 100 - MIN_TX_FEE, "{name}");
        let burned = burned_part(MIN_TX_FEE);
        let gas = 2 * (MIN_TX_FEE - burned);
        assert_eq!(summary.merge.gas_fee, gas, "{name}");
        assert_eq!(
            balance(&chain, miner().public_key(), NATIVE_ASSET),
            BLOCK_REWARD + gas,
            "{name}"
        );
        assert_eq!(
            state(&chain, StateKey::Burned(NATIVE_ASSET)),
            Some(StateValue::Amount(2 * burned)),
            "{name}"
        );
    }
}

/// Fees that would overflow the block's gas fee accumulator revert the
/// transaction that overflows it; nothing wraps or panics.
#[test]
fn gas_fee_accumulator_is_overflow_safe() {
    let accounts = DevAccounts::new(4, 1);
    let miner = miner().public_key();
    let mut base = std::collections::BTreeMap::new();
    base.insert(StateKey::Asset(NATIVE_ASSET), StateValue::Asset);
    let mut txns = vec![ChainTxn::Reward { miner, amount: 0 }];
    for from in 0..2 {
        let key = accounts.public_key(from);
        base.insert(
            StateKey::Balance {
                account: key,
                asset: NATIVE_ASSET,
            },
            StateValue::Amount(u64::MAX),
        );
        let body = TxBody {
            version: TX_VERSION,
            source: key,
            nonce: 0,
            fee: u64::MAX - 10,
            payload: Payload::Transfers(vec![output(accounts.public_key(3), 1)]),
        };
        txns.push(ChainTxn::User(VerifiedTx {
            tx: body.sign(accounts.key(from), &[]),
            cosigners: vec![],
            multisig_unset: false,
        }));
    }
    txns.push(ChainTxn::FeePayout { miner });
    let output = SequentialExecutor::new()
        .execute(&ChainVm, &txns, &base)
        .unwrap();
    assert_eq!(output.outcomes[1], TxnOutcome::Applied(TxResult::Applied));
    assert_eq!(output.outcomes[2], TxnOutcome::DeltaOverflow);
    let gas = (u64::MAX - 10) - burned_part(u64::MAX - 10);
    assert_eq!(
        output.outcomes[3],
        TxnOutcome::Applied(TxResult::FeePayout { amount: gas })
    );
}

#[test]
fn a_failed_transaction_leaks_no_partial_write() {
    for (name, config) in both() {
        let (mut chain, mut accounts) = chain(4, config);
        let (to1, to2) = (accounts.public_key(1), accounts.public_key(2));
        // The first output is fine; the second names an unknown asset.
        let outputs = vec![
            output(to1, 100),
            TransferOutput {
                asset: Hash([5; 32]),
                ..output(to2, 100)
            },
        ];
        let tx = body(&mut accounts, 0, Payload::Transfers(outputs)).sign(accounts.key(0), &[]);
        let summary = apply(&mut chain, vec![tx]).unwrap();
        assert_eq!(summary.orphaned(), 1, "{name}");
        assert_eq!(
            balance(&chain, to1, NATIVE_ASSET),
            NATIVE_PER_ACCOUNT,
            "{name}"
        );
        assert_eq!(
            balance(&chain, accounts.public_key(0), NATIVE_ASSET),
            NATIVE_PER_ACCOUNT,
            "{name}"
        );
        assert_eq!(nonce(&chain, accounts.public_key(0)), 0, "{name}");
        assert_eq!(summary.merge.gas_fee, 0, "{name}");
    }
}

/// A miner with no funds spends its reward in the block it mines: valid only
/// if the reward is applied before the transactions, on both paths.
#[test]
fn miner_reward_comes_first_on_both_paths() {
    let mut commitments = Vec::new();
    for (name, config) in both() {
        let (mut chain, accounts) = chain(4, config);
        let poor = KeyPair::from_seed([0x77; 32]);
        let body = TxBody {
            version: TX_VERSION,
            source: poor.public_key(),
            nonce: 0,
            fee: MIN_TX_FEE,
            payload: Payload::Transfers(vec![output(accounts.public_key(0), BLOCK_REWARD / 2)]),
        };
        let block = chain.build_block(poor.public_key(), 0, vec![body.sign(&poor, &[])]);
        let summary = chain.add_new_block(block).unwrap();
        assert_eq!(summary.orphaned(), 0, "{name}");
        commitments.push(summary.commitment);
    }
    assert_eq!(commitments[0], commitments[1]);
}

#[test]
fn commit_order_is_deterministic() {
    let mut results = Vec::new();
    for (_, config) in both() {
        let (mut chain, mut accounts) = chain(8, config);
        for _ in 0..3 {
            let txs = (0..8)
                .map(|i| transfer(&mut accounts, i, (i + 3) % 8, 10 + i as u64))
                .collect();
            apply(&mut chain, txs).unwrap();
        }
        let storage = chain.storage().read().unwrap();
        let writes: Vec<_> = [
            parex_node::state::StateKind::Balance,
            parex_node::state::StateKind::Nonce,
        ]
        .into_iter()
        .flat_map(|kind| storage.state_entries(kind).unwrap())
        .collect();
        results.push((chain.tip(), writes));
    }
    assert_eq!(results[0], results[1]);

    // The merge sorts whatever order the writes come in.
    let writes = vec![
        (
            StateKey::Nonce(KeyPair::from_seed([2; 32]).public_key()),
            StateValue::Nonce(1),
        ),
        (StateKey::GasFee, StateValue::Amount(3)),
        (
            StateKey::Nonce(KeyPair::from_seed([1; 32]).public_key()),
            StateValue::Nonce(1),
        ),
    ];
    let mut sorted = writes.clone();
    sorted.sort_by_key(|entry| entry.0);
    let state = ApplicableChainState::new(1, writes, |_| Ok(None)).unwrap();
    assert_eq!(state.writes(), sorted.as_slice());
}

#[test]
fn multisig_changes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = DevAccounts::new(4, 42);
    let participants = vec![accounts.public_key(1), accounts.public_key(2)];
    {
        let storage = RocksStorage::open_or_create(dir.path()).unwrap();
        let mut chain =
            Blockchain::create(storage, &devnet_genesis(&accounts), vec![], parallel()).unwrap();
        let setup = body(
            &mut accounts,
            0,
            Payload::MultiSig {
                threshold: 1,
                participants: participants.clone(),
            },
        )
        .sign(accounts.key(0), &[]);
        let block = chain.build_block(miner().public_key(), 0, vec![setup]);
        assert_eq!(chain.add_new_block(block).unwrap().orphaned(), 0);
    }
    let storage = RocksStorage::open(dir.path()).unwrap();
    let mut chain = Blockchain::open(storage, ExecutionConfig::default()).unwrap();
    assert_eq!(
        state(&chain, StateKey::MultiSig(accounts.public_key(0))),
        Some(StateValue::MultiSig(parex_node::state::MultiSigConfig {
            threshold: 1,
            participants
        }))
    );
    let unsigned = transfer(&mut accounts, 0, 3, 1);
    let block = chain.build_block(miner().public_key(), 0, vec![unsigned]);
    assert_eq!(chain.add_new_block(block).unwrap().orphaned(), 1);
}

#[test]
fn a_bad_signature_in_a_parallel_block_is_rejected() {
    let config = ExecutionConfig {
        min_txs_for_parallel: 20,
        ..parallel()
    };
    let (mut chain, mut accounts) = chain(30, config);
    assert!(chain.should_use_parallel_execution(25));
    let mut txs: Vec<_> = (0..25)
        .map(|i| transfer(&mut accounts, i, i + 1, 10))
        .collect();
    txs[17].body.nonce += 1;
    let tip = chain.tip();
    match apply(&mut chain, txs) {
        Err(BlockchainError::InvalidTx {
            index: 17,
            error: TxError::InvalidSignature,
            ..
        }) => {}
        other => panic!("expected transaction 17 to be refused, got {other:?}"),
    }
    assert_eq!(chain.tip(), tip);
    assert_eq!(nonce(&chain, accounts.public_key(0)), 0);
}
