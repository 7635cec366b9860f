//! Inference latency per action of the CLSTM-PPO policy: the wasm guest
//! (tract compiled for wasm32-wasip2 with SIMD128, run by the host's
//! sandbox) against the same tract code compiled natively, and against
//! onnxruntime (Python, one thread), all measured in one run on the same
//! model and observations. Then the shadow gate's overhead per decision:
//! the policy as the engine runs it (`PolicyStrategy::on_bar`: window,
//! observation, action, orders) alone and with a candidate model evaluated
//! in its shadow.
//!
//! `make guests python && WASMTRADE_PYTHON=target/pyenv/bin/python cargo bench --workspace --bench policy`
//! Set `BENCH_ACTIONS` to change the number of timed actions (default 2000).
//! Target (perf.md R6): wasm ≤ 2× native.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clstm_ppo::inference::Model;
use wasmtrade_e2e::{guest_bytes, python, workspace_root};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_model::{
    AccountView, Bar, GuestContext, InstrumentId, Instruments, Observation, Price, Quantity, StrategyGuest,
    Timestamp,
};
use wasmtrade_policy::{GateConfig, PolicyStrategy};

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut t: Vec<Duration>) -> Stats {
    t.sort();
    let mean = t.iter().sum::<Duration>() / t.len() as u32;
    Stats {
        p50: t[t.len() / 2],
        p99: t[t.len() * 99 / 100],
        mean,
    }
}

#[allow(clippy::disallowed_methods)]
fn time_each(n: usize, mut f: impl FnMut(usize)) -> Stats {
    for i in 0..50 {
        f(i);
    }
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = std::time::Instant::now();
        f(i);
        times.push(start.elapsed());
    }
    stats(times)
}

/// Bar `k` of a gently oscillating market (every bar a decision once the
/// window is full).
fn bar(k: i64) -> Bar {
    let close = 100.0 + 5.0 * (k as f64 / 10.0).sin() + 0.01 * k as f64;
    let p = Price::from_f64(close).unwrap();
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(k * 60),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: Quantity::from_int(1_000),
    }
}

