//! The vocabulary shared by the multi-version memory, the scheduler and the
//! engine.

use std::fmt::Debug;
use std::hash::Hash;

/// A transaction's position in its block.
pub type TxnIndex = usize;

/// How many times a transaction was (re-)started: 0 for its first execution.
pub type Incarnation = u32;

/// A signed amount added to a numeric location by [`Value::apply_delta`].
pub type Delta = i128;

/// A state location. Blanket-implemented.
pub trait Key: Clone + Eq + Hash + Ord + Debug + Send + Sync + 'static {}

impl<T> Key for T where T: Clone + Eq + Hash + Ord + Debug + Send + Sync + 'static {}

/// A value stored at a location.
pub trait Value: Clone + Eq + Debug + Send + Sync + 'static {
    /// `current + delta`, where `current` is `None` for a location with no
    /// value; `None` if the result does not fit (an overflow or underflow) or
    /// the value is not numeric. The default supports no deltas at all.
    fn apply_delta(current: Option<&Self>, delta: Delta) -> Option<Self> {
        let _ = (current, delta);
        None
    }
}

macro_rules! numeric_value {
    ($($ty:ty),*) => {$(
        impl Value for $ty {
            fn apply_delta(current: Option<&Self>, delta: Delta) -> Option<Self> {
                let current = i128::try_from(current.copied().unwrap_or_default()).ok()?;
                <$ty>::try_from(current.checked_add(delta)?).ok()
            }
        }
    )*};
}

numeric_value!(u8, u16, u32, u64, i8, i16, i32, i64);

impl Value for u128 {
    fn apply_delta(current: Option<&Self>, delta: Delta) -> Option<Self> {
        let current = current.copied().unwrap_or_default();
        if delta >= 0 {
            current.checked_add(delta.unsigned_abs())
        } else {
            current.checked_sub(delta.unsigned_abs())
        }
    }
}

impl Value for i128 {
    fn apply_delta(current: Option<&Self>, delta: Delta) -> Option<Self> {
        current.copied().unwrap_or_default().checked_add(delta)
    }
}

impl Value for Vec<u8> {}
impl Value for String {}
