//! Shared helpers of the serve error tests: an authenticated gRPC client,
//! raw uploads, a server with a running `good` strategy, status assertions.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test file uses a subset of the helpers"
)]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

pub use std::time::Duration;

pub use sha2::{Digest, Sha256};
pub use tempfile::TempDir;
pub use tonic::metadata::{Ascii, MetadataValue};
pub use tonic::service::Interceptor;
pub use tonic::service::interceptor::InterceptedService;
pub use tonic::transport::{Channel, Endpoint};
pub use tonic::{Code, Request, Status};
pub use wasmtrade_e2e::{Serve, guest_bytes, with_custom_section};
pub use wasmtrade_proto::v1::strategy_service_client::StrategyServiceClient;
pub use wasmtrade_proto::v1::trading_service_client::TradingServiceClient;
pub use wasmtrade_proto::v1::upload_chunk::Chunk;
pub use wasmtrade_proto::v1::{
    ActivateRequest, GetAccountRequest, GetKillSwitchRequest, GuestKind, ListRequest, Module, RemoveRequest,
    RollbackRequest, RunState, SetKillSwitchRequest, UploadChunk, UploadHeader, UploadResponse,
};
pub use wasmtrade_proto::{AUTH_HEADER, bearer};

/// The running strategy the bad calls must not disturb.
pub const GOOD: &str = "good";
pub const GOOD_CONFIG: &str = r#"{"fast":5,"slow":20}"#;
/// Upload data messages carry this much each.
pub const CHUNK: usize = 64 * 1024;
/// Bars as fast as possible.
pub const FAST_MARKET: (&str, &str) = ("WASMTRADE__MARKET__SPEED", "0");
/// How long a counter may take to move before the test fails.
pub const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds `authorization: <value>` to every request (or nothing).
#[derive(Clone)]
pub struct Auth(pub Option<MetadataValue<Ascii>>);

impl Auth {
    pub fn bearer(token: &str) -> Self {
        Self::raw(&bearer(token))
    }

    pub fn raw(value: &str) -> Self {
        Self(Some(value.parse().unwrap()))
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert(AUTH_HEADER, v.clone());
        }
        Ok(request)
    }
}

pub type Strategies = StrategyServiceClient<InterceptedService<Channel, Auth>>;
pub type Trading = TradingServiceClient<InterceptedService<Channel, Auth>>;

/// A server on its own data dir with authenticated clients.
pub struct Server {
    // Dropped first: the process stops before its data dir goes.
    pub serve: Serve,
    pub _dir: TempDir,
    pub channel: Channel,
    pub strategies: Strategies,
    pub trading: Trading,
}

impl Server {
    pub async fn start(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let serve = Serve::start(dir.path(), env).unwrap();
        let channel = Endpoint::from_shared(serve.url())
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .connect()
            .await
            .unwrap();
        let auth = Auth::bearer(&serve.token);
        Server {
            strategies: StrategyServiceClient::with_interceptor(channel.clone(), auth.clone()),
            trading: TradingServiceClient::with_interceptor(channel.clone(), auth),
            channel,
            serve,
            _dir: dir,
        }
    }