/// Per-bar time of the policy alone and with a candidate in its shadow
/// (a window the gate never reaches, so it evaluates throughout).
fn shadow_overhead(active: &[u8], candidate: &[u8], n: usize) -> (Stats, Stats) {
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let module = host.load_policy(&guest_bytes("clstm_ppo").unwrap()).unwrap();
    let instance = || {
        let mut instruments = Instruments::new();
        instruments.intern("X");
        let mut ctx = GuestContext::new(Arc::new(instruments), 1);
        ctx.account = AccountView {
            cash: 1e6,
            equity: 1e6,
            buying_power: 1e6,
            ..AccountView::default()
        };
        module.instantiate(ctx, "").unwrap()
    };
    let run = |strategy: &mut PolicyStrategy<_>| {
        let mut k = 0;
        // Fill the window before timing.
        for _ in 0..64 {
            k += 1;
            strategy.on_bar(&bar(k)).unwrap();
        }
        time_each(n, |_| {
            k += 1;
            std::hint::black_box(strategy.on_bar(&bar(k)).unwrap());
        })
    };
    let mut alone = PolicyStrategy::new(instance(), active).unwrap();
    let alone_t = run(&mut alone);
    let mut shadowed = PolicyStrategy::new(instance(), active).unwrap();
    let mut c = instance();
    let info = c.load_model(candidate).unwrap();
    let gate = GateConfig {
        decisions: wasmtrade_policy::shadow::MAX_GATE_DECISIONS,
        ..GateConfig::default()
    };
    shadowed.start_shadow(c, &info, 2, gate).unwrap();
    let shadow_t = run(&mut shadowed);
    (alone_t, shadow_t)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::var("BENCH_ACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let py = python().unwrap();
    let out = Command::new(&py)
        .arg(workspace_root().join("tests/python/make_clstm_model.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model_path = dir.path().join("clstm_ppo.onnx");
    let obs_path = dir.path().join("observations.json");
    let model = std::fs::read(&model_path).unwrap();
    let obs: serde_json::Value = serde_json::from_slice(&std::fs::read(&obs_path).unwrap()).unwrap();
    let window = obs["window"].as_u64().unwrap() as usize;
    let features = obs["features"].as_u64().unwrap() as usize;
    let observations: Vec<Vec<f32>> = serde_json::from_value(obs["observations"].clone()).unwrap();

    // Native: the guest's inference module, compiled for this machine.
    let mut native = Model::load(&model, window, features).unwrap();
    let native_t = time_each(n, |i| {
        std::hint::black_box(native.run(&observations[i % observations.len()]).unwrap());
    });

    // Wasm: the guest component through the host, as the engine calls it.
    let mut wasm = Vec::new();
    for (label, fuel) in [
        ("wasm (fuel on)", HostConfig::default().fuel_per_callback),
        ("wasm (fuel off)", None),
    ] {
        let host = GuestEngine::new(HostConfig {
            fuel_per_callback: fuel,
            ..HostConfig::default()
        })
        .unwrap();
        let module = host.load_policy(&guest_bytes("clstm_ppo").unwrap()).unwrap();
        let mut instruments = Instruments::new();
        instruments.intern("X");
        let mut p = module
            .instantiate(GuestContext::new(Arc::new(instruments), 1), "")
            .unwrap();
        p.load_model(&model).unwrap();
        let obs: Vec<Observation> = observations
            .iter()
            .enumerate()
            .map(|(i, f)| Observation {
                instrument: InstrumentId(0),
                ts: Timestamp::from_secs(i as i64),
                rows: window as u32,
                columns: features as u32,
                features: f.clone(),
            })
            .collect();
        let t = time_each(n, |i| {
            std::hint::black_box(p.act(&obs[i % obs.len()]).unwrap());
        });
        wasm.push((label, t));
    }

    // onnxruntime, same model and observations, one thread.
    let out = Command::new(&py)
        .arg(workspace_root().join("tests/python/bench_onnxruntime.py"))
        .arg(&model_path)
        .arg(&obs_path)
        .arg(n.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ort: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ort_p50 = ort["p50_us"].as_f64().unwrap();

    println!("CLSTM-PPO policy, one action (batch 1, window {window} x {features} features), {n} actions");
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "", "p50 us", "p99 us", "mean us", "vs native", "vs onnxrt"
    );
    let row = |label: &str, s: &Stats| {
        println!(
            "{label:<26} {:>10.1} {:>10.1} {:>10.1} {:>11.2}x {:>11.2}x",
            us(s.p50),
            us(s.p99),
            us(s.mean),
            us(s.p50) / us(native_t.p50),
            us(s.p50) / ort_p50
        );
    };
    row("tract native", &native_t);
    for (label, s) in &wasm {
        row(&format!("tract {label}"), s);
    }
    println!(
        "{:<26} {:>10.1} {:>10.1} {:>10.1} {:>11.2}x {:>11.2}x",
        format!("onnxruntime {}", ort["onnxruntime"].as_str().unwrap_or("?")),
        ort_p50,
        ort["p99_us"].as_f64().unwrap(),
        ort["mean_us"].as_f64().unwrap(),
        ort_p50 / us(native_t.p50),
        1.0
    );
    let ratio = us(wasm[0].1.p50) / us(native_t.p50);
    println!(
        "wasm/native p50 ratio (fuel on): {ratio:.2} (target <= 2.0: {})",
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );

    let candidate = std::fs::read(dir.path().join("clstm_ppo_v2.onnx")).unwrap();
    let (alone, shadowed) = shadow_overhead(&model, &candidate, n);
    println!();
    println!("Shadow gate, per bar of the policy as the engine runs it (PolicyStrategy::on_bar), {n} bars");
    println!("{:<26} {:>10} {:>10} {:>10}", "", "p50 us", "p99 us", "mean us");
    for (label, s) in [("policy alone", &alone), ("policy + shadow candidate", &shadowed)] {
        println!(
            "{label:<26} {:>10.1} {:>10.1} {:>10.1}",
            us(s.p50),
            us(s.p99),
            us(s.mean)
        );
    }
    println!(
        "shadow overhead per decision: {:.1} us at p50 ({:.2}x the policy alone), {:.1} us mean ({:.2}x)",
        us(shadowed.p50) - us(alone.p50),
        us(shadowed.p50) / us(alone.p50),
        us(shadowed.mean) - us(alone.mean),
        us(shadowed.mean) / us(alone.mean)
    );
}
