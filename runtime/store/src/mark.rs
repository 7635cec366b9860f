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
//!
//! A process killed with `kill -9` writes no closing mark, so records
//! committed since its start would be unguarded by `MARK` alone: damage to
//! sled files written since then rolls them back silently. `<dir>/MARK.live`
//! closes that gap: after every durable journal commit, order id
//! reservation and audit append, the store writes how far it has got into
//! one of two fixed 32-byte slots of that file, alternately (one `pwrite`,
//! no fsync: the witness only ever trails what sled made durable, so it
//! never accuses a healthy store, and it survives a crash of the process,
//! which is the case it is for). A torn write damages at most one slot; the
//! newest valid one counts.

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
    /// Last audit record present (0 in marks written before it was kept).
    #[serde(default)]
    pub(crate) audit_seq: u64,
}

impl Mark {
    /// The larger of the two, field by field.
    pub(crate) fn max(self, other: Mark) -> Mark {
        Mark {
            journal_seq: self.journal_seq.max(other.journal_seq),
            order_id_hwm: self.order_id_hwm.max(other.order_id_hwm),
            audit_seq: self.audit_seq.max(other.audit_seq),
        }
    }
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
    if now.audit_seq < mark.audit_seq {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the audit trail ends at record #{} but record #{} had been written: sled files were truncated, damaged or replaced (module changes may be missing too); restore the data dir from a backup (see docs/durability.md), or, if you restored an older backup on purpose, delete {} and {} to accept it",
                now.audit_seq,
                mark.audit_seq,
                dir.join(MARK_FILE).display(),
                dir.join(LIVE_FILE).display()
            ),
        ));
    }
    if now.journal_seq < mark.journal_seq || now.order_id_hwm < mark.order_id_hwm {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the journal ends at record #{} (order id mark {}) but the data dir's marks record that #{} (order id mark {}) had been written: sled files were truncated, damaged or replaced; restore the data dir from a backup (see docs/durability.md), or, if you restored an older backup on purpose, delete {} and {} to accept it",
                now.journal_seq,
                now.order_id_hwm,
                mark.journal_seq,
                mark.order_id_hwm,
                dir.join(MARK_FILE).display(),
                dir.join(LIVE_FILE).display()
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

/// File name of the running witness inside the data dir.
pub(crate) const LIVE_FILE: &str = "MARK.live";
const LIVE_MAGIC: &[u8; 4] = b"WTM1";
const SLOT: usize = 32;

fn encode_slot(mark: &Mark) -> [u8; SLOT] {
    let mut out = [0u8; SLOT];
    out[..4].copy_from_slice(LIVE_MAGIC);
    out[4..12].copy_from_slice(&mark.journal_seq.to_le_bytes());
    out[12..20].copy_from_slice(&mark.order_id_hwm.to_le_bytes());
    out[20..28].copy_from_slice(&mark.audit_seq.to_le_bytes());
    let crc = crc32fast::hash(&out[..28]);
    out[28..].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode_slot(raw: &[u8]) -> Option<Mark> {
    let raw: &[u8; SLOT] = raw.try_into().ok()?;
    let u64_at = |i: usize| raw[i..i + 8].try_into().ok().map(u64::from_le_bytes);
    let crc = u32::from_le_bytes(raw[28..].try_into().ok()?);
    if &raw[..4] != LIVE_MAGIC || crc32fast::hash(&raw[..28]) != crc {
        return None;
    }
    Some(Mark {
        journal_seq: u64_at(4)?,
        order_id_hwm: u64_at(12)?,
        audit_seq: u64_at(20)?,
    })
}

/// Reads the running witness; `None` when there is none. A file with no
/// valid slot is corrupt (both slots are never written at once).
pub(crate) fn read_live(dir: &Path) -> Result<Option<Mark>, StoreError> {
    let path = dir.join(LIVE_FILE);
    let raw = match fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(dir, format!("reading {}", path.display()), e)),
    };
    let marks: Vec<Mark> = raw.chunks(SLOT).take(2).filter_map(decode_slot).collect();
    match marks.into_iter().reduce(Mark::max) {
        Some(mark) => Ok(Some(mark)),
        None => Err(StoreError::corrupt(
            dir,
            format!(
                "{}: no valid slot (damaged); restore the data dir from a backup, or delete the file to open the store without this check",
                path.display()
            ),
        )),
    }
}

