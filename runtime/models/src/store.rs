//! The models directory (the `/models` volume) and the checkpoints directory
//! (the `/checkpoints` volume).
//!
//! ```text
//! models/<name>/v<N>.onnx        version N of a model (N = 1, 2, ...), never rewritten
//! models/<name>/ACTIVE           the active version number, replaced atomically
//! checkpoints/<name>/<id>.onnx   weights written by a learner (id: e.g. the training step)
//! ```
//!
//! Every file is written with [`write_atomic`]: a crash leaves the old state
//! or the new one. Activating a checkpoint copies it into the models
//! directory as the next version of that model and activates it, so the
//! models directory alone says what runs.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::{GateVerdict, ModelsError};

const ACTIVE: &str = "ACTIVE";
const EXT: &str = "onnx";

/// One stored version of a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelVersion {
    /// Model name.
    pub name: String,
    /// Version number (1, 2, ...).
    pub version: u64,
    /// Size in bytes.
    pub size: u64,
    /// Hex sha256 of the bytes (computed when listing or storing).
    pub sha256: String,
    /// Whether it is the active version.
    pub active: bool,
    /// What the shadow gate decided about it, if it was evaluated.
    pub verdict: Option<GateVerdict>,
}

/// One checkpoint written by a learner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// Model name.
    pub name: String,
    /// Checkpoint id.
    pub id: String,
    /// Size in bytes.
    pub size: u64,
}

fn check_name(name: &str) -> Result<(), ModelsError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ModelsError::InvalidName {
            name: name.to_string(),
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The versioned models directory.
#[derive(Clone, Debug)]
pub struct ModelStore {
    dir: PathBuf,
    max_bytes: usize,
}

impl ModelStore {
    /// Opens (creating it if needed) the models directory; models above
    /// `max_bytes` are refused.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: usize) -> Result<Self, ModelsError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(ModelsError::io("cannot create", &dir))?;
        Ok(Self { dir, max_bytes })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Largest model accepted, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn model_dir(&self, name: &str) -> Result<PathBuf, ModelsError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    fn version_path(&self, name: &str, version: u64) -> Result<PathBuf, ModelsError> {
        Ok(self.model_dir(name)?.join(format!("v{version}.{EXT}")))
    }

    /// Version numbers of a model, ascending (empty if the model is unknown).
    pub fn versions(&self, name: &str) -> Result<Vec<u64>, ModelsError> {
        let dir = self.model_dir(name)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ModelsError::io("cannot list", &dir)(e)),
        };
        let mut out: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix('v')?.strip_suffix(".onnx")?.parse().ok()
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Stores `bytes` as the next version of `name` (not activated).
    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<ModelVersion, ModelsError> {
        if bytes.len() > self.max_bytes {
            return Err(ModelsError::TooLarge {
                size: bytes.len(),
                limit: self.max_bytes,
            });
        }
        let version = self.versions(name)?.last().map_or(1, |v| v + 1);
        write_atomic(&self.version_path(name, version)?, bytes)?;
        tracing::info!(model = name, version, bytes = bytes.len(), "model version stored");
        Ok(ModelVersion {
            name: name.to_string(),
            version,
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            active: false,
            verdict: None,
        })
    }

    /// Makes `version` the active one (atomically).
    pub fn activate(&self, name: &str, version: u64) -> Result<(), ModelsError> {
        if !self.versions(name)?.contains(&version) {
            return Err(ModelsError::UnknownVersion {
                name: name.to_string(),
                version,
            });
        }
        write_atomic(
            &self.model_dir(name)?.join(ACTIVE),
            format!("{version}\n").as_bytes(),
        )?;
        tracing::info!(model = name, version, "model version activated");
        Ok(())
    }

    /// Keeps the shadow gate's verdict about `version` beside it (atomically).
    pub fn record_verdict(&self, name: &str, version: u64, verdict: &GateVerdict) -> Result<(), ModelsError> {
        if !self.versions(name)?.contains(&version) {
            return Err(ModelsError::UnknownVersion {
                name: name.to_string(),
                version,
            });
        }
        let json = serde_json::to_vec_pretty(verdict).unwrap_or_default();
        write_atomic(&self.verdict_path(name, version)?, &json)
    }

    /// The verdict kept about `version`, if any (an unreadable one is
    /// logged and reported as none: it is evidence, not state).
    pub fn verdict(&self, name: &str, version: u64) -> Option<GateVerdict> {
        let path = self.verdict_path(name, version).ok()?;
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), "unreadable verdict file ignored: {e}");
                None
            }
        }
    }

    fn verdict_path(&self, name: &str, version: u64) -> Result<PathBuf, ModelsError> {
        Ok(self.model_dir(name)?.join(format!("v{version}.verdict.json")))
    }

    /// The active version of `name`, if one was activated.
    pub fn active(&self, name: &str) -> Result<Option<u64>, ModelsError> {
        let path = self.model_dir(name)?.join(ACTIVE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ModelsError::io("cannot read", path)(e)),
        }
    }

    /// The bytes of a version.
    pub fn read(&self, name: &str, version: u64) -> Result<Vec<u8>, ModelsError> {
        let path = self.version_path(name, version)?;
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelsError::UnknownVersion {
                name: name.to_string(),
                version,
            },
            _ => ModelsError::io("cannot read", path)(e),
        })
    }

    /// The active version and its bytes.
    pub fn read_active(&self, name: &str) -> Result<(u64, Vec<u8>), ModelsError> {
        let version = self.active(name)?.ok_or_else(|| ModelsError::UnknownModel {
            name: name.to_string(),
            dir: self.dir.clone(),
        })?;
        Ok((version, self.read(name, version)?))
    }

    /// Model names, sorted.
    pub fn names(&self) -> Result<Vec<String>, ModelsError> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(ModelsError::io("cannot list", &self.dir))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every version of every model (or of `name`), with its hash.
    pub fn list(&self, name: Option<&str>) -> Result<Vec<ModelVersion>, ModelsError> {
        let names = match name {
            Some(n) => vec![n.to_string()],
            None => self.names()?,
        };
        let mut out = Vec::new();
        for name in names {
            let active = self.active(&name)?;
            for version in self.versions(&name)? {
                let bytes = self.read(&name, version)?;
                out.push(ModelVersion {
                    name: name.clone(),
                    version,
                    size: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                    active: active == Some(version),
                    verdict: self.verdict(&name, version),
                });
            }
        }
        Ok(out)
    }
}

