//! The embedded RocksDB storage.

mod layout;
mod open;

use std::path::Path;

use rocksdb::{IteratorMode, WriteBatch, DB};

use self::layout::{pointer_cf, versioned_cf, versioned_key, BLOCKS, META, TIP_KEY, TRANSACTIONS};
use self::open::OpenMode;
use super::{BlockCommit, BlockRecord, ChainTip, Storage, StorageError};
use crate::codec::{Decode, Encode, Reader};
use crate::crypto::Hash;
use crate::state::{StateKey, StateKind, StateValue};

/// A node database in one directory.
pub struct RocksStorage {
    db: DB,
}

impl std::fmt::Debug for RocksStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RocksStorage({})", self.db.path().display())
    }
}

impl RocksStorage {
    /// Opens the database in `path`, creating it if the directory is empty
    /// or missing; refuses a directory that holds anything else.
    pub fn open_or_create(path: &Path) -> Result<Self, StorageError> {
        open::open_db(path, OpenMode::Create).map(|db| Self { db })
    }

    /// Opens the existing database in `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        open::open_db(path, OpenMode::Existing).map(|db| Self { db })
    }

    /// Opens the existing database in `path` for reading, as of now, even
    /// while another process writes it (a running devnet): its commits
    /// fail. What the `status`, `balance` and `verify` commands use.
    pub fn open_read_only(path: &Path) -> Result<Self, StorageError> {
        open::open_db(path, OpenMode::ReadOnly).map(|db| Self { db })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Corrupt(format!("missing column family {name}")))
    }

    fn decode<T: Decode>(what: impl Fn() -> String, bytes: &[u8]) -> Result<T, StorageError> {
        T::from_bytes(bytes).map_err(|error| StorageError::Decode {
            what: what(),
            error,
        })
    }

    fn pointer(&self, key: &StateKey, body: &[u8]) -> Result<Option<u64>, StorageError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.cf(&pointer_cf(key.kind()))?, body)?
        else {
            return Ok(None);
        };
        let array: [u8; 8] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| StorageError::Corrupt(format!("bad version pointer for {key:?}")))?;
        Ok(Some(u64::from_be_bytes(array)))
    }

    fn value_at(
        &self,
        key: &StateKey,
        body: &[u8],
        topoheight: u64,
    ) -> Result<StateValue, StorageError> {
        let cf = self.cf(&versioned_cf(key.kind()))?;
        let bytes = self
            .db
            .get_pinned_cf(cf, versioned_key(topoheight, body))?
            .ok_or_else(|| {
                StorageError::Corrupt(format!("{key:?} points to missing version {topoheight}"))
            })?;
        let value: StateValue = Self::decode(|| format!("{key:?}@{topoheight}"), &bytes)?;
        value.check_stored(key.kind()).map_err(|unfit| {
            StorageError::Corrupt(format!("{key:?}@{topoheight} holds {unfit}"))
        })?;
        Ok(value)
    }
}

