//! Typed reads through the engine's view.

use parex_engine::{TxnView, VmError};

use crate::state::{MultiSigConfig, StateKey, StateValue};

/// The amount at `key`, 0 if absent.
pub fn amount<V: TxnView<StateKey, StateValue>>(
    view: &mut V,
    key: &StateKey,
) -> Result<u64, VmError> {
    match view.read(key)? {
        None => Ok(0),
        Some(StateValue::Amount(amount)) => Ok(amount),
        Some(other) => Err(type_error(key, &other)),
    }
}

/// The nonce at `key`, 0 if absent.
pub fn nonce<V: TxnView<StateKey, StateValue>>(
    view: &mut V,
    key: &StateKey,
) -> Result<u64, VmError> {
    match view.read(key)? {
        None => Ok(0),
        Some(StateValue::Nonce(nonce)) => Ok(nonce),
        Some(other) => Err(type_error(key, &other)),
    }
}

/// The multisig configuration at `key`, if one is active.
pub fn multisig<V: TxnView<StateKey, StateValue>>(
    view: &mut V,
    key: &StateKey,
) -> Result<Option<MultiSigConfig>, VmError> {
    match view.read(key)? {
        None => Ok(None),
        Some(StateValue::MultiSig(config)) => Ok(Some(config).filter(MultiSigConfig::is_active)),
        Some(other) => Err(type_error(key, &other)),
    }
}

/// A value of the wrong type means the stored state is corrupt: no block can
/// be applied on it.
fn type_error(key: &StateKey, value: &StateValue) -> VmError {
    VmError::Fatal(format!("corrupt state: {key:?} holds {value:?}"))
}
