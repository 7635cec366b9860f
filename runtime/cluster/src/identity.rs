//! Who this process is in the cluster: pod name, namespace, StatefulSet
//! ordinal, and a holder identity unique to this *process*.
//!
//! The pod name comes from `POD_NAME` (downward API, `metadata.name`),
//! falling back to `HOSTNAME` (which the kubelet sets to the pod name); the
//! namespace from `POD_NAMESPACE` (`metadata.namespace`), falling back to
//! the service-account namespace file. `POD_UID` (`metadata.uid`) is
//! optional and makes Events point at the exact pod incarnation.
//!
//! The Lease holder identity is `<pod>/<uid or "-">/<random per process>`,
//! never the bare pod name: after `kubectl delete pod --force` the old
//! process may still run while a new pod *with the same name* starts, and
//! the two must not mistake each other's Lease for their own.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use crate::error::IdentityError;

/// Where Kubernetes mounts the service account's namespace.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The identity of this runtime process in its StatefulSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIdentity {
    pod_name: String,
    namespace: String,
    ordinal: u32,
    uid: Option<String>,
    holder: String,
}

impl PodIdentity {
    /// Builds an identity from its parts; the holder identity gets a fresh
    /// per-process random suffix.
    pub fn new(pod_name: &str, namespace: &str, uid: Option<&str>) -> Result<PodIdentity, IdentityError> {
        let ordinal = parse_ordinal(pod_name)?;
        let nonce = std::hash::RandomState::new().build_hasher().finish();
        Ok(PodIdentity {
            pod_name: pod_name.to_string(),
            namespace: namespace.to_string(),
            ordinal,
            uid: uid.map(str::to_string),
            holder: format!("{pod_name}/{}/{nonce:016x}", uid.unwrap_or("-")),
        })
    }

    /// Reads the identity from the process environment (see the module docs).
    /// `namespace_fallback` (the `[cluster] namespace` setting) is used only
    /// when neither `POD_NAMESPACE` nor the service-account file tells.
    pub fn from_env(namespace_fallback: Option<&str>) -> Result<PodIdentity, IdentityError> {
        Self::from_lookup(
            |key| std::env::var(key).ok(),
            Path::new(SERVICE_ACCOUNT_NAMESPACE_FILE),
            namespace_fallback,
        )
    }

    /// [`PodIdentity::from_env`] with the environment and the namespace
    /// file supplied by the caller (tests).
    pub fn from_lookup(
        env: impl Fn(&str) -> Option<String>,
        namespace_file: &Path,
        namespace_fallback: Option<&str>,
    ) -> Result<PodIdentity, IdentityError> {
        let non_empty = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        let pod_name = non_empty("POD_NAME")
            .or_else(|| non_empty("HOSTNAME"))
            .ok_or(IdentityError::NoPodName)?;
        let namespace = match non_empty("POD_NAMESPACE") {
            Some(ns) => ns,
            None => match (read_namespace_file(namespace_file), namespace_fallback) {
                (Ok(ns), _) => ns,
                (Err(_), Some(ns)) => ns.to_string(),
                (Err(e), None) => return Err(e),
            },
        };
        let uid = non_empty("POD_UID");
        Self::new(pod_name.trim(), namespace.trim(), uid.as_deref().map(str::trim))
    }

    /// The pod name, e.g. `wasmtrade-2`.
    pub fn pod_name(&self) -> &str {
        &self.pod_name
    }

    /// The pod's namespace (where its Events go).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The StatefulSet ordinal (2 for `wasmtrade-2`).
    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }

    /// The pod UID, when `POD_UID` is set.
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// The Lease holder identity: unique to this process.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

fn read_namespace_file(path: &Path) -> Result<String, IdentityError> {
    let no_namespace = |reason: String| IdentityError::NoNamespace {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| no_namespace(e.to_string()))?;
    let ns = text.trim();
    if ns.is_empty() {
        return Err(no_namespace("the file is empty".to_string()));
    }
    Ok(ns.to_string())
}

