//! A full volume: journal writes fail with `DiskFull`, nothing committed is
//! lost, and the store opens again once space is freed.
//!
//! Uses a real 4 MiB tmpfs (needs root, as on the project's machines and CI).
//! Where mounting is not permitted the test says so and returns; the ENOSPC
//! → `DiskFull` mapping is also covered by the unit test
//! `error::tests::enospc_from_sled_is_disk_full`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::intent;
use wasmtrade_store::{Seq, Store, StoreError, StoreOptions};

struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }
    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn fill_until_refused(dir: &Path) -> (u64, StoreError) {
    let store = Store::open(dir, &StoreOptions::default()).unwrap();
    let journal = store.journal();
    let mut committed = 0;
    for batch in 0u64.. {
        let records: Vec<_> = (0..32).map(|i| intent(batch * 32 + i + 1)).collect();
        match journal.append_batch(&records).and_then(|_| journal.commit()) {
            Ok(Some(Seq(s))) => committed = s,
            Ok(None) => unreachable!("a commit after appends has a sequence"),
            Err(err) => {
                // Refused from now on, before anything could be sent.
                let again = journal.append_durable(&intent(u64::MAX)).unwrap_err();
                assert!(
                    matches!(again, StoreError::JournalFailed { .. }) || again.is_disk_full(),
                    "{again:?}"
                );
                return (committed, err);
            }
        }
        assert!(batch < 100_000, "a 4 MiB volume never filled");
    }
    unreachable!()
}

#[test]
fn full_volume_refuses_new_records_and_keeps_committed_ones() {
    let Some(fs) = Tmpfs::mount("4m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?); ENOSPC mapping is covered by a unit test");
        return;
    };
    let dir = fs.path.join("data");
    let (committed, err) = fill_until_refused(&dir);
    eprintln!("volume full after {committed} committed records: {err}");
    assert!(err.is_disk_full(), "expected DiskFull, got {err:?}");
    assert!(committed > 0);
    assert!(err.to_string().contains("free space"), "{err}");

    // Space freed: the store opens and every committed record is intact.
    fs.resize("64m");
    let store = Store::open(&dir, &StoreOptions::default()).unwrap();
    let entries: Vec<_> = store.journal().replay().collect::<Result<_, _>>().unwrap();
    assert!(
        entries.len() as u64 >= committed,
        "{} < {committed}",
        entries.len()
    );
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq.0, i as u64 + 1);
    }
    store.journal().append_durable(&intent(1)).unwrap();
}
