//! The chain state as the engine sees it: typed keys and values.

mod key;
mod value;

pub use key::{StateKey, StateKind};
pub use value::{MultiSigConfig, StateValue, UnfitValue};
