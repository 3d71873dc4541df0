//! Read-only commands: `parex balance` and `parex status`.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output};
use crate::blockchain::stored_genesis;
use crate::chain::constants::NATIVE_ASSET;
use crate::crypto::{Hash, PublicKey};
use crate::state::{StateKey, StateKind, StateValue};
use crate::storage::{RocksStorage, Storage};

/// `parex balance` flags.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// The chain's directory.
    #[arg(long, value_name = "DIR")]
    pub dir_path: PathBuf,
    /// The account: an address (parex1…) or a hex public key.
    #[arg(long)]
    pub account: PublicKey,
    /// The asset's hash [default: the native asset].
    #[arg(long)]
    pub asset: Option<Hash>,
}

/// `parex status` flags.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The chain's directory.
    #[arg(long, value_name = "DIR")]
    pub dir_path: PathBuf,
}

fn amount<S: Storage>(storage: &S, key: StateKey) -> Result<u64, CliError> {
    Ok(match storage.get_state(&key)? {
        Some(StateValue::Amount(amount)) => amount,
        _ => 0,
    })
}

/// Runs `parex balance`.
pub fn balance(args: BalanceArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    let storage = RocksStorage::open_read_only(&args.dir_path)?;
    let asset = args.asset.unwrap_or(NATIVE_ASSET);
    if storage.get_state(&StateKey::Asset(asset))?.is_none() {
        return Err(CliError::InvalidArgument(format!("unknown asset {asset}")));
    }
    let balance = amount(
        &storage,
        StateKey::Balance {
            account: args.account,
            asset,
        },
    )?;
    let nonce = match storage.get_state(&StateKey::Nonce(args.account))? {
        Some(StateValue::Nonce(nonce)) => nonce,
        _ => 0,
    };
    writeln!(out, "account: {}", args.account.to_address())?;
    writeln!(out, "asset:   {asset}")?;
    writeln!(out, "balance: {balance}")?;
    writeln!(out, "nonce:   {nonce}")?;
    Ok(())
}

/// Runs `parex status`.
pub fn status(args: StatusArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    let storage = RocksStorage::open_read_only(&args.dir_path)?;
    let tip = storage
        .tip()?
        .ok_or_else(|| CliError::InvalidArgument("the database holds no chain".into()))?;
    let genesis = stored_genesis(&storage)?;
    writeln!(out, "network:    {}", genesis.network)?;
    writeln!(out, "topoheight: {}", tip.topoheight)?;
    writeln!(out, "tip:        {}", tip.hash)?;
    writeln!(out, "commitment: {}", tip.commitment)?;
    for (key, _) in storage.state_entries(StateKind::Asset)? {
        if let StateKey::Asset(asset) = key {
            let supply = amount(&storage, StateKey::Supply(asset))?;
            let burned = amount(&storage, StateKey::Burned(asset))?;
            writeln!(out, "asset {asset}: supply {supply}, burned {burned}")?;
        }
    }
    Ok(())
}
