//! Removing versions and whole modules, and deleting the module bytes that
//! no live version references any more.
//!
//! A removed version keeps its record (number, hash, who uploaded it), so
//! the history stays readable and numbers are never reused. Its bytes are
//! deleted in the same transaction as the status change, unless a version
//! that is not removed, of this or any other module, has the same sha256.

use std::collections::BTreeSet;

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{Module, Modules, TxResult, VersionStatus, decode_module, encode_module, version_mut};
use crate::StoreError;
use crate::hash::ContentHash;

impl Modules {
    /// Marks `version` of `name` removed and deletes its bytes if no other
    /// live version of any module shares them. The active version is
    /// refused ([`StoreError::ActiveVersion`]): activate another one first,
    /// or use [`remove_module`](Self::remove_module). Removing a removed
    /// version again changes nothing.
    pub fn remove(&self, name: &str, version: u32) -> Result<Module, StoreError> {
        self.remove_where(name, |module| {
            version_mut(module, name, version)?;
            if module.active == Some(version) {
                return Err(StoreError::ActiveVersion {
                    name: name.to_string(),
                    version,
                });
            }
            version_mut(module, name, version)?.status = VersionStatus::Removed;
            Ok(())
        })
    }

    /// Marks every version of `name` removed, clears its active version and
    /// deletes the bytes no other module uses. The record stays: its history
    /// remains listable, and a later upload under the same name continues
    /// numbering after its last version.
    pub fn remove_module(&self, name: &str) -> Result<Module, StoreError> {
        self.remove_where(name, |module| {
            module.active = None;
            for v in &mut module.versions {
                v.status = VersionStatus::Removed;
            }
            Ok(())
        })
    }

    /// Applies `change` to `name` and, in the same transaction, deletes the
    /// blobs of its removed versions that nothing live references.
    fn remove_where(
        &self,
        name: &str,
        change: impl Fn(&mut Module) -> Result<(), StoreError>,
    ) -> Result<Module, StoreError> {
        let dir = &self.shared.dir;
        // Held until the commit, so no upload adds a reference to a blob
        // after the scan found none.
        let _writer = self.lock_writer();
        let elsewhere = self.live_hashes_except(name)?;
        let out = (&self.modules, &self.blobs).transaction(
            |(modules, blobs)| -> TxResult<(Module, Vec<ContentHash>)> {
                let raw = modules.get(name)?.ok_or_else(|| {
                    ConflictableTransactionError::Abort(StoreError::UnknownModule {
                        name: name.to_string(),
                    })
                })?;
                let mut module =
                    decode_module(dir, name, &raw).map_err(ConflictableTransactionError::Abort)?;
                change(&mut module).map_err(ConflictableTransactionError::Abort)?;
                let mut deleted = Vec::new();
                for sha in unreferenced(&module, &elsewhere) {
                    if blobs.remove(&sha.as_bytes()[..])?.is_some() {
                        deleted.push(sha);
                    }
                }
                modules.insert(
                    name,
                    encode_module(&module).map_err(ConflictableTransactionError::Abort)?,
                )?;
                Ok((module, deleted))
            },
        );
        let (module, deleted) = self.finish(out, &format!("removing from module `{name}`"))?;
        // The compiled forms of deleted bytes go too (after the commit: a
        // crash in between leaves an artifact nothing will ask for, which
        // the next removal of the same bytes, or nothing, cleans; never a
        // version without its artifact).
        let artifacts = self.shared.tree("artifacts")?;
        for sha in &deleted {
            let compiled = crate::artifacts::remove_compiled(&artifacts, &self.shared, sha)?;
            tracing::info!(module = name, sha256 = %sha, compiled, "deleted module bytes no live version uses, and their compiled artifacts");
        }
        self.shared.flush(&format!("flushing module `{name}`"))?;
        Ok(module)
    }

    /// Hashes of every version that is not removed, in every module but `name`.
    fn live_hashes_except(&self, name: &str) -> Result<BTreeSet<ContentHash>, StoreError> {
        let mut live = BTreeSet::new();
        for item in self.modules.iter() {
            let (key, raw) = item.map_err(self.shared.err("listing modules to find shared module bytes"))?;
            if *key == *name.as_bytes() {
                continue;
            }
            let module = decode_module(&self.shared.dir, &String::from_utf8_lossy(&key), &raw)?;
            live.extend(
                module
                    .versions
                    .iter()
                    .filter(|v| v.status != VersionStatus::Removed)
                    .map(|v| v.sha256),
            );
        }
        Ok(live)
    }
}