/// The checkpoints directory a learner writes into.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Opens (creating it if needed) the checkpoints directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ModelsError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(ModelsError::io("cannot create", &dir))?;
        Ok(Self { dir })
    }

    /// Writes a checkpoint atomically (what a learner does; ids as names).
    pub fn write(&self, name: &str, id: &str, bytes: &[u8]) -> Result<Checkpoint, ModelsError> {
        check_name(name)?;
        check_name(id)?;
        write_atomic(&self.dir.join(name).join(format!("{id}.{EXT}")), bytes)?;
        Ok(Checkpoint {
            name: name.to_string(),
            id: id.to_string(),
            size: bytes.len() as u64,
        })
    }

    /// Checkpoints of `name`, sorted by id (temp files are skipped).
    pub fn list(&self, name: &str) -> Result<Vec<Checkpoint>, ModelsError> {
        check_name(name)?;
        let dir = self.dir.join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ModelsError::io("cannot list", &dir)(e)),
        };
        let mut out: Vec<Checkpoint> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let id = file.strip_suffix(".onnx")?.to_string();
                check_name(&id).ok()?;
                Some(Checkpoint {
                    name: name.to_string(),
                    id,
                    size: e.metadata().ok()?.len(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The bytes of a checkpoint.
    pub fn read(&self, name: &str, id: &str) -> Result<Vec<u8>, ModelsError> {
        check_name(name)?;
        check_name(id)?;
        let path = self.dir.join(name).join(format!("{id}.{EXT}"));
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelsError::UnknownCheckpoint {
                name: name.to_string(),
                id: id.to_string(),
                dir: self.dir.clone(),
            },
            _ => ModelsError::io("cannot read", path)(e),
        })
    }

    /// Copies a checkpoint into `models` as the next version of `name` and
    /// activates it.
    pub fn activate(&self, models: &ModelStore, name: &str, id: &str) -> Result<ModelVersion, ModelsError> {
        let bytes = self.read(name, id)?;
        let mut v = models.put(name, &bytes)?;
        models.activate(name, v.version)?;
        v.active = true;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_and_only_one_is_active() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        assert_eq!(store.put("clstm", b"one").unwrap().version, 1);
        assert_eq!(store.put("clstm", b"two").unwrap().version, 2);
        assert_eq!(store.active("clstm").unwrap(), None);
        store.activate("clstm", 1).unwrap();
        assert_eq!(store.read_active("clstm").unwrap(), (1, b"one".to_vec()));
        store.activate("clstm", 2).unwrap();
        let list = store.list(None).unwrap();
        let active: Vec<_> = list.iter().map(|v| (v.version, v.active)).collect();
        assert_eq!(active, [(1, false), (2, true)]);
        assert_eq!(list[1].sha256, sha256_hex(b"two"));
    }

    #[test]
    fn a_verdict_is_kept_beside_its_version_and_listed_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        store.put("clstm", b"one").unwrap();
        store.put("clstm", b"two").unwrap();
        let verdict = GateVerdict {
            verdict: crate::VerdictKind::Keep,
            policy: "p".into(),
            against_version: 1,
            decisions: 500,
            candidate_score: 0.5,
            active_score: 1.5,
            detail: "kept out".into(),
            decided_at: 1_700_000_000,
        };
        store.record_verdict("clstm", 2, &verdict).unwrap();
        assert!(
            store
                .record_verdict("clstm", 3, &verdict)
                .unwrap_err()
                .is_not_found()
        );
        let list = store.list(Some("clstm")).unwrap();
        assert_eq!(list.len(), 2, "the verdict file is no version");
        assert_eq!(list[0].verdict, None);
        assert_eq!(list[1].verdict.as_ref(), Some(&verdict));
        // A damaged verdict file is ignored, the version still listed.
        std::fs::write(dir.path().join("clstm/v2.verdict.json"), b"{").unwrap();
        assert_eq!(store.list(Some("clstm")).unwrap()[1].verdict, None);
    }

    #[test]
    fn refuses_unknown_versions_bad_names_and_oversized_models() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 4).unwrap();
        let err = store.activate("clstm", 3).unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "model `clstm` has no version 3 (see `wasmtrade model list`)"
        );
        assert!(matches!(
            store.put("../etc", b"x"),
            Err(ModelsError::InvalidName { .. })
        ));
        assert!(matches!(
            store.put("clstm", b"12345"),
            Err(ModelsError::TooLarge { size: 5, limit: 4 })
        ));
        assert!(store.read_active("clstm").unwrap_err().is_not_found());
    }

    #[test]
    fn activating_a_checkpoint_makes_it_the_next_active_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path().join("models"), 1024).unwrap();
        let ckpts = Checkpoints::open(dir.path().join("checkpoints")).unwrap();
        store.put("clstm", b"base").unwrap();
        ckpts.write("clstm", "step-000200", b"w200").unwrap();
        ckpts.write("clstm", "step-000100", b"w100").unwrap();
        let ids: Vec<_> = ckpts.list("clstm").unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["step-000100", "step-000200"]);
        let v = ckpts.activate(&store, "clstm", "step-000200").unwrap();
        assert_eq!((v.version, v.active), (2, true));
        assert_eq!(store.read_active("clstm").unwrap(), (2, b"w200".to_vec()));
        assert!(
            ckpts
                .activate(&store, "clstm", "nope")
                .unwrap_err()
                .is_not_found()
        );
    }
}
