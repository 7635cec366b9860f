//! Precompiled guest artifacts, keyed by (module hash, engine fingerprint).
//!
//! The fingerprint names everything that makes a precompiled artifact valid
//! (wasmtime version, target, engine configuration). A lookup with another
//! fingerprint is a miss, so an upgraded host recompiles instead of loading
//! code it cannot trust. Hits and misses are counted for metrics and tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;
use crate::codec;
use crate::hash::ContentHash;
use crate::store::Shared;

/// Hit and miss counts since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found an artifact.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
}

/// The `artifacts` tree. Writes are not flushed: a lost artifact is only a
/// recompilation.
#[derive(Debug)]
pub struct Artifacts {
    shared: Arc<Shared>,
    tree: sled::Tree,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Artifacts {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            tree: shared.tree("artifacts")?,
            shared,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Stores the artifact compiled from `module` by the engine `fingerprint`.
    pub fn put(&self, module: &ContentHash, fingerprint: &str, artifact: &[u8]) -> Result<(), StoreError> {
        self.tree
            .insert(key(module, fingerprint), codec::seal(artifact))
            .map_err(
                self.shared
                    .err(format!("storing artifact {module} for `{fingerprint}`")),
            )?;
        Ok(())
    }

    /// The artifact for `module` under `fingerprint`; counts a hit or a miss.
    /// A corrupt artifact is an error, not a miss: the caller may delete it
    /// with [`remove`](Self::remove) and recompile.
    pub fn get(&self, module: &ContentHash, fingerprint: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let raw = self.tree.get(key(module, fingerprint)).map_err(
            self.shared
                .err(format!("reading artifact {module} for `{fingerprint}`")),
        )?;
        let Some(raw) = raw else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let bytes = codec::unseal(&raw).map_err(|r| {
            self.shared
                .corrupt(format!("artifacts/{module}/{fingerprint}: {r}"))
        })?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Ok(Some(bytes.to_vec()))
    }

    /// Deletes one artifact.
    pub fn remove(&self, module: &ContentHash, fingerprint: &str) -> Result<(), StoreError> {
        self.tree.remove(key(module, fingerprint)).map_err(
            self.shared
                .err(format!("removing artifact {module} for `{fingerprint}`")),
        )?;
        Ok(())
    }

    /// Deletes every artifact compiled from `module`, by any engine;
    /// returns how many. Called when the module's bytes are deleted.
    pub fn remove_module(&self, module: &ContentHash) -> Result<usize, StoreError> {
        remove_compiled(&self.tree, &self.shared, module)
    }

    /// Deletes artifacts built by any engine other than `fingerprint`;
    /// returns how many.
    pub fn retain_fingerprint(&self, fingerprint: &str) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.tree.iter() {
            let (k, _) = item.map_err(self.shared.err("listing artifacts"))?;
            if k.get(32..) != Some(fingerprint.as_bytes()) {
                self.tree
                    .remove(&k)
                    .map_err(self.shared.err("removing a stale artifact"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Hits and misses since open.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Deletes every key of `tree` (the artifacts tree) that starts with
/// `module`'s hash; shared with [`crate::Modules`], which deletes a
/// version's compiled forms together with its bytes.
pub(crate) fn remove_compiled(
    tree: &sled::Tree,
    shared: &Shared,
    module: &ContentHash,
) -> Result<usize, StoreError> {
    let mut removed = 0;
    for item in tree.scan_prefix(module.as_bytes()) {
        let (k, _) = item.map_err(shared.err(format!("listing the artifacts of {module}")))?;
        tree.remove(&k)
            .map_err(shared.err(format!("removing an artifact of {module}")))?;
        removed += 1;
    }
    Ok(removed)
}

/// `sha256 (32 bytes) ++ fingerprint (utf-8)`.
fn key(module: &ContentHash, fingerprint: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + fingerprint.len());
    k.extend_from_slice(module.as_bytes());
    k.extend_from_slice(fingerprint.as_bytes());
    k
}
