//! What one guest's [`Store`](wasmtime::Store) holds: its context, a WASI
//! context that inherits nothing, and its resource limiter.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtrade_model::{GuestContext, GuestRng, LogLevel};

use crate::HostConfig;
use crate::hostcalls::{HostBudget, HostUse};
use crate::memory::{MemoryBudget, MemoryShare};

/// Per-guest store data.
pub(crate) struct GuestState {
    /// Answers host imports; the engine updates it between callbacks.
    pub(crate) ctx: GuestContext,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: GuestLimiter,
    /// What host calls are charged against (see `hostcalls`).
    pub(crate) host_budget: HostBudget,
    /// What host calls took from the running callback (reset per callback).
    pub(crate) host_use: HostUse,
    output: Arc<CapturedOutput>,
}

impl GuestState {
    pub(crate) fn new(ctx: GuestContext, config: &HostConfig, memory: &Arc<MemoryBudget>) -> Self {
        let output = Arc::new(CapturedOutput::new(config.max_log_bytes));
        // Randomness is derived from (but does not advance) the guest's RNG,
        // so `wasi:random` is as reproducible as `host.random-u64`.
        let mut seeds = SplitMix::new(ctx.rng.clone().next_u64() ^ 0x5741_5349_5f52_4e47);
        let seed = (u128::from(seeds.step()) << 64) | u128::from(seeds.step());
        let wasi = WasiCtxBuilder::new()
            .stdout(LogPipe {
                out: output.clone(),
                stderr: false,
            })
            .stderr(LogPipe {
                out: output.clone(),
                stderr: true,
            })
            .secure_random(SplitMix::new(seeds.step()))
            .insecure_random(SplitMix::new(seeds.step()))
            .insecure_random_seed(seed)
            .build();
        Self {
            ctx,
            wasi,
            table: ResourceTable::new(),
            limiter: GuestLimiter {
                max_memory: config.max_memory_bytes,
                max_table: config.max_table_elements,
                max_instances: config.max_instances,
                share: MemoryShare::new(memory.clone()),
            },
            host_budget: HostBudget::new(config.fuel_per_callback.is_some()),
            host_use: HostUse::default(),
            output,
        }
    }

    /// The WASI resource table (streams, pollables).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// Moves captured stdout/stderr into the guest log (stdout as `info`,
    /// stderr as `warn`). Returns the last stderr line other than a `note:`,
    /// which after a Rust panic is the panic message. Free when the guest printed nothing.
    pub(crate) fn drain_output(&mut self) -> Option<String> {
        // A plain load first: the common case (nothing printed) costs no RMW.
        if !self.output.pending.load(Ordering::Relaxed) || !self.output.pending.swap(false, Ordering::Acquire)
        {
            return None;
        }
        let mut buf = match self.output.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut last_err = None;
        for (bytes, level) in [
            (std::mem::take(&mut buf.stdout), LogLevel::Info),
            (std::mem::take(&mut buf.stderr), LogLevel::Warn),
        ] {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.ctx.log(level, line);
                if level == LogLevel::Warn && !line.starts_with("note: ") {
                    last_err = Some(line.to_string());
                }
            }
        }
        self.ctx.dropped_logs += std::mem::take(&mut buf.dropped_writes);
        buf.used = 0;
        last_err
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A resource limit a guest hit; carried through wasmtime as the trap error
/// so the fault is reported as [`GuestFault::Limit`](wasmtrade_model::GuestFault::Limit).
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub(crate) struct LimitHit {
    pub(crate) what: String,
}

/// Bounds memory and table growth; growing past a bound traps the guest
/// (rather than returning -1, which Rust guests turn into an abort anyway).
pub(crate) struct GuestLimiter {
    max_memory: usize,
    max_table: usize,
    max_instances: usize,
    /// This guest's part of the budget of all guests.
    share: MemoryShare,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            return Err(wasmtime::Error::new(LimitHit {
                what: format!(
                    "memory of {desired} bytes (from {current}) above the limit of {} bytes",
                    self.max_memory
                ),
            }));
        }
        if let Err(full) = self.share.grow(current, desired) {
            return Err(wasmtime::Error::new(LimitHit {
                what: format!(
                    "memory of all guests: growing this one from {current} to {desired} bytes would pass the budget of {} bytes ({} held by all guests; guests.sandbox.max_total_memory_bytes)",
                    full.limit, full.used
                ),
            }));
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.share.grow_failed();
        Err(wasmtime::Error::new(LimitHit {
            what: format!("memory growth failed: {error}"),
        }))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table {
            return Err(wasmtime::Error::new(LimitHit {
                what: format!(
                    "table of {desired} elements (from {current}) above the limit of {}",
                    self.max_table
                ),
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }
    fn tables(&self) -> usize {
        self.max_instances
    }
    fn memories(&self) -> usize {
        self.max_instances
    }
}

/// The guest RNG's generator (SplitMix64) behind the `rand_core` traits
/// wasmtime-wasi wants.
struct SplitMix(GuestRng);

impl SplitMix {
    fn new(seed: u64) -> Self {
        Self(GuestRng::new(seed))
    }
    fn step(&mut self) -> u64 {
        self.0.next_u64()
    }
}

impl rand_core::TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.step() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.step())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// Stdout/stderr bytes shared by a guest's output streams, bounded.
struct CapturedOutput {
    /// Set when there is something to drain (checked without locking).
    pending: AtomicBool,
    buf: Mutex<OutputBuf>,
}

struct OutputBuf {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    used: usize,
    capacity: usize,
    dropped_writes: u64,
}

impl CapturedOutput {
    fn new(capacity: usize) -> Self {
        Self {
            pending: AtomicBool::new(false),
            buf: Mutex::new(OutputBuf {
                stdout: Vec::new(),
                stderr: Vec::new(),
                used: 0,
                capacity,
                dropped_writes: 0,
            }),
        }
    }

    /// Appends what fits; never fails, so a chatty guest is truncated, not killed.
    fn write(&self, stderr: bool, bytes: &[u8]) {
        let mut buf = match self.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let room = buf.capacity - buf.used;
        let n = bytes.len().min(room);
        if n < bytes.len() {
            buf.dropped_writes += 1;
        }
        let target = if stderr { &mut buf.stderr } else { &mut buf.stdout };
        target.extend_from_slice(&bytes[..n]);
        buf.used += n;
        self.pending.store(true, Ordering::Release);
    }
}

/// A guest stdout or stderr that feeds the guest log.
#[derive(Clone)]
struct LogPipe {
    out: Arc<CapturedOutput>,
    stderr: bool,
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Largest write a guest is invited to make at once.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.out.write(self.stderr, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.out.write(self.stderr, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
