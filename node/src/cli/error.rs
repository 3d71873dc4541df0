//! What makes a command fail.

use crate::audit::SupplyError;
use crate::blockchain::BlockchainError;
use crate::config::ConfigError;
use crate::storage::StorageError;

/// A failed command; the binary prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The chain refused something.
    #[error(transparent)]
    Blockchain(#[from] BlockchainError),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The supply check could not run.
    #[error(transparent)]
    Supply(#[from] SupplyError),
    /// A bad argument value.
    #[error("{0}")]
    InvalidArgument(String),
    /// An invariant check failed.
    #[error("{0}")]
    CheckFailed(String),
    /// The command's output could not be written.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

impl CliError {
    /// Whether the output's reader went away (`parex status | head -1`):
    /// nothing is wrong with the command, and the binary ends quietly, as
    /// the Unix tools do, instead of reporting an error.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, Self::Output(error) if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
