//! The `parex` binary: crash safety and input errors.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{first_entry, raw_db};

fn parex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parex"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run parex")
}

/// `parex devnet --dir-path DIR ARGS…`.
fn devnet(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["devnet", "--dir-path", path(dir)];
    all.extend_from_slice(args);
    parex(&all)
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that `run` was refused, saying `needle` on stderr.
fn assert_refused(run: &Output, needle: &str) {
    assert!(!run.status.success(), "accepted: {}", stdout(run));
    assert!(stderr(run).contains(needle), "{}", stderr(run));
}

fn topoheight(dir: &Path) -> u64 {
    let status = parex(&["status", "--dir-path", path(dir)]);
    assert!(status.status.success(), "{}", stderr(&status));
    stdout(&status)
        .lines()
        .find_map(|line| line.strip_prefix("topoheight:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("status prints the topoheight")
}

/// A devnet killed mid-run restarts at a whole block, resumes, and its
/// stored chain replays to the same commitments; while it ran, `status`
/// read its chain and a second devnet was refused.
#[test]
fn a_killed_devnet_restarts_at_a_whole_block() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = path(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_parex"))
        .args([
            "devnet",
            "--dir-path",
            dir_path,
            "--blocks",
            "1000000",
            "--txs-per-block",
            "40",
        ])
        .args(["--accounts", "100", "--workload", "mixed"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // While it runs, readers read the chain and a second writer is refused.
    let running_at = topoheight(dir.path());
    assert_refused(
        &devnet(dir.path(), &["--blocks", "1"]),
        "is in use by another process",
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let killed_at = topoheight(dir.path());
    assert!(
        running_at > 0,
        "the devnet produced no block in 2.5 s, or a reader did not see it"
    );
    assert!(killed_at >= running_at);
    let resumed = devnet(dir.path(), &["--blocks", "3", "--txs-per-block", "40"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).contains("ok"));
    assert_eq!(topoheight(dir.path()), killed_at + 3);
    let verify = parex(&["verify", "--dir-path", dir_path]);
    assert!(
        verify.status.success(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    assert!(stdout(&verify).contains("all commitments match"));
    assert!(stdout(&verify).contains("transaction index match the replay"));
}

#[test]
fn devnet_prints_a_summary_and_balance_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = path(dir.path());
    let run = devnet(
        dir.path(),
        &["--blocks", "3", "--txs-per-block", "25", "--accounts", "10"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    for needle in [
        "blocks:",
        "txs:",
        "TPS:",
        "applying blocks alone:",
        "3 parallel",
        "supply",
    ] {
        assert!(out.contains(needle), "missing {needle} in {out}");
    }
    let key = parex_node::workload::DevAccounts::new(10, 0).public_key(1);
    let balance = parex(&[
        "balance",
        "--dir-path",
        dir_path,
        "--account",
        &key.to_address(),
    ]);
    assert!(balance.status.success(), "{}", stderr(&balance));
    assert!(stdout(&balance).contains("balance:"));

    // `verify` shows its progress (log lines when stderr is no terminal),
    // the last at the tip.
    let verify = Command::new(env!("CARGO_BIN_EXE_parex"))
        .args(["verify", "--dir-path", dir_path])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stdout(&verify).contains("all commitments match"));
    let last = stderr(&verify)
        .lines()
        .rfind(|line| line.contains("verify progress"))
        .map(str::to_owned);
    assert!(
        last.as_deref()
            .is_some_and(|line| line.contains("done=3 total=3 txs=75")),
        "{last:?}"
    );
}

/// The number that follows the first `label` in `text`.
fn number_after<T: std::str::FromStr>(text: &str, label: &str) -> T {
    text.split(label)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {text}"))
}

#[test]
fn the_devnet_says_how_its_blocks_ran_under_each_parallel_start() {
    let args = [
        "--blocks",
        "2",
        "--txs-per-block",
        "100",
        "--accounts",
        "50",
        "--execution-threads",
        "2",
        "--parallel-start",
    ];
    let dir = tempfile::tempdir().unwrap();
    let run = devnet(dir.path(), &[&args[..], &["block-stm"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    assert!(
        out.contains("block-stm:   2 of the parallel path's blocks")
            && out.contains("0 stayed sequential (--parallel-start block-stm)"),
        "{out}"
    );
    let tables: f64 = number_after(&out, "Block-STM's tables up to ");
    assert!(tables > 0.0, "{out}");
    // Under probe, node transfers usually stay sequential; either way the
    // summary names the policy and accounts for both blocks.
    let dir = tempfile::tempdir().unwrap();
    let run = devnet(dir.path(), &[&args[..], &["probe"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    let on_block_stm: u64 = number_after(&out, "block-stm:");
    let stayed: u64 = number_after(&out, "outgrowing the memory); ");
    assert_eq!(on_block_stm + stayed, 2, "{out}");
    assert!(
        out.contains("stayed sequential (--parallel-start probe)"),
        "{out}"
    );
    // A chain of transfers is halted as serial and finished sequentially,
    // and the summary says why.
    let dir = tempfile::tempdir().unwrap();
    let run = devnet(
        dir.path(),
        &[&args[..], &["block-stm", "--workload", "chain"]].concat(),
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    let contended: u64 = number_after(&out, "finished sequentially: ");
    assert!((1..=2).contains(&contended), "{out}");
    assert!(
        out.contains("under contention, 0 after a delta overflow, 0 outgrowing the memory"),
        "{out}"
    );
    // Blocks of the sequential path are none of the parallel path's.
    let dir = tempfile::tempdir().unwrap();
    let off = ["block-stm", "--parallel-execution-enabled", "false"];
    let run = devnet(dir.path(), &[&args[..], &off].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    assert!(
        out.contains("block-stm:   0 of the parallel path's blocks (0 after")
            && out.contains("; 0 stayed sequential"),
        "{out}"
    );
}

/// Output that cannot be written ends the command with an error, not a
/// panic; a reader that left (`parex status | head -1`) ends it quietly,
/// with the status of a process killed by SIGPIPE.
#[test]
fn unwritable_output_is_an_error_and_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let made = devnet(dir.path(), &["--blocks", "1", "--txs-per-block", "2"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let status = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parex"));
        command
            .args(["status", "--dir-path", path(dir.path())])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped());
        command
    };

    let full = status()
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(1), "{}", stderr(&full));
    assert_eq!(
        stderr(&full).trim(),
        "error: cannot write the output: No space left on device (os error 28)"
    );

    // The pipe's reader leaves before the command can have opened the
    // database; should the command ever write first, its lines fit in the
    // pipe and it succeeds: either way, no panic and nothing on stderr.
    let mut child = status().stdout(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert!(
        matches!(closed.status.code(), Some(141 | 0)),
        "{:?}: {}",
        closed.status,
        stderr(&closed)
    );
    assert_eq!(stderr(&closed), "");
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = path(dir.path());
    assert_refused(&devnet(dir.path(), &["--workload", "nope"]), "nope");
    assert_refused(
        &devnet(dir.path(), &["--execution-threads", "0"]),
        "execution_threads",
    );
    assert_refused(
        &devnet(dir.path(), &["--parallel-start", "always"]),
        "--parallel-start",
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );

    let config = dir.path().join("parex.toml");
    std::fs::write(&config, "min_txs_for_parallel = \"many\"").unwrap();
    assert_refused(
        &devnet(dir.path(), &["--config", path(&config)]),
        "invalid config file",
    );

    assert_refused(
        &devnet(dir.path(), &["--blocks", "1"]),
        "not a Parex node database",
    );

    let absent = dir.path().join("absent");
    assert_refused(
        &parex(&["status", "--dir-path", path(&absent)]),
        "no node database",
    );
    let bad_account = parex(&["balance", "--dir-path", dir_path, "--account", "parex1zz"]);
    assert!(!bad_account.status.success());
}

#[test]
fn bench_prints_one_json_row_per_workload_with_equal_outputs() {
    let output = parex(&[
        "bench",
        "--workload",
        "transfer,hot-fee,chain,node-transfer,node-chain",
        "--txs",
        "300",
        "--accounts",
        "50",
        "--threads",
        "2",
        "--runs",
        "1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let names: Vec<_> = rows
        .iter()
        .map(|row| row["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "transfer",
            "hot-fee",
            "chain",
            "node-transfer",
            "node-chain"
        ]
    );
    for row in &rows {
        for field in [
            "txs",
            "accounts",
            "threads",
            "seq_ms",
            "par_ms",
            "speedup",
            "auto_ms",
            "auto_speedup",
            "auto_switched",
            "reexec_per_tx",
            "ideal_speedup",
        ] {
            assert!(row[field].is_number(), "{field} in {row}");
        }
        assert_eq!(row["outputs_equal"], true, "{row}");
        assert_eq!(row["threads"], 2);
        // Block-STM ran every block of 300 from its first transaction.
        assert!(row["block_stm_mib"].as_f64().unwrap() > 0.0, "{row}");
    }
    // A chain allows no parallelism; independent transfers allow all.
    assert_eq!(rows[2]["ideal_speedup"], 1.0);
    assert_eq!(rows[0]["ideal_speedup"], 2.0);

    // The smallest block `--txs` allows, over the fewest accounts.
    let one = parex(&["bench", "--txs", "1", "--runs", "1", "--json"]);
    assert!(one.status.success(), "{}", stderr(&one));
}

#[test]
fn bench_refuses_bad_flags() {
    assert_refused(&parex(&["bench", "--workload", "nonsense"]), "nonsense");
    assert_refused(
        &parex(&["bench", "--threads", "0", "--txs", "10"]),
        "--threads",
    );
    // Sizes past memory would abort on an allocation, not explain.
    for (flag, value) in [
        ("--txs", "18446744073709551615"),
        ("--txs", "1000001"),
        ("--txs", "0"),
        ("--accounts", "18446744073709551615"),
        ("--accounts", "1000001"),
    ] {
        assert_refused(&parex(&["bench", flag, value, "--runs", "1"]), flag);
    }
}

/// Thread counts past the engine's maximum would overflow the worker
/// pool's allocation or spawn a thread per unit: refused, from a flag or
/// a file, before a database exists.
#[test]
fn thread_counts_past_the_maximum_are_refused_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    assert_refused(
        &devnet(&chain, &["--execution-threads", "18446744073709551615"]),
        "execution_threads",
    );
    let config = dir.path().join("parex.toml");
    std::fs::write(&config, "execution_threads = 9223372036854775807").unwrap();
    assert_refused(
        &devnet(&chain, &["--config", path(&config)]),
        "execution_threads",
    );
    // One past the maximum too, not only absurd counts.
    assert_refused(
        &devnet(&chain, &["--execution-threads", "1025"]),
        "execution_threads",
    );
    assert!(!chain.exists(), "a refused devnet created its database");
    for threads in ["4294967295", "1025"] {
        let verify = ["verify", "--dir-path", path(&chain)];
        let run = parex(&[&verify[..], &["--execution-threads", threads]].concat());
        assert_refused(&run, "--execution-threads");
    }
    for command in ["bench", "calibrate"] {
        for threads in ["18446744073709551615", "1025"] {
            assert_refused(
                &parex(&[command, "--threads", threads, "--runs", "1"]),
                "--threads",
            );
        }
    }
}

/// A block holds at most `MAX_BLOCK_TXS` transactions: more are refused
/// before any is generated, and before a database exists (a chain
/// workload of 18446744073709552 used to overflow its amounts).
#[test]
fn txs_per_block_past_a_block_is_refused_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let too_many = (parex_node::chain::constants::MAX_BLOCK_TXS + 1).to_string();
    for txs in [too_many.as_str(), "18446744073709552"] {
        let run = devnet(
            &chain,
            &[
                "--workload",
                "chain",
                "--accounts",
                "2",
                "--blocks",
                "1",
                "--txs-per-block",
                txs,
            ],
        );
        assert_refused(&run, "--txs-per-block");
    }
    assert!(!chain.exists(), "a refused devnet created its database");
}

/// Devnet metadata claiming more accounts than `--accounts` allows is
/// corrupt: refused (no panic), the chain left as it was.
#[test]
fn an_absurd_stored_account_count_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let created = devnet(
        dir.path(),
        &["--blocks", "1", "--txs-per-block", "5", "--accounts", "4"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    {
        let db = raw_db(dir.path());
        let meta = [0u64.to_be_bytes(), u64::MAX.to_be_bytes()].concat();
        db.put_cf(db.cf_handle("meta").unwrap(), "devnet", meta)
            .unwrap();
    }
    let resumed = devnet(dir.path(), &["--blocks", "1"]);
    assert_ne!(resumed.status.code(), Some(101), "{}", stderr(&resumed));
    assert_refused(&resumed, "bad devnet metadata");
    assert_eq!(topoheight(dir.path()), 1);
}

#[test]
fn bench_and_calibrate_refuse_runs_past_the_maximum() {
    for command in ["bench", "calibrate"] {
        for runs in ["10001", "18446744073709551615"] {
            let run = parex(&[command, "--threads", "1", "--runs", runs]);
            assert_refused(&run, "--runs");
        }
    }
}

/// `parex verify` names a stored location the blocks did not make, and
/// fails, though every commitment matches.
#[test]
fn verify_reports_a_lost_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let made = devnet(dir.path(), &["--blocks", "2", "--txs-per-block", "20"]);
    assert!(made.status.success(), "{}", stderr(&made));
    {
        let db = raw_db(dir.path());
        let nonces = db.cf_handle("nonces").unwrap();
        let (first, _) = first_entry(&db, "nonces", |_| false);
        db.delete_cf(nonces, first).unwrap();
    }
    let verify = parex(&["verify", "--dir-path", path(dir.path())]);
    assert!(!verify.status.success(), "{}", stdout(&verify));
    let (out, err) = (stdout(&verify), stderr(&verify));
    assert!(out.contains("STATE MISMATCH at Nonce("), "{out}");
    assert!(out.contains("stored None, replayed Some(Nonce("), "{out}");
    assert!(
        err.contains("0 commitment, 1 state and 0 index mismatches"),
        "{err}"
    );
}
