//! Crash-safe file replacement: write a temp file in the same directory,
//! fsync it, rename it over the target, fsync the directory. A reader sees
//! the old file or the new one, never a mix, even across a power cut.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::ModelsError;

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(ModelsError::io("cannot create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(ModelsError::io("cannot create", &tmp))?;
        f.write_all(bytes)
            .map_err(ModelsError::io("cannot write", &tmp))?;
        f.sync_all().map_err(ModelsError::io("cannot fsync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(ModelsError::io("cannot rename into place", path))?;
    sync_dir(dir)
}

/// fsyncs a directory so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), ModelsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ModelsError::io("cannot fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["b.bin"]);
    }
}
