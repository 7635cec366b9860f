//! The data dir's high-water mark: a witness, outside sled, of how far the
//! journal and the order id reservation had got.
//!
//! sled recovers the longest valid prefix of its log, so a truncated or
//! damaged `sled/db` can open "successfully" with committed records missing
//! and no checksum failing. `<dir>/MARK` (an envelope holding JSON
//! [`Mark`]) is rewritten atomically (temp file, fsync, rename, dir fsync)
//! every time the store is opened and closed; opening a store that is
//! behind its mark is refused as corrupt. It catches damage done while the
//! process was down, which is when files get truncated or replaced.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::codec;

/// File name of the mark inside the data dir.
pub(crate) const MARK_FILE: &str = "MARK";

/// What the store had reached when the mark was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// Last journal sequence present.
    pub(crate) journal_seq: u64,
    /// Order id high-water mark.
    pub(crate) order_id_hwm: u64,
}

/// Reads the mark; `None` when there is none yet.
pub(crate) fn read(dir: &Path) -> Result<Option<Mark>, StoreError> {
    let path = dir.join(MARK_FILE);
    let raw = match fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(dir, format!("reading {}", path.display()), e)),
    };
    codec::unseal_json(&raw)
        .map(Some)
        .map_err(|r| StoreError::corrupt(dir, format!("{}: {r}", path.display())))
}

/// Refuses a store that is behind its mark.
pub(crate) fn check(dir: &Path, mark: &Mark, now: &Mark) -> Result<(), StoreError> {
    if now.journal_seq < mark.journal_seq || now.order_id_hwm < mark.order_id_hwm {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the journal ends at record #{} (order id mark {}) but {} records that #{} (order id mark {}) had been written: sled files were truncated, damaged or replaced; if you restored an older backup on purpose, delete {} to accept it",
                now.journal_seq,
                now.order_id_hwm,
                MARK_FILE,
                mark.journal_seq,
                mark.order_id_hwm,
                dir.join(MARK_FILE).display()
            ),
        ));
    }
    Ok(())
}

/// Replaces the mark atomically and durably.
pub(crate) fn write(dir: &Path, mark: &Mark) -> Result<(), StoreError> {
    let value = codec::seal_json(mark).map_err(|e| StoreError::Encode {
        what: "the data dir mark".into(),
        detail: e.to_string(),
    })?;
    let tmp = dir.join(format!("{MARK_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = crate::perms::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&value)?;
        f.sync_data()?;
        fs::rename(&tmp, dir.join(MARK_FILE))?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(dir, "writing the data dir mark", e))
}
