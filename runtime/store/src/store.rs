//! Opening a data dir: lock, layout checks, schema, migrations, tree handles.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::artifacts::Artifacts;
use crate::audit::Audit;
use crate::history::OrderHistory;
use crate::journal::Journal;
use crate::lock::{DirLock, LOCK_FILE};
use crate::mark::{self, LiveMark, MARK_FILE, Mark};
use crate::modules::Modules;
use crate::portfolio::Portfolio;
use crate::risk::RiskConfig;
use crate::schema::{self, ENGINE, MIGRATIONS, SCHEMA_VERSION, SchemaRecord};
use crate::snapshots::Snapshots;

/// Sub-directory of the data dir that holds sled's files.
pub(crate) const SLED_DIR: &str = "sled";
/// Where a new store is built before it is renamed to [`SLED_DIR`].
const INIT_DIR: &str = "sled.init";
/// Entries tolerated in an otherwise empty data dir (ext4 volumes).
const IGNORED: &[&str] = &[LOCK_FILE, "lost+found"];

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Create the data dir and a new store when the dir is empty or missing.
    pub create: bool,
    /// sled's page cache size in bytes.
    pub cache_capacity: u64,
    /// sled's background flush interval. Durability never depends on it:
    /// [`Journal::commit`] flushes explicitly.
    pub flush_every_ms: Option<u64>,
    /// How many order ids [`Journal::next_order_id`] reserves per durable
    /// write of the high-water mark.
    pub order_id_block: u64,
    /// What a flush (and so [`Journal::commit`]) waits for.
    pub durability: Durability,
}

/// What "durable" means for a flush.
///
/// On Linux, sled 0.34's `flush` writes its log with `pwrite` followed by
/// `sync_file_range`, which neither flushes the disk's write cache nor
/// commits file metadata (sled issue #1452); its background thread calls
/// `fsync` only every `flush_every_ms`. A process crash loses nothing
/// either way (the page cache survives), power loss or a kernel crash can.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// sled's flush, then `fdatasync` of sled's data file: a commit survives
    /// power loss on a disk that honours cache flushes.
    #[default]
    Fsync,
    /// sled's flush only: survives a process crash, not power loss until the
    /// next background `fsync`. For tests and benchmarks.
    SledFlush,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            create: true,
            cache_capacity: 64 * 1024 * 1024,
            flush_every_ms: Some(500),
            order_id_block: 1024,
            durability: Durability::Fsync,
        }
    }
}

/// What every tree handle shares: the data dir (for messages) and the db.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) db: sled::Db,
    /// sled's data file, for `fdatasync` after a flush ([`Durability::Fsync`]).
    data_file: Option<fs::File>,
    /// The running witness (`MARK.live`), once the store is open.
    live_mark: Mutex<Option<LiveMark>>,
}

impl Shared {
    /// Opens (or creates) a named tree.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db
            .open_tree(name)
            .map_err(|e| StoreError::sled(&self.dir, format!("opening tree `{name}`"), e))
    }
    /// Makes everything written so far durable, as [`Durability`] says.
    pub(crate) fn flush(&self, what: &str) -> Result<usize, StoreError> {
        let bytes = self
            .db
            .flush()
            .map_err(|e| StoreError::sled(&self.dir, what, e))?;
        if let Some(file) = &self.data_file {
            file.sync_data().map_err(|e| StoreError::io(&self.dir, what, e))?;
        }
        Ok(bytes)
    }
    pub(crate) fn err(&self, what: impl Into<String>) -> impl FnOnce(sled::Error) -> StoreError + '_ {
        let what = what.into();
        move |e| StoreError::sled(&self.dir, what, e)
    }
    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::corrupt(&self.dir, reason)
    }
    /// Records durable progress in the running witness (see [`mark`]).
    pub(crate) fn advance_mark(&self, update: impl FnOnce(&mut Mark)) {
        if let Some(live) = self
            .live_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            live.advance(update);
        }
    }
}

/// The runtime's durable state in one data dir. See the crate docs for the
/// on-disk schema.
///
/// Dropping the store closes sled and then releases the lock.
#[derive(Debug)]
pub struct Store {
    schema: SchemaRecord,
    shared: Arc<Shared>,
    modules: Modules,
    artifacts: Artifacts,
    snapshots: Snapshots,
    risk: RiskConfig,
    portfolio: Portfolio,
    history: OrderHistory,
    audit: Audit,
    journal: Journal,
    closed: bool,
    // Last: dropped after every sled handle above.
    _lock: DirLock,
}

