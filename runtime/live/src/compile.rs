//! Compiling uploads: a bounded number at a time, within a memory estimate
//! and a deadline, always off the event loop and the async threads.
//!
//! An upload is checked first without compiling (`Registry::precheck`:
//! imports, world, size; milliseconds), so a refusal never waits here. What
//! passes comes to the [`CompileGate`]: it waits for one of
//! [`CompileConfig::max_concurrent`] slots and for its share of
//! [`CompileConfig::memory_budget_bytes`], then compiles on a blocking
//! thread. Waiting and compiling together may take at most
//! [`CompileConfig::timeout_ms`]; past it the upload is refused with the
//! reason. Cranelift cannot be interrupted, so an overrunning compilation
//! finishes in the background, keeps its slot and its memory share until it
//! does, and its result is discarded: the bounds hold on what really runs.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::LiveError;

const MIB: u64 = 1024 * 1024;

/// Memory a compilation needs per byte of wasm function bodies, as
/// estimated for [`CompileConfig::memory_budget_bytes`]: wasmtime's Cranelift
/// holds the machine code, relocations and unwind tables of every function
/// plus one function's working set per compiling thread. Measured: a guest
/// with 15 MB of code raised serve's RSS by about 380 MiB (≈ 26 per byte);
/// 32 leaves headroom.
pub const COMPILE_BYTES_PER_CODE_BYTE: u64 = 32;

/// How uploads are compiled (`guests.compile` in the serve config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompileConfig {
    /// Uploads compiled at once; more wait for a slot (within `timeout_ms`).
    /// An upload that is refused by its imports or world never waits.
    /// Default 2.
    pub max_concurrent: usize,
    /// Longest an upload may wait for a slot and compile, in milliseconds;
    /// past it the upload is refused (`RESOURCE_EXHAUSTED`, naming this
    /// setting). Keep it below the client's deadline (`wasmtrade strategy
    /// upload --upload-timeout`, default 180 s) so the client hears the
    /// reason. Default 60 000.
    pub timeout_ms: u64,
    /// Memory all compilations running at once may use, estimated before
    /// compiling as the guest's bytes of function bodies times
    /// [`COMPILE_BYTES_PER_CODE_BYTE`]. A guest whose estimate alone exceeds
    /// it is refused at once; otherwise it waits until its share is free.
    /// Default 1 GiB.
    pub memory_budget_bytes: u64,
}

impl Default for CompileConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 2,
            timeout_ms: 60_000,
            memory_budget_bytes: 1024 * MIB,
        }
    }
}

impl CompileConfig {
    /// Every invalid field, as `guests.compile.<field> ...` messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_concurrent == 0 || self.max_concurrent > Semaphore::MAX_PERMITS {
            out.push("guests.compile.max_concurrent must be at least 1".to_string());
        }
        if self.timeout_ms == 0 {
            out.push("guests.compile.timeout_ms must be at least 1".to_string());
        }
        if self.memory_budget_bytes < MIB {
            out.push("guests.compile.memory_budget_bytes must be at least 1048576 (1 MiB)".to_string());
        }
        out
    }
}

/// Bounds on the compilations of uploads running at once (see the module docs).
pub(crate) struct CompileGate {
    slots: Arc<Semaphore>,
    /// One permit per MiB of the memory budget.
    memory: Arc<Semaphore>,
    config: CompileConfig,
}

/// Estimated memory to compile `code_bytes` of function bodies, in MiB (at least 1).
fn estimate_mib(code_bytes: u64) -> u64 {
    code_bytes
        .saturating_mul(COMPILE_BYTES_PER_CODE_BYTE)
        .div_ceil(MIB)
        .max(1)
}

