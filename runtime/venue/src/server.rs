//! The paper venue server: a paper broker behind a seeded random-walk
//! market, served over JSON lines (see the crate docs).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wasmtrade_broker::Broker;
use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_market::{Calendar, Synth, SynthConfig};
use wasmtrade_model::{BrokerEvent, Instruments, Money, NewOrder, OrderId, Price, StrategyId, Timestamp};
use wasmtrade_risk::{Engine as RiskEngine, Exposure, RiskConfig};

use crate::client::VenueError;
use crate::protocol::{Hello, Reply, Request, StreamLine, VenueStatus};

/// Settings of `wasmtrade paper-venue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VenueConfig {
    /// Where to listen (loopback by default).
    pub listen: SocketAddr,
    /// Symbols traded, in instrument-id order.
    pub symbols: Vec<String>,
    /// Seed of the random walks.
    pub seed: u64,
    /// Seconds of market time between bars.
    pub bar_interval_secs: u64,
    /// Bars per bar interval of wall time (0 = as fast as possible).
    pub speed: f64,
    /// First price.
    pub start_price: f64,
    /// Annualised volatility of the walk.
    pub annual_volatility: f64,
    /// Annualised drift of the walk.
    pub annual_drift: f64,
    /// The account's starting cash.
    pub starting_cash: Money,
    /// Fill rules.
    pub paper: PaperConfig,
}

impl Default for VenueConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            symbols: vec!["SYNTH".to_string()],
            seed: 42,
            bar_interval_secs: 1,
            speed: 1.0,
            start_price: 100.0,
            annual_volatility: 0.2,
            annual_drift: 0.05,
            starting_cash: Money::from_int(100_000),
            paper: PaperConfig::default(),
        }
    }
}

/// What the venue owns, behind one lock.
struct State {
    broker: PaperBroker,
    instruments: Instruments,
    /// Every event, in order; event `seq` is at `seq - 1`.
    events: Vec<BrokerEvent>,
    status: VenueStatus,
    subscribers: Vec<Sender<Arc<String>>>,
    now: Timestamp,
    risk: RiskEngine,
}

impl State {
    fn publish(&mut self, line: &StreamLine) {
        let Ok(text) = serde_json::to_string(line) else {
            return;
        };
        let text = Arc::new(text);
        self.subscribers.retain(|s| s.send(text.clone()).is_ok());
    }

    /// Logs and publishes what the broker emitted.
    fn drain(&mut self) {
        let mut out = Vec::new();
        self.broker.poll(&mut out);
        for event in out {
            match &event {
                BrokerEvent::Accepted { .. } => self.status.orders += 1,
                BrokerEvent::Filled(_) => self.status.executions += 1,
                _ => {}
            }
            self.events.push(event.clone());
            let seq = self.events.len() as u64;
            self.status.last_seq = seq;
            self.publish(&StreamLine::Event { seq, event });
        }
    }

    fn submit(&mut self, id: OrderId, strategy: &StrategyId, order: &NewOrder) -> Reply {
        let Some(instrument) = self.instruments.get(order.instrument) else {
            return error(format!(
                "order {id}: instrument {} is not traded here",
                order.instrument
            ));
        };
        let approved = match self
            .risk
            .check_new(strategy, instrument, order, &Exposure::default())
        {
            Ok(a) => a,
            Err(r) => return error(format!("order {id}: {}", r.message)),
        };
        match self.broker.submit(id, strategy, &approved, self.now) {
            Ok(()) => {
                self.drain();
                Reply::Ok
            }
            Err(e) => {
                let duplicate = matches!(e, wasmtrade_broker::BrokerError::DuplicateOrderId { .. });
                if duplicate {
                    self.status.duplicate_submissions += 1;
                    tracing::error!(order = %id, %strategy, "an order id was submitted twice");
                }
                Reply::Error {
                    message: e.to_string(),
                    duplicate,
                }
            }
        }
    }
}

fn error(message: String) -> Reply {
    Reply::Error {
        message,
        duplicate: false,
    }
}

