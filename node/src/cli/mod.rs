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

use std::fmt;
use std::io;

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

/// Where a command prints its results (the binary passes standard
/// output; progress and logs go to standard error). `write!` and
/// `writeln!` on it return a [`CliError`], so a failed write ends the
/// command with an error instead of a panic.
pub struct Output<'a>(&'a mut dyn io::Write);

impl<'a> Output<'a> {
    /// Results written to `writer`.
    pub fn new(writer: &'a mut dyn io::Write) -> Self {
        Self(writer)
    }

    /// What `write!` and `writeln!` call.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), CliError> {
        self.0.write_fmt(args).map_err(CliError::Output)
    }
}

/// Runs a parsed command line, printing its results to `out`.
pub fn run(cli: Cli, out: &mut dyn io::Write) -> Result<(), CliError> {
    let mut out = Output::new(out);
    match cli.command {
        Command::Devnet(args) => devnet::run(args, &mut out),
        Command::Verify(args) => verify::run(args, &mut out),
        Command::Balance(args) => query::balance(args, &mut out),
        Command::Status(args) => query::status(args, &mut out),
        Command::Bench(args) => bench::run(args, &mut out),
        Command::Calibrate(args) => bench::calibrate(args, &mut out),
    }?;
    out.0.flush().map_err(CliError::Output)
}
