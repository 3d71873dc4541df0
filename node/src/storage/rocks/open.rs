//! Opening a directory, and refusing one that is not ours.

use std::path::Path;
use std::time::Duration;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use super::layout::{all_column_families, FORMAT_KEY, FORMAT_VALUE, META};
use crate::storage::StorageError;

/// How a directory is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// For writing; an empty or missing directory gets a new database.
    Create,
    /// For writing an existing database.
    Existing,
    /// For reading an existing database, without its lock: beside the
    /// process that writes it, as of the moment it is opened (see
    /// [`ManifestMark`] for how a writer's flushes are kept out of it).
    ReadOnly,
}

/// Where a database's file list stands: the manifest `CURRENT` names, and
/// how long that manifest is.
///
/// A read-only opening reads the manifest, then the write-ahead logs and
/// tables it names. A writer that flushes meanwhile deletes the log it
/// flushed, and a compaction the tables it merged, right after appending
/// the change to the manifest: an opening caught in between fails ("No
/// such file"), or worse, replays neither the flushed log nor the new
/// table and opens without their writes (a hammer of openings beside a
/// fast writer saw both, the second as a database without its format
/// marker). Every such change appends to the manifest, or starts a new one
/// and rewrites `CURRENT`, before it deletes anything; so an opening
/// between two equal marks read no file that went, and saw one state of
/// the database.
#[derive(Debug, PartialEq, Eq)]
struct ManifestMark {
    current: Vec<u8>,
    manifest_len: u64,
}

impl ManifestMark {
    /// `None` where there is no readable manifest: not a database, or one
    /// whose manifest was just replaced.
    fn read(path: &Path) -> Option<Self> {
        let current = std::fs::read(path.join("CURRENT")).ok()?;
        let name = std::str::from_utf8(&current).ok()?.trim_end();
        let manifest_len = std::fs::metadata(path.join(name)).ok()?.len();
        Some(Self {
            current,
            manifest_len,
        })
    }
}

/// How many times a read-only opening starts over while the writer changes
/// the files under it, and the longest pause between two tries. A node's
/// writer flushes every few seconds at most (`Tuning::NODE`), so the second
/// try almost always succeeds; the bound is for a writer that never pauses.
const READ_ONLY_TRIES: u32 = 40;
const READ_ONLY_MAX_PAUSE: Duration = Duration::from_millis(64);

/// Whether RocksDB refused to open because another handle holds the
/// database's lock. RocksDB's error is a message: "While lock file: …"
/// from another process, "lock hold by current process" from this one.
fn is_lock_error(message: &str) -> bool {
    message.contains("While lock file") || message.contains("lock hold by current process")
}

/// Bounds on what RocksDB keeps before it flushes memtables to files.
///
/// A block writes a little to every column family, and most of them (the
/// tip in `meta`, supplies, the gas fee) never fill a memtable: without a
/// bound on the logs, every write-ahead log stays until RocksDB's own
/// bound (four times all memtables: about 9 GiB for our 18 column
/// families), and so does the memory of the memtables. A devnet of 3,000
/// blocks of 200 transactions kept 550 MB of logs, which every opening
/// replayed: `status` took 9.7 s, a resume 11.5 s.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Past this many bytes of write-ahead logs, the column families that
    /// keep the oldest alive are flushed, and it goes.
    pub max_total_wal_bytes: u64,
    /// Past this many bytes of memtables, over all column families, the
    /// largest is flushed.
    pub write_buffer_bytes: usize,
}

impl Tuning {
    /// The node's: memtables of 64 MiB in all, logs beyond the current one
    /// of 32 MiB, so that an opening replays about 100 MB at most.
    pub const NODE: Self = Self {
        max_total_wal_bytes: 32 << 20,
        write_buffer_bytes: 64 << 20,
    };
}

/// RocksDB's diagnostic logs (`LOG`, `LOG.old.*`) kept, the current one
/// included. Every opening for writing starts a new one: a node restarted
/// often would otherwise gather a thousand.
pub const INFO_LOGS_KEPT: usize = 8;

/// The size at which RocksDB starts a new diagnostic log; so at most
/// [`INFO_LOGS_KEPT`] times this much stays.
const INFO_LOG_MAX_BYTES: usize = 16 << 20;

/// Opens the database in `path`, as `mode` says.
pub fn open_db(path: &Path, mode: OpenMode) -> Result<DB, StorageError> {
    open_db_tuned(path, mode, Tuning::NODE)
}

