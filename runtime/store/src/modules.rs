//! Guest modules: every uploaded version of every strategy and indicator,
//! which one is active, the guest configuration, and the module bytes
//! (stored once per content hash).
//!
//! A version's life: [`Staged`](VersionStatus::Staged) on upload,
//! [`Released`](VersionStatus::Released) once activated,
//! [`Quarantined`](VersionStatus::Quarantined) when it refused to run, and
//! [`Removed`](VersionStatus::Removed) when an operator removes it (see
//! [`Modules::remove`]). Removal is final: the version number is never
//! reused and its bytes are deleted once no live version of any module
//! shares them; uploading the same bytes again makes a new version.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;
use crate::hash::ContentHash;
use crate::store::Shared;

mod activation;
mod remove;

/// What kind of guest a module is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// A strategy (`strategy` world).
    Strategy,
    /// An indicator (`indicator` world).
    Indicator,
    /// A policy (`policy` world).
    Policy,
}

/// Where a version stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Uploaded and validated, never activated.
    Staged,
    /// Has been activated at least once (the active one is [`Module::active`]).
    Released,
    /// Refused to run; cannot be activated.
    Quarantined,
    /// Removed by an operator; cannot be activated and its bytes may be
    /// gone. Final: upload the bytes again to get a new version.
    Removed,
}

/// Metadata of a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload<'a> {
    /// Module name (the strategy id for strategies).
    pub name: &'a str,
    /// Guest kind.
    pub kind: ModuleKind,
    /// Free-text label, e.g. a git describe.
    pub label: &'a str,
    /// Who uploaded it.
    pub uploaded_by: &'a str,
    /// When.
    pub uploaded_at: Timestamp,
    /// The guest configuration this version starts with (JSON; empty =
    /// `{}`). `None` inherits the module's active configuration at upload.
    pub config: Option<&'a str>,
}

/// One stored version of a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleVersion {
    /// 1, 2, … in upload order.
    pub version: u32,
    /// SHA-256 of the module bytes.
    pub sha256: ContentHash,
    /// Size of the module bytes.
    pub size: u64,
    /// Free-text label.
    pub label: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: Timestamp,
    /// Lifecycle status.
    pub status: VersionStatus,
    /// The configuration this version runs with: given at upload (or the
    /// module's active one then), replaced when the version is activated
    /// with a new one. `None` only in records written before versions
    /// carried their configuration (see [`Module::config_of`]).
    #[serde(default)]
    pub config: Option<String>,
}

/// An active `(version, config)` pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePair {
    /// The version that runs.
    pub version: u32,
    /// The configuration it runs with (empty = `{}`).
    pub config: String,
}

/// A module and all its versions (`modules/<name>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// Name.
    pub name: String,
    /// Guest kind.
    pub kind: ModuleKind,
    /// Versions in upload order.
    pub versions: Vec<ModuleVersion>,
    /// The active version, if any.
    pub active: Option<u32>,
    /// JSON configuration handed to the guest's init; empty means `{}`
    /// (see [`guest_config`](Self::guest_config)): the configuration the
    /// active version runs with. Absent in records written before it
    /// existed, which decode with it empty.
    #[serde(default)]
    pub config: String,
    /// The pair that was active before the current one, written in the
    /// same transaction as the activation that replaced it: what a
    /// rollback without a version returns to. `None` before the second
    /// activation (and in records written before it was kept).
    #[serde(default)]
    pub previous: Option<ActivePair>,
}

impl Module {
    /// A version by number.
    pub fn version(&self, version: u32) -> Option<&ModuleVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
    /// The active version's metadata.
    pub fn active_version(&self) -> Option<&ModuleVersion> {
        self.active.and_then(|v| self.version(v))
    }
    /// The active `(version, config)` pair, if a version is active.
    pub fn active_pair(&self) -> Option<ActivePair> {
        self.active.map(|version| ActivePair {
            version,
            config: self.config.clone(),
        })
    }
    /// The configuration `version` runs with: its own, or (for records
    /// written before versions carried one) the module's. `None` if there
    /// is no such version.
    pub fn config_of(&self, version: u32) -> Option<&str> {
        let v = self.version(version)?;
        Some(v.config.as_deref().unwrap_or(&self.config))
    }
    /// The configuration to hand to the guest: [`config`](Self::config),
    /// or `{}` when it is empty.
    pub fn guest_config(&self) -> &str {
        if self.config.is_empty() {
            "{}"
        } else {
            &self.config
        }
    }
}

