//! One failing case per chain rule.

mod common;

use common::*;
use parex_engine::{Executor, SequentialExecutor, TxnOutcome};
use parex_node::blockchain::BlockchainError;
use parex_node::chain::constants::{MAX_MULTISIG_PARTICIPANTS, MIN_TX_FEE, NATIVE_ASSET};
use parex_node::chain::{Payload, Transaction, TransferOutput, TxError};
use parex_node::codec::{Decode, DecodeError, Encode};
use parex_node::crypto::{Hash, KeyPair, PublicKey};
use parex_node::state::{StateKey, StateValue};
use parex_node::vm::{ChainTxn, ChainVm, OrphanReason, TxResult, VerifiedTx};
use parex_node::workload::{user_assets, DevAccounts, NATIVE_PER_ACCOUNT};

/// The single user transaction's outcome after applying `tx`.
fn outcome_of(
    tx: Transaction,
) -> (
    TxnOutcome<TxResult>,
    parex_node::blockchain::Blockchain<parex_node::storage::MemoryStorage>,
) {
    let (mut chain, _) = chain(4, sequential());
    let summary = apply(&mut chain, vec![tx]).expect("block is valid");
    (summary.outcomes[0].clone(), chain)
}

fn orphan_reason(outcome: &TxnOutcome<TxResult>) -> OrphanReason {
    match outcome {
        TxnOutcome::Applied(TxResult::Orphaned(reason)) => reason.clone(),
        other => panic!("expected an orphaned transaction, got {other:?}"),
    }
}

fn rejected(tx: Transaction) -> TxError {
    let (mut chain, _) = chain(4, sequential());
    let tip = chain.tip();
    match apply(&mut chain, vec![tx]) {
        Err(BlockchainError::InvalidTx {
            index: 0, error, ..
        }) => {
            assert_eq!(chain.tip(), tip, "a refused block changes nothing");
            error
        }
        other => panic!("expected an invalid transaction, got {other:?}"),
    }
}

fn accounts() -> DevAccounts {
    DevAccounts::new(4, 42)
}

#[test]
fn wrong_nonce_is_orphaned_and_changes_nothing() {
    let mut accounts = accounts();
    accounts.next_nonce(0);
    let tx = transfer(&mut accounts, 0, 1, 10);
    let (outcome, chain) = outcome_of(tx);
    assert_eq!(
        orphan_reason(&outcome),
        OrphanReason::InvalidNonce {
            expected: 0,
            got: 1
        }
    );
    assert_eq!(nonce(&chain, accounts.public_key(0)), 0);
    assert_eq!(
        balance(&chain, accounts.public_key(0), NATIVE_ASSET),
        NATIVE_PER_ACCOUNT
    );
    assert!(outcome
        .output()
        .unwrap()
        .to_string()
        .starts_with("orphaned: nonce"));
}

#[test]
fn consecutive_nonces_in_one_block_both_apply() {
    let (mut chain, mut accounts) = chain(4, sequential());
    let txs = vec![
        transfer(&mut accounts, 0, 1, 10),
        transfer(&mut accounts, 0, 2, 10),
    ];
    let summary = apply(&mut chain, txs).unwrap();
    assert_eq!(summary.orphaned(), 0);
    assert_eq!(nonce(&chain, accounts.public_key(0)), 2);
}

#[test]
fn insufficient_balance_is_orphaned() {
    let mut accounts = accounts();
    let tx = transfer(&mut accounts, 0, 1, NATIVE_PER_ACCOUNT);
    let (outcome, chain) = outcome_of(tx);
    assert_eq!(
        orphan_reason(&outcome),
        OrphanReason::InsufficientBalance {
            asset: NATIVE_ASSET,
            needed: NATIVE_PER_ACCOUNT + MIN_TX_FEE,
            available: NATIVE_PER_ACCOUNT,
        }
    );
    assert_eq!(
        balance(&chain, accounts.public_key(1), NATIVE_ASSET),
        NATIVE_PER_ACCOUNT
    );
}

