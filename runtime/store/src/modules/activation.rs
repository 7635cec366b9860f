//! Activations: the active `(version, config)` pair and the one before it,
//! written together so that a rollback never has to reconstruct history.

use super::{Module, Modules, VersionStatus, checked_config, runnable, version_mut};
use crate::StoreError;

impl Modules {
    /// Makes `(version, config)` the active pair in one transaction: the
    /// version is marked released, `config` becomes its configuration and
    /// the module's active one, and the pair that was active is kept as
    /// [`Module::previous`] (unless it is the same pair). A quarantined or
    /// removed version is refused; `config` must be JSON (empty = `{}`).
    pub fn activate_pair(&self, name: &str, version: u32, config: &str) -> Result<Module, StoreError> {
        let config = checked_config(name, config)?;
        self.update(name, |module| {
            let before = module.active_pair();
            let v = version_mut(module, name, version)?;
            runnable(v, name, version)?;
            v.status = VersionStatus::Released;
            v.config = Some(config.to_string());
            module.active = Some(version);
            module.config = config.to_string();
            if let Some(before) = before
                && (before.version, before.config.as_str()) != (version, config)
            {
                module.previous = Some(before);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{open, upload};
    use super::*;
    use crate::{ActivePair, Upload};

    #[test]
    fn each_version_keeps_the_config_it_was_uploaded_with() {
        let (dir, store) = open(None);
        let m = store.modules();
        let a = r#"{"fast":2}"#;
        let b = r#"{"fast":3}"#;
        m.add_version(
            &Upload {
                config: Some(a),
                ..upload("s")
            },
            b"one",
        )
        .unwrap();
        m.add_version(
            &Upload {
                config: Some(b),
                ..upload("s")
            },
            b"two",
        )
        .unwrap();
        m.activate_pair("s", 1, a).unwrap();
        // Without a config, a version starts with the active one (stated on it).
        m.add_version(&upload("s"), b"three").unwrap();
        drop(store);
        let (_dir, store) = open(Some(dir));
        let module = store.modules().get("s").unwrap().unwrap();
        assert_eq!(
            [1, 2, 3].map(|v| module.config_of(v)),
            [Some(a), Some(b), Some(a)]
        );
        assert_eq!(module.config_of(4), None);
    }

    #[test]
    fn activate_pair_keeps_the_previous_pair_and_the_versions_config() {
        let (dir, store) = open(None);
        let m = store.modules();
        let (a, b, c) = (r#"{"k":"a"}"#, r#"{"k":"b"}"#, r#"{"k":"c"}"#);
        m.add_version(
            &Upload {
                config: Some(a),
                ..upload("s")
            },
            b"one",
        )
        .unwrap();
        m.add_version(
            &Upload {
                config: Some(b),
                ..upload("s")
            },
            b"two",
        )
        .unwrap();
        let first = m.activate_pair("s", 1, a).unwrap();
        assert_eq!(first.previous, None);
        let second = m.activate_pair("s", 2, b).unwrap();
        assert_eq!(
            second.active_pair(),
            Some(ActivePair {
                version: 2,
                config: b.into()
            })
        );
        assert_eq!(
            second.previous,
            Some(ActivePair {
                version: 1,
                config: a.into()
            })
        );
        // The same pair again changes nothing about the previous one.
        let again = m.activate_pair("s", 2, b).unwrap();
        assert_eq!(again.previous, second.previous);
        // A new config for the running version: the version now carries it.
        let third = m.activate_pair("s", 2, c).unwrap();
        assert_eq!(
            third.previous,
            Some(ActivePair {
                version: 2,
                config: b.into()
            })
        );
        assert_eq!(third.config_of(2), Some(c));
        assert_eq!(third.config_of(1), Some(a));
        drop(store);
        let (_dir, store) = open(Some(dir));
        assert_eq!(store.modules().get("s").unwrap().unwrap(), third);
    }

    #[test]
    fn activate_pair_refuses_bad_json_and_unrunnable_versions_without_writing() {
        let (_dir, store) = open(None);
        let m = store.modules();
        m.add_version(&upload("s"), b"one").unwrap();
        m.add_version(&upload("s"), b"two").unwrap();
        let before = m.activate_pair("s", 1, "{}").unwrap();
        assert!(matches!(
            m.activate_pair("s", 2, "{nope"),
            Err(StoreError::InvalidConfig { .. })
        ));
        m.quarantine("s", 2).unwrap();
        assert!(matches!(
            m.activate_pair("s", 2, "{}"),
            Err(StoreError::Quarantined { version: 2, .. })
        ));
        let after = m.get("s").unwrap().unwrap();
        assert_eq!(
            (after.active_pair(), after.previous),
            (before.active_pair(), None)
        );
    }
}