/// The running witness of an open store (see the module docs).
#[derive(Debug)]
pub(crate) struct LiveMark {
    file: fs::File,
    mark: Mark,
    next_slot: u64,
    /// Set once a write failed (logged once; the store keeps working).
    failed: bool,
}

impl LiveMark {
    /// Starts the witness at `start` (what the store holds at open): both
    /// slots written to a temp file that is fsync'd and renamed into place.
    pub(crate) fn start(dir: &Path, start: Mark) -> Result<Self, StoreError> {
        let tmp = dir.join(format!("{LIVE_FILE}.tmp"));
        let path = dir.join(LIVE_FILE);
        let slot = encode_slot(&start);
        let create = || -> std::io::Result<fs::File> {
            let mut f = crate::perms::private_file()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&slot)?;
            f.write_all(&slot)?;
            f.sync_data()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(dir)?.sync_all()?;
            crate::perms::private_file().write(true).open(&path)
        };
        let file = create().map_err(|e| StoreError::io(dir, "writing the running data dir mark", e))?;
        Ok(Self {
            file,
            mark: start,
            next_slot: 0,
            failed: false,
        })
    }

    /// Records progress (values only grow) in the next slot.
    pub(crate) fn advance(&mut self, update: impl FnOnce(&mut Mark)) {
        use std::os::unix::fs::FileExt;
        let before = self.mark;
        update(&mut self.mark);
        self.mark = self.mark.max(before);
        if self.mark == before {
            return;
        }
        let offset = (self.next_slot % 2) * SLOT as u64;
        self.next_slot += 1;
        if let Err(e) = self.file.write_all_at(&encode_slot(&self.mark), offset)
            && !std::mem::replace(&mut self.failed, true)
        {
            tracing::warn!(error = %e, "cannot write the running data dir mark (MARK.live); damage done while the runtime runs may go unnoticed at the next start");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(j: u64, h: u64, a: u64) -> Mark {
        Mark {
            journal_seq: j,
            order_id_hwm: h,
            audit_seq: a,
        }
    }

    #[test]
    fn the_witness_keeps_the_newest_valid_slot_and_survives_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = LiveMark::start(dir.path(), mark(1, 10, 0)).unwrap();
        live.advance(|m| m.journal_seq = 5);
        live.advance(|m| m.audit_seq = 2);
        assert_eq!(read_live(dir.path()).unwrap(), Some(mark(5, 10, 2)));
        // Tear the newest slot (the second write went to slot 1).
        let path = dir.path().join(LIVE_FILE);
        let mut raw = fs::read(&path).unwrap();
        raw[SLOT + 6] ^= 0xff;
        fs::write(&path, &raw).unwrap();
        assert_eq!(read_live(dir.path()).unwrap(), Some(mark(5, 10, 0)));
    }

    #[test]
    fn values_never_go_back_and_no_valid_slot_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = LiveMark::start(dir.path(), mark(7, 10, 3)).unwrap();
        live.advance(|m| m.journal_seq = 2);
        assert_eq!(read_live(dir.path()).unwrap(), Some(mark(7, 10, 3)));
        fs::write(dir.path().join(LIVE_FILE), [0u8; 64]).unwrap();
        assert!(matches!(read_live(dir.path()), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn a_store_behind_its_audit_mark_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = check(dir.path(), &mark(3, 10, 9), &mark(3, 10, 4)).unwrap_err();
        assert!(err.to_string().contains("audit trail ends at record #4"), "{err}");
        assert!(check(dir.path(), &mark(3, 10, 4), &mark(3, 10, 9)).is_ok());
    }
}