/// The `modules` and `blobs` trees. Every write here is flushed before it
/// returns: uploads and activations are rare and must survive a crash.
#[derive(Debug)]
pub struct Modules {
    shared: Arc<Shared>,
    modules: sled::Tree,
    blobs: sled::Tree,
    /// Serialises uploads and removals: whether a blob is still referenced
    /// is decided by scanning every module (sled transactions cannot
    /// iterate), so no upload may add a reference between that scan and
    /// the removal's commit.
    writer: Mutex<()>,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl Modules {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            modules: shared.tree("modules")?,
            blobs: shared.tree("blobs")?,
            shared,
            writer: Mutex::new(()),
        })
    }

    /// Stores `bytes` as a new version of `upload.name` (creating the module)
    /// and returns it. Uploading bytes that already are a live version of
    /// this module returns that version unchanged (retried uploads are
    /// harmless); bytes of a [removed](VersionStatus::Removed) version make a
    /// new version, numbered after the last one.
    /// A name outside
    /// [`MODULE_NAME_RULE`](wasmtrade_model::MODULE_NAME_RULE) is refused
    /// ([`StoreError::InvalidName`]).
    pub fn add_version(&self, upload: &Upload<'_>, bytes: &[u8]) -> Result<ModuleVersion, StoreError> {
        wasmtrade_model::check_module_name(upload.name)
            .map_err(|reason| StoreError::InvalidName { reason })?;
        let sha256 = ContentHash::of(bytes);
        let sealed_blob = codec::seal(bytes);
        let dir = &self.shared.dir;
        let _writer = self.lock_writer();
        let out = (&self.modules, &self.blobs).transaction(|(modules, blobs)| -> TxResult<ModuleVersion> {
            let mut module = match modules.get(upload.name)? {
                Some(raw) => {
                    decode_module(dir, upload.name, &raw).map_err(ConflictableTransactionError::Abort)?
                }
                None => Module {
                    name: upload.name.to_string(),
                    kind: upload.kind,
                    versions: Vec::new(),
                    active: None,
                    config: String::new(),
                    previous: None,
                },
            };
            if let Some(existing) = module
                .versions
                .iter()
                .find(|v| v.sha256 == sha256 && v.status != VersionStatus::Removed)
            {
                return Ok(existing.clone());
            }
            let version = ModuleVersion {
                version: module.versions.last().map_or(1, |v| v.version + 1),
                sha256,
                size: bytes.len() as u64,
                label: upload.label.to_string(),
                uploaded_by: upload.uploaded_by.to_string(),
                uploaded_at: upload.uploaded_at,
                status: VersionStatus::Staged,
                config: Some(
                    upload
                        .config
                        .map_or_else(|| module.config.clone(), str::to_string),
                ),
            };
            module.versions.push(version.clone());
            if blobs.get(sha256.as_bytes())?.is_none() {
                blobs.insert(&sha256.as_bytes()[..], sealed_blob.clone())?;
            }
            modules.insert(
                upload.name,
                encode_module(&module).map_err(ConflictableTransactionError::Abort)?,
            )?;
            Ok(version)
        });
        let version = self.finish(out, &format!("storing module `{}`", upload.name))?;
        self.shared.flush(&format!("flushing module `{}`", upload.name))?;
        Ok(version)
    }

    /// Makes `version` the active one, with its own configuration, and
    /// marks it released (see [`activate_pair`](Self::activate_pair)). A
    /// quarantined or removed version is refused.
    pub fn activate(&self, name: &str, version: u32) -> Result<Module, StoreError> {
        let module = self.get(name)?.ok_or_else(|| StoreError::UnknownModule {
            name: name.to_string(),
        })?;
        let config = module
            .config_of(version)
            .ok_or_else(|| StoreError::UnknownVersion {
                name: name.to_string(),
                version,
            })?
            .to_string();
        self.activate_pair(name, version, &config)
    }

    /// Quarantines `version`; if it was active, the module has none active.
    /// A removed version stays removed (it cannot run either way).
    pub fn quarantine(&self, name: &str, version: u32) -> Result<Module, StoreError> {
        self.update(name, |module| {
            let v = version_mut(module, name, version)?;
            if v.status != VersionStatus::Removed {
                v.status = VersionStatus::Quarantined;
            }
            if module.active == Some(version) {
                module.active = None;
            }
            Ok(())
        })
    }

    /// Clears the active version (the module was stopped) without changing
    /// any version's status; activate a version to run it again.
    pub fn deactivate(&self, name: &str) -> Result<Module, StoreError> {
        self.update(name, |module| {
            module.active = None;
            Ok(())
        })
    }

    /// Replaces the guest configuration of `name` with `config_json`, a JSON
    /// document (checked for syntax only; the guest validates its fields at
    /// init). Empty or blank text stores the default, `{}`.
    pub fn set_config(&self, name: &str, config_json: &str) -> Result<Module, StoreError> {
        let config = checked_config(name, config_json)?;
        self.update(name, |module| {
            module.config = config.to_string();
            Ok(())
        })
    }

    /// A module by name.
    pub fn get(&self, name: &str) -> Result<Option<Module>, StoreError> {
        let raw = self
            .modules
            .get(name)
            .map_err(self.shared.err(format!("reading module `{name}`")))?;
        raw.map(|raw| decode_module(&self.shared.dir, name, &raw))
            .transpose()
    }

    /// Every module, by name.
    pub fn list(&self) -> Result<Vec<Module>, StoreError> {
        let mut out = Vec::new();
        for item in self.modules.iter() {
            let (key, raw) = item.map_err(self.shared.err("listing modules"))?;
            out.push(decode_module(
                &self.shared.dir,
                &String::from_utf8_lossy(&key),
                &raw,
            )?);
        }
        Ok(out)
    }

    /// The module bytes with this hash, checked against it.
    pub fn bytes(&self, sha256: &ContentHash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(raw) = self
            .blobs
            .get(sha256.as_bytes())
            .map_err(self.shared.err(format!("reading module bytes {sha256}")))?
        else {
            return Ok(None);
        };
        let bytes = codec::unseal(&raw).map_err(|r| self.shared.corrupt(format!("blobs/{sha256}: {r}")))?;
        if ContentHash::of(bytes) != *sha256 {
            return Err(self
                .shared
                .corrupt(format!("blobs/{sha256}: content does not match its hash")));
        }
        Ok(Some(bytes.to_vec()))
    }

    /// The bytes of the active version of `name`, with its metadata.
    pub fn active_bytes(&self, name: &str) -> Result<Option<(ModuleVersion, Vec<u8>)>, StoreError> {
        let Some(module) = self.get(name)? else {
            return Ok(None);
        };
        let Some(version) = module.active_version().cloned() else {
            return Ok(None);
        };
        match self.bytes(&version.sha256)? {
            Some(bytes) => Ok(Some((version, bytes))),
            None => Err(self.shared.corrupt(format!(
                "modules/{name} version {} refers to missing blob {}",
                version.version, version.sha256
            ))),
        }
    }

    fn update(
        &self,
        name: &str,
        change: impl Fn(&mut Module) -> Result<(), StoreError>,
    ) -> Result<Module, StoreError> {
        let dir = &self.shared.dir;
        let out = self.modules.transaction(|modules| -> TxResult<Module> {
            let raw = modules.get(name)?.ok_or_else(|| {
                ConflictableTransactionError::Abort(StoreError::UnknownModule {
                    name: name.to_string(),
                })
            })?;
            let mut module = decode_module(dir, name, &raw).map_err(ConflictableTransactionError::Abort)?;
            change(&mut module).map_err(ConflictableTransactionError::Abort)?;
            modules.insert(
                name,
                encode_module(&module).map_err(ConflictableTransactionError::Abort)?,
            )?;
            Ok(module)
        });
        let module = self.finish(out, &format!("updating module `{name}`"))?;
        self.shared.flush(&format!("flushing module `{name}`"))?;
        Ok(module)
    }

    /// Holds off other uploads and removals (see [`Modules::writer`]).
    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finish<T>(&self, out: Result<T, TransactionError<StoreError>>, what: &str) -> Result<T, StoreError> {
        out.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::sled(&self.shared.dir, what, e),
        })
    }
}

