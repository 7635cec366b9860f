//! Helpers for the end-to-end tests: where the real binary and the real
//! guests are, and how to run them.
//!
//! The guests are built by `make guests` (part of `make test`) into
//! `target/wasm32-wasip2/guest/`; the binary by `cargo build --release -p
//! wasmtrade`. Set `WASMTRADE_GUEST_DIR` / `WASMTRADE_BIN` to use others.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

pub mod ops;
pub mod venue;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory holding built guest components.
pub fn guest_dir() -> PathBuf {
    match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target/wasm32-wasip2/guest"),
    }
}

/// Path of a built guest (`sma_cross`, `rsi`, ...); fails with what to run if missing.
pub fn guest_path(name: &str) -> anyhow::Result<PathBuf> {
    let p = guest_dir().join(format!("{name}.wasm"));
    if !p.is_file() {
        bail!(
            "guest {} is not built: run `make guests` (or `make test`)",
            p.display()
        );
    }
    Ok(p)
}

/// The bytes of a built guest.
pub fn guest_bytes(name: &str) -> anyhow::Result<Vec<u8>> {
    let p = guest_path(name)?;
    std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
}

/// Path of the `wasmtrade` binary of the current profile.
pub fn wasmtrade_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASMTRADE_BIN") {
        return Ok(PathBuf::from(p));
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().context("cannot find the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable is not in target/<profile>/deps")?;
    let bin = profile_dir.join("wasmtrade");
    if !bin.is_file() {
        bail!(
            "{} is not built: run `cargo build --release -p wasmtrade` (or `make test`)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Runs the binary with `args` and returns its output.
pub fn run_cli<I, S>(args: I) -> anyhow::Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let bin = wasmtrade_bin()?;
    Command::new(&bin)
        .args(args)
        .env_remove("WASMTRADE_LOG")
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))
}

/// A Python interpreter with TA-Lib (set up by `make test`).
pub fn python() -> anyhow::Result<PathBuf> {
    match std::env::var_os("WASMTRADE_PYTHON") {
        Some(p) => Ok(PathBuf::from(p)),
        None => bail!("set WASMTRADE_PYTHON to a python with TA-Lib and numpy, or run `make test`"),
    }
}

