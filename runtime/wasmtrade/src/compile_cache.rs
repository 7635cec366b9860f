//! The compiled-guest cache of `wasmtrade backtest`: a second run of the
//! same guest loads its native code instead of compiling it again (compiling
//! is most of a short backtest's wall time).
//!
//! - **Key**: the guest kind, the sha256 of the component's bytes and the
//!   engine's fingerprint (wasmtime version, target, and the codegen
//!   settings such as fuel), so an artifact is only ever loaded into an
//!   engine that would have produced it.
//! - **Where**: `$WASMTRADE_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmtrade/compiled`,
//!   else `$HOME/.cache/wasmtrade/compiled`; `--no-cache` turns it off.
//! - **Safe to share** between concurrent runs: an entry is written to a
//!   temporary file and renamed into place; it carries the sha256 of its
//!   own bytes, checked before use (a torn or damaged entry is removed and
//!   the guest compiled again); entries and the directory must not be
//!   writable by group or others and must have one owner, since an entry is
//!   native code (an unsafe one is never loaded, and the run says so).
//! - **Bounded**: after a write, the least recently used entries are removed
//!   until the directory holds at most `$WASMTRADE_CACHE_MAX_BYTES` (default
//!   1 GiB).
//!
//! A cache problem never fails a backtest: it is reported on stderr and the
//! guest is compiled as without a cache.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtrade_host::{GuestEngine, HostError, IndicatorModule, PolicyModule, StrategyModule};

/// Default bound of the cache directory's size.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
const SUFFIX: &str = ".cwasm";

/// How a guest's compiled code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// No cache (`--no-cache`, or no usable directory).
    Off,
    /// Loaded from the cache.
    Hit,
    /// Compiled, and stored for the next run.
    Miss,
}

impl CacheUse {
    /// The label in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Off => "off",
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
        }
    }

    /// The combined use of several guests: a hit only if every one hit.
    pub fn and(self, other: CacheUse) -> CacheUse {
        match (self, other) {
            (CacheUse::Off, x) | (x, CacheUse::Off) => x,
            (CacheUse::Hit, CacheUse::Hit) => CacheUse::Hit,
            _ => CacheUse::Miss,
        }
    }
}

/// A guest kind the cache can hold.
pub trait Cacheable: Sized {
    /// The kind in entry names (an artifact of one kind is never loaded as another).
    const KIND: &'static str;
    /// Validates and compiles.
    fn compile(host: &GuestEngine, bytes: &[u8]) -> Result<Self, HostError>;
    /// Loads a cache entry's artifact.
    fn from_artifact(host: &GuestEngine, artifact: &[u8]) -> Result<Self, HostError>;
    /// The artifact to store.
    fn artifact(&self) -> Result<Vec<u8>, HostError>;
    /// Hex sha256 of the component the module was compiled from.
    fn source_sha256(&self) -> &str;
}

impl Cacheable for StrategyModule {
    const KIND: &'static str = "strategy";
    fn compile(host: &GuestEngine, bytes: &[u8]) -> Result<Self, HostError> {
        host.load_strategy(bytes)
    }
    fn from_artifact(host: &GuestEngine, artifact: &[u8]) -> Result<Self, HostError> {
        host.load_precompiled_strategy(artifact)
    }
    fn artifact(&self) -> Result<Vec<u8>, HostError> {
        self.precompiled()
    }
    fn source_sha256(&self) -> &str {
        self.sha256()
    }
}

impl Cacheable for IndicatorModule {
    const KIND: &'static str = "indicator";
    fn compile(host: &GuestEngine, bytes: &[u8]) -> Result<Self, HostError> {
        host.load_indicator(bytes)
    }
    fn from_artifact(host: &GuestEngine, artifact: &[u8]) -> Result<Self, HostError> {
        host.load_precompiled_indicator(artifact)
    }
    fn artifact(&self) -> Result<Vec<u8>, HostError> {
        self.precompiled()
    }
    fn source_sha256(&self) -> &str {
        self.sha256()
    }
}

impl Cacheable for PolicyModule {
    const KIND: &'static str = "policy";
    fn compile(host: &GuestEngine, bytes: &[u8]) -> Result<Self, HostError> {
        host.load_policy(bytes)
    }
    fn from_artifact(host: &GuestEngine, artifact: &[u8]) -> Result<Self, HostError> {
        host.load_precompiled_policy(artifact)
    }
    fn artifact(&self) -> Result<Vec<u8>, HostError> {
        self.precompiled()
    }
    fn source_sha256(&self) -> &str {
        self.sha256()
    }
}

