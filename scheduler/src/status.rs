//! The life cycle of one transaction, and the word it is kept in.

use crate::Incarnation;

/// Where a transaction's current incarnation stands.
///
/// ```text
///   ReadyToExecute(i) ──try_incarnate──▶ Executing(i) ──finish_execution──▶ Executed(i)
///         ▲                                  │                                  │
///         │                         add_dependency                     try_validation_abort
///         │                                  ▼                                  ▼
///         └────────────── set_ready ─── Aborting(i) ◀───────────────────────────┘
///                        (i becomes i + 1)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// Waiting to be executed.
    ReadyToExecute,
    /// Taken by one worker, which is executing it.
    Executing,
    /// Executed; its writes are in the multi-version memory.
    Executed,
    /// Aborted by a failed validation, or suspended on a dependency: its
    /// next incarnation will be made ready.
    Aborting,
}

/// A transaction's incarnation, status and `DEPENDENTS` flag in one
/// `u64`, so that the scheduler reads them with one load and moves them
/// with one read-modify-write, with no lock:
///
/// ```text
///   bits 63..32: incarnation   bit 2: DEPENDENTS   bits 1..0: status
/// ```
///
/// `DEPENDENTS` is set whenever the dependents list is not empty (a
/// transaction was suspended on this one since it last finished
/// executing); it may stay set on an emptied list, which costs one needless
/// look at it. Every transition keeps it, except `finish_execution`, which
/// clears it and takes the list; so an `Executed` word never carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusWord(pub(crate) u64);

impl StatusWord {
    const STATUS: u64 = 0b11;
    pub(crate) const DEPENDENTS: u64 = 0b100;

    /// The word of `status` at `incarnation`, with no dependents.
    pub(crate) fn new(incarnation: Incarnation, status: TxnStatus) -> Self {
        let status = match status {
            TxnStatus::ReadyToExecute => 0,
            TxnStatus::Executing => 1,
            TxnStatus::Executed => 2,
            TxnStatus::Aborting => 3,
        };
        Self(u64::from(incarnation) << 32 | status)
    }

    pub(crate) fn incarnation(self) -> Incarnation {
        (self.0 >> 32) as Incarnation
    }

    pub(crate) fn status(self) -> TxnStatus {
        match self.0 & Self::STATUS {
            0 => TxnStatus::ReadyToExecute,
            1 => TxnStatus::Executing,
            2 => TxnStatus::Executed,
            _ => TxnStatus::Aborting,
        }
    }

    pub(crate) fn has_dependents(self) -> bool {
        self.0 & Self::DEPENDENTS != 0
    }

    /// The same word, with `DEPENDENTS` set.
    pub(crate) fn with_dependents(self) -> Self {
        Self(self.0 | Self::DEPENDENTS)
    }

    /// The next incarnation, ready to execute, keeping `DEPENDENTS`.
    pub(crate) fn next_incarnation(self) -> Self {
        Self(
            Self::new(self.incarnation() + 1, TxnStatus::ReadyToExecute).0
                | self.0 & Self::DEPENDENTS,
        )
    }

    /// The same incarnation and flag, at `status`.
    pub(crate) fn with_status(self, status: TxnStatus) -> Self {
        Self(self.0 & !Self::STATUS | Self::new(0, status).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_keeps_its_incarnation_status_and_flag_apart() {
        let statuses = [
            TxnStatus::ReadyToExecute,
            TxnStatus::Executing,
            TxnStatus::Executed,
            TxnStatus::Aborting,
        ];
        for incarnation in [0, 1, 7, Incarnation::MAX] {
            for status in statuses {
                let word = StatusWord::new(incarnation, status);
                assert_eq!((word.incarnation(), word.status()), (incarnation, status));
                assert!(!word.has_dependents());
                let flagged = word.with_dependents();
                for next in statuses {
                    let moved = flagged.with_status(next);
                    assert_eq!((moved.incarnation(), moved.status()), (incarnation, next));
                    assert!(moved.has_dependents());
                }
            }
        }
    }
}