    /// A fast market with sma-cross running as `good` and counting bars.
    pub async fn with_good() -> Server {
        let mut s = Server::start(&[FAST_MARKET]).await;
        let bytes = guest_bytes("sma_cross").unwrap();
        let done = upload(
            &mut s.strategies,
            header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG),
            &bytes,
        )
        .await
        .unwrap_or_else(|e| panic!("uploading good: {e:?}\nserver stderr:\n{}", s.serve.stderr()));
        assert_eq!(done.version, 1);
        s.activate(GOOD, 1).await.unwrap();
        s.bars_grow_past(0).await;
        s
    }

    pub async fn activate(&mut self, name: &str, version: u32) -> Result<(), Status> {
        self.strategies
            .activate(ActivateRequest {
                name: name.into(),
                version,
                config_json: None,
            })
            .await
            .map(drop)
    }

    pub async fn module(&mut self, name: &str) -> Module {
        let mut modules = self
            .strategies
            .list(ListRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
            .modules;
        assert_eq!(modules.len(), 1, "List({name}) gave {modules:?}");
        modules.remove(0)
    }

    /// Polls (every 200 ms) until `good` has received more than `after`
    /// bars, and returns the new count.
    pub async fn bars_grow_past(&mut self, after: u64) -> u64 {
        let wait = async {
            loop {
                let bars = self.module(GOOD).await.counters.unwrap_or_default().bars;
                if bars > after {
                    return bars;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        match tokio::time::timeout(PROGRESS_TIMEOUT, wait).await {
            Ok(bars) => bars,
            Err(_) => panic!(
                "`{GOOD}` received no bar beyond {after} within {PROGRESS_TIMEOUT:?}; server stderr:\n{}",
                self.serve.stderr()
            ),
        }
    }

    pub async fn account_bars(&mut self) -> u64 {
        self.trading
            .get_account(GetAccountRequest {})
            .await
            .unwrap()
            .into_inner()
            .bars
    }

    /// Polls (every 200 ms) until the account has seen more than `after`
    /// bars, and returns the new count.
    pub async fn account_bars_grow_past(&mut self, after: u64) -> u64 {
        let wait = async {
            loop {
                let bars = self.account_bars().await;
                if bars > after {
                    return bars;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        match tokio::time::timeout(PROGRESS_TIMEOUT, wait).await {
            Ok(bars) => bars,
            Err(_) => panic!(
                "the account saw no bar beyond {after} within {PROGRESS_TIMEOUT:?}; server stderr:\n{}",
                self.serve.stderr()
            ),
        }
    }

    /// `good` still runs version 1 (the bad uploads added no version), has
    /// no fault, and its bar counter and the account's keep increasing.
    pub async fn assert_good_unaffected(&mut self) {
        let m = self.module(GOOD).await;
        assert_eq!(m.state, RunState::Running as i32, "{m:?}");
        assert_eq!(m.active_version, 1, "{m:?}");
        assert!(m.fault.is_empty(), "{m:?}");
        let versions: Vec<u32> = m.versions.iter().map(|v| v.version).collect();
        assert_eq!(versions, [1], "a refused upload must not add a version: {m:?}");
        let bars = m.counters.unwrap_or_default().bars;
        let later = self.bars_grow_past(bars).await;
        self.bars_grow_past(later).await;
        let account = self.account_bars().await;
        self.account_bars_grow_past(account).await;
        let m = self.module(GOOD).await;
        assert_eq!(m.state, RunState::Running as i32, "{m:?}");
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A truthful header for `bytes`.
pub fn header(name: &str, kind: GuestKind, bytes: &[u8], config: &str) -> UploadHeader {
    UploadHeader {
        name: name.into(),
        kind: kind as i32,
        label: "e2e".into(),
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        config_json: config.into(),
    }
}

pub fn header_message(h: UploadHeader) -> UploadChunk {
    UploadChunk {
        chunk: Some(Chunk::Header(h)),
    }
}

pub fn data_messages(bytes: &[u8]) -> impl Iterator<Item = UploadChunk> + '_ {
    bytes.chunks(CHUNK).map(|c| UploadChunk {
        chunk: Some(Chunk::Data(c.to_vec())),
    })
}

/// Sends exactly `messages` as one upload stream.
pub async fn send(client: &mut Strategies, messages: Vec<UploadChunk>) -> Result<UploadResponse, Status> {
    client
        .upload(tokio_stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// Uploads `bytes` under `header` in 64 KiB chunks.
pub async fn upload(
    client: &mut Strategies,
    header: UploadHeader,
    bytes: &[u8],
) -> Result<UploadResponse, Status> {
    let messages = std::iter::once(header_message(header))
        .chain(data_messages(bytes))
        .collect();
    send(client, messages).await
}

/// Checks the call failed with `code` and a message containing every one of
/// `needles`; returns the message.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, Status>,
    code: Code,
    needles: &[&str],
) -> String {
    let status = match result {
        Ok(v) => panic!("{what}: expected {code:?}, but it succeeded with {v:?}"),
        Err(s) => s,
    };
    assert_eq!(
        status.code(),
        code,
        "{what}: expected {code:?}, got {:?}: {}",
        status.code(),
        status.message()
    );
    for n in needles {
        assert!(
            status.message().contains(n),
            "{what}: `{n}` missing from the {:?} message: {}",
            status.code(),
            status.message()
        );
    }
    status.message().to_string()
}

/// Deterministic bytes that are not wasm.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}
