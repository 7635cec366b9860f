//! `Deployments`: what the event loop knows about every deployed module —
//! its kind, the active `(version, config)` pair, the last good snapshot,
//! the shadow run's pair and, for policies, the model they run — in one
//! place, kept equal to the store's record of the active pair.
//!
//! The loop changes a module's active pair only through
//! [`Deployments::activate`], which writes the store first (the new pair and
//! the previous one, in one transaction, through [`ActiveRecord`]) and only
//! then changes what is kept here: when the write fails nothing changes, and
//! the loop undoes the guest swap it made for that activation. The running
//! guest, the store's active pair and the versions tagged on events are
//! therefore always the same one.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtrade_store::{ActivePair, Store, StoreError};

use crate::observer::Versions;
use crate::view::GuestKind;

/// Where the loop records which `(version, config)` pair of a module is
/// active. The store implements it; tests put a failing one in between.
pub(crate) trait ActiveRecord: Send + Sync {
    /// Records `(version, config)` as the active pair of module `name`,
    /// keeping the pair it replaces as the previous one, in one transaction.
    fn commit(&self, name: &str, version: u32, config: &str) -> Result<(), StoreError>;
}

impl ActiveRecord for Store {
    fn commit(&self, name: &str, version: u32, config: &str) -> Result<(), StoreError> {
        self.modules().activate_pair(name, version, config).map(drop)
    }
}

/// One deployed module (strategy or indicator) as the loop runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deployment {
    /// Strategy or indicator.
    pub(crate) kind: GuestKind,
    /// The version that runs and the configuration it was started with.
    pub(crate) active: ActivePair,
    /// The last snapshot taken while the guest was healthy: what a restart
    /// after a fault resumes from.
    pub(crate) last_good: Option<Vec<u8>>,
    /// The pair running in shadow, if any.
    pub(crate) shadow: Option<ActivePair>,
}

/// Every deployed module of the loop (see the module docs).
pub(crate) struct Deployments {
    modules: BTreeMap<String, Deployment>,
    /// Policies from the configuration (strategies outside the store).
    policies: BTreeMap<String, crate::policy::Hosted>,
    /// The versions the observer tags events with: written only here.
    tags: Versions,
    record: Arc<dyn ActiveRecord>,
}

/// Why an activation was not recorded.
#[derive(Debug, thiserror::Error)]
#[error("the store did not record `{name}` v{version} as active")]
pub(crate) struct NotRecorded {
    /// Module.
    pub(crate) name: String,
    /// The version that was to become active.
    pub(crate) version: u32,
    /// The store's error.
    #[source]
    pub(crate) source: StoreError,
}

impl Deployments {
    /// No module yet; activations are recorded through `record`, versions
    /// published to the observer through `tags`.
    pub(crate) fn new(record: Arc<dyn ActiveRecord>, tags: Versions) -> Self {
        Self {
            modules: BTreeMap::new(),
            policies: BTreeMap::new(),
            tags,
            record,
        }
    }

    /// The module `name`, if it runs.
    pub(crate) fn get(&self, name: &str) -> Option<&Deployment> {
        self.modules.get(name)
    }