/// Hashes of `module`'s removed versions that neither a live version of
/// `module` nor anything in `elsewhere` uses.
fn unreferenced(module: &Module, elsewhere: &BTreeSet<ContentHash>) -> BTreeSet<ContentHash> {
    let (removed, live): (Vec<_>, Vec<_>) = module
        .versions
        .iter()
        .partition(|v| v.status == VersionStatus::Removed);
    let live: BTreeSet<ContentHash> = live.iter().map(|v| v.sha256).collect();
    removed
        .iter()
        .map(|v| v.sha256)
        .filter(|sha| !live.contains(sha) && !elsewhere.contains(sha))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{open, upload};
    use super::*;

    #[test]
    fn removes_a_non_active_version_and_deletes_its_bytes() {
        let (dir, store) = open(None);
        let m = store.modules();
        let v1 = m.add_version(&upload("s"), b"one").unwrap();
        let v2 = m.add_version(&upload("s"), b"two").unwrap();
        m.activate("s", 2).unwrap();
        let module = m.remove("s", 1).unwrap();
        assert_eq!(module.version(1).unwrap().status, VersionStatus::Removed);
        assert_eq!(module.active, Some(2));
        assert_eq!(m.bytes(&v1.sha256).unwrap(), None);
        drop(store);

        let (_dir, store) = open(Some(dir));
        let module = store.modules().get("s").unwrap().unwrap();
        assert_eq!(module.version(1).unwrap().status, VersionStatus::Removed);
        assert_eq!(module.version(1).unwrap().sha256, v1.sha256, "the record stays");
        assert_eq!(store.modules().bytes(&v1.sha256).unwrap(), None);
        assert_eq!(store.modules().bytes(&v2.sha256).unwrap().unwrap(), b"two");
        assert_eq!(store.modules().active_bytes("s").unwrap().unwrap().0.version, 2);
    }

    #[test]
    fn removing_deletes_the_compiled_artifacts_of_deleted_bytes_only() {
        let (_dir, store) = open(None);
        let m = store.modules();
        let v1 = m.add_version(&upload("s"), b"one").unwrap();
        let v2 = m.add_version(&upload("s"), b"two").unwrap();
        // Version 3 of another module shares version 1's bytes at first.
        let shared = m.add_version(&upload("t"), b"one").unwrap();
        assert_eq!(shared.sha256, v1.sha256);
        let a = store.artifacts();
        for sha in [&v1.sha256, &v2.sha256] {
            a.put(sha, "engine-a", b"compiled").unwrap();
            a.put(sha, "engine-b", b"compiled").unwrap();
        }
        m.activate("s", 2).unwrap();

        m.remove("s", 1).unwrap();
        assert!(
            a.get(&v1.sha256, "engine-a").unwrap().is_some(),
            "module t still uses these bytes"
        );

        m.remove_module("t").unwrap();
        for engine in ["engine-a", "engine-b"] {
            assert_eq!(
                a.get(&v1.sha256, engine).unwrap(),
                None,
                "no live version uses v1's bytes"
            );
            assert!(a.get(&v2.sha256, engine).unwrap().is_some(), "v2 is active");
        }
        assert_eq!(a.remove_module(&v2.sha256).unwrap(), 2);
    }

    #[test]
    fn refuses_to_remove_the_active_version() {
        let (_dir, store) = open(None);
        let m = store.modules();
        let v1 = m.add_version(&upload("s"), b"one").unwrap();
        m.activate("s", 1).unwrap();
        let err = m.remove("s", 1).unwrap_err();
        assert!(
            matches!(&err, StoreError::ActiveVersion { name, version: 1 } if name == "s"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("module `s` version 1 is active"), "{text}");
        assert!(
            text.contains("activate (roll back to) another version first"),
            "{text}"
        );
        let module = m.get("s").unwrap().unwrap();
        assert_eq!(
            (module.active, module.version(1).unwrap().status),
            (Some(1), VersionStatus::Released)
        );
        assert!(m.bytes(&v1.sha256).unwrap().is_some());
    }

    #[test]
    fn refuses_to_activate_a_removed_version() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        m.add_version(&upload("s"), b"two").unwrap();
        m.remove("s", 1).unwrap();
        let err = m.activate("s", 1).unwrap_err();
        assert!(matches!(err, StoreError::Removed { version: 1, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "module `s` version 1 was removed: upload it again to use it"
        );
        assert_eq!(m.get("s").unwrap().unwrap().active, None);
    }

    #[test]
    fn unknown_names_and_versions_are_refused() {
        let (_dir, store) = open(None);
        let m = store.modules();
        assert!(matches!(
            m.remove("nope", 1),
            Err(StoreError::UnknownModule { .. })
        ));
        assert!(matches!(
            m.remove_module("nope"),
            Err(StoreError::UnknownModule { .. })
        ));
        m.add_version(&upload("s"), b"one").unwrap();
        assert!(matches!(
            m.remove("s", 7),
            Err(StoreError::UnknownVersion { version: 7, .. })
        ));
    }

    #[test]
    fn removing_twice_changes_nothing() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        let first = m.remove("s", 1).unwrap();
        assert_eq!(m.remove("s", 1).unwrap(), first);
    }

    #[test]
    fn quarantine_leaves_a_removed_version_removed() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        m.remove("s", 1).unwrap();
        let module = m.quarantine("s", 1).unwrap();
        assert_eq!(module.version(1).unwrap().status, VersionStatus::Removed);
    }

    #[test]
    fn a_removed_module_keeps_its_record_and_numbering() {
        let (dir, store) = open(None);
        let m = store.modules();
        let v1 = m.add_version(&upload("s"), b"one").unwrap();
        let v2 = m.add_version(&upload("s"), b"two").unwrap();
        m.activate("s", 2).unwrap();
        m.set_config("s", r#"{"fast": 2}"#).unwrap();
        let module = m.remove_module("s").unwrap();
        assert_eq!(module.active, None);
        assert!(module.versions.iter().all(|v| v.status == VersionStatus::Removed));
        assert_eq!(m.bytes(&v1.sha256).unwrap(), None);
        assert_eq!(m.bytes(&v2.sha256).unwrap(), None);
        assert_eq!(m.active_bytes("s").unwrap(), None);
        drop(store);

        let (_dir, store) = open(Some(dir));
        let m = store.modules();
        assert_eq!(m.list().unwrap().len(), 1, "the record stays listed");
        // The bytes of removed v1 again: a new version after the last one.
        let v3 = m.add_version(&upload("s"), b"one").unwrap();
        assert_eq!((v3.version, v3.status), (3, VersionStatus::Staged));
        assert_eq!(v3.sha256, v1.sha256);
        assert_eq!(m.bytes(&v3.sha256).unwrap().unwrap(), b"one");
        // A retry of that upload returns v3, not the removed v1.
        assert_eq!(m.add_version(&upload("s"), b"one").unwrap(), v3);
        let module = m.activate("s", 3).unwrap();
        assert_eq!(module.active, Some(3));
        assert_eq!(module.version(1).unwrap().status, VersionStatus::Removed);
        assert_eq!(module.config, r#"{"fast": 2}"#, "the configuration stays");
    }

    #[test]
    fn keeps_bytes_another_module_still_uses() {
        let (_dir, store) = open(None);
        let m = store.modules();
        let a = m.add_version(&upload("a"), b"shared").unwrap();
        m.add_version(&upload("b"), b"shared").unwrap();
        m.remove("a", 1).unwrap();
        assert_eq!(m.bytes(&a.sha256).unwrap().unwrap(), b"shared");
        assert_eq!(m.active_bytes("b").unwrap(), None);
        m.activate("b", 1).unwrap();
        assert_eq!(m.active_bytes("b").unwrap().unwrap().1, b"shared");
        m.remove_module("b").unwrap();
        assert_eq!(m.bytes(&a.sha256).unwrap(), None, "the last user is gone");
    }

    #[test]
    fn keeps_bytes_a_quarantined_version_still_uses() {
        let (_dir, store) = open(None);
        let m = store.modules();
        let a = m.add_version(&upload("a"), b"shared").unwrap();
        m.add_version(&upload("b"), b"shared").unwrap();
        m.quarantine("b", 1).unwrap();
        m.remove_module("a").unwrap();
        assert!(m.bytes(&a.sha256).unwrap().is_some());
    }

    #[test]
    fn keeps_bytes_a_later_version_of_the_same_module_uses() {
        let (_dir, store) = open(None);
        let m = store.modules();
        let v1 = m.add_version(&upload("s"), b"one").unwrap();
        m.add_version(&upload("s"), b"two").unwrap();
        m.remove("s", 1).unwrap();
        let v3 = m.add_version(&upload("s"), b"one").unwrap();
        assert_eq!(v3.version, 3);
        // Removing v2 retries the deletion of v1's bytes, which v3 now uses.
        m.remove("s", 2).unwrap();
        assert_eq!(m.bytes(&v1.sha256).unwrap().unwrap(), b"one");
    }
}
