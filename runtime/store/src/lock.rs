//! The data dir's lock file: one process per data dir.
//!
//! An advisory exclusive lock (`flock`) on `<dir>/LOCK`, taken before sled is
//! opened and held for the store's lifetime. The kernel drops it when the
//! holder exits, however it exits, so a crash never leaves a stale lock. The
//! holder writes its pid into the file so a refused process can name it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::StoreError;

/// Name of the lock file inside the data dir.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Held for as long as the store is open; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or reports who holds it. When this very process holds
    /// it — a store just dropped whose background threads have not yet let
    /// go, as in a test or an in-process restart on a loaded machine — it
    /// retries for up to `same_process_wait`; another process's lock is
    /// refused at once.
    pub(crate) fn acquire(dir: &Path, same_process_wait: std::time::Duration) -> Result<Self, StoreError> {
        const STEP: std::time::Duration = std::time::Duration::from_millis(25);
        let mut waited = std::time::Duration::ZERO;
        loop {
            match Self::try_acquire(dir) {
                Err(StoreError::Locked {
                    holder_pid: Some(pid),
                    ..
                }) if pid == std::process::id() && waited < same_process_wait => {
                    std::thread::sleep(STEP);
                    waited += STEP;
                }
                other => return other,
            }
        }
    }

    /// One attempt; never blocks.
    fn try_acquire(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = crate::perms::private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(dir, format!("opening lock file {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder_pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder_pid,
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::io(dir, format!("locking {}", path.display()), e));
            }
        }
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            write!(file, "{}", std::process::id())
        };
        write_pid(&mut file)
            .map_err(|e| StoreError::io(dir, format!("writing pid to {}", path.display()), e))?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
        match DirLock::acquire(dir.path(), std::time::Duration::from_millis(100)) {
            Err(StoreError::Locked { holder_pid, .. }) => assert_eq!(holder_pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
    }
}
