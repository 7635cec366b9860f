//! A `wasmtrade paper-venue` process for the recovery and rollout tests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use wasmtrade_broker::VenueReport;
use wasmtrade_venue::{Reply, Request, VenueStatus};

use crate::wasmtrade_bin;

/// A `wasmtrade paper-venue` process on a loopback port, killed when dropped.
pub struct Venue {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
}

impl Venue {
    /// Starts a venue producing `speed` bars per second.
    pub fn start(speed: &str) -> anyhow::Result<Venue> {
        let mut child = Command::new(wasmtrade_bin()?)
            .args(["paper-venue", "--listen", "127.0.0.1:0", "--speed", speed])
            .env_remove("WASMTRADE_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start wasmtrade paper-venue")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?)
            .read_line(&mut line)
            .context("reading the venue's address")?;
        let Some(addr) = line.trim().rsplit(' ').next().filter(|a| a.contains(':')) else {
            bail!("the venue did not print its address: {line:?}");
        };
        Ok(Venue {
            addr: addr.to_string(),
            child,
        })
    }

    /// One request, one reply.
    pub fn call(&self, request: &Request) -> anyhow::Result<Reply> {
        let mut conn = TcpStream::connect(&self.addr).context("connecting to the venue")?;
        let mut text = serde_json::to_string(request)?;
        text.push('\n');
        conn.write_all(text.as_bytes())?;
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line)?;
        serde_json::from_str(&line).with_context(|| format!("bad venue reply {line:?}"))
    }

    /// Everything the venue knows about the account.
    pub fn report(&self) -> anyhow::Result<VenueReport> {
        match self.call(&Request::Report)? {
            Reply::Report { report, .. } => Ok(report),
            other => bail!("expected a report, got {other:?}"),
        }
    }

    /// The venue's counters.
    pub fn status(&self) -> anyhow::Result<VenueStatus> {
        match self.call(&Request::Status)? {
            Reply::Status(s) => Ok(s),
            other => bail!("expected a status, got {other:?}"),
        }
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