/// The StatefulSet ordinal of a pod name: the digits after the last '-'.
pub fn parse_ordinal(pod_name: &str) -> Result<u32, IdentityError> {
    let no_ordinal = || IdentityError::NoOrdinal {
        name: pod_name.to_string(),
    };
    let (set, digits) = pod_name.rsplit_once('-').ok_or_else(no_ordinal)?;
    if set.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(no_ordinal());
    }
    // Kubernetes never writes a leading zero ("web-01" is not an ordinal).
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(no_ordinal());
    }
    digits.parse().map_err(|_| no_ordinal())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn parses_statefulset_ordinals() {
        for (name, ordinal) in [
            ("wasmtrade-0", 0),
            ("wasmtrade-2", 2),
            ("my-trading-app-17", 17),
            ("a-4294967295", u32::MAX),
        ] {
            assert_eq!(parse_ordinal(name), Ok(ordinal), "{name}");
        }
    }

    #[test]
    fn refuses_names_without_an_ordinal_with_a_clear_error() {
        for name in [
            "wasmtrade",
            "wasmtrade-",
            "-3",
            "wasmtrade-abc",
            "wasmtrade-7f9c4d-xk2pq",
            "wasmtrade-01",
            "a-4294967296",
            "",
        ] {
            let err = parse_ordinal(name);
            assert_eq!(
                err,
                Err(IdentityError::NoOrdinal {
                    name: name.to_string()
                }),
                "{name}"
            );
        }
        let msg = parse_ordinal("wasmtrade").err().map(|e| e.to_string());
        assert!(msg.is_some_and(|m| m.contains("`wasmtrade`") && m.contains("StatefulSet")));
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_the_downward_api_variables() {
        let id = PodIdentity::from_lookup(
            env(&[
                ("POD_NAME", "wasmtrade-1"),
                ("POD_NAMESPACE", "trading"),
                ("POD_UID", "6f0b3c1e-uid"),
                ("HOSTNAME", "ignored-9"),
            ]),
            Path::new("/nonexistent"),
            None,
        );
        let id = match id {
            Ok(id) => id,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(id.pod_name(), "wasmtrade-1");
        assert_eq!(id.namespace(), "trading");
        assert_eq!(id.ordinal(), 1);
        assert_eq!(id.uid(), Some("6f0b3c1e-uid"));
        assert!(
            id.holder().starts_with("wasmtrade-1/6f0b3c1e-uid/"),
            "{}",
            id.holder()
        );
    }

    #[test]
    fn falls_back_to_hostname_and_the_service_account_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("namespace");
        std::fs::write(&file, "prod-trading\n").unwrap_or_else(|e| panic!("{e}"));
        let id = PodIdentity::from_lookup(env(&[("HOSTNAME", "wasmtrade-3")]), &file, None);
        assert!(id.as_ref().is_ok_and(|id| id.namespace() == "prod-trading"
            && id.ordinal() == 3
            && id.holder().starts_with("wasmtrade-3/-/")));
        let file_wins = PodIdentity::from_lookup(env(&[("HOSTNAME", "wasmtrade-3")]), &file, Some("other"));
        assert!(file_wins.is_ok_and(|id| id.namespace() == "prod-trading"));
        let fallback = PodIdentity::from_lookup(
            env(&[("HOSTNAME", "wasmtrade-3")]),
            Path::new("/nonexistent"),
            Some("other"),
        );
        assert!(fallback.is_ok_and(|id| id.namespace() == "other"));
    }

    #[test]
    fn says_what_is_missing() {
        let none = PodIdentity::from_lookup(env(&[]), Path::new("/nonexistent"), None);
        assert_eq!(none, Err(IdentityError::NoPodName));
        let no_ns = PodIdentity::from_lookup(
            env(&[("POD_NAME", "wasmtrade-0")]),
            Path::new("/nonexistent/namespace"),
            None,
        );
        let msg = no_ns.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("POD_NAMESPACE") && msg.contains("/nonexistent/namespace"),
            "{msg}"
        );
    }

    #[test]
    fn two_processes_of_one_pod_name_hold_different_identities() {
        let a = PodIdentity::new("wasmtrade-0", "ns", Some("uid-a"));
        let b = PodIdentity::new("wasmtrade-0", "ns", Some("uid-a"));
        match (a, b) {
            (Ok(a), Ok(b)) => assert_ne!(a.holder(), b.holder()),
            other => panic!("{other:?}"),
        }
    }
}