/// `config_json` if it is JSON, `""` if it is blank (the default, `{}`).
pub(super) fn checked_config<'c>(name: &str, config_json: &'c str) -> Result<&'c str, StoreError> {
    if config_json.trim().is_empty() {
        return Ok("");
    }
    serde_json::from_str::<serde::de::IgnoredAny>(config_json).map_err(|e| StoreError::InvalidConfig {
        name: name.to_string(),
        detail: e.to_string(),
    })?;
    Ok(config_json)
}

/// Refuses a quarantined or removed version.
pub(super) fn runnable(v: &ModuleVersion, name: &str, version: u32) -> Result<(), StoreError> {
    match v.status {
        VersionStatus::Quarantined => Err(StoreError::Quarantined {
            name: name.to_string(),
            version,
        }),
        VersionStatus::Removed => Err(StoreError::Removed {
            name: name.to_string(),
            version,
        }),
        VersionStatus::Staged | VersionStatus::Released => Ok(()),
    }
}

/// The version `version` of `module`, or [`StoreError::UnknownVersion`].
fn version_mut<'m>(
    module: &'m mut Module,
    name: &str,
    version: u32,
) -> Result<&'m mut ModuleVersion, StoreError> {
    module
        .versions
        .iter_mut()
        .find(|v| v.version == version)
        .ok_or_else(|| StoreError::UnknownVersion {
            name: name.to_string(),
            version,
        })
}