/// [`open_db`] with bounds of its own (tests use small ones).
pub fn open_db_tuned(path: &Path, mode: OpenMode, tuning: Tuning) -> Result<DB, StorageError> {
    if mode != OpenMode::ReadOnly {
        // The writer holds the lock: nothing else changes its files.
        return open_once(path, mode, tuning);
    }
    let mut pause = Duration::from_millis(1);
    for tried in 1..=READ_ONLY_TRIES {
        let before = ManifestMark::read(path);
        let opened = open_once(path, mode, tuning);
        let after = ManifestMark::read(path);
        // Both `None`: no manifest to race with, so the checks' verdict
        // (missing, not a database) stands.
        if before == after {
            return opened;
        }
        tracing::debug!(
            path = %path.display(),
            tried,
            "the database changed while it was opened for reading; opening it again"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(READ_ONLY_MAX_PAUSE);
    }
    Err(StorageError::KeptChanging(path.to_owned()))
}

/// One try of [`open_db_tuned`].
fn open_once(path: &Path, mode: OpenMode, tuning: Tuning) -> Result<DB, StorageError> {
    let create = mode == OpenMode::Create;
    let io = |error| StorageError::Io {
        path: path.to_owned(),
        error,
    };
    let foreign = |reason: String| StorageError::Foreign {
        path: path.to_owned(),
        reason,
    };
    let fresh = match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
        Err(error) => return Err(io(error)),
    };
    if fresh && !create {
        return Err(StorageError::Missing(path.to_owned()));
    }
    // RocksDB would report a directory it cannot create as its own error,
    // with the OS error's debug form.
    if fresh {
        std::fs::create_dir_all(path).map_err(io)?;
    }
    // RocksDB would happily create its files among anything else's; only an
    // empty directory or an existing RocksDB one is opened.
    if !fresh && !path.join("CURRENT").exists() {
        return Err(foreign(
            "the directory is not empty and holds no database".into(),
        ));
    }
    if !fresh {
        let existing =
            DB::list_cf(&Options::default(), path).map_err(|error| damaged(path, error))?;
        let expected = all_column_families();
        if let Some(unknown) = existing
            .iter()
            .find(|name| *name != "default" && !expected.contains(name))
        {
            return Err(foreign(format!("unknown column family '{unknown}'")));
        }
        // Every Parex database is created with all of them.
        if let Some(missing) = expected.iter().find(|name| !existing.contains(name)) {
            return Err(foreign(format!("no column family '{missing}'")));
        }
    }
    let mut options = Options::default();
    options.create_if_missing(fresh);
    options.create_missing_column_families(fresh);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_max_total_wal_size(tuning.max_total_wal_bytes);
    options.set_db_write_buffer_size(tuning.write_buffer_bytes);
    // RocksDB's diagnostic log: every opening for writing starts a new
    // one, and RocksDB keeps a thousand old ones by default, each unbounded.
    options.set_keep_log_file_num(INFO_LOGS_KEPT);
    options.set_max_log_file_size(INFO_LOG_MAX_BYTES);
    let descriptors = all_column_families()
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    let opened = match mode {
        OpenMode::ReadOnly => DB::open_cf_descriptors_read_only(&options, path, descriptors, false),
        OpenMode::Create | OpenMode::Existing => {
            DB::open_cf_descriptors(&options, path, descriptors)
        }
    };
    let db = opened.map_err(|error| {
        if is_lock_error(error.as_ref()) {
            StorageError::InUse(path.to_owned())
        } else if fresh {
            StorageError::Database(error.into_string())
        } else {
            damaged(path, error)
        }
    })?;
    check_format(&db, fresh, path)?;
    Ok(db)
}

/// A RocksDB that RocksDB cannot open: damaged (a corrupt `CURRENT` or
/// manifest, a truncated table) or missing files (a table the manifest
/// names) is corrupt, whoever wrote it; anything else (a permission) is
/// RocksDB's own error. Calling a damaged chain "not a Parex node
/// database", as this once did, sends its owner looking elsewhere.
fn damaged(path: &Path, error: rocksdb::Error) -> StorageError {
    let missing_file = error.kind() == rocksdb::ErrorKind::IOError
        && error.as_ref().contains("No such file or directory");
    if error.kind() == rocksdb::ErrorKind::Corruption || missing_file {
        StorageError::Corrupt(format!(
            "{} cannot be opened: {}",
            path.display(),
            error.into_string()
        ))
    } else {
        StorageError::Database(error.into_string())
    }
}

fn check_format(db: &DB, fresh: bool, path: &Path) -> Result<(), StorageError> {
    let meta = db
        .cf_handle(META)
        .ok_or_else(|| StorageError::Corrupt("missing column family meta".into()))?;
    match db.get_cf(meta, FORMAT_KEY)? {
        Some(value) if value == FORMAT_VALUE => Ok(()),
        Some(value) => Err(StorageError::Foreign {
            path: path.to_owned(),
            reason: format!(
                "format marker is '{}', expected '{}'",
                String::from_utf8_lossy(&value),
                String::from_utf8_lossy(FORMAT_VALUE)
            ),
        }),
        None if fresh => {
            let mut write = rocksdb::WriteOptions::default();
            write.set_sync(true);
            db.put_cf_opt(meta, FORMAT_KEY, FORMAT_VALUE, &write)?;
            Ok(())
        }
        None => Err(StorageError::Foreign {
            path: path.to_owned(),
            reason: "no format marker".into(),
        }),
    }
}
