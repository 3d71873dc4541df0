//! Random blocks of signed node transactions, valid and not, applied by the
//! sequential path and by Block-STM: every block's result (or error) and
//! the whole final state must be the same.
//!
//! The engine's own property tests (`engine/tests/equivalence.rs`) drive
//! a toy VM; these drive the chain's rules through `Blockchain`: nonces,
//! fees, balances of several assets, burns, multisig set-ups and the
//! co-signatures they then need, the gas fee and burned totals every
//! transaction adds to. A handful of accounts makes every block contend.
//! More cases: `PROPTEST_CASES=4000 cargo test --release -p parex-node
//! --test equivalence`.

mod common;

use common::*;
use parex_node::blockchain::{
    BlockSummary, Blockchain, BlockchainError, ExecutionConfig, ExecutionPath, ParallelStart,
};
use parex_node::chain::constants::{MIN_TX_FEE, NATIVE_ASSET, TX_VERSION};
use parex_node::chain::{Payload, Transaction, TransferOutput, TxBody};
use parex_node::crypto::{Hash, KeyPair, PublicKey};
use parex_node::state::{StateKey, StateKind, StateValue};
use parex_node::storage::{MemoryStorage, Storage};
use parex_node::workload::{user_assets, DevAccounts, NATIVE_PER_ACCOUNT};
use proptest::prelude::*;

/// Funded accounts: few, so that transactions share senders, receivers
/// and multisig participants.
const ACCOUNTS: usize = 5;

/// An asset a transaction names.
#[derive(Debug, Clone)]
enum Asset {
    Native,
    /// One of the devnet's registered user assets.
    User(usize),
    /// An asset no genesis registered.
    Unregistered,
}

/// An amount: small, or large enough that two of them overdraw an
/// account's native balance.
#[derive(Debug, Clone)]
enum Amount {
    Small(u64),
    Large,
}

/// What a transaction does. A destination is an offset from the sender
/// among the funded accounts and one outside genesis, so never the
/// sender itself.
#[derive(Debug, Clone)]
enum Act {
    Transfer(Vec<(usize, Asset, Amount)>),
    Burn(Asset, Amount),
    /// Participants, as distinct offsets from the sender among the funded
    /// accounts (threshold 0 when there are none: a removal), and how many
    /// of them the threshold asks for.
    MultiSig {
        participants: Vec<usize>,
        required: usize,
    },
}

/// Which nonce a transaction carries, against the one its sender should
/// use next as far as the generator knows.
#[derive(Debug, Clone)]
enum Nonce {
    Next,
    Stale,
    Ahead,
}

/// A fault that makes the whole block invalid, whichever path runs it:
/// rare, so that most blocks apply and their outcomes are compared.
#[derive(Debug, Clone)]
enum Fault {
    None,
    FeeBelowMinimum,
    SendsToItself,
    CosignsTwice,
    AmountsOverflow,
}

#[derive(Debug, Clone)]
struct TxSpec {
    source: usize,
    nonce: Nonce,
    /// Over the minimum fee.
    fee: u64,
    act: Act,
    /// Whether the sender's participants co-sign, as many as its
    /// configuration requires, when it has one.
    cosigned: bool,
    /// Distinct accounts that co-sign otherwise; the chain decides whether
    /// they count.
    cosigners: Vec<usize>,
    fault: Fault,
}

fn asset() -> impl Strategy<Value = Asset> {
    prop_oneof![
        8 => Just(Asset::Native),
        4 => (0..user_assets().len()).prop_map(Asset::User),
        1 => Just(Asset::Unregistered),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        12 => (1..=1_000u64).prop_map(Amount::Small),
        1 => Just(Amount::Large),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => prop::collection::vec((1..=ACCOUNTS, asset(), amount()), 1..=3).prop_map(Act::Transfer),
        2 => (asset(), amount()).prop_map(|(asset, amount)| Act::Burn(asset, amount)),
        1 => (prop::sample::subsequence((1..ACCOUNTS).collect::<Vec<_>>(), 0..=3), 1..=3usize)
            .prop_map(|(participants, required)| Act::MultiSig { participants, required }),
    ]
}