#[test]
fn fee_below_minimum_is_rejected() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let mut body = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]));
    body.fee = MIN_TX_FEE - 1;
    let tx = body.sign(accounts.key(0), &[]);
    assert_eq!(
        rejected(tx),
        TxError::FeeTooLow {
            fee: MIN_TX_FEE - 1
        }
    );
}

#[test]
fn fee_not_covered_is_orphaned() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let mut body = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]));
    body.fee = NATIVE_PER_ACCOUNT;
    let tx = body.sign(accounts.key(0), &[]);
    let (outcome, _) = outcome_of(tx);
    assert!(matches!(
        orphan_reason(&outcome),
        OrphanReason::InsufficientBalance { .. }
    ));
}

#[test]
fn amount_overflow_is_rejected() {
    let mut accounts = accounts();
    let (to1, to2) = (accounts.public_key(1), accounts.public_key(2));
    let outputs = vec![output(to1, u64::MAX / 2 + 1), output(to2, u64::MAX / 2 + 1)];
    let tx = body(&mut accounts, 0, Payload::Transfers(outputs)).sign(accounts.key(0), &[]);
    assert_eq!(rejected(tx), TxError::AmountOverflow);
}

/// A credit that would overflow the receiver reverts the whole transaction,
/// on the engine's own terms.
#[test]
fn credit_overflow_reverts_the_transaction() {
    let mut accounts = accounts();
    let (from, to) = (accounts.public_key(0), accounts.public_key(1));
    let tx = transfer(&mut accounts, 0, 1, 10);
    let mut base = std::collections::BTreeMap::new();
    base.insert(StateKey::Asset(NATIVE_ASSET), StateValue::Asset);
    base.insert(
        StateKey::Balance {
            account: from,
            asset: NATIVE_ASSET,
        },
        StateValue::Amount(1_000_000),
    );
    base.insert(
        StateKey::Balance {
            account: to,
            asset: NATIVE_ASSET,
        },
        StateValue::Amount(u64::MAX - 1),
    );
    let txns = vec![ChainTxn::User(VerifiedTx {
        tx,
        cosigners: vec![],
        multisig_unset: false,
    })];
    let output = SequentialExecutor::new()
        .execute(&ChainVm, &txns, &base)
        .unwrap();
    assert_eq!(output.outcomes, vec![TxnOutcome::DeltaOverflow]);
    assert!(output.final_values.is_empty());
}

#[test]
fn sending_to_oneself_is_rejected() {
    let mut accounts = accounts();
    let tx = transfer(&mut accounts, 0, 0, 10);
    assert_eq!(rejected(tx), TxError::SelfTransfer(0));
}

#[test]
fn unknown_asset_is_orphaned() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let unknown = Hash([9; 32]);
    let out = TransferOutput {
        asset: unknown,
        ..output(to, 5)
    };
    let tx = body(&mut accounts, 0, Payload::Transfers(vec![out])).sign(accounts.key(0), &[]);
    let (outcome, _) = outcome_of(tx);
    assert_eq!(orphan_reason(&outcome), OrphanReason::UnknownAsset(unknown));
}

#[test]
fn zero_outputs_are_rejected() {
    let mut accounts = accounts();
    let tx = body(&mut accounts, 0, Payload::Transfers(vec![])).sign(accounts.key(0), &[]);
    assert_eq!(rejected(tx), TxError::NoOutputs);
}

#[test]
fn two_hundred_fifty_six_outputs_are_rejected() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let tx = body(
        &mut accounts,
        0,
        Payload::Transfers(vec![output(to, 1); 256]),
    )
    .sign(accounts.key(0), &[]);
    let bytes = tx.to_bytes();
    assert_eq!(rejected(tx), TxError::TooManyOutputs(256));
    assert!(matches!(
        Transaction::from_bytes(&bytes),
        Err(DecodeError::TooLong {
            len: 256,
            max: 255,
            ..
        })
    ));
}

#[test]
fn extra_data_over_one_kib_is_rejected() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let out = TransferOutput {
        extra_data: Some(vec![0; 1025]),
        ..output(to, 1)
    };
    let tx = body(&mut accounts, 0, Payload::Transfers(vec![out])).sign(accounts.key(0), &[]);
    let bytes = tx.to_bytes();
    assert_eq!(
        rejected(tx),
        TxError::ExtraDataTooLarge {
            index: 0,
            len: 1025
        }
    );
    assert!(matches!(
        Transaction::from_bytes(&bytes),
        Err(DecodeError::TooLong { .. })
    ));
}