/// A running paper venue.
pub struct PaperVenue {
    addr: SocketAddr,
    hello: Hello,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PaperVenue {
    /// Binds `config.listen` and starts the market and the listener threads.
    pub fn start(config: &VenueConfig) -> Result<PaperVenue, VenueError> {
        config
            .paper
            .validate()
            .map_err(|e| VenueError::Config(format!("paper: {e}")))?;
        if config.symbols.is_empty() || config.bar_interval_secs == 0 {
            return Err(VenueError::Config(
                "symbols must name at least one symbol and bar_interval_secs must be at least 1".into(),
            ));
        }
        if !(config.speed.is_finite() && config.speed >= 0.0) {
            return Err(VenueError::Config(format!(
                "speed ({}) must be >= 0",
                config.speed
            )));
        }
        let start_price = Price::from_f64(config.start_price)
            .map_err(|e| VenueError::Config(format!("start_price ({}): {e}", config.start_price)))?;
        let mut instruments = Instruments::new();
        let step = i64::try_from(config.bar_interval_secs).unwrap_or(i64::MAX);
        #[expect(
            clippy::disallowed_methods,
            reason = "the venue's market starts at the current wall-clock interval, like a real one"
        )]
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let start = Timestamp::from_secs(now - now.rem_euclid(step));
        let mut walks = Vec::new();
        for (i, symbol) in config.symbols.iter().enumerate() {
            let id = instruments.intern(symbol);
            let synth = SynthConfig {
                symbol: symbol.clone(),
                bars: 100_000_000,
                seed: config.seed.wrapping_add(i as u64),
                start,
                interval_secs: step,
                start_price,
                annual_drift: config.annual_drift,
                annual_volatility: config.annual_volatility,
                // Paced by the clock: this market never closes.
                calendar: Calendar::Continuous,
            };
            walks.push(Synth::new(&synth, id).map_err(|e| VenueError::Config(format!("market: {e}")))?);
        }
        let broker = PaperBroker::try_new(config.paper, &instruments)
            .map_err(|e| VenueError::Config(format!("paper: {e}")))?
            .with_starting_cash(config.starting_cash);
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| VenueError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| VenueError::Io(format!("listener address: {e}")))?;
        let hello = Hello {
            symbols: config.symbols.clone(),
            starting_cash: config.starting_cash,
            bar_interval_secs: config.bar_interval_secs,
        };
        let state = Arc::new(Mutex::new(State {
            broker,
            instruments,
            events: Vec::new(),
            status: VenueStatus::default(),
            subscribers: Vec::new(),
            now: start,
            risk: RiskEngine::new(RiskConfig::permissive()),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (state, stop) = (state.clone(), stop.clone());
            let interval = Duration::from_secs(config.bar_interval_secs);
            let speed = config.speed;
            spawn("venue-market", move || {
                market(walks, &state, interval, speed, &stop)
            })?;
        }
        {
            let (state, stop, hello) = (state.clone(), stop.clone(), hello.clone());
            spawn("venue-listener", move || listen(listener, &state, &hello, &stop))?;
        }
        tracing::info!(%addr, symbols = ?config.symbols, "paper venue listening");
        Ok(PaperVenue {
            addr,
            hello,
            state,
            stop,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it trades.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Its counters.
    pub fn status(&self) -> VenueStatus {
        lock(&self.state).status.clone()
    }

    /// Stops the market (the listener thread ends with the process).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), VenueError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map(drop)
        .map_err(|e| VenueError::Io(format!("cannot start the {name} thread: {e}")))
}

/// Produces one bar per symbol every `interval / speed` of wall time.
fn market(mut walks: Vec<Synth>, state: &Mutex<State>, interval: Duration, speed: f64, stop: &AtomicBool) {
    let pace = if speed > 0.0 {
        interval.div_f64(speed)
    } else {
        Duration::ZERO
    };
    #[expect(clippy::disallowed_methods, reason = "the venue paces its bars in real time")]
    let started = Instant::now();
    let mut round: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        round = round.saturating_add(1);
        let due = pace.saturating_mul(round);
        let elapsed = started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
        let mut s = lock(state);
        for walk in &mut walks {
            let Some(bar) = walk.next() else { return };
            s.now = s.now.max(bar.ts);
            s.broker.on_bar(&bar);
            s.drain();
            s.status.bars += 1;
            s.publish(&StreamLine::Bar { bar });
        }
    }
}

fn listen(listener: TcpListener, state: &Arc<Mutex<State>>, hello: &Hello, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let (state, hello) = (state.clone(), hello.clone());
        let _ = spawn("venue-conn", move || {
            if let Err(e) = serve(conn, &state, &hello) {
                tracing::debug!("venue connection ended: {e}");
            }
        });
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>, hello: &Hello) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut writer = conn.try_clone()?;
    let reader = BufReader::new(conn);
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Err(e) => error(format!(
                "bad request line ({e}): expected one JSON request per line"
            )),
            Ok(Request::Hello) => Reply::Hello(hello.clone()),
            Ok(Request::Submit { id, strategy, order }) => lock(state).submit(id, &strategy, &order),
            Ok(Request::Cancel { id }) => {
                let mut s = lock(state);
                let now = s.now;
                match s.broker.cancel(id, now) {
                    Ok(()) => {
                        s.drain();
                        Reply::Ok
                    }
                    Err(e) => error(e.to_string()),
                }
            }
            Ok(Request::Report) => {
                let mut s = lock(state);
                let as_of = s.events.len() as u64;
                match s.broker.report(&[], Duration::ZERO) {
                    Ok(report) => Reply::Report { report, as_of },
                    Err(e) => error(e.to_string()),
                }
            }
            Ok(Request::Status) => Reply::Status(lock(state).status.clone()),
            Ok(Request::Subscribe { after }) => {
                let (tx, rx) = channel();
                {
                    let mut s = lock(state);
                    let from = usize::try_from(after).unwrap_or(usize::MAX).min(s.events.len());
                    for (i, event) in s.events[from..].iter().enumerate() {
                        let seq = (from + i + 1) as u64;
                        let line = StreamLine::Event {
                            seq,
                            event: event.clone(),
                        };
                        if let Ok(text) = serde_json::to_string(&line) {
                            let _ = tx.send(Arc::new(text));
                        }
                    }
                    s.subscribers.push(tx);
                }
                return stream(writer, &rx);
            }
        };
        let mut text = serde_json::to_string(&reply)
            .unwrap_or_else(|e| format!("{{\"reply\":\"error\",\"message\":\"{e}\",\"duplicate\":false}}"));
        text.push('\n');
        writer.write_all(text.as_bytes())?;
    }
    Ok(())
}

fn stream(mut writer: TcpStream, rx: &Receiver<Arc<String>>) -> std::io::Result<()> {
    while let Ok(line) = rx.recv() {
        writer.write_all(line.as_bytes())?;
        writer.write_all(b"\n")?;
    }
    Ok(())
}