fn tx_spec() -> impl Strategy<Value = TxSpec> {
    (
        0..ACCOUNTS,
        prop_oneof![18 => Just(Nonce::Next), 1 => Just(Nonce::Stale), 1 => Just(Nonce::Ahead)],
        0..100u64,
        act(),
        prop::bool::weighted(0.8),
        prop::sample::subsequence((0..ACCOUNTS).collect::<Vec<_>>(), 0..=2),
        prop_oneof![
            400 => Just(Fault::None),
            1 => Just(Fault::FeeBelowMinimum),
            1 => Just(Fault::SendsToItself),
            1 => Just(Fault::CosignsTwice),
            1 => Just(Fault::AmountsOverflow),
        ],
    )
        .prop_map(
            |(source, nonce, fee, act, cosigned, cosigners, fault)| TxSpec {
                source,
                nonce,
                fee,
                act,
                cosigned,
                cosigners,
                fault,
            },
        )
}

/// The public key of account `index`; [`ACCOUNTS`] is the outsider.
fn key_of(accounts: &DevAccounts, index: usize) -> PublicKey {
    if index < ACCOUNTS {
        accounts.public_key(index)
    } else {
        KeyPair::from_seed([0x5E; 32]).public_key()
    }
}

fn asset_hash(asset: &Asset) -> Hash {
    match asset {
        Asset::Native => NATIVE_ASSET,
        Asset::User(index) => user_assets()[*index],
        Asset::Unregistered => Hash([0xEE; 32]),
    }
}

fn units(amount: &Amount) -> u64 {
    match amount {
        Amount::Small(units) => *units,
        Amount::Large => NATIVE_PER_ACCOUNT / 2 + 1,
    }
}

/// What the generator knows of each funded account: the nonce it should
/// use next and its multisig participants, as they will be if every
/// transaction so far applies.
#[derive(Default, Clone)]
struct Known {
    nonce: u64,
    /// The participants that must co-sign, `threshold` of them.
    cosigners: Vec<usize>,
}

/// Signs `spec`, taking its nonce and co-signers from `known`.
fn sign(accounts: &DevAccounts, known: &mut [Known], spec: &TxSpec) -> Transaction {
    let next = &mut known[spec.source].nonce;
    let nonce = match spec.nonce {
        Nonce::Next => {
            *next += 1;
            *next - 1
        }
        // Before the first, a nonce too far ahead instead.
        Nonce::Stale => next.checked_sub(1).unwrap_or(2),
        Nonce::Ahead => *next + 1,
    };
    // Account `offset` places after the sender, among the funded accounts
    // and the outsider (index `ACCOUNTS`).
    let after_source = |offset: usize| key_of(accounts, (spec.source + offset) % (ACCOUNTS + 1));
    let mut payload = match &spec.act {
        Act::Transfer(outputs) => Payload::Transfers(
            outputs
                .iter()
                .map(|(offset, asset, amount)| TransferOutput {
                    asset: asset_hash(asset),
                    amount: units(amount),
                    destination: after_source(*offset),
                    extra_data: None,
                })
                .collect(),
        ),
        Act::Burn(asset, amount) => Payload::Burn {
            asset: asset_hash(asset),
            amount: units(amount),
        },
        Act::MultiSig {
            participants,
            required,
        } => Payload::MultiSig {
            threshold: (*required).min(participants.len()) as u8,
            // Funded accounts other than the sender, each once.
            participants: participants
                .iter()
                .map(|offset| accounts.public_key((spec.source + offset) % ACCOUNTS))
                .collect(),
        },
    };
    let mut fee = MIN_TX_FEE + spec.fee;
    let required = &known[spec.source].cosigners;
    let mut cosigners: Vec<&KeyPair> = if spec.cosigned && !required.is_empty() {
        required
    } else {
        &spec.cosigners
    }
    .iter()
    .map(|index| accounts.key(*index))
    .collect();
    if let Payload::MultiSig {
        threshold,
        participants,
    } = &payload
    {
        known[spec.source].cosigners = participants_of(accounts, *threshold, participants);
    }
    let source = accounts.public_key(spec.source);
    match spec.fault {
        Fault::None => {}
        Fault::FeeBelowMinimum => fee = MIN_TX_FEE - 1,
        Fault::SendsToItself => payload = Payload::Transfers(vec![output(source, 1)]),
        Fault::CosignsTwice => cosigners = vec![accounts.key(0), accounts.key(0)],
        Fault::AmountsOverflow => {
            payload = Payload::Transfers(vec![
                output(after_source(1), u64::MAX),
                output(after_source(2), 1),
            ])
        }
    }
    let body = TxBody {
        version: TX_VERSION,
        source,
        nonce,
        fee,
        payload,
    };
    body.sign(accounts.key(spec.source), &cosigners)
}