impl Store {
    /// Opens the store in `dir`, creating it if `dir` is empty or missing
    /// (and `options.create`). Refuses, without changing anything, a dir held
    /// by another process, a non-store, a newer schema or corrupt data.
    pub fn open(dir: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            if !options.create {
                return Err(StoreError::Missing { dir });
            }
            crate::perms::create_dir_all(&dir)
                .map_err(|e| StoreError::io(&dir, "creating the data dir", e))?;
        }
        let lock = DirLock::acquire(&dir, SAME_PROCESS_WAIT)?;
        let sled_dir = dir.join(SLED_DIR);
        if !sled_dir.exists() {
            if dir.join(MARK_FILE).exists() {
                return Err(StoreError::corrupt(
                    &dir,
                    format!("{} exists but {} is missing", MARK_FILE, sled_dir.display()),
                ));
            }
            if !options.create {
                return Err(StoreError::NotAStore {
                    dir,
                    reason: format!("no `{SLED_DIR}` directory and creation is off"),
                });
            }
            create(&dir, options)?;
        }
        check_sled_files(&dir, &sled_dir)?;
        let db = open_sled(&dir, &sled_dir, options)?;
        let shared = Arc::new(Shared {
            data_file: data_file(&dir, &sled_dir, options.durability)?,
            dir: dir.clone(),
            db,
            live_mark: Mutex::new(None),
        });
        let meta = shared.tree("meta")?;
        let Some(found) = schema::read(&dir, &meta)? else {
            return Err(StoreError::NotAStore {
                dir,
                reason: "sled database without a `meta/schema` record".into(),
            });
        };
        let schema = schema::check_and_migrate(&dir, &shared.db, &meta, found, SCHEMA_VERSION, MIGRATIONS)?;
        tracing::info!(dir = %dir.display(), schema = schema.schema_version, "store opened");
        let journal = Journal::open(shared.clone(), meta, options.order_id_block)?;
        let audit = Audit::open(shared.clone())?;
        let reached = current_mark(&journal, &audit);
        // The closing mark and the running witness: whichever got further.
        let previous = match (mark::read(&dir)?, mark::read_live(&dir)?) {
            (Some(closed), Some(live)) => Some(closed.max(live)),
            (closed, live) => closed.or(live),
        };
        if let Some(previous) = previous {
            mark::check(&dir, &previous, &reached)?;
        }
        shared.flush("flushing at open")?;
        mark::write(&dir, &reached)?;
        *shared
            .live_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(LiveMark::start(&dir, reached)?);
        crate::perms::tighten(&dir);
        Ok(Store {
            schema,
            modules: Modules::open(shared.clone())?,
            artifacts: Artifacts::open(shared.clone())?,
            snapshots: Snapshots::open(shared.clone())?,
            risk: RiskConfig::open(shared.clone())?,
            portfolio: Portfolio::open(shared.clone())?,
            history: OrderHistory::open(shared.clone())?,
            audit,
            journal,
            closed: false,
            shared,
            _lock: lock,
        })
    }

    /// Flushes, records the data dir mark and closes the store. Dropping
    /// the store does the same but can only log a failure.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.closed = true;
        self.checkpoint()
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        self.flush()?;
        mark::write(&self.shared.dir, &current_mark(&self.journal, &self.audit))
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
    /// The schema record (after any migration).
    pub fn schema(&self) -> &SchemaRecord {
        &self.schema
    }
    /// Strategy and indicator modules, their versions and module bytes.
    pub fn modules(&self) -> &Modules {
        &self.modules
    }
    /// Precompiled artifacts by (content hash, engine fingerprint).
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }
    /// Guest snapshots by strategy id and version.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }
    /// The risk configuration and its change log.
    pub fn risk(&self) -> &RiskConfig {
        &self.risk
    }
    /// Positions and account snapshots.
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }
    /// Finished orders that left the runtime's memory.
    pub fn history(&self) -> &OrderHistory {
        &self.history
    }
    /// The audit trail of module operations.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }
    /// The write-ahead order journal and the order id counter.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }
    /// Makes every write so far durable (one fsync); returns bytes flushed.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.shared.flush("flushing the store")
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.closed
            && let Err(e) = self.checkpoint()
        {
            tracing::warn!(dir = %self.shared.dir.display(), error = %e, "closing the store without a final mark");
        }
    }
}

fn current_mark(journal: &Journal, audit: &Audit) -> Mark {
    Mark {
        journal_seq: journal.last_seq().map_or(0, |s| s.0),
        order_id_hwm: journal.order_id_hwm(),
        audit_seq: audit.last_seq(),
    }
}

