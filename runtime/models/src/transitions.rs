//! The durable transitions log: what a policy saw, did and got, appended for
//! a learner that runs outside the runtime.
//!
//! One file of records, each `len: u32 LE | crc32(payload): u32 LE | payload`
//! where the payload is one [`Transition`] as JSON (a learner in Python reads
//! it with `struct` and `json`; see docs/policies.md). Every append is
//! fsynced before it returns. A crash can only tear the last record: opening
//! the log drops a torn tail (a short header, a short payload or a checksum
//! mismatch in the last record) and appends after the last good record. A bad
//! record followed by more data is corruption and is reported, not skipped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use wasmtrade_model::{PolicyObserver, Transition};

use crate::ModelsError;
use crate::atomic::sync_dir;

const HEADER: usize = 8;
/// Largest record accepted when reading (a sanity bound against garbage lengths).
const MAX_RECORD: usize = 64 << 20;

/// An open transitions log, positioned for appending.
#[derive(Debug)]
pub struct TransitionLog {
    file: File,
    path: PathBuf,
    records: u64,
}

/// The good records of a log and where they end.
struct Scan {
    transitions: Vec<Transition>,
    end: u64,
    torn: bool,
}

fn scan(path: &Path, bytes: &[u8]) -> Result<Scan, ModelsError> {
    let mut off = 0usize;
    let mut transitions = Vec::new();
    while off < bytes.len() {
        let rest = &bytes[off..];
        let torn = |transitions| {
            Ok(Scan {
                transitions,
                end: off as u64,
                torn: true,
            })
        };
        if rest.len() < HEADER {
            return torn(transitions);
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let corrupt = |reason: String| ModelsError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
            reason,
        };
        if len > MAX_RECORD {
            return Err(corrupt(format!("record length {len} is implausible")));
        }
        if rest.len() < HEADER + len {
            return torn(transitions);
        }
        let payload = &rest[HEADER..HEADER + len];
        let last = rest.len() == HEADER + len;
        if crc32fast::hash(payload) != crc {
            if last {
                return torn(transitions);
            }
            return Err(corrupt("checksum mismatch".into()));
        }
        let t = serde_json::from_slice(payload).map_err(|e| corrupt(format!("bad record: {e}")))?;
        transitions.push(t);
        off += HEADER + len;
    }
    Ok(Scan {
        transitions,
        end: off as u64,
        torn: false,
    })
}

impl TransitionLog {
    /// Opens or creates the log, dropping a torn tail left by a crash.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ModelsError> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ModelsError::io("cannot create", dir))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ModelsError::io("cannot open", &path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(ModelsError::io("cannot read", &path))?;
        let s = scan(&path, &bytes)?;
        if s.torn {
            tracing::warn!(path = %path.display(), dropped = bytes.len() as u64 - s.end, "dropping the torn tail of the transitions log");
            file.set_len(s.end)
                .and_then(|()| file.sync_all())
                .map_err(ModelsError::io("cannot truncate", &path))?;
        }
        file.seek(SeekFrom::Start(s.end))
            .map_err(ModelsError::io("cannot seek", &path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(Self {
            file,
            path,
            records: s.transitions.len() as u64,
        })
    }

    /// Records in the log.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends transitions and fsyncs once.
    pub fn append(&mut self, transitions: &[Transition]) -> Result<(), ModelsError> {
        let mut buf = Vec::new();
        for t in transitions {
            let payload = serde_json::to_vec(t).map_err(|e| ModelsError::Encode(e.to_string()))?;
            let len =
                u32::try_from(payload.len()).map_err(|_| ModelsError::Encode("record above 4 GiB".into()))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            buf.extend_from_slice(&payload);
        }
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(ModelsError::io("cannot append to", &self.path))?;
        self.records += transitions.len() as u64;
        Ok(())
    }

    /// Reads every good record (a torn tail is ignored, not repaired).
    pub fn read_all(path: &Path) -> Result<Vec<Transition>, ModelsError> {
        let bytes = std::fs::read(path).map_err(ModelsError::io("cannot read", path))?;
        Ok(scan(path, &bytes)?.transitions)
    }
}

/// A [`PolicyObserver`] that appends every transition to a [`TransitionLog`].
/// A failed append is logged and counted, never propagated: the trading path
/// must not stop because the learner's disk is full.
#[derive(Debug)]
pub struct DurableTransitions {
    log: Mutex<TransitionLog>,
    failures: std::sync::atomic::AtomicU64,
}

impl DurableTransitions {
    /// Appends to `log`.
    pub fn new(log: TransitionLog) -> Self {
        Self {
            log: Mutex::new(log),
            failures: Default::default(),
        }
    }

    /// Appends that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl PolicyObserver for DurableTransitions {
    fn on_transition(&self, transition: &Transition) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = log.append(std::slice::from_ref(transition)) {
            self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %e, "cannot append a policy transition");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{InstrumentId, Timestamp};

    fn t(i: i64) -> Transition {
        Transition {
            ts: Timestamp::from_secs(i),
            instrument: InstrumentId(0),
            observation: vec![i as f32, 0.5],
            action: 2,
            probabilities: vec![0.1, 0.2, 0.7],
            value: 0.25,
            reward: i as f64 - 0.5,
        }
    }

    #[test]
    fn appended_transitions_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy/transitions.log");
        let mut log = TransitionLog::open(&path).unwrap();
        log.append(&[t(1), t(2)]).unwrap();
        drop(log);
        let mut log = TransitionLog::open(&path).unwrap();
        assert_eq!(log.records(), 2);
        log.append(&[t(3)]).unwrap();
        assert_eq!(TransitionLog::read_all(&path).unwrap(), vec![t(1), t(2), t(3)]);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_appending_goes_on_after_the_last_good_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transitions.log");
        let mut log = TransitionLog::open(&path).unwrap();
        log.append(&[t(1), t(2)]).unwrap();
        drop(log);
        let full = std::fs::read(&path).unwrap();
        // Every cut inside the second record: header, payload, last byte.
        let first_end = HEADER + u32::from_le_bytes(full[0..4].try_into().unwrap()) as usize;
        for cut in [first_end + 3, first_end + HEADER + 5, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            assert_eq!(TransitionLog::read_all(&path).unwrap(), vec![t(1)]);
            let mut log = TransitionLog::open(&path).unwrap();
            assert_eq!(log.records(), 1);
            log.append(&[t(9)]).unwrap();
            assert_eq!(TransitionLog::read_all(&path).unwrap(), vec![t(1), t(9)]);
        }
        // A flipped byte in the last record's payload: a torn tail too.
        std::fs::write(&path, &full).unwrap();
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 2] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(TransitionLog::open(&path).unwrap().records(), 1);
    }

    #[test]
    fn a_bad_record_in_the_middle_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transitions.log");
        let mut log = TransitionLog::open(&path).unwrap();
        log.append(&[t(1), t(2)]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 2] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let err = TransitionLog::open(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("is corrupt at byte 0: checksum mismatch"),
            "{err}"
        );
    }
}