/// The first `threshold` of `participants`, as account indices.
fn participants_of(
    accounts: &DevAccounts,
    threshold: u8,
    participants: &[PublicKey],
) -> Vec<usize> {
    participants
        .iter()
        .take(usize::from(threshold))
        .filter_map(|key| (0..ACCOUNTS).find(|index| accounts.public_key(*index) == *key))
        .collect()
}

/// Every block on Block-STM from its first transaction, on two workers.
fn block_stm() -> ExecutionConfig {
    ExecutionConfig {
        execution_threads: 2,
        parallel_start: ParallelStart::BlockStm,
        ..parallel()
    }
}

/// What a block's application shows on either path: the block, its
/// state commitment and every outcome, or the error that refused it.
fn effect(
    result: Result<BlockSummary, BlockchainError>,
) -> Result<(u64, Hash, Hash, String), String> {
    result
        .map(|summary| {
            (
                summary.topoheight,
                summary.hash,
                summary.commitment,
                format!("{:?}", summary.outcomes),
            )
        })
        .map_err(|error| error.to_string())
}

/// Every stored value, of every kind.
fn whole_state(chain: &Blockchain<MemoryStorage>) -> Vec<(StateKind, String)> {
    let storage = chain.storage().read().unwrap();
    StateKind::ALL
        .iter()
        .flat_map(|kind| {
            let entries = storage.state_entries(*kind).unwrap();
            entries
                .into_iter()
                .map(move |(key, value): (_, StateValue)| (*kind, format!("{key:?} = {value:?}")))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn block_stm_applies_random_node_blocks_as_the_sequential_path_does(
        blocks in prop::collection::vec(prop::collection::vec(tx_spec(), 0..40), 1..=3)
    ) {
        let (mut sequential_chain, accounts) = chain(ACCOUNTS, sequential());
        let (mut parallel_chain, _) = chain(ACCOUNTS, block_stm());
        let mut known = vec![Known::default(); ACCOUNTS];
        for specs in &blocks {
            let txs: Vec<_> = specs
                .iter()
                .map(|spec| sign(&accounts, &mut known, spec))
                .collect();
            let sequential = apply(&mut sequential_chain, txs.clone());
            let parallel = apply(&mut parallel_chain, txs);
            // Block-STM ran the block from its first transaction. (It may
            // hand the rest to the sequential executor under contention,
            // as it would on a node: then both ran part of it.)
            if let Ok(summary) = &parallel {
                if !summary.outcomes.is_empty() {
                    prop_assert_eq!(summary.path, ExecutionPath::Parallel);
                    prop_assert_eq!(summary.stats.parallel_from, Some(0));
                }
            }
            prop_assert_eq!(effect(sequential), effect(parallel));
            // What the generator knows follows the chain, so that the next
            // block's `Next` and co-signed transactions are valid again.
            for (index, known) in known.iter_mut().enumerate() {
                let account = accounts.public_key(index);
                known.nonce = nonce(&sequential_chain, account);
                known.cosigners = match state(&sequential_chain, StateKey::MultiSig(account)) {
                    Some(StateValue::MultiSig(config)) => {
                        participants_of(&accounts, config.threshold, &config.participants)
                    }
                    _ => Vec::new(),
                };
            }
        }
        prop_assert_eq!(whole_state(&sequential_chain), whole_state(&parallel_chain));
    }
}
