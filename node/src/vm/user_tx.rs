//! A user transaction: check every stateful rule first, then write.
//!
//! Nothing is written until every check passed, so an orphaned transaction
//! leaves no partial write behind (the engine publishes whatever a
//! transaction wrote, even when its output says it failed).

use parex_engine::{TxnView, VmError};

use super::chain_vm::VerifiedTx;
use super::{reads, OrphanReason, TxResult};
use crate::chain::constants::{burned_part, NATIVE_ASSET};
use crate::chain::{spent_per_asset, Payload};
use crate::crypto::Hash;
use crate::state::{MultiSigConfig, StateKey, StateValue};

/// Executes a verified user transaction.
pub fn execute<V: TxnView<StateKey, StateValue>>(
    verified: &VerifiedTx,
    view: &mut V,
) -> Result<TxResult, VmError> {
    match check(verified, view)? {
        Ok(debits) => {
            apply(verified, debits, view);
            Ok(TxResult::Applied)
        }
        Err(reason) => Ok(TxResult::Orphaned(reason)),
    }
}

/// What passing the checks yields: the sender's next nonce and its new
/// balance per spent asset.
struct Debits {
    next_nonce: u64,
    balances: Vec<(Hash, u64)>,
}

fn check<V: TxnView<StateKey, StateValue>>(
    verified: &VerifiedTx,
    view: &mut V,
) -> Result<Result<Debits, OrphanReason>, VmError> {
    let body = &verified.tx.body;
    let nonce = reads::nonce(view, &StateKey::Nonce(body.source))?;
    if nonce != body.nonce {
        return Ok(Err(OrphanReason::InvalidNonce {
            expected: nonce,
            got: body.nonce,
        }));
    }
    let Some(next_nonce) = nonce.checked_add(1) else {
        return Ok(Err(OrphanReason::Overflow));
    };
    let config = if verified.multisig_unset {
        None
    } else {
        reads::multisig(view, &StateKey::MultiSig(body.source))?
    };
    if let Some(config) = config {
        let approvals = config.approvals(&verified.cosigners);
        if approvals < usize::from(config.threshold) {
            return Ok(Err(OrphanReason::MultiSigThreshold {
                threshold: config.threshold,
                approvals,
            }));
        }
    }
    // Structure was verified before execution, so the sums fit; a failure
    // here is still an orphan, never a panic.
    let Ok(spent) = spent_per_asset(&verified.tx) else {
        return Ok(Err(OrphanReason::Overflow));
    };
    let mut balances = Vec::with_capacity(spent.len());
    for (asset, needed) in spent {
        // Genesis registers the native asset and nothing unregisters one:
        // reading it would only put one location that every transaction
        // reads into every read set.
        if asset != NATIVE_ASSET && view.read(&StateKey::Asset(asset))?.is_none() {
            return Ok(Err(OrphanReason::UnknownAsset(asset)));
        }
        let key = StateKey::Balance {
            account: body.source,
            asset,
        };
        let available = reads::amount(view, &key)?;
        let Some(remaining) = available.checked_sub(needed) else {
            return Ok(Err(OrphanReason::InsufficientBalance {
                asset,
                needed,
                available,
            }));
        };
        balances.push((asset, remaining));
    }
    Ok(Ok(Debits {
        next_nonce,
        balances,
    }))
}

/// Writes a checked transaction's effects. Everything another transaction
/// might also touch (receivers, burned totals, the gas fee) is a delta, so
/// that transfers to one account never conflict and are all credited.
fn apply<V: TxnView<StateKey, StateValue>>(verified: &VerifiedTx, debits: Debits, view: &mut V) {
    let body = &verified.tx.body;
    view.write(
        StateKey::Nonce(body.source),
        StateValue::Nonce(debits.next_nonce),
    );
    for (asset, balance) in debits.balances {
        let key = StateKey::Balance {
            account: body.source,
            asset,
        };
        view.write(key, StateValue::Amount(balance));
    }
    match &body.payload {
        Payload::Transfers(outputs) => {
            for output in outputs {
                let key = StateKey::Balance {
                    account: output.destination,
                    asset: output.asset,
                };
                view.add_delta(key, i128::from(output.amount));
            }
        }
        Payload::Burn { asset, amount } => {
            view.add_delta(StateKey::Burned(*asset), i128::from(*amount));
        }
        Payload::MultiSig {
            threshold,
            participants,
        } => {
            let config = MultiSigConfig {
                threshold: *threshold,
                participants: participants.clone(),
            };
            view.write(
                StateKey::MultiSig(body.source),
                StateValue::MultiSig(config),
            );
        }
    }
    let burned = burned_part(body.fee);
    view.add_delta(StateKey::Burned(NATIVE_ASSET), i128::from(burned));
    view.add_delta(StateKey::GasFee, i128::from(body.fee - burned));
}
