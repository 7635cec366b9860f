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
    /// Takes the lock or reports who holds it. Never blocks.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, StoreError> {
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
        let held = DirLock::acquire(dir.path()).unwrap();
        match DirLock::acquire(dir.path()) {
            Err(StoreError::Locked { holder_pid, .. }) => assert_eq!(holder_pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(dir.path()).unwrap();
    }
}
