//! Owner-only permissions on the data dir: the store holds the journal of
//! every order, guest modules and their state, so nothing in it is for other
//! users of the machine. Directories are `0700`, files `0600`.
//!
//! Files the store creates itself are created with those modes; sled creates
//! its own files with the process umask, so after opening, the whole data dir
//! is tightened once (this also fixes stores created by older binaries).
//! Files sled creates later land in `sled/`, which is `0700`, so no other
//! user can reach them whatever their mode.
//!
//! A data dir the process does not own (a volume mounted by someone else)
//! cannot be tightened: that is logged as a warning, not refused.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory of the store.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file of the store.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents as `0700`.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Options that create a file as `0600`.
pub(crate) fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Sets `0700` on `dir` and every directory below it and `0600` on every
/// file; symlinks are left alone. Returns how many entries it could not
/// change (each is logged).
pub(crate) fn tighten(dir: &Path) -> usize {
    let mut failed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read permissions: {e}");
                failed += 1;
                continue;
            }
        };
        let mode = if meta.is_dir() {
            match fs::read_dir(&path) {
                Ok(entries) => pending.extend(entries.filter_map(Result::ok).map(|e| e.path())),
                Err(e) => tracing::warn!(path = %path.display(), "cannot list the directory: {e}"),
            }
            DIR_MODE
        } else if meta.is_file() {
            FILE_MODE
        } else {
            continue;
        };
        if meta.permissions().mode() & 0o777 == mode {
            continue;
        }
        if let Err(e) = fs::set_permissions(&path, fs::Permissions::from_mode(mode)) {
            tracing::warn!(
                path = %path.display(),
                "cannot restrict permissions to {mode:o}: {e}; make the data dir owned by the user running wasmtrade"
            );
            failed += 1;
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn tightens_every_dir_and_file_below() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        fs::set_permissions(root.join("a/b/f"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(tighten(&root), 0);
        for d in [&root, &root.join("a"), &root.join("a/b")] {
            assert_eq!(mode(d), DIR_MODE, "{}", d.display());
        }
        assert_eq!(mode(&root.join("a/b/f")), FILE_MODE);
    }

    #[test]
    fn creates_private_dirs_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("x/y");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        let f = dir.join("f");
        private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&f)
            .unwrap();
        assert_eq!(mode(&f), FILE_MODE);
    }
}