impl CompileGate {
    pub(crate) fn new(config: CompileConfig) -> Self {
        let budget_mib = usize::try_from(config.memory_budget_bytes / MIB)
            .unwrap_or(usize::MAX)
            .clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(
                config.max_concurrent.clamp(1, Semaphore::MAX_PERMITS),
            )),
            memory: Arc::new(Semaphore::new(budget_mib)),
            config,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    /// Runs `compile` of upload `name` (with `code_bytes` of function
    /// bodies) on a blocking thread once a slot and its memory share are
    /// free, or refuses it with the reason: its estimate is above the whole
    /// budget, or waiting and compiling took longer than the deadline.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        name: &str,
        code_bytes: u64,
        compile: impl FnOnce() -> Result<T, LiveError> + Send + 'static,
    ) -> Result<T, LiveError> {
        let start = Instant::now();
        let deadline = start + self.timeout();
        let need_mib = estimate_mib(code_bytes);
        let budget_mib = self.config.memory_budget_bytes / MIB;
        if need_mib > budget_mib {
            return Err(LiveError::ResourceExhausted(format!(
                "upload of `{name}` has {code_bytes} bytes of code: compiling it needs about {need_mib} MiB, above the compile memory budget of {budget_mib} MiB (guests.compile.memory_budget_bytes): make the guest smaller or raise the budget"
            )));
        }
        let waited = |what: &str| {
            LiveError::ResourceExhausted(format!(
                "upload of `{name}` waited {} ms for {what} and was refused (guests.compile.timeout_ms = {}; guests.compile.max_concurrent = {}): other uploads are compiling, retry later",
                start.elapsed().as_millis(),
                self.config.timeout_ms,
                self.config.max_concurrent
            ))
        };
        let slot = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| waited("a compile slot"))?
            .map_err(|_| LiveError::stopped())?;
        // `need_mib <= budget_mib`; a budget beyond u32::MAX MiB is not real.
        let permits = u32::try_from(need_mib).unwrap_or(u32::MAX);
        let memory = tokio::time::timeout_at(deadline, self.memory.clone().acquire_many_owned(permits))
            .await
            .map_err(|_| waited("its share of the compile memory budget"))?
            .map_err(|_| LiveError::stopped())?;
        tracing::info!(module = %name, code_bytes, estimate_mib = need_mib, "compiling an upload");
        let task = tokio::task::spawn_blocking(move || {
            // Held until the compilation really ends, even after a timeout.
            let _held = (slot, memory);
            compile()
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(LiveError::Internal(format!(
                "the compile task of `{name}` failed: {e}"
            ))),
            Err(_) => {
                tracing::warn!(module = %name, timeout_ms = self.config.timeout_ms, "upload refused: compiling took longer than the deadline; the compilation finishes in the background and is discarded");
                Err(LiveError::ResourceExhausted(format!(
                    "upload of `{name}` was refused: compiling it took longer than {} ms (guests.compile.timeout_ms); make the guest smaller (less code) or raise the limit",
                    self.config.timeout_ms
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn gate(max_concurrent: usize, timeout_ms: u64, budget_mib: u64) -> CompileGate {
        CompileGate::new(CompileConfig {
            max_concurrent,
            timeout_ms,
            memory_budget_bytes: budget_mib * MIB,
        })
    }

    #[tokio::test]
    async fn refuses_at_once_a_guest_whose_estimate_exceeds_the_budget() {
        let g = gate(2, 60_000, 64);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let err = g
            .run("big", 4 * MIB, move || {
                r.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LiveError::ResourceExhausted(m) if m.contains("memory_budget_bytes")),
            "{err}"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing was compiled");
        assert!(g.run("small", 1000, || Ok(7)).await.is_ok());
    }

    #[tokio::test]
    async fn refuses_a_compilation_over_the_deadline_and_keeps_its_slot_until_it_ends() {
        let g = gate(1, 300, 64);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let err = g
            .run("slow", 1000, move || {
                let _ = hold.recv();
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LiveError::ResourceExhausted(m) if m.contains("took longer than 300 ms")),
            "{err}"
        );
        // The slow compilation still runs: the only slot stays taken.
        let err = g.run("next", 1000, || Ok(())).await.unwrap_err();
        assert!(
            matches!(&err, LiveError::ResourceExhausted(m) if m.contains("compile slot")),
            "{err}"
        );
        release.send(()).unwrap();
        assert!(g.run("after", 1000, || Ok(())).await.is_ok());
    }

    #[tokio::test]
    async fn runs_up_to_max_concurrent_at_once() {
        let g = Arc::new(gate(2, 5_000, 64));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (g, running, peak) = (g.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                g.run(&format!("m{i}"), 1000, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn config_problems_name_the_field() {
        assert!(CompileConfig::default().problems().is_empty());
        let bad = CompileConfig {
            max_concurrent: 0,
            timeout_ms: 0,
            memory_budget_bytes: 10,
        };
        let p = bad.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("guests.compile.max_concurrent"));
    }
}