/// Writes `out`, a CLSTM-PPO model that is slow to load
/// (`tests/python/make_slow_model.py`: the bundled graph plus a chain of
/// `nodes` no-op nodes the inference library analyses at load).
pub fn slow_model(out: &Path, nodes: u32) -> anyhow::Result<()> {
    let run = Command::new(python()?)
        .arg(workspace_root().join("tests/python/make_slow_model.py"))
        .arg(out)
        .arg(nodes.to_string())
        .output()?;
    if !run.status.success() {
        bail!(
            "make_slow_model.py failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    Ok(())
}

/// Appends a custom section `name` with `payload` to a wasm component or
/// module: the same code under a different sha256, as a rebuild with a new
/// version label would give. Custom sections may appear anywhere.
pub fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Runs `wasmtrade serve` on `data_dir` with `env`, expecting it to refuse
/// to start: it must exit by itself, unsuccessfully, within 30 s. Returns
/// its stderr.
#[allow(
    clippy::disallowed_methods,
    reason = "a test waits in real time for a process"
)]
pub fn serve_refused(data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut cmd = Command::new(wasmtrade_bin()?);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--ops-listen",
        "",
        "--data-dir",
    ])
    .arg(data_dir)
    .env_remove("WASMTRADE_LOG")
    .env("WASMTRADE_TOKEN", "t")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().context("cannot start wasmtrade serve")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            let out = child.wait_with_output()?;
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if status.success() {
                bail!("serve started although it had to refuse:\n{stderr}");
            }
            return Ok(stderr);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("serve neither started nor refused within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A `wasmtrade serve` process on a loopback port with its own data dir,
/// stopped with SIGTERM (or killed) when dropped.
pub struct Serve {
    child: std::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// The API token.
    pub token: String,
    /// Its data dir.
    pub data_dir: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `wasmtrade serve` with `env` overrides (e.g.
    /// `WASMTRADE__MARKET__SPEED=0`) on `data_dir`, waiting until it listens.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Serve> {
        Self::start_within(data_dir, env, std::time::Duration::from_secs(60))
    }

    /// [`Serve::start`], waiting up to `timeout` (a policy guest's first
    /// compile takes a while).
    pub fn start_within(
        data_dir: &Path,
        env: &[(&str, &str)],
        timeout: std::time::Duration,
    ) -> anyhow::Result<Serve> {
        use std::io::BufRead;
        let bin = wasmtrade_bin()?;
        let token = "e2e-token".to_string();
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("WASMTRADE_LOG")
            .env("WASMTRADE_TOKEN", &token)
            // Tests run side by side: an ephemeral ops port unless `env` sets one.
            .env("WASMTRADE__SERVER__OPS_LISTEN", "127.0.0.1:0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                        let _ = tx.send(addr);
                    }
                    if let Ok(mut l) = lines.lock() {
                        l.push(line);
                    }
                }
            });
        }
        let addr = match rx.recv_timeout(timeout) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let log = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
                bail!("wasmtrade serve did not start listening within {timeout:?}; stderr:\n{log}");
            }
        };
        Ok(Serve {
            child,
            addr,
            token,
            data_dir: data_dir.to_path_buf(),
            stderr: lines,
        })
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs the CLI against this server (`--json` is up to the caller).
    pub fn cli<I, S>(&self, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let bin = wasmtrade_bin()?;
        Command::new(&bin)
            .args(args)
            .env_remove("WASMTRADE_LOG")
            .env("WASMTRADE_SERVER", &self.addr)
            .env("WASMTRADE_TOKEN", &self.token)
            .output()
            .with_context(|| format!("cannot run {}", bin.display()))
    }

    /// Runs the CLI against this server with another API `token` (a
    /// principal of the tokens file).
    pub fn cli_as<I, S>(&self, token: &str, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let bin = wasmtrade_bin()?;
        Command::new(&bin)
            .args(args)
            .env_remove("WASMTRADE_LOG")
            .env("WASMTRADE_SERVER", &self.addr)
            .env("WASMTRADE_TOKEN", token)
            .output()
            .with_context(|| format!("cannot run {}", bin.display()))
    }

    /// Runs the CLI and parses its `--json` stdout; fails with stderr if it failed.
    pub fn cli_json<I, S>(&self, args: I) -> anyhow::Result<serde_json::Value>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.cli(args)?;
        if !out.status.success() {
            bail!("CLI failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("CLI output is not JSON: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// What [`Serve::cli`] needs, to run the CLI from another thread.
    pub fn clone_cli_env(&self) -> CliEnv {
        CliEnv {
            addr: self.addr.clone(),
            token: self.token.clone(),
        }
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (a crash: no shutdown code runs) and
    /// reaps it.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("cannot SIGKILL the server")?;
        self.child.wait().context("cannot reap the server")?;
        Ok(())
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit status.
    #[allow(clippy::disallowed_methods, reason = "a test waits in real time")]
    pub fn terminate(&mut self, timeout: std::time::Duration) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("cannot run kill")?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("cannot wait for the server")? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                bail!(
                    "wasmtrade serve did not exit within {timeout:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server address and token, to run the CLI from any thread.
#[derive(Clone, Debug)]
pub struct CliEnv {
    addr: String,
    token: String,
}

impl CliEnv {
    /// Runs the CLI against the server; panics if it cannot start.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let bin = wasmtrade_bin().unwrap_or_default();
        Command::new(&bin)
            .args(args)
            .env_remove("WASMTRADE_LOG")
            .env("WASMTRADE_SERVER", &self.addr)
            .env("WASMTRADE_TOKEN", &self.token)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    }
}

/// The resident set of process `pid` in bytes, from /proc.
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")?;
    Ok(kib * 1024)
}

/// The bytes of every file under `dir` (what `du --apparent-size` counts).
pub fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// A fenced block of the README: its info string and its lines.
pub struct Block {
    /// The info string (`sh`, `toml`, `rust`).
    pub lang: String,
    /// The block's lines.
    pub text: String,
}

/// The fenced code blocks of `markdown` between the heading `from` and the
/// next heading of the same level.
pub fn markdown_blocks(markdown: &str, from: &str) -> Vec<Block> {
    let start = markdown
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in the README"));
    let rest = &markdown[start + from.len()..];
    let section = rest.find("\n## ").map_or(rest, |end| &rest[..end]);
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for inner in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            text.push_str(inner);
            text.push('\n');
        }
        out.push(Block {
            lang: lang.trim().to_string(),
            text,
        });
    }
    out
}

/// Runs a `sh` block line by line in `dir` (each line a command, as a user
/// pastes them, `#` lines skipped), with the release `wasmtrade` first on
/// `PATH` and none of this repository's cargo settings; returns
/// each command with its output, failing the test on the first that fails.
#[allow(clippy::unwrap_used, reason = "a test helper: a failure is the test's")]
pub fn run_sh_block(block: &str, dir: &Path) -> Vec<(String, String)> {
    // One block at a time: the projects share a cargo build directory (see
    // below), and two cargo runs writing the same artifact there race.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bin = wasmtrade_bin().unwrap();
    let bin_dir = bin.parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut all = Vec::new();
    for line in block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("PATH", &path)
            // The author's machine: none of this repository's settings.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("CARGO_MANIFEST_DIR")
            .env_remove("RUSTFLAGS")
            // `make test` lints while it compiles (clippy-driver as the
            // workspace wrapper); an author's build does not.
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            // One cargo build directory (intermediate artifacts only:
            // `build.build-dir`) for every project these tests build, so
            // the SDK's dependencies compile once, not once per test; each
            // project's outputs stay in its own `target/`, where its
            // README's commands look for them.
            .env(
                "CARGO_BUILD_BUILD_DIR",
                workspace_root().join("target/out-of-tree-build"),
            )
            .output()
            .unwrap();
        let text = format!(
            "$ {line}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "`{line}` failed in {}:\n{text}",
            dir.display()
        );
        all.push((line.to_string(), text));
    }
    all
}

/// The output of the command starting with `prefix`.
pub fn output_of<'a>(log: &'a [(String, String)], prefix: &str) -> &'a str {
    log.iter()
        .find(|(line, _)| line.starts_with(prefix))
        .map(|(_, out)| out.as_str())
        .unwrap_or_else(|| panic!("the README no longer runs `{prefix}`"))
}