    /// Every running module, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Deployment)> {
        self.modules.iter()
    }

    /// The running strategies' names and versions.
    pub(crate) fn strategies(&self) -> Vec<(String, u32)> {
        self.modules
            .iter()
            .filter(|(_, d)| d.kind == GuestKind::Strategy)
            .map(|(n, d)| (n.clone(), d.active.version))
            .collect()
    }

    /// Makes `pair` the active one of module `name` (of `kind`). With
    /// `persist`, the store records it first (with the pair it replaces as
    /// the previous one); if that fails nothing changes here. Returns the
    /// version that was active.
    pub(crate) fn activate(
        &mut self,
        name: &str,
        kind: GuestKind,
        pair: ActivePair,
        persist: bool,
    ) -> Result<Option<u32>, NotRecorded> {
        if persist {
            self.record
                .commit(name, pair.version, &pair.config)
                .map_err(|source| NotRecorded {
                    name: name.to_string(),
                    version: pair.version,
                    source,
                })?;
        }
        self.tags
            .versions
            .borrow_mut()
            .insert(name.to_string(), pair.version);
        let previous = self.modules.get(name).map(|d| d.active.version);
        let deployment = self
            .modules
            .entry(name.to_string())
            .or_insert_with(|| Deployment {
                kind,
                active: pair.clone(),
                last_good: None,
                shadow: None,
            });
        if previous.is_some_and(|p| p != pair.version) {
            // A snapshot of another version is no state for this one.
            deployment.last_good = None;
        }
        deployment.kind = kind;
        deployment.active = pair;
        Ok(previous)
    }

    /// Keeps `state` as the last good snapshot of `name`.
    pub(crate) fn keep_good(&mut self, name: &str, state: Vec<u8>) {
        if let Some(d) = self.modules.get_mut(name) {
            d.last_good = Some(state);
        } else if let Some(h) = self.policies.get_mut(name) {
            h.last_good = Some(state);
        }
    }

    /// What a restart of strategy or policy `name` after a fault starts
    /// from: the version that runs (a policy's model version) and its last
    /// good snapshot. `None` if no strategy or policy of that name runs.
    pub(crate) fn restart_point(&self, name: &str) -> Option<(u32, Option<&Vec<u8>>)> {
        match (self.modules.get(name), self.policies.get(name)) {
            (Some(d), _) => Some((d.active.version, d.last_good.as_ref())),
            (None, Some(h)) => Some((u32::try_from(h.version).unwrap_or(u32::MAX), h.last_good.as_ref())),
            (None, None) => None,
        }
    }

    /// Every running policy: name, model and model version.
    pub(crate) fn policies(&self) -> impl Iterator<Item = (&String, &crate::policy::Hosted)> {
        self.policies.iter()
    }

    /// The strategies and policies whose state is snapshotted: names and
    /// the versions their snapshots are stored under (a policy's model
    /// version).
    pub(crate) fn snapshotted(&self) -> Vec<(String, u32)> {
        let mut out = self.strategies();
        out.extend(
            self.policies
                .iter()
                .map(|(n, h)| (n.clone(), u32::try_from(h.version).unwrap_or(u32::MAX))),
        );
        out
    }

    /// Records that `pair` runs in shadow of `name` (or none does).
    pub(crate) fn set_shadow(&mut self, name: &str, pair: Option<ActivePair>) {
        if let Some(d) = self.modules.get_mut(name) {
            d.shadow = pair;
        }
    }

    /// Forgets module `name` (it stopped); returns what it was.
    pub(crate) fn remove(&mut self, name: &str) -> Option<Deployment> {
        let gone = self.modules.remove(name)?;
        self.tags.versions.borrow_mut().remove(name);
        Some(gone)
    }

    /// True if a module or a policy of that name runs.
    pub(crate) fn is_taken(&self, name: &str) -> bool {
        self.modules.contains_key(name) || self.policies.contains_key(name)
    }

    /// Adds policy `name` running `hosted`.
    pub(crate) fn add_policy(&mut self, name: &str, hosted: crate::policy::Hosted) {
        let tag = u32::try_from(hosted.version).unwrap_or(u32::MAX);
        self.policies.insert(name.to_string(), hosted);
        self.tags.versions.borrow_mut().insert(name.to_string(), tag);
    }

    /// The model version policy `name` runs (0 if it is no policy).
    pub(crate) fn policy_version(&self, name: &str) -> u64 {
        self.policies.get(name).map_or(0, |h| h.version)
    }

    /// Records that policy `name` now runs model version `version`.
    pub(crate) fn set_policy_version(&mut self, name: &str, version: u64) {
        if let Some(h) = self.policies.get_mut(name) {
            h.version = version;
            let tag = u32::try_from(version).unwrap_or(u32::MAX);
            self.tags.versions.borrow_mut().insert(name.to_string(), tag);
        }
    }

    /// Records the candidate model policy `name` evaluates in its shadow
    /// (`None`: none any more); returns the one it replaces.
    pub(crate) fn set_policy_candidate(
        &mut self,
        name: &str,
        candidate: Option<crate::policy::Candidate>,
    ) -> Option<crate::policy::Candidate> {
        let h = self.policies.get_mut(name)?;
        std::mem::replace(&mut h.candidate, candidate)
    }

    /// True if some policy evaluates a candidate model (cheap: asked after
    /// every bar).
    pub(crate) fn has_candidates(&self) -> bool {
        self.policies.values().any(|h| h.candidate.is_some())
    }

    /// The policies evaluating a candidate model.
    pub(crate) fn policies_with_candidates(&self) -> Vec<String> {
        self.policies
            .iter()
            .filter(|(_, h)| h.candidate.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::rc::Rc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::observer::LoopState;

    /// The store, or a refusal while `fail` is set (the fault injected by tests).
    pub(crate) struct Flaky {
        pub(crate) store: Arc<Store>,
        pub(crate) fail: AtomicBool,
    }

    impl ActiveRecord for Flaky {
        fn commit(&self, name: &str, version: u32, config: &str) -> Result<(), StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Encode {
                    what: format!("module `{name}` (injected failure)"),
                    detail: "the test refused the write".into(),
                });
            }
            self.store.commit(name, version, config)
        }
    }

    /// A store in a temporary dir with module `s`: v1 (config a), v2 (config b).
    pub(crate) fn store_with_two_versions() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &wasmtrade_store::StoreOptions::default()).unwrap();
        for (bytes, config) in [(&b"one"[..], r#"{"k":"a"}"#), (&b"two"[..], r#"{"k":"b"}"#)] {
            let upload = wasmtrade_store::Upload {
                name: "s",
                kind: wasmtrade_store::ModuleKind::Strategy,
                label: "test",
                uploaded_by: "test",
                uploaded_at: wasmtrade_model::Timestamp::from_secs(1),
                config: Some(config),
            };
            store.modules().add_version(&upload, bytes).unwrap();
        }
        (dir, Arc::new(store))
    }

    fn pair(version: u32, config: &str) -> ActivePair {
        ActivePair {
            version,
            config: config.to_string(),
        }
    }

    #[test]
    fn a_failed_store_write_changes_neither_the_registry_nor_the_event_tags() {
        let (_dir, store) = store_with_two_versions();
        let flaky = Arc::new(Flaky {
            store: store.clone(),
            fail: AtomicBool::new(false),
        });
        let tags: Versions = Rc::new(LoopState::default());
        let mut d = Deployments::new(flaky.clone(), tags.clone());
        d.activate("s", GuestKind::Strategy, pair(1, r#"{"k":"a"}"#), true)
            .unwrap();
        d.keep_good("s", vec![1, 2, 3]);
        flaky.fail.store(true, Ordering::SeqCst);
        let err = d
            .activate("s", GuestKind::Strategy, pair(2, r#"{"k":"b"}"#), true)
            .unwrap_err();
        assert_eq!((err.name.as_str(), err.version), ("s", 2));
        let s = d.get("s").unwrap();
        assert_eq!(s.active, pair(1, r#"{"k":"a"}"#));
        assert_eq!(s.last_good.as_deref(), Some(&[1, 2, 3][..]));
        assert_eq!(tags.versions.borrow().get("s"), Some(&1));
        let stored = store.modules().get("s").unwrap().unwrap();
        assert_eq!(stored.active_pair(), Some(pair(1, r#"{"k":"a"}"#)));
    }

    #[test]
    fn an_activation_is_stored_with_the_previous_pair_and_drops_the_old_versions_snapshot() {
        let (_dir, store) = store_with_two_versions();
        let tags: Versions = Rc::new(LoopState::default());
        let mut d = Deployments::new(store.clone(), tags.clone());
        assert_eq!(
            d.activate("s", GuestKind::Strategy, pair(1, "{}"), true).unwrap(),
            None
        );
        d.keep_good("s", vec![9]);
        assert_eq!(
            d.activate("s", GuestKind::Strategy, pair(2, r#"{"k":"c"}"#), true)
                .unwrap(),
            Some(1)
        );
        assert_eq!(d.get("s").unwrap().last_good, None);
        assert_eq!(tags.versions.borrow().get("s"), Some(&2));
        let stored = store.modules().get("s").unwrap().unwrap();
        assert_eq!(stored.active_pair(), Some(pair(2, r#"{"k":"c"}"#)));
        assert_eq!(stored.previous, Some(pair(1, "{}")));
        // Without `persist` (a start-up restore of what the store says) the
        // store is not written.
        d.activate("s", GuestKind::Strategy, pair(1, "{}"), false)
            .unwrap();
        let stored = store.modules().get("s").unwrap().unwrap();
        assert_eq!(stored.active, Some(2));
        assert_eq!(d.remove("s").map(|x| x.active.version), Some(1));
        assert_eq!(tags.versions.borrow().get("s"), None);
    }
}