#[test]
fn zero_amount_is_rejected() {
    let mut accounts = accounts();
    let tx = transfer(&mut accounts, 0, 1, 0);
    assert_eq!(rejected(tx), TxError::ZeroAmount(0));
}

fn multisig_payload(threshold: u8, participants: Vec<PublicKey>) -> Payload {
    Payload::MultiSig {
        threshold,
        participants,
    }
}

#[test]
fn multisig_threshold_above_participants_is_rejected() {
    let mut accounts = accounts();
    let p = vec![accounts.public_key(1)];
    let tx = body(&mut accounts, 0, multisig_payload(2, p)).sign(accounts.key(0), &[]);
    assert_eq!(
        rejected(tx),
        TxError::ThresholdTooHigh {
            threshold: 2,
            participants: 1
        }
    );
}

#[test]
fn multisig_zero_threshold_with_participants_is_rejected() {
    let mut accounts = accounts();
    let p = vec![accounts.public_key(1)];
    let tx = body(&mut accounts, 0, multisig_payload(0, p)).sign(accounts.key(0), &[]);
    assert_eq!(rejected(tx), TxError::ZeroThreshold);
}

#[test]
fn multisig_duplicate_or_self_participant_is_rejected() {
    let mut accounts = accounts();
    let p = vec![accounts.public_key(1), accounts.public_key(1)];
    let tx = body(&mut accounts, 0, multisig_payload(1, p)).sign(accounts.key(0), &[]);
    assert_eq!(
        rejected(tx),
        TxError::DuplicateParticipant(accounts.public_key(1))
    );
    let p = vec![accounts.public_key(0)];
    let tx = body(&mut accounts, 0, multisig_payload(1, p)).sign(accounts.key(0), &[]);
    assert_eq!(rejected(tx), TxError::SourceIsParticipant);
}

#[test]
fn multisig_requires_threshold_signatures_until_deleted() {
    for (name, config) in both() {
        let (mut chain, mut accounts) = chain(4, config);
        let p = vec![accounts.public_key(1), accounts.public_key(2)];
        let setup = body(&mut accounts, 0, multisig_payload(2, p)).sign(accounts.key(0), &[]);
        let summary = apply(&mut chain, vec![setup]).unwrap();
        assert_eq!(summary.orphaned(), 0, "{name}");

        // Missing co-signatures: one of two.
        let to = accounts.public_key(3);
        let one = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]))
            .sign(accounts.key(0), &[accounts.key(1)]);
        let summary = apply(&mut chain, vec![one]).unwrap();
        assert_eq!(
            orphan_reason(&summary.outcomes[0]),
            OrphanReason::MultiSigThreshold {
                threshold: 2,
                approvals: 1
            },
            "{name}"
        );
        // A valid signature by a non-participant does not count.
        let stranger = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]));
        let stranger = TxBodyExt::with_nonce(stranger, 1)
            .sign(accounts.key(0), &[accounts.key(1), accounts.key(3)]);
        let summary = apply(&mut chain, vec![stranger]).unwrap();
        assert!(
            summary.outcomes[0].output().unwrap().is_orphaned(),
            "{name}"
        );

        let both_signed = TxBodyExt::with_nonce(
            body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)])),
            1,
        )
        .sign(accounts.key(0), &[accounts.key(1), accounts.key(2)]);
        let summary = apply(&mut chain, vec![both_signed]).unwrap();
        assert_eq!(summary.orphaned(), 0, "{name}");

        // Deletion needs the co-signatures too, then none are needed.
        let delete = TxBodyExt::with_nonce(body(&mut accounts, 0, multisig_payload(0, vec![])), 2)
            .sign(accounts.key(0), &[accounts.key(1), accounts.key(2)]);
        let plain = TxBodyExt::with_nonce(
            body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)])),
            3,
        )
        .sign(accounts.key(0), &[]);
        let summary = apply(&mut chain, vec![delete, plain]).unwrap();
        assert_eq!(summary.orphaned(), 0, "{name}");
        assert_eq!(nonce(&chain, accounts.public_key(0)), 4, "{name}");
    }
}

