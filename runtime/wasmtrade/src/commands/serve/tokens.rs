//! Who may call the API: the tokens file (`server.tokens_file`, named
//! principals with roles) and/or the single API token (`WASMTRADE_TOKEN`,
//! `server.token_file`, or one generated into the data dir), which is the
//! principal `token` with every role.
//!
//! A token file or tokens file readable or writable by every user is
//! refused: anyone on the host could take (or, from the hashes, guess at)
//! the API. One readable by a group other than the process's own is used
//! with a warning; refusing it would refuse Kubernetes Secret volumes,
//! which are mounted 0440 with the pod's fsGroup (the chart's and the
//! kustomize base's `runAsGroup`, so no warning there).

use std::path::Path;

use anyhow::{Context, bail};
use wasmtrade_server::{Principals, SINGLE_TOKEN_PRINCIPAL};

use super::ServeConfig;

/// Environment variable holding the API token itself.
pub const TOKEN_ENV: &str = "WASMTRADE_TOKEN";
/// Name of the generated token file in the data dir.
pub const TOKEN_FILE: &str = "api-token";

/// The principals the API accepts.
pub fn principals(config: &ServeConfig) -> anyhow::Result<Principals> {
    let single = single_token(config)?;
    let Some(path) = &config.server.tokens_file else {
        let token = match single {
            Some(t) => t,
            None => generated_token(&config.data_dir)?,
        };
        return Ok(Principals::single(&token));
    };
    check_private(path, "server.tokens_file")?;
    let principals = Principals::load(path)?;
    let count = principals.len();
    let principals = match single {
        Some(token) => principals.with_single(&token)?,
        None => principals,
    };
    eprintln!(
        "wasmtrade serve: {count} API principals from {}{}",
        path.display(),
        if principals.len() > count {
            format!(", and the single API token as `{SINGLE_TOKEN_PRINCIPAL}` (admin)")
        } else {
            String::new()
        }
    );
    Ok(principals)
}

/// `WASMTRADE_TOKEN`, else `server.token_file`, else none.
fn single_token(config: &ServeConfig) -> anyhow::Result<Option<String>> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_string()));
    }
    let Some(path) = &config.server.token_file else {
        return Ok(None);
    };
    check_private(path, "server.token_file")?;
    let t = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the API token file {} (server.token_file)",
            path.display()
        )
    })?;
    let t = t.trim();
    if t.is_empty() {
        bail!(
            "the API token file {} (server.token_file) is empty",
            path.display()
        );
    }
    Ok(Some(t.to_string()))
}

/// Refuses a file every user may read or write; warns if a group other
/// than the process's own may.
fn check_private(path: &Path, key: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {} ({key})", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o007 != 0 {
        bail!(
            "{} ({key}) is readable or writable by every user (mode {mode:04o}): anyone on this host could use \
             the API; run `chmod 600 {}` (0440 for a Kubernetes Secret volume)",
            path.display(),
            path.display()
        );
    }
    if mode & 0o070 != 0 && own_gid() != Some(meta.gid()) {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:04o}"),
            group = meta.gid(),
            "{key} is readable by group {} (not this process's group): its members can use the API; \
             run `chmod 600` on it",
            meta.gid()
        );
    }
    Ok(())
}

/// The process's effective group id (Linux: `/proc/self/status`).
fn own_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Gid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn generated_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    if path.is_file() {
        check_private(&path, "the generated API token")?;
    }
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let mut raw = [0u8; 32];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut raw))
            .context("cannot read /dev/urandom to generate an API token: set WASMTRADE_TOKEN")?;
    }
    let token = hex::encode(raw);
    {
        // Owner-only, like the store the data dir holds.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    }
    write_private(&path, &token)?;
    eprintln!(
        "wasmtrade serve: generated an API token into {} (set WASMTRADE_TOKEN or server.token_file to choose one, \
         or server.tokens_file to name principals)",
        path.display()
    );
    Ok(token)
}

fn write_private(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the token file {}", path.display()))?;
    f.write_all(token.as_bytes())
        .with_context(|| format!("cannot write the token file {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn with_mode(dir: &Path, mode: u32) -> std::path::PathBuf {
        let path = dir.join(format!("token-{mode:o}"));
        std::fs::write(&path, "t").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_world_readable_token_file_is_refused_and_a_group_readable_one_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_private(&with_mode(dir.path(), 0o644), "server.token_file")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("readable or writable by every user (mode 0644)"),
            "{e}"
        );
        assert!(e.contains("chmod 600"), "{e}");
        check_private(&with_mode(dir.path(), 0o440), "server.token_file").unwrap();
        check_private(&with_mode(dir.path(), 0o600), "server.token_file").unwrap();
        assert!(own_gid().is_some(), "the process's group is known on Linux");
    }
}
