//! Authentication and authorisation of every call except health: the
//! bearer token names a [`Principal`], and the [`Call`] table says which
//! [`Role`] each call needs. [`Authorized`] wraps each gRPC service and
//! enforces both before the call reaches it; the handlers read the
//! principal from the request's extensions ([`who`]) for the audit trail.

use std::convert::Infallible;
use std::sync::Arc;

use tonic::codegen::http::{self, HeaderMap};
use tonic::codegen::{BoxFuture, Context, Poll, Service};
use tonic::server::NamedService;
use tonic::{Request, Status};
use wasmtrade_proto::{AUTH_HEADER, bearer_token};

use crate::principals::{Principal, Principals, Role};

/// Declares [`Call`]: each call of the API, its gRPC path and the role it
/// needs, in one table.
macro_rules! calls {
    ($($(#[doc = $doc:literal])* $call:ident = $path:literal => $role:ident,)*) => {
        /// Every call of the API (health aside), with the role it needs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Call {
            $($(#[doc = $doc])* $call,)*
        }

        impl Call {
            /// Every call.
            pub const ALL: &'static [Call] = &[$(Call::$call,)*];

            /// Its gRPC path, `/package.Service/Method`.
            pub fn path(self) -> &'static str {
                match self {
                    $(Call::$call => $path,)*
                }
            }

            /// The role a principal needs to make it.
            pub fn needs(self) -> Role {
                match self {
                    $(Call::$call => Role::$role,)*
                }
            }
        }
    };
}

calls! {
    /// Upload a guest version.
    Upload = "/wasmtrade.v1.StrategyService/Upload" => Deployer,
    /// List guests.
    List = "/wasmtrade.v1.StrategyService/List" => Viewer,
    /// Activate a version.
    Activate = "/wasmtrade.v1.StrategyService/Activate" => Deployer,
    /// Roll back.
    Rollback = "/wasmtrade.v1.StrategyService/Rollback" => Deployer,
    /// Remove a version or module.
    Remove = "/wasmtrade.v1.StrategyService/Remove" => Deployer,
    /// Start a shadow run.
    StartShadow = "/wasmtrade.v1.StrategyService/StartShadow" => Deployer,
    /// Stop a shadow run.
    StopShadow = "/wasmtrade.v1.StrategyService/StopShadow" => Deployer,
    /// Promote the shadow version.
    Promote = "/wasmtrade.v1.StrategyService/Promote" => Deployer,
    /// Re-initialise a guest with a new config.
    UpdateConfig = "/wasmtrade.v1.StrategyService/UpdateConfig" => Deployer,
    /// A guest's log lines.
    Logs = "/wasmtrade.v1.StrategyService/Logs" => Viewer,
    /// The audit trail.
    Audit = "/wasmtrade.v1.StrategyService/Audit" => Viewer,
    /// The orders.
    ListOrders = "/wasmtrade.v1.TradingService/ListOrders" => Viewer,
    /// The positions.
    ListPositions = "/wasmtrade.v1.TradingService/ListPositions" => Viewer,
    /// The account.
    GetAccount = "/wasmtrade.v1.TradingService/GetAccount" => Viewer,
    /// The event stream.
    StreamEvents = "/wasmtrade.v1.TradingService/StreamEvents" => Viewer,
    /// Engage or release a kill switch.
    SetKillSwitch = "/wasmtrade.v1.TradingService/SetKillSwitch" => Trader,
    /// The kill switches.
    GetKillSwitch = "/wasmtrade.v1.TradingService/GetKillSwitch" => Viewer,
    /// The limits in force.
    GetLimits = "/wasmtrade.v1.RiskService/GetLimits" => Viewer,
    /// Change (or propose a change of) the limits.
    SetLimits = "/wasmtrade.v1.RiskService/SetLimits" => Deployer,
    /// The limits' revisions.
    History = "/wasmtrade.v1.RiskService/History" => Viewer,
    /// Lift a halt risk imposed: a risk decision, like changing a limit.
    Reenable = "/wasmtrade.v1.RiskService/Reenable" => Deployer,
    /// Approve another principal's pending change of the limits.
    ApproveLimits = "/wasmtrade.v1.RiskService/ApproveLimits" => Deployer,
    /// The pending changes of the limits.
    ListPending = "/wasmtrade.v1.RiskService/ListPending" => Viewer,
    /// Upload a policy model.
    UploadModel = "/wasmtrade.v1.ModelService/UploadModel" => Deployer,
    /// Upload a policy model in chunks.
    UploadModelStream = "/wasmtrade.v1.ModelService/UploadModelStream" => Deployer,
    /// List models.
    ListModels = "/wasmtrade.v1.ModelService/ListModels" => Viewer,
    /// Activate a model version.
    ActivateModel = "/wasmtrade.v1.ModelService/ActivateModel" => Deployer,
    /// List checkpoints.
    ListCheckpoints = "/wasmtrade.v1.ModelService/ListCheckpoints" => Viewer,
    /// Server reflection (describes the API).
    Reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" => Viewer,
    /// Server reflection, the older name.
    ReflectionAlpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" => Viewer,
}

impl Call {
    /// The call at gRPC `path`, if the API has one.
    pub fn from_path(path: &str) -> Option<Call> {
        Call::ALL.iter().copied().find(|c| c.path() == path)
    }
}

/// The principals and the call table, checked on every request.
#[derive(Clone, Debug)]
pub struct Auth {
    principals: Arc<Principals>,
}

impl Auth {
    /// An authenticator for `principals`.
    pub fn new(principals: Principals) -> Self {
        Self {
            principals: Arc::new(principals),
        }
    }

    /// The principal making a call to `path` with `headers`: refused with
    /// `Unauthenticated` without a known token, with `PermissionDenied`
    /// (naming the principal, the call and the role it needs) when its role
    /// does not cover the call. A path the table does not know needs `admin`.
    #[allow(clippy::result_large_err, reason = "a tonic status is what the layer answers")]
    pub fn authorize(&self, headers: &HeaderMap, path: &str) -> Result<Principal, Status> {
        let Some(value) = headers.get(AUTH_HEADER) else {
            return Err(Status::unauthenticated(
                "missing `authorization: Bearer <token>` metadata: send the API token",
            ));
        };
        let Some(token) = value.to_str().ok().and_then(bearer_token) else {
            return Err(Status::unauthenticated(
                "malformed authorization metadata: expected `Bearer <token>`",
            ));
        };
        let Some(principal) = self.principals.authenticate(token) else {
            return Err(Status::unauthenticated("wrong API token"));
        };
        let needs = Call::from_path(path).map_or(Role::Admin, Call::needs);
        if !principal.role.covers(needs) {
            let call = path.trim_start_matches('/');
            tracing::warn!(principal = %principal.name, role = %principal.role, call, needs = %needs, "call refused");
            return Err(Status::permission_denied(format!(
                "principal `{}` (role {}) may not call {call}: it needs the {needs} role; \
                 ask for a token with that role",
                principal.name, principal.role
            )));
        }
        Ok(principal.clone())
    }

    /// Wraps `service` so that every call to it is authorised first.
    pub fn wrap<S>(&self, service: S) -> Authorized<S> {
        Authorized {
            inner: service,
            auth: self.clone(),
        }
    }
}

/// A gRPC service behind [`Auth`]: a refused call is answered with its
/// status and never reaches the service; an allowed one carries its
/// [`Principal`] in the request extensions.
#[derive(Clone, Debug)]
pub struct Authorized<S> {
    inner: S,
    auth: Auth,
}

impl<S, B> Service<http::Request<B>> for Authorized<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.auth.authorize(request.headers(), request.uri().path()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Box::pin(self.inner.call(request))
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

impl<S: NamedService> NamedService for Authorized<S> {
    const NAME: &'static str = S::NAME;
}

/// The name of the principal making `request` (the audit trail's actor).
/// Every wrapped service has one; `unknown` only if a handler runs unwrapped.
pub fn who<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "unknown".to_string(), |p| p.name.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::principals::token_hash;

    fn auth() -> Auth {
        let text: String = [
            ("vic", "viewer", "v"),
            ("tara", "trader", "t"),
            ("dan", "deployer", "d"),
        ]
        .iter()
        .map(|(n, r, t)| {
            format!(
                "[[principal]]\nname = \"{n}\"\nrole = \"{r}\"\ntoken_sha256 = \"{}\"\n",
                token_hash(t)
            )
        })
        .collect();
        let principals = Principals::parse(&text, std::path::Path::new("tokens.toml"))
            .unwrap()
            .with_single("s3cret")
            .unwrap();
        Auth::new(principals)
    }

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(AUTH_HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_request_without_the_token_is_unauthenticated() {
        let e = auth().authorize(&headers(None), Call::List.path()).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(e.message().contains("missing"));
    }

    #[test]
    fn a_wrong_token_is_unauthenticated() {
        let e = auth()
            .authorize(&headers(Some("Bearer nope")), Call::List.path())
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(e.message(), "wrong API token");
        let e = auth()
            .authorize(&headers(Some("Basic s3cret")), Call::List.path())
            .unwrap_err();
        assert!(e.message().contains("malformed"));
    }

    #[test]
    fn the_single_token_may_do_everything_as_principal_token() {
        for call in Call::ALL {
            let p = auth()
                .authorize(&headers(Some("Bearer s3cret")), call.path())
                .unwrap();
            assert_eq!(p.name, "token");
        }
    }

    #[test]
    fn a_call_outside_the_role_is_denied_naming_principal_call_and_role() {
        let e = auth()
            .authorize(&headers(Some("Bearer v")), Call::Upload.path())
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            e.message(),
            "principal `vic` (role viewer) may not call wasmtrade.v1.StrategyService/Upload: \
             it needs the deployer role; ask for a token with that role"
        );
        let e = auth()
            .authorize(&headers(Some("Bearer t")), Call::Activate.path())
            .unwrap_err();
        assert!(e.message().contains("`tara`"), "{}", e.message());
        let e = auth()
            .authorize(&headers(Some("Bearer d")), Call::SetKillSwitch.path())
            .unwrap_err();
        assert!(e.message().contains("needs the trader role"), "{}", e.message());
        assert_eq!(
            auth()
                .authorize(&headers(Some("Bearer t")), Call::SetKillSwitch.path())
                .unwrap()
                .name,
            "tara"
        );
        assert_eq!(
            auth()
                .authorize(&headers(Some("Bearer v")), Call::ListOrders.path())
                .unwrap()
                .name,
            "vic"
        );
    }

    #[test]
    fn an_unknown_call_needs_admin() {
        let e = auth()
            .authorize(&headers(Some("Bearer d")), "/wasmtrade.v1.StrategyService/Nuke")
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.message().contains("needs the admin role"), "{}", e.message());
    }

    /// The table names every rpc of the proto files, so a new rpc cannot be
    /// added without deciding who may call it.
    #[test]
    fn every_rpc_of_the_api_is_in_the_call_table() {
        let protos = [
            include_str!("../../../proto/wasmtrade/v1/wasmtrade.proto"),
            include_str!("../../../proto/wasmtrade/v1/models.proto"),
        ];
        let mut rpcs = 0;
        for text in protos {
            let mut service = "";
            for line in text.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("service ") {
                    service = rest.split_whitespace().next().unwrap();
                }
                if let Some(rest) = line.strip_prefix("rpc ") {
                    let method = rest.split('(').next().unwrap().trim();
                    let path = format!("/wasmtrade.v1.{service}/{method}");
                    assert!(
                        Call::from_path(&path).is_some(),
                        "{path} is not in the call table"
                    );
                    rpcs += 1;
                }
            }
        }
        assert_eq!(
            rpcs + 2,
            Call::ALL.len(),
            "the table has calls the proto does not"
        );
    }
}
