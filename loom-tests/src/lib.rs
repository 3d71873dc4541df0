//! Loom model-checking tests of Parex.
//!
//! `parex-scheduler`, `parex-mvmemory` and the engine's worker loop take
//! every atomic and lock from `parex-sync`, which maps them to loom's
//! model-checked types when compiled with `RUSTFLAGS="--cfg loom"`. The tests
//! in `tests/` therefore explore the interleavings of the real code:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target-loom \
//!     cargo test -p parex-loom-tests --release
//! ```
//!
//! Without `--cfg loom` this crate and its tests compile to nothing, so a
//! plain `cargo test --workspace` passes them trivially. See `docs/LOOM.md`
//! for the bounds, how to raise them, and the mutations the tests catch.
//!
//! This library holds what several test files share: `check`, which runs a
//! model under a preemption bound, and static blocks (`blocks`) of the
//! test kit's programmable VM (`parex-testkit`, shared with the engine's
//! tests) for the engine's worker loop.

#![deny(missing_docs)]

#[cfg(loom)]
pub mod blocks;

/// Runs `model` under loom, exploring every interleaving with at most
/// `preemption_bound` preemptions per execution (`None`: exhaustively).
///
/// A bounded model honours `LOOM_MAX_PREEMPTIONS`, so a bound can be raised
/// (or lowered) from the environment without editing the test; an exhaustive
/// model stays exhaustive. The other `LOOM_*` variables (`LOOM_MAX_BRANCHES`,
/// `LOOM_LOG`, `LOOM_CHECKPOINT_FILE`, ...) apply as loom documents them.
#[cfg(loom)]
pub fn check<F>(preemption_bound: Option<usize>, model: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    // `Builder::new` has read LOOM_MAX_PREEMPTIONS into `preemption_bound`.
    builder.preemption_bound =
        preemption_bound.map(|bound| builder.preemption_bound.unwrap_or(bound));
    builder.check(model);
}
