//! The schema record and the migration framework.
//!
//! Every store carries `meta/schema` = [`SchemaRecord`]. On open, a store
//! older than [`SCHEMA_VERSION`] is brought forward one registered step at a
//! time; each step is followed by a durable update of the record, so a crash
//! mid-migration resumes at the step that did not finish (steps must
//! therefore be idempotent). A newer store is refused.

use std::path::Path;

use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The storage engine (and on-disk format line) this binary uses.
pub const ENGINE: &str = "sled 0.34";

/// Key of the schema record in the `meta` tree.
pub(crate) const SCHEMA_KEY: &[u8] = b"schema";

/// What a store says about itself (`meta/schema`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaRecord {
    /// Layout version of the trees, keys and values.
    pub schema_version: u32,
    /// When the store was created (wall clock of the creating host).
    pub created: Timestamp,
    /// Storage engine that wrote it, e.g. `sled 0.34`.
    pub engine: String,
}

/// One step from `from` to `from + 1`.
pub(crate) struct Migration {
    /// Version the step starts from.
    pub(crate) from: u32,
    /// What it does, for the log.
    pub(crate) description: &'static str,
    /// The step; must be idempotent.
    pub(crate) apply: fn(&sled::Db) -> sled::Result<()>,
}

/// Migrations known to this binary, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    from: 0,
    description: "v0 (pre-release) to v1: same layout, only the version number changes",
    apply: |_db| Ok(()),
}];

/// Writes the schema record (not flushed).
pub(crate) fn write(dir: &Path, meta: &sled::Tree, record: &SchemaRecord) -> Result<(), StoreError> {
    let value = codec::seal_json(record).map_err(|e| StoreError::Encode {
        what: "schema record".into(),
        detail: e.to_string(),
    })?;
    meta.insert(SCHEMA_KEY, value)
        .map_err(|e| StoreError::sled(dir, "writing the schema record", e))?;
    Ok(())
}

/// Reads the schema record; `None` if absent.
pub(crate) fn read(dir: &Path, meta: &sled::Tree) -> Result<Option<SchemaRecord>, StoreError> {
    let Some(raw) = meta
        .get(SCHEMA_KEY)
        .map_err(|e| StoreError::sled(dir, "reading the schema record", e))?
    else {
        return Ok(None);
    };
    codec::unseal_json(&raw)
        .map(Some)
        .map_err(|reason| StoreError::corrupt(dir, format!("meta/schema: {reason}")))
}

/// Checks `record` against this binary and migrates it forward with `steps`
/// up to `target`. Returns the record as it is afterwards.
pub(crate) fn check_and_migrate(
    dir: &Path,
    db: &sled::Db,
    meta: &sled::Tree,
    mut record: SchemaRecord,
    target: u32,
    steps: &[Migration],
) -> Result<SchemaRecord, StoreError> {
    if record.engine != ENGINE {
        return Err(StoreError::EngineMismatch {
            dir: dir.to_path_buf(),
            found: record.engine,
            expected: ENGINE.to_string(),
        });
    }
    if record.schema_version > target {
        return Err(StoreError::SchemaTooNew {
            dir: dir.to_path_buf(),
            found: record.schema_version,
            supported: target,
        });
    }
    while record.schema_version < target {
        let from = record.schema_version;
        let step = steps
            .iter()
            .find(|m| m.from == from)
            .ok_or_else(|| StoreError::NoMigration {
                dir: dir.to_path_buf(),
                from,
            })?;
        tracing::info!(dir = %dir.display(), from, to = from + 1, step = step.description, "migrating store schema");
        (step.apply)(db)
            .map_err(|e| StoreError::sled(dir, format!("migrating schema {from} to {}", from + 1), e))?;
        record.schema_version = from + 1;
        write(dir, meta, &record)?;
        db.flush()
            .map_err(|e| StoreError::sled(dir, "flushing after a schema migration", e))?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, sled::Db, sled::Tree) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path().join("db")).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        (dir, db, meta)
    }

    fn record(v: u32) -> SchemaRecord {
        SchemaRecord {
            schema_version: v,
            created: Timestamp::from_secs(1),
            engine: ENGINE.into(),
        }
    }

    #[test]
    fn runs_steps_in_order_and_records_each() {
        let (dir, db, meta) = fixture();
        let steps = [
            Migration {
                from: 1,
                description: "v1 to v2: add a marker",
                apply: |db| db.insert("marker-2", "x").map(|_| ()),
            },
            Migration {
                from: 0,
                description: "no-op",
                apply: |_| Ok(()),
            },
        ];
        let out = check_and_migrate(dir.path(), &db, &meta, record(0), 2, &steps).unwrap();
        assert_eq!(out.schema_version, 2);
        assert_eq!(read(dir.path(), &meta).unwrap().unwrap().schema_version, 2);
        assert!(db.get("marker-2").unwrap().is_some());
    }

    #[test]
    fn stops_at_the_first_missing_step() {
        let (dir, db, meta) = fixture();
        write(dir.path(), &meta, &record(0)).unwrap();
        let err = check_and_migrate(dir.path(), &db, &meta, record(0), 2, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::NoMigration { from: 1, .. }), "{err:?}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let (dir, db, meta) = fixture();
        let err = check_and_migrate(dir.path(), &db, &meta, record(7), 1, MIGRATIONS).unwrap_err();
        assert!(matches!(
            err,
            StoreError::SchemaTooNew {
                found: 7,
                supported: 1,
                ..
            }
        ));
    }

    #[test]
    fn other_engine_is_refused() {
        let (dir, db, meta) = fixture();
        let mut r = record(1);
        r.engine = "sled 1.0".into();
        let err = check_and_migrate(dir.path(), &db, &meta, r, 1, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::EngineMismatch { .. }));
    }
}
