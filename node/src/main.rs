//! The `parex` binary.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

/// mimalloc keeps freed memory for reuse: what a block still allocates (the
/// sequential executor's write map, outputs, snapshots; megabytes for large
/// blocks) then costs fewer fresh page faults block after block, where
/// glibc's allocator returned it to the system (measured in
/// `docs/BENCHMARKS.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 128 + SIGPIPE.
const CLOSED_OUTPUT_STATUS: u8 = 141;

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // With PAREX_LOG_SPANS set, each span the filter lets through logs its
    // time when it closes: a block's phases, for instance.
    let span_times = if std::env::var_os("PAREX_LOG_SPANS").is_some() {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(span_times)
        .with_writer(std::io::stderr)
        .init();
    let cli = parex_node::cli::Cli::parse();
    match parex_node::cli::run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of the output left (`parex status | head -1`): end
        // quietly with the status of a process killed by SIGPIPE, as the
        // Unix tools do; the output was not all delivered.
        Err(error) if error.is_closed_output() => ExitCode::from(CLOSED_OUTPUT_STATUS),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