fn encode_module(module: &Module) -> Result<Vec<u8>, StoreError> {
    codec::seal_json(module).map_err(|e| StoreError::Encode {
        what: format!("module `{}`", module.name),
        detail: e.to_string(),
    })
}

fn decode_module(dir: &std::path::Path, name: &str, raw: &[u8]) -> Result<Module, StoreError> {
    codec::unseal_json(raw).map_err(|r| StoreError::corrupt(dir, format!("modules/{name}: {r}")))
}

#[cfg(test)]
pub(super) mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::{Durability, Store, StoreOptions};

    /// Opens the store in `dir`, or in a new temporary dir.
    pub(in crate::modules) fn open(dir: Option<TempDir>) -> (TempDir, Store) {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let options = StoreOptions {
            durability: Durability::SledFlush,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), &options).unwrap();
        (dir, store)
    }

    /// A strategy upload by alice.
    pub(in crate::modules) fn upload(name: &str) -> Upload<'_> {
        Upload {
            name,
            kind: ModuleKind::Strategy,
            label: "test",
            uploaded_by: "alice",
            uploaded_at: Timestamp::from_secs(100),
            config: None,
        }
    }

    #[test]
    fn decodes_a_record_written_before_the_config_field() {
        let (_dir, store) = open(None);
        let sha = ContentHash::of(b"old");
        let old = format!(
            r#"{{"name":"old","kind":"strategy","versions":[{{"version":1,"sha256":"{sha}","size":3,"label":"v1","uploaded_by":"bob","uploaded_at":{},"status":"released"}}],"active":1}}"#,
            serde_json::to_string(&Timestamp::from_secs(5)).unwrap()
        );
        store
            .modules()
            .modules
            .insert("old", codec::seal(old.as_bytes()))
            .unwrap();
        let module = store.modules().get("old").unwrap().unwrap();
        assert_eq!(module.config, "");
        assert_eq!(module.guest_config(), "{}");
        assert_eq!(module.active_version().unwrap().sha256, sha);
        assert_eq!(module.version(1).unwrap().uploaded_at, Timestamp::from_secs(5));
    }

    #[test]
    fn removed_status_is_snake_case_on_disk() {
        assert_eq!(
            serde_json::to_string(&VersionStatus::Removed).unwrap(),
            r#""removed""#
        );
    }

    #[test]
    fn config_is_stored_and_blank_means_an_empty_object() {
        let (dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        assert_eq!(m.get("s").unwrap().unwrap().guest_config(), "{}");
        let module = m.set_config("s", r#"{"fast": 2, "slow": 5}"#).unwrap();
        assert_eq!(module.guest_config(), r#"{"fast": 2, "slow": 5}"#);
        drop(store);

        let (_dir, store) = open(Some(dir));
        let m = store.modules();
        assert_eq!(m.get("s").unwrap().unwrap().config, r#"{"fast": 2, "slow": 5}"#);
        let module = m.set_config("s", "  \n").unwrap();
        assert_eq!((module.config.as_str(), module.guest_config()), ("", "{}"));
    }

    #[test]
    fn config_that_is_not_json_is_refused_by_module_name() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        m.set_config("s", r#"{"fast": 2}"#).unwrap();
        let err = m.set_config("s", r#"{"fast": 2"#).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidConfig { name, .. } if name == "s"),
            "{err:?}"
        );
        assert!(err.to_string().contains("module `s` is not valid JSON"), "{err}");
        assert_eq!(m.get("s").unwrap().unwrap().config, r#"{"fast": 2}"#, "unchanged");
        assert!(matches!(
            m.set_config("nope", "{}"),
            Err(StoreError::UnknownModule { .. })
        ));
    }

    #[test]
    fn deactivate_clears_the_active_version_and_keeps_statuses() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        m.add_version(&upload("s"), b"two").unwrap();
        m.activate("s", 1).unwrap();
        let before = m.activate("s", 2).unwrap();
        let after = m.deactivate("s").unwrap();
        assert_eq!(after.active, None);
        assert_eq!(after.versions, before.versions);
        assert_eq!(m.active_bytes("s").unwrap(), None);
        m.activate("s", 2).unwrap();
        assert!(matches!(
            m.deactivate("nope"),
            Err(StoreError::UnknownModule { .. })
        ));
    }
}
