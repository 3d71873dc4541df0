//! The `parex` command line. Each subcommand lives in a file of its own,
//! or shares one with its close relative (`bench` and `calibrate` in
//! `bench.rs`, `balance` and `status` in `query.rs`); add one by adding a
//! variant to [`Command`] and an arm to [`run`].

mod bench;
mod devnet;
mod error;
mod exec_args;
mod progress;
mod query;
mod verify;

use clap::{Parser, Subcommand};

/// What a flag naming worker threads takes: 1 to the engine's
/// [`MAX_THREADS`](parex_engine::MAX_THREADS), refused while the command
/// line is parsed.
pub(crate) fn threads_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=parex_engine::MAX_THREADS as u64)
}

pub use bench::{BenchArgs, BenchWorkload, CalibrateArgs};
pub use devnet::DevnetArgs;
pub use error::CliError;
pub use exec_args::ExecArgs;
pub use query::{BalanceArgs, StatusArgs};
pub use verify::VerifyArgs;

/// Parex reference node.
#[derive(Debug, Parser)]
#[command(name = "parex", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or resume a local chain and produce blocks of generated
    /// transactions.
    Devnet(DevnetArgs),
    /// Replay a stored chain from genesis, sequentially and in parallel, and
    /// check every block's state commitment.
    Verify(VerifyArgs),
    /// Show an account's balance.
    Balance(BalanceArgs),
    /// Show the chain's tip and asset supplies.
    Status(StatusArgs),
    /// Compare sequential and parallel execution side by side, on synthetic
    /// and node blocks, and print the speedups.
    Bench(BenchArgs),
    /// Measure where parallel execution starts paying on this machine and
    /// recommend `min_txs_for_parallel`.
    Calibrate(CalibrateArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Devnet(args) => devnet::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Balance(args) => query::balance(args),
        Command::Status(args) => query::status(args),
        Command::Bench(args) => bench::run(args),
        Command::Calibrate(args) => bench::calibrate(args),
    }
}