impl Storage for RocksStorage {
    fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
        match self.db.get_cf(self.cf(META)?, TIP_KEY)? {
            None => Ok(None),
            Some(bytes) => Self::decode(|| "tip".into(), &bytes).map(Some),
        }
    }

    fn get_state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        let body = key.body_bytes();
        match self.pointer(key, &body)? {
            None => Ok(None),
            Some(topoheight) => self.value_at(key, &body, topoheight).map(Some),
        }
    }

    fn state_entries(&self, kind: StateKind) -> Result<Vec<(StateKey, StateValue)>, StorageError> {
        let mut entries = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(&pointer_cf(kind))?, IteratorMode::Start)
        {
            let (body, _) = item?;
            let mut reader = Reader::new(&body);
            let key = StateKey::decode_body(kind, &mut reader)
                .and_then(|key| reader.finish().map(|()| key))
                .map_err(|error| StorageError::Decode {
                    what: format!("{} key", kind.name()),
                    error,
                })?;
            if let Some(value) = self.get_state(&key)? {
                entries.push((key, value));
            }
        }
        // Encoded bodies sort like keys of one kind, but sorting again keeps
        // the promise independent of the encoding.
        entries.sort_by_key(|entry| entry.0);
        Ok(entries)
    }

    fn block(&self, topoheight: u64) -> Result<Option<BlockRecord>, StorageError> {
        match self.db.get_cf(self.cf(BLOCKS)?, topoheight.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => Self::decode(|| format!("block {topoheight}"), &bytes).map(Some),
        }
    }

    fn transaction(&self, hash: &Hash) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let Some(bytes) = self.db.get_cf(self.cf(TRANSACTIONS)?, hash.as_bytes())? else {
            return Ok(None);
        };
        let mut reader = Reader::new(&bytes);
        let topoheight = reader
            .u64("topoheight")
            .map_err(|error| StorageError::Decode {
                what: format!("transaction {hash}"),
                error,
            })?;
        Ok(Some((topoheight, bytes[8..].to_vec())))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(META)?, key)?)
    }

    fn commit(&mut self, commit: &BlockCommit) -> Result<(), StorageError> {
        let topoheight = commit.tip.topoheight;
        StorageError::check_next(self.tip()?.as_ref(), topoheight)?;
        // One batch holds the whole block, tip included: RocksDB applies a
        // batch atomically, so a crash leaves the previous block or this one.
        let mut batch = WriteBatch::default();
        for (key, value) in &commit.writes {
            let body = key.body_bytes();
            batch.put_cf(
                self.cf(&pointer_cf(key.kind()))?,
                &body,
                topoheight.to_be_bytes(),
            );
            batch.put_cf(
                self.cf(&versioned_cf(key.kind()))?,
                versioned_key(topoheight, &body),
                value.to_bytes(),
            );
        }
        let transactions = self.cf(TRANSACTIONS)?;
        for (hash, bytes) in &commit.transactions {
            batch.put_cf(
                transactions,
                hash.as_bytes(),
                versioned_key(topoheight, bytes),
            );
        }
        let record = BlockRecord {
            hash: commit.tip.hash,
            commitment: commit.tip.commitment,
            block_bytes: commit.block_bytes.clone(),
        };
        batch.put_cf(
            self.cf(BLOCKS)?,
            topoheight.to_be_bytes(),
            record.to_bytes(),
        );
        let meta = self.cf(META)?;
        for (key, value) in &commit.meta {
            batch.put_cf(meta, key, value);
        }
        batch.put_cf(meta, TIP_KEY, commit.tip.to_bytes());
        self.db.write(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::open::{open_db_tuned, Tuning};
    use super::*;

    /// The bytes of the write-ahead logs in `dir`. RocksDB deletes
    /// retired logs in the background, so a log listed may be gone when
    /// its size is asked: it counts as gone.
    fn log_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// The most bytes of logs while the second half of 128 blocks of 256
    /// KiB is written, a block every 2 ms (a devnet block takes 5 to 10),
    /// under `tuning` (zeros: RocksDB's own bounds). Flushes run in the
    /// background: a much faster writer runs ahead of them for a while.
    fn most_logs_writing_32_mib(tuning: Tuning) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = RocksStorage {
            db: open_db_tuned(dir.path(), OpenMode::Create, tuning).unwrap(),
        };
        let mut most = 0;
        for topoheight in 0..128u64 {
            storage
                .commit(&tagged_block(topoheight, 256 << 10))
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
            if topoheight >= 64 {
                most = most.max(log_bytes(dir.path()));
            }
        }
        most
    }

    /// The tip in `meta`, written by every block, never fills a memtable:
    /// without bounds, it keeps every log alive (all 32 MiB here, up to
    /// about 9 GiB in a node), and an opening replays them all. With them
    /// (1 MiB of logs, 2 MiB of memtables here), 2 to 3 MiB stay.
    #[test]
    fn write_ahead_logs_stay_within_their_bound() {
        let unbounded = most_logs_writing_32_mib(Tuning {
            max_total_wal_bytes: 0,
            write_buffer_bytes: 0,
        });
        let bounded = most_logs_writing_32_mib(Tuning {
            max_total_wal_bytes: 1 << 20,
            write_buffer_bytes: 2 << 20,
        });
        assert!(unbounded >= 24 << 20, "{unbounded}");
        assert!(bounded <= 12 << 20, "{bounded}");
    }

    /// A block of `block_bytes` of `tag`s at `topoheight`, its hash and
    /// commitment the tag too.
    fn tagged_block(topoheight: u64, block_bytes: usize) -> BlockCommit {
        let tag = topoheight as u8;
        BlockCommit {
            tip: ChainTip {
                topoheight,
                hash: Hash([tag; 32]),
                commitment: Hash([tag; 32]),
            },
            block_bytes: vec![tag; block_bytes],
            transactions: Vec::new(),
            writes: Vec::new(),
            meta: Vec::new(),
        }
    }

    /// Beside a writer that flushes about every 256 blocks (4 MiB of logs
    /// of 16 KiB blocks, a block every 2 ms or so), and so compacts every
    /// few flushes, every reader opens and sees whole blocks up to its
    /// tip. Without the manifest marks, a few of every hundred such
    /// openings failed on a deleted log or table ("No such file"), and
    /// some opened without a
    /// flushed log's writes ("no block 0 below tip 143"; "no format
    /// marker" with smaller logs).
    #[test]
    fn read_only_openings_beside_a_flushing_writer_see_one_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let tuning = Tuning {
            max_total_wal_bytes: 4 << 20,
            write_buffer_bytes: 4 << 20,
        };
        let mut storage = RocksStorage {
            db: open_db_tuned(&path, OpenMode::Create, tuning).unwrap(),
        };
        storage.commit(&tagged_block(0, 16 << 10)).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let mut topoheight = 1;
                // Bounded, should the readers stall.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && topoheight < 5000 {
                    storage.commit(&tagged_block(topoheight, 16 << 10)).unwrap();
                    topoheight += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                topoheight
            });
            let mut tips = Vec::new();
            for _ in 0..100 {
                let reader = RocksStorage::open_read_only(&path);
                let reader = reader.unwrap_or_else(|error| panic!("after {tips:?}: {error}"));
                let tip = reader.tip().unwrap().expect("a tip");
                for topoheight in [0, tip.topoheight / 2, tip.topoheight] {
                    let block = reader.block(topoheight).unwrap();
                    let block =
                        block.unwrap_or_else(|| panic!("no block {topoheight} below tip {tip:?}"));
                    assert_eq!(block.hash, Hash([topoheight as u8; 32]));
                    assert_eq!(block.block_bytes.len(), 16 << 10);
                }
                tips.push(tip.topoheight);
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let written = writer.join().unwrap();
            // The readers ran beside at least two of the writer's flushes.
            assert!(written > 2 * 256, "{written} blocks written");
            assert!(tips.windows(2).all(|pair| pair[0] <= pair[1]), "{tips:?}");
        });
    }

    /// Every opening for writing starts a new diagnostic log; no more than
    /// `INFO_LOGS_KEPT` of them stay.
    #[test]
    fn diagnostic_logs_stay_within_their_bound() {
        let dir = tempfile::tempdir().unwrap();
        let info_logs = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|entry| {
                    let name = entry.as_ref().unwrap().file_name();
                    name.to_string_lossy().starts_with("LOG")
                })
                .count()
        };
        for opening in 1..=2 * super::open::INFO_LOGS_KEPT {
            drop(RocksStorage::open_or_create(dir.path()).unwrap());
            assert_eq!(info_logs(), opening.min(super::open::INFO_LOGS_KEPT));
        }
    }
}
