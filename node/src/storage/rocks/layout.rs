//! Column families and key layouts.
//!
//! | column family        | key                      | value                       |
//! |----------------------|--------------------------|-----------------------------|
//! | `meta`               | name (utf-8)             | format marker, tip, genesis |
//! | `blocks`             | topoheight (u64 BE)      | hash ‖ commitment ‖ block   |
//! | `transactions`       | tx hash                  | topoheight ‖ tx bytes       |
//! | `<kind>`             | key body                 | topoheight of last version  |
//! | `versioned_<kind>`   | topoheight ‖ key body    | value                       |
//!
//! for each state kind (`balances`, `nonces`, `multisig`, `assets`, `supply`,
//! `burned`, `gas_fee`). Key bodies are `account‖asset` for balances, the
//! account or asset otherwise, empty for the gas fee. Big-endian topoheights
//! make each versioned family iterate in block order.

use crate::state::StateKind;

/// Metadata.
pub const META: &str = "meta";
/// Blocks by topoheight.
pub const BLOCKS: &str = "blocks";
/// Transactions by hash.
pub const TRANSACTIONS: &str = "transactions";

/// The format marker's key and value: a directory without it is refused.
pub const FORMAT_KEY: &str = "format";
/// This version of the layout.
pub const FORMAT_VALUE: &[u8] = b"parex-node-db/1";
/// The tip's key in `meta`.
pub const TIP_KEY: &str = "tip";

/// The pointer family of a kind.
pub fn pointer_cf(kind: StateKind) -> String {
    kind.name().to_owned()
}

/// The versioned family of a kind.
pub fn versioned_cf(kind: StateKind) -> String {
    format!("versioned_{}", kind.name())
}

/// Every column family.
pub fn all_column_families() -> Vec<String> {
    let mut names = vec![META.to_owned(), BLOCKS.to_owned(), TRANSACTIONS.to_owned()];
    for kind in StateKind::ALL {
        names.push(pointer_cf(kind));
        names.push(versioned_cf(kind));
    }
    names
}

/// `topoheight ‖ body`.
pub fn versioned_key(topoheight: u64, body: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + body.len());
    key.extend_from_slice(&topoheight.to_be_bytes());
    key.extend_from_slice(body);
    key
}