/// Marks an entry recently used (eviction removes the oldest first).
#[allow(
    clippy::disallowed_methods,
    reason = "an entry's age for eviction is wall time, like every file's mtime"
)]
fn touch(path: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// The cache directory and its bound.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl CompileCache {
    /// The cache the environment names (see the module docs); `None` when
    /// it is turned off or no directory can be used (said on stderr).
    pub fn from_env(disabled: bool) -> Option<Self> {
        if disabled {
            return None;
        }
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = var("WASMTRADE_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("wasmtrade/compiled")))
            .or_else(|| var("HOME").map(|d| d.join(".cache/wasmtrade/compiled")))?;
        let max_bytes = match std::env::var("WASMTRADE_CACHE_MAX_BYTES") {
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    eprintln!(
                        "warning: WASMTRADE_CACHE_MAX_BYTES `{v}` is not a number of bytes; the compiled-guest cache is off"
                    );
                    return None;
                }
            },
            Err(_) => DEFAULT_MAX_BYTES,
        };
        match Self::open(dir, max_bytes) {
            Ok(cache) => Some(cache),
            Err(why) => {
                eprintln!("warning: the compiled-guest cache is off: {why}");
                None
            }
        }
    }

    /// Opens (creating, mode 0700) `dir`, refusing one others may write to.
    pub fn open(dir: PathBuf, max_bytes: u64) -> Result<Self, String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let meta = fs::symlink_metadata(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is writable by group or others (mode {:o}): entries are native code; `chmod 700` it",
                dir.display(),
                meta.mode() & 0o777
            ));
        }
        Ok(Self { dir, max_bytes })
    }

    /// The guest in `bytes`, from the cache when an entry for it (and this
    /// engine) is there, else compiled and stored.
    pub fn load<M: Cacheable>(&self, host: &GuestEngine, bytes: &[u8]) -> Result<(M, CacheUse), HostError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let fingerprint = host.engine_fingerprint();
        let name = format!(
            "{}-{}-{}{SUFFIX}",
            M::KIND,
            sha,
            &fingerprint[..fingerprint.len().min(32)]
        );
        let path = self.dir.join(&name);
        if let Some(module) = self.read::<M>(host, &path, &sha) {
            return Ok((module, CacheUse::Hit));
        }
        let module = M::compile(host, bytes)?;
        match module.artifact() {
            Ok(artifact) => {
                if let Err(why) = self.write(&path, &artifact) {
                    eprintln!("warning: cannot store the compiled guest in the cache: {why}");
                }
                self.evict(&path);
            }
            Err(e) => eprintln!("warning: cannot serialise the compiled guest for the cache: {e}"),
        }
        Ok((module, CacheUse::Miss))
    }

    /// A usable entry at `path`, or `None` (a damaged or unsafe one is
    /// removed or ignored, with a warning).
    fn read<M: Cacheable>(&self, host: &GuestEngine, path: &Path, sha: &str) -> Option<M> {
        let meta = fs::symlink_metadata(path).ok()?;
        let dir_owner = fs::metadata(&self.dir).map(|m| m.uid()).ok()?;
        if !meta.is_file() || meta.mode() & 0o022 != 0 || meta.uid() != dir_owner {
            eprintln!(
                "warning: ignoring cache entry {}: not a regular file of the cache's owner writable only by them",
                path.display()
            );
            return None;
        }
        let raw = fs::read(path).ok()?;
        let discard = |why: &str| {
            eprintln!(
                "warning: cache entry {} {why}; compiling the guest again",
                path.display()
            );
            let _ = fs::remove_file(path);
        };
        if raw.len() < 32 || Sha256::digest(&raw[32..]).as_slice() != &raw[..32] {
            discard("is damaged (checksum mismatch)");
            return None;
        }
        let module = match M::from_artifact(host, &raw[32..]) {
            Ok(m) => m,
            Err(e) => {
                discard(&format!("cannot be loaded ({e})"));
                return None;
            }
        };
        if module.source_sha256() != sha {
            discard("holds another component");
            return None;
        }
        touch(path);
        Some(module)
    }

    /// Writes an entry atomically: a private temporary file, renamed.
    fn write(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
        ));
        // A leftover of a killed process that had this pid would make
        // `create_new` fail for good.
        let _ = fs::remove_file(&tmp);
        let result = (|| {
            let mut f = fs::File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&Sha256::digest(artifact))?;
            f.write_all(artifact)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Removes temporary files a killed writer left behind (older than
    /// [`STALE_TMP`]; a write takes well under a second), then the least
    /// recently used entries until the directory is within its bound
    /// (`keep`, just written, goes last).
    fn evict(&self, keep: &Path) {
        self.sweep_stale_tmp();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(SUFFIX)))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort_by_key(|f| (f.2 == keep, f.0));
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }

    fn sweep_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let stale = e.file_name().to_str().is_some_and(|n| n.starts_with(".tmp-"))
                && e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TMP);
            if stale {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Age after which a `.tmp-*` file in the cache is a killed writer's
/// leftover.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combined_use_is_a_hit_only_when_every_guest_hit() {
        use CacheUse::*;
        assert_eq!(Hit.and(Hit), Hit);
        assert_eq!(Hit.and(Miss), Miss);
        assert_eq!(Off.and(Hit), Hit);
        assert_eq!(Off.and(Off), Off);
    }

    #[test]
    fn a_killed_writers_temporary_files_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::open(dir.path().join("c"), 1 << 20).unwrap();
        let old = cache.dir.join(".tmp-1-old.cwasm");
        let fresh = cache.dir.join(".tmp-2-fresh.cwasm");
        fs::write(&old, vec![0u8; 4096]).unwrap();
        fs::write(&fresh, b"x").unwrap();
        let hour_ago = SystemTime::UNIX_EPOCH
            + SystemTime::UNIX_EPOCH
                .elapsed()
                .unwrap()
                .saturating_sub(std::time::Duration::from_secs(3600));
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        cache.evict(&cache.dir.join("none"));
        assert!(!old.exists(), "an hour-old temporary file is a leftover");
        assert!(fresh.exists(), "a fresh one may be a write in progress");
    }

    #[test]
    fn a_directory_others_may_write_to_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let err = CompileCache::open(open, 1).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
        let private = CompileCache::open(dir.path().join("a/b"), 1).unwrap();
        let mode = fs::metadata(&private.dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
