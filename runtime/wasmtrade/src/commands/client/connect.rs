//! Reaching a `wasmtrade serve`: the address, the token, one channel with
//! the token interceptor, deadlines, and every failure as one line that
//! names the server and the RPC.

use std::error::Error as _;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};
use wasmtrade_proto::v1::risk_service_client::RiskServiceClient;
use wasmtrade_proto::v1::strategy_service_client::StrategyServiceClient;
use wasmtrade_proto::v1::trading_service_client::TradingServiceClient;
use wasmtrade_proto::{AUTH_HEADER, bearer};

use super::args::ClientArgs;

/// A channel whose every call carries the token.
pub type Authed = InterceptedService<Channel, Auth>;

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Debug, Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(AUTH_HEADER, value.clone());
        }
        Ok(request)
    }
}

/// An open connection to one server, with the settings of the command line.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: Channel,
    auth: Auth,
    server: String,
    timeout: Duration,
}

impl Connection {
    /// Resolves the address and token of `args` and connects.
    pub async fn open(args: &ClientArgs) -> anyhow::Result<Self> {
        let server = normalize_server(&args.server)?;
        let auth = Auth(read_token(args)?.map(|t| header_value(&t)).transpose()?);
        let timeout = Duration::from_secs(args.timeout);
        let endpoint = Endpoint::from_shared(server.clone())
            .with_context(|| format!("--server `{server}` is not a valid address"))?
            .connect_timeout(timeout)
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| cannot_reach(&server, &e))?;
        Ok(Self {
            channel,
            auth,
            server,
            timeout,
        })
    }

    /// The same connection with another deadline for its calls (uploads).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A `StrategyService` client.
    pub fn strategies(&self) -> StrategyServiceClient<Authed> {
        StrategyServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// A `TradingService` client.
    pub fn trading(&self) -> TradingServiceClient<Authed> {
        TradingServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// A `RiskService` client.
    pub fn risk(&self) -> RiskServiceClient<Authed> {
        RiskServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// A `ModelService` client (uploads of up to 64 MiB).
    pub fn models(&self) -> wasmtrade_proto::v1::model_service_client::ModelServiceClient<Authed> {
        wasmtrade_proto::v1::model_service_client::ModelServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
        .max_encoding_message_size(64 << 20)
    }

    /// `message` as a request with the deadline of unary calls.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// Awaits a call that is not a stream, at most the deadline, and turns
    /// its status into an error naming `rpc` (e.g. `StrategyService/List`).
    pub async fn unary<T>(
        &self,
        rpc: &str,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(self.status_error(rpc, &status)),
            Err(_elapsed) => Err(self.status_error(rpc, &Status::deadline_exceeded(""))),
        }
    }

    /// One clear error for a failed call of `rpc`.
    pub fn status_error(&self, rpc: &str, status: &Status) -> anyhow::Error {
        anyhow!(describe_status(
            &self.server,
            rpc,
            self.timeout,
            self.auth.0.is_some(),
            status
        ))
    }
}

/// `host:port` → `http://host:port`; `http://` addresses stay as they are.
pub fn normalize_server(raw: &str) -> anyhow::Result<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        bail!("--server is empty: give `host:port`, e.g. 127.0.0.1:50051");
    }
    let rest = match raw.split_once("://") {
        None => raw,
        Some(("http", rest)) => rest,
        Some(("https", _)) => bail!(
            "--server `{raw}`: this build speaks plain http/2 only; use http:// (TLS belongs to a proxy in front)"
        ),
        Some((scheme, _)) => bail!("--server `{raw}`: unknown scheme `{scheme}`, use http://host:port"),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        bail!("--server `{raw}` has no host");
    }
    let url = format!("http://{rest}");
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .with_context(|| format!("--server `{raw}` is not `host:port`"))?;
    if uri.host().is_none_or(str::is_empty) {
        bail!("--server `{raw}` has no host");
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        bail!("--server `{raw}` must not have a path: give `host:port`");
    }
    Ok(url)
}

/// The token: `--token`/`WASMTRADE_TOKEN`, else the trimmed contents of
/// `--token-file`/`WASMTRADE_TOKEN_FILE`, else none.
pub fn read_token(args: &ClientArgs) -> anyhow::Result<Option<String>> {
    if let Some(token) = args.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Some(token.to_string()));
    }
    match &args.token_file {
        Some(path) => read_token_file(path).map(Some),
        None => Ok(None),
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_string())
}

fn header_value(token: &str) -> anyhow::Result<MetadataValue<Ascii>> {
    let mut value = MetadataValue::try_from(bearer(token))
        .map_err(|_| anyhow!("the token holds characters a header cannot carry (use printable ASCII)"))?;
    value.set_sensitive(true);
    Ok(value)
}