/// Sets an explicit nonce (the helper's counter runs ahead when a test
/// expects orphans).
trait TxBodyExt {
    fn with_nonce(self, nonce: u64) -> Self;
}

impl TxBodyExt for parex_node::chain::TxBody {
    fn with_nonce(mut self, nonce: u64) -> Self {
        self.nonce = nonce;
        self
    }
}

#[test]
fn invalid_signature_is_rejected() {
    let mut accounts = accounts();
    let mut tx = transfer(&mut accounts, 0, 1, 10);
    tx.body.fee += 1;
    assert_eq!(rejected(tx), TxError::InvalidSignature);
    let other = transfer(&mut accounts, 1, 2, 10);
    let mut signed_by_other = transfer(&mut accounts, 0, 1, 10);
    signed_by_other.signature = other.signature;
    assert_eq!(rejected(signed_by_other), TxError::InvalidSignature);
}

#[test]
fn invalid_or_duplicate_cosignature_is_rejected() {
    let mut accounts = accounts();
    let to = accounts.public_key(1);
    let mut tx = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]))
        .sign(accounts.key(0), &[accounts.key(2), accounts.key(3)]);
    tx.multisig[1].signature = tx.multisig[0].signature;
    assert_eq!(
        rejected(tx.clone()),
        TxError::InvalidCosignature(accounts.public_key(3))
    );
    tx.multisig[1] = tx.multisig[0].clone();
    assert_eq!(
        rejected(tx),
        TxError::DuplicateCosigner(accounts.public_key(2))
    );
}

/// A co-signature count the decoder refuses (it allows as many as a
/// multisig configuration has participants) must be refused by the rules
/// too: a block holding it would be stored, and never read back.
#[test]
fn more_cosignatures_than_the_decoder_reads_are_rejected() {
    let mut accounts = accounts();
    let keys: Vec<KeyPair> = (0..=MAX_MULTISIG_PARTICIPANTS as u16)
        .map(|i| {
            let mut seed = [7; 32];
            seed[..2].copy_from_slice(&i.to_be_bytes());
            KeyPair::from_seed(seed)
        })
        .collect();
    let cosigners: Vec<&KeyPair> = keys.iter().collect();
    let to = accounts.public_key(1);
    let tx = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 5)]))
        .sign(accounts.key(0), &cosigners);
    let bytes = tx.to_bytes();
    assert_eq!(
        rejected(tx),
        TxError::TooManyCosignatures(MAX_MULTISIG_PARTICIPANTS + 1)
    );
    assert!(matches!(
        Transaction::from_bytes(&bytes),
        Err(DecodeError::TooLong {
            len: 256,
            max: 255,
            ..
        })
    ));
}

#[test]
fn burn_moves_balance_to_burned() {
    let (mut chain, mut accounts) = chain(4, sequential());
    let asset = user_assets()[0];
    let burn =
        body(&mut accounts, 0, Payload::Burn { asset, amount: 500 }).sign(accounts.key(0), &[]);
    let too_much = body(
        &mut accounts,
        0,
        Payload::Burn {
            asset,
            amount: u64::MAX - 1,
        },
    )
    .sign(accounts.key(0), &[]);
    let summary = apply(&mut chain, vec![burn, too_much]).unwrap();
    assert_eq!(summary.outcomes[0], TxnOutcome::Applied(TxResult::Applied));
    assert!(matches!(
        orphan_reason(&summary.outcomes[1]),
        OrphanReason::InsufficientBalance { .. }
    ));
    assert_eq!(
        state(&chain, StateKey::Burned(asset)),
        Some(StateValue::Amount(500))
    );
    let zero =
        body(&mut accounts, 1, Payload::Burn { asset, amount: 0 }).sign(accounts.key(1), &[]);
    assert_eq!(rejected(zero), TxError::ZeroAmount(0));
}