/// Builds a new store in `<dir>/sled.init`, then renames it into place, so a
/// crash during creation never leaves a half-made store that looks real.
fn create(dir: &Path, options: &StoreOptions) -> Result<(), StoreError> {
    let init = dir.join(INIT_DIR);
    if init.exists() {
        tracing::warn!(dir = %dir.display(), "removing an unfinished store creation");
        fs::remove_dir_all(&init)
            .map_err(|e| StoreError::io(dir, format!("removing {}", init.display()), e))?;
    }
    let others = fs::read_dir(dir)
        .map_err(|e| StoreError::io(dir, "listing the data dir", e))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !IGNORED.contains(&name.as_str()))
        .collect::<Vec<_>>();
    if !others.is_empty() {
        return Err(StoreError::NotAStore {
            dir: dir.to_path_buf(),
            reason: format!("it is not empty (found {})", others.join(", ")),
        });
    }
    {
        let db = open_sled(dir, &init, options)?;
        let meta = db
            .open_tree("meta")
            .map_err(|e| StoreError::sled(dir, "creating tree `meta`", e))?;
        schema::write(
            dir,
            &meta,
            &SchemaRecord {
                schema_version: SCHEMA_VERSION,
                created: wall_clock(),
                engine: ENGINE.to_string(),
            },
        )?;
        db.flush()
            .map_err(|e| StoreError::sled(dir, "flushing a new store", e))?;
    }
    fs::rename(&init, dir.join(SLED_DIR))
        .map_err(|e| StoreError::io(dir, "moving the new store into place", e))?;
    sync_dir(dir)?;
    tracing::info!(dir = %dir.display(), schema = SCHEMA_VERSION, "created a new store");
    Ok(())
}

/// sled's data file, kept open for `fdatasync` after each flush.
fn data_file(dir: &Path, sled_dir: &Path, durability: Durability) -> Result<Option<fs::File>, StoreError> {
    match durability {
        Durability::Fsync => fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(sled_dir.join("db"))
            .map(Some)
            .map_err(|e| StoreError::io(dir, "opening sled's data file for fdatasync", e)),
        Durability::SledFlush => Ok(None),
    }
}

/// A store whose sled files vanished must not be reopened as a new, empty one.
fn check_sled_files(dir: &Path, sled_dir: &Path) -> Result<(), StoreError> {
    for file in ["conf", "db"] {
        if !sled_dir.join(file).is_file() {
            return Err(StoreError::corrupt(
                dir,
                format!(
                    "{} is missing (sled would silently start empty)",
                    sled_dir.join(file).display()
                ),
            ));
        }
    }
    Ok(())
}

/// Opens sled, mapping every failure (and any panic on malformed files)
/// to a [`StoreError`]; anything but I/O at open time is corruption.
/// How long opening waits for locks this process itself still holds
/// through a just-dropped store's background threads (a busy 2-core CI
/// machine has taken over a second to let go).
const SAME_PROCESS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether sled refused to open because its file lock is held.
fn sled_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

fn open_sled(dir: &Path, path: &Path, options: &StoreOptions) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(options.cache_capacity)
        .flush_every_ms(options.flush_every_ms);
    // We hold the data dir's LOCK, so no other process has this store open.
    // sled's own file lock can still be held for a moment by the background
    // flusher of a handle this process just dropped (a store closed and
    // reopened in one process: tests, an in-process restart): wait for it,
    // up to SAME_PROCESS_WAIT.
    let mut opened = catch_unwind(AssertUnwindSafe(|| config.open()));
    for _ in 0..SAME_PROCESS_WAIT.as_millis() / 50 {
        match &opened {
            Ok(Err(sled::Error::Io(e))) if sled_lock_held(e) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                opened = catch_unwind(AssertUnwindSafe(|| config.open()));
            }
            _ => break,
        }
    }
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if sled_lock_held(&e) => Err(StoreError::Locked {
            dir: dir.to_path_buf(),
            holder_pid: None,
        }),
        Ok(Err(sled::Error::Io(e))) => Err(StoreError::io(dir, format!("opening {}", path.display()), e)),
        Ok(Err(e)) => Err(StoreError::corrupt(
            dir,
            format!("sled cannot open {}: {e}", path.display()),
        )),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(StoreError::corrupt(
                dir,
                format!("sled panicked opening {}: {msg}", path.display()),
            ))
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(dir, "syncing the data dir", e))
}

#[allow(
    clippy::disallowed_methods,
    reason = "the creation time in the schema record is operator metadata, never on a trading path"
)]
fn wall_clock() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Timestamp::from_nanos(nanos)
}
