//! Guest modules: every uploaded version of every strategy and indicator,
//! which one is active, and the module bytes (stored once per content hash).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;
use crate::hash::ContentHash;
use crate::store::Shared;

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
}

/// The `modules` and `blobs` trees. Every write here is flushed before it
/// returns: uploads and activations are rare and must survive a crash.
#[derive(Debug)]
pub struct Modules {
    shared: Arc<Shared>,
    modules: sled::Tree,
    blobs: sled::Tree,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl Modules {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            modules: shared.tree("modules")?,
            blobs: shared.tree("blobs")?,
            shared,
        })
    }

    /// Stores `bytes` as a new version of `upload.name` (creating the module)
    /// and returns it. Uploading bytes that already are a version of this
    /// module returns that version unchanged (retried uploads are harmless).
    pub fn add_version(&self, upload: &Upload<'_>, bytes: &[u8]) -> Result<ModuleVersion, StoreError> {
        let sha256 = ContentHash::of(bytes);
        let sealed_blob = codec::seal(bytes);
        let dir = &self.shared.dir;
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
                },
            };
            if let Some(existing) = module.versions.iter().find(|v| v.sha256 == sha256) {
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

    /// Makes `version` the active one and marks it released.
    pub fn activate(&self, name: &str, version: u32) -> Result<Module, StoreError> {
        self.update(name, |module| {
            let v = module
                .versions
                .iter_mut()
                .find(|v| v.version == version)
                .ok_or_else(|| StoreError::UnknownVersion {
                    name: name.to_string(),
                    version,
                })?;
            if v.status == VersionStatus::Quarantined {
                return Err(StoreError::Quarantined {
                    name: name.to_string(),
                    version,
                });
            }
            v.status = VersionStatus::Released;
            module.active = Some(version);
            Ok(())
        })
    }

    /// Quarantines `version`; if it was active, the module has none active.
    pub fn quarantine(&self, name: &str, version: u32) -> Result<Module, StoreError> {
        self.update(name, |module| {
            let v = module
                .versions
                .iter_mut()
                .find(|v| v.version == version)
                .ok_or_else(|| StoreError::UnknownVersion {
                    name: name.to_string(),
                    version,
                })?;
            v.status = VersionStatus::Quarantined;
            if module.active == Some(version) {
                module.active = None;
            }
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

    fn finish<T>(&self, out: Result<T, TransactionError<StoreError>>, what: &str) -> Result<T, StoreError> {
        out.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::sled(&self.shared.dir, what, e),
        })
    }
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
