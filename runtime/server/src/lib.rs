//! The gRPC control plane of wasmtrade: `wasmtrade.v1.StrategyService`,
//! `wasmtrade.v1.TradingService` and `wasmtrade.v1.RiskService` over a live runtime [`Handle`], the
//! standard `grpc.health.v1` health service (open, for Kubernetes probes)
//! and server reflection (for `grpcurl`).
//!
//! Every call except health (reflection included) needs `authorization: Bearer <token>`; a
//! request without it, or with an unknown token, fails with `UNAUTHENTICATED`
//! before it reaches the runtime. The token names a [`Principal`] with a
//! [`Role`] ([`Principals`]: a tokens file and/or the single API token); a
//! call its role does not cover ([`Call`] lists what each needs) fails with
//! `PERMISSION_DENIED`. The principal's name is the audit trail's actor.
//! Runtime errors map to gRPC codes in one place ([`to_status`]).

mod auth;
mod convert;
mod models;
mod principals;
mod risk;
mod status;
mod strategy;
mod trading;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use wasmtrade_live::Handle;
use wasmtrade_proto::v1::model_service_server::ModelServiceServer;
use wasmtrade_proto::v1::risk_service_server::RiskServiceServer;
use wasmtrade_proto::v1::strategy_service_server::StrategyServiceServer;
use wasmtrade_proto::v1::trading_service_server::TradingServiceServer;

pub use auth::{Auth, Authorized, Call};
pub use models::{ActivationHook, Models, models_status};
pub use principals::{Principal, Principals, PrincipalsError, Role, SINGLE_TOKEN_PRINCIPAL, token_hash};
pub use risk::Risk;
pub use status::{code_of, invalid_field, to_status, to_status_in};
pub use strategy::Strategies;
pub use trading::Trading;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Reflection could not be built from the descriptor set (a build bug).
    #[error("cannot build gRPC reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(String),
}

/// The names health reports on (besides the overall `""`).
const SERVICES: [&str; 3] = [
    "wasmtrade.v1.StrategyService",
    "wasmtrade.v1.TradingService",
    "wasmtrade.v1.RiskService",
];

/// The API server over one runtime.
pub struct Server {
    handle: Handle,
    auth: Auth,
    reporter: HealthReporter,
    models: Option<Models>,
}

impl Server {
    /// A server for `handle` accepting `token` (one principal, `token`,
    /// with every role). Health starts NOT_SERVING; call
    /// [`Server::set_serving`] once the runtime is ready.
    pub fn new(handle: Handle, token: &str) -> Self {
        Self::with_principals(handle, Principals::single(token))
    }

    /// A server for `handle` accepting the tokens of `principals`, each
    /// call within its principal's role.
    pub fn with_principals(handle: Handle, principals: Principals) -> Self {
        Self {
            handle,
            auth: Auth::new(principals),
            reporter: HealthReporter::new(),
            models: None,
        }
    }

    /// Also serves `wasmtrade.v1.ModelService` (policy models).
    pub fn with_models(mut self, models: Models) -> Self {
        self.models = Some(models);
        self
    }

    /// The health reporter (readiness follows it).
    pub fn health(&self) -> HealthReporter {
        self.reporter.clone()
    }

    /// Marks every service SERVING (`true`) or NOT_SERVING.
    pub async fn set_serving(reporter: &HealthReporter, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter.set_service_status("", status).await;
        for s in SERVICES {
            reporter.set_service_status(s, status).await;
        }
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the
    /// calls in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wasmtrade_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wasmtrade_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let auth = &self.auth;
        // Reflection describes the API only to clients holding a token.
        let reflection_v1 = auth.wrap(reflection_v1);
        let reflection_v1alpha = auth.wrap(reflection_v1alpha);
        let strategies = auth.wrap(StrategyServiceServer::new(Strategies::new(self.handle.clone())));
        let trading = auth.wrap(TradingServiceServer::new(Trading::new(self.handle.clone())));
        let risk = auth.wrap(RiskServiceServer::new(Risk::new(self.handle.clone())));
        let models = self.models.map(|m| {
            let limit = m.max_message_bytes();
            auth.wrap(ModelServiceServer::new(m).max_decoding_message_size(limit))
        });
        tonic::transport::Server::builder()
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                tonic_health::server::HealthService::from_health_reporter(self.reporter.clone()),
            ))
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(strategies)
            .add_service(trading)
            .add_service(risk)
            .add_optional_service(models)
            // No Nagle delay: small unary answers would otherwise wait ~40 ms.
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
            .await
            .map_err(|e| ServerError::Transport(e.to_string()))
    }
}