#[test]
fn malformed_bytes_are_refused_with_a_clear_error() {
    let mut accounts = accounts();
    let bytes = transfer(&mut accounts, 0, 1, 10).to_bytes();
    assert!(matches!(
        Transaction::from_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        Transaction::from_bytes(&trailing),
        Err(DecodeError::TrailingBytes(1))
    );
    let mut bad_tag = bytes.clone();
    bad_tag[1 + 32 + 8 + 8] = 7;
    assert!(matches!(
        Transaction::from_bytes(&bad_tag),
        Err(DecodeError::InvalidTag { tag: 7, .. })
    ));
    assert_eq!(Transaction::from_bytes(&bytes).unwrap().to_bytes(), bytes);
}

/// A base state that records the keys read from it.
struct Recording {
    state: std::collections::BTreeMap<StateKey, StateValue>,
    read: std::sync::Mutex<Vec<StateKey>>,
}

impl parex_engine::BaseStorage<StateKey, StateValue> for Recording {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, parex_engine::StorageError> {
        self.read.lock().unwrap().push(*key);
        Ok(self.state.get(key).cloned())
    }
}

#[test]
fn only_assets_other_than_the_native_one_are_looked_up() {
    // Genesis registers the native asset and nothing unregisters one, so a
    // transaction never reads its registration; another asset's is read.
    let mut accounts = accounts();
    let (from, to) = (accounts.public_key(0), accounts.public_key(1));
    let other = Hash([7; 32]);
    let mut state = std::collections::BTreeMap::new();
    state.insert(StateKey::Asset(NATIVE_ASSET), StateValue::Asset);
    state.insert(StateKey::Asset(other), StateValue::Asset);
    for asset in [NATIVE_ASSET, other] {
        let key = StateKey::Balance {
            account: from,
            asset,
        };
        state.insert(key, StateValue::Amount(1_000_000));
    }
    let base = Recording {
        state,
        read: std::sync::Mutex::new(Vec::new()),
    };
    let native = transfer(&mut accounts, 0, 1, 10);
    let foreign = TransferOutput {
        asset: other,
        ..output(to, 5)
    };
    let foreign =
        body(&mut accounts, 0, Payload::Transfers(vec![foreign])).sign(accounts.key(0), &[]);
    let txns: Vec<_> = [native, foreign]
        .into_iter()
        .map(|tx| {
            ChainTxn::User(VerifiedTx {
                tx,
                cosigners: vec![],
                multisig_unset: false,
            })
        })
        .collect();
    let output = SequentialExecutor::new()
        .execute(&ChainVm, &txns, &base)
        .unwrap();
    assert_eq!(
        output.outcomes,
        vec![TxnOutcome::Applied(TxResult::Applied); 2]
    );
    let read = base.read.lock().unwrap();
    assert!(!read.contains(&StateKey::Asset(NATIVE_ASSET)), "{read:?}");
    assert!(read.contains(&StateKey::Asset(other)), "{read:?}");
}

#[test]
fn a_multisig_set_up_earlier_in_the_block_binds_the_next_transaction() {
    // The source had no configuration before the block, but the block
    // sets one: its later transaction must be checked against it.
    for (name, config) in both() {
        let (mut chain, mut accounts) = chain(4, config);
        let p = vec![accounts.public_key(1), accounts.public_key(2)];
        let to = accounts.public_key(3);
        let setup = body(&mut accounts, 0, multisig_payload(2, p)).sign(accounts.key(0), &[]);
        let one = body(&mut accounts, 0, Payload::Transfers(vec![output(to, 1)]))
            .sign(accounts.key(0), &[accounts.key(1)]);
        let plain = transfer(&mut accounts, 1, 3, 5);
        let summary = apply(&mut chain, vec![setup, one, plain]).unwrap();
        assert!(
            !summary.outcomes[0].output().unwrap().is_orphaned(),
            "{name}"
        );
        assert_eq!(
            orphan_reason(&summary.outcomes[1]),
            OrphanReason::MultiSigThreshold {
                threshold: 2,
                approvals: 1
            },
            "{name}"
        );
        assert!(
            !summary.outcomes[2].output().unwrap().is_orphaned(),
            "{name}"
        );
    }
}