fn cannot_reach(server: &str, error: &dyn std::error::Error) -> anyhow::Error {
    anyhow!(
        "cannot reach the wasmtrade server at {server}: is `wasmtrade serve` running? ({})",
        root_cause(error)
    )
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The one line for a failed call: `<code>: <message> (<rpc> at <server>)`,
/// plus what to do where that is clear.
fn describe_status(server: &str, rpc: &str, timeout: Duration, has_token: bool, status: &Status) -> String {
    let at = format!("{rpc} at {server}");
    // A status with a source was made here, from a transport failure.
    if status.code() == Code::Unavailable && status.source().is_some() {
        return format!(
            "cannot reach the wasmtrade server at {server}: is `wasmtrade serve` running? ({rpc})"
        );
    }
    let message = match status.message().trim() {
        "" => status.code().description().to_lowercase(),
        m => m.replace(['\r', '\n'], " "),
    };
    let code = code_name(status.code());
    match status.code() {
        Code::Unauthenticated if !has_token => {
            format!("{code}: {message} ({at}); pass --token or --token-file, or set WASMTRADE_TOKEN")
        }
        Code::DeadlineExceeded => format!(
            "{code}: no answer within {} s ({at}); raise {} if the server is busy",
            timeout.as_secs(),
            if rpc.ends_with("/Upload") {
                "--upload-timeout"
            } else {
                "--timeout"
            }
        ),
        _ => format!("{code}: {message} ({at})"),
    }
}

/// The canonical gRPC status name, lowercase (`not_found`).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, token_file: Option<&Path>) -> ClientArgs {
        ClientArgs {
            server: "127.0.0.1:50051".into(),
            token: token.map(String::from),
            token_file: token_file.map(Path::to_path_buf),
            json: false,
            timeout: 30,
        }
    }

    #[test]
    fn host_and_port_get_the_http_scheme() {
        assert_eq!(
            normalize_server("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            normalize_server(" localhost:7000/ ").unwrap(),
            "http://localhost:7000"
        );
        assert_eq!(normalize_server("[::1]:50051").unwrap(), "http://[::1]:50051");
        assert_eq!(
            normalize_server("http://example.com:80").unwrap(),
            "http://example.com:80"
        );
    }

    #[test]
    fn rejects_empty_https_other_schemes_and_paths() {
        for (raw, needle) in [
            ("", "empty"),
            ("https://x:443", "plain http/2"),
            ("ftp://x:21", "unknown scheme `ftp`"),
            ("x:1/api", "must not have a path"),
            ("http://", "no host"),
        ] {
            let e = normalize_server(raw).unwrap_err().to_string();
            assert!(e.contains(needle), "{raw}: {e}");
        }
    }

    #[test]
    fn token_flag_wins_and_token_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cret\n").unwrap();
        assert_eq!(
            read_token(&args(None, Some(&file))).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            read_token(&args(Some("flag"), Some(&file))).unwrap().as_deref(),
            Some("flag")
        );
        assert_eq!(read_token(&args(None, None)).unwrap(), None);
        std::fs::write(&file, "\n").unwrap();
        let e = read_token(&args(None, Some(&file))).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
    }

    #[test]
    fn interceptor_sends_the_bearer_token() {
        let mut auth = Auth(Some(header_value("s3cret").unwrap()));
        let request = auth.call(Request::new(())).unwrap();
        assert_eq!(request.metadata().get(AUTH_HEADER).unwrap(), "Bearer s3cret");
        let request = Auth(None).call(Request::new(())).unwrap();
        assert!(request.metadata().get(AUTH_HEADER).is_none());
    }

    #[test]
    fn statuses_become_one_line_naming_rpc_and_server() {
        let d = |has_token, status: Status| {
            describe_status(
                "http://h:1",
                "StrategyService/List",
                Duration::from_secs(5),
                has_token,
                &status,
            )
        };
        assert_eq!(
            d(true, Status::not_found("no module `x`")),
            "not_found: no module `x` (StrategyService/List at http://h:1)"
        );
        assert!(d(false, Status::unauthenticated("missing token")).ends_with("set WASMTRADE_TOKEN"));
        assert!(d(true, Status::deadline_exceeded("")).contains("no answer within 5 s"));
        assert_eq!(
            d(true, Status::internal("")),
            "internal: internal error (StrategyService/List at http://h:1)"
        );
        assert_eq!(
            d(true, Status::unavailable("broker down")),
            "unavailable: broker down (StrategyService/List at http://h:1)"
        );
        let mut local = Status::unavailable("tcp connect error");
        local.set_source(std::sync::Arc::new(std::io::Error::other("connection refused")));
        assert!(d(true, local).starts_with("cannot reach the wasmtrade server at http://h:1"));
    }
}
