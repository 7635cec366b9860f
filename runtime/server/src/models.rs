//! `wasmtrade.v1.ModelService`: versioned policy models in the models
//! directory, checkpoints from a learner, activation.
//!
//! Storage is [`wasmtrade_models`] (atomic writes, fsynced); file work runs
//! on tokio's blocking pool. Activation first hands the model to the
//! [`ActivationHook`], through which the running policies take the new
//! weights between two events, and only then marks the version active on
//! disk: a refused model (not ONNX, wrong input shape, too large) leaves the
//! old weights running *and* the old version marked active, and the call
//! fails with the policy's reason. The version itself stays stored.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tonic::{Code, Request, Response, Status};
use wasmtrade_live::LiveError;
use wasmtrade_models::{Checkpoint, Checkpoints, ModelStore, ModelVersion, ModelsError};
use wasmtrade_proto::v1 as pb;
use wasmtrade_proto::v1::model_service_server::ModelService;

/// Hands a model about to become active to the running policies:
/// `(name, version, bytes)`; an `Err` is a policy's reason for refusing it
/// (the version is then not marked active).
pub type ActivationHook = Arc<
    dyn Fn(String, u64, Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Result<(), LiveError>> + Send>>
        + Send
        + Sync,
>;

/// The model service over a models directory and a checkpoints directory.
#[derive(Clone)]
pub struct Models {
    store: ModelStore,
    checkpoints: Checkpoints,
    on_activate: Option<ActivationHook>,
    /// The runtime whose policies evaluate candidates in their shadow.
    policies: Option<wasmtrade_live::Handle>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("store", &self.store)
            .field("checkpoints", &self.checkpoints)
            .finish_non_exhaustive()
    }
}

impl Models {
    /// The service; without a hook, activation only changes what is active on disk.
    pub fn new(store: ModelStore, checkpoints: Checkpoints) -> Self {
        Self {
            store,
            checkpoints,
            on_activate: None,
            policies: None,
        }
    }

    /// Lets `ActivateModel` with `shadow` evaluate candidates in the
    /// shadow of `handle`'s policies, and `ListModels` show the running
    /// evaluations.
    pub fn with_policies(mut self, handle: wasmtrade_live::Handle) -> Self {
        self.policies = Some(handle);
        self
    }

    /// Starts the shadow evaluation of stored version `v` (`bytes`).
    async fn shadow(
        &self,
        v: ModelVersion,
        bytes: Arc<Vec<u8>>,
        gate: Option<pb::ShadowGate>,
    ) -> Result<pb::ModelVersion, Status> {
        let Some(handle) = &self.policies else {
            return Err(Status::failed_precondition(
                "this server runs no policies: a shadow evaluation needs a running policy of the model",
            ));
        };
        let gate = gate_config(gate.unwrap_or_default());
        gate.check()
            .map_err(|e| crate::status::invalid_field("gate", e))?;
        let started = handle
            .shadow_model(&v.name, v.version, bytes, gate)
            .await
            .map_err(|e| {
                crate::status::to_status(e.context(format!(
                    "model `{}` version {} is stored but not evaluated",
                    v.name, v.version
                )))
            })?;
        let Some(policy) = started.first() else {
            return Err(Status::failed_precondition(format!(
                "no running policy runs model `{}`: nothing to evaluate version {} beside; activate it without --shadow",
                v.name, v.version
            )));
        };
        let mut out = version(v);
        out.shadow = Some(pb::ShadowProgress {
            policy: policy.clone(),
            needed: gate.decisions,
            ..pb::ShadowProgress::default()
        });
        Ok(out)
    }

    /// Hands every model to `hook` before it is marked active (the running
    /// policies' hot swap).
    pub fn with_activation_hook(mut self, hook: ActivationHook) -> Self {
        self.on_activate = Some(hook);
        self
    }

    /// Largest upload accepted, in bytes (the store's limit plus framing).
    pub fn max_message_bytes(&self) -> usize {
        self.store.max_bytes().saturating_add(4096)
    }

    /// Hands `v` (stored, with `bytes`) to the hook, then marks it active.
    async fn activate(&self, mut v: ModelVersion, bytes: Arc<Vec<u8>>) -> Result<ModelVersion, Status> {
        if let Some(hook) = &self.on_activate {
            hook(v.name.clone(), v.version, bytes).await.map_err(|e| {
                crate::status::to_status(e.context(format!(
                    "model `{}` version {} is stored but not active",
                    v.name, v.version
                )))
            })?;
        }
        let store = self.store.clone();
        let (name, version) = (v.name.clone(), v.version);
        blocking(move || store.activate(&name, version)).await?;
        v.active = true;
        Ok(v)
    }
}

/// The status for a model-store error.
pub fn models_status(e: ModelsError) -> Status {
    let code = match &e {
        _ if e.is_not_found() => Code::NotFound,
        ModelsError::InvalidName { .. } => Code::InvalidArgument,
        ModelsError::TooLarge { .. } => Code::ResourceExhausted,
        _ => {
            tracing::error!(error = %e, "model store failure");
            return Status::internal("model store failure: see the server log");
        }
    };
    Status::new(code, e.to_string())
}

fn version(v: ModelVersion) -> pb::ModelVersion {
    pb::ModelVersion {
        name: v.name,
        version: v.version,
        size: v.size,
        sha256: v.sha256,
        active: v.active,
        verdict: v.verdict.map(|g| pb::ModelVerdict {
            verdict: g.verdict.as_str().to_string(),
            policy: g.policy,
            against_version: g.against_version,
            decisions: g.decisions,
            candidate_score: g.candidate_score,
            active_score: g.active_score,
            detail: g.detail,
            decided_at: g.decided_at,
        }),
        shadow: None,
    }
}

/// The gate a request asks for; zero fields take the defaults.
fn gate_config(g: pb::ShadowGate) -> wasmtrade_policy::GateConfig {
    let d = wasmtrade_policy::GateConfig::default();
    let or = |v: f64, default: f64| if v == 0.0 { default } else { v };
    wasmtrade_policy::GateConfig {
        decisions: if g.decisions == 0 {
            d.decisions
        } else {
            g.decisions
        },
        margin: or(g.margin, d.margin),
        max_drawdown_increase: or(g.max_drawdown_increase, d.max_drawdown_increase),
        turnover_cost: or(g.turnover_cost, d.turnover_cost),
    }
}

fn checkpoint(c: Checkpoint) -> pb::ModelCheckpoint {
    pb::ModelCheckpoint {
        name: c.name,
        id: c.id,
        size: c.size,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ModelsError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("model store task failed: {e}")))?
        .map_err(models_status)
}

#[tonic::async_trait]
impl ModelService for Models {
    async fn upload_model(
        &self,
        request: Request<pb::UploadModelRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let r = request.into_inner();
        let store = self.store.clone();
        let (activate, name, bytes) = (r.activate, r.name, Arc::new(r.model));
        let model = bytes.clone();
        let v = blocking(move || store.put(&name, &model)).await?;
        let v = if activate {
            self.activate(v, bytes).await?
        } else {
            v
        };
        Ok(Response::new(version(v)))
    }

    async fn upload_model_stream(
        &self,
        request: Request<tonic::Streaming<pb::ModelChunk>>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        use pb::model_chunk::Chunk;
        let mut stream = request.into_inner();
        let limit = self.store.max_bytes() as u64;
        let header = match stream.message().await? {
            Some(pb::ModelChunk {
                chunk: Some(Chunk::Header(h)),
            }) => h,
            Some(_) => {
                return Err(crate::status::invalid_field(
                    "header",
                    "the first message of a model upload must be the header (name, sha256, size), not data",
                ));
            }
            None => {
                return Err(crate::status::invalid_field(
                    "header",
                    "empty model upload: send a header, then the bytes",
                ));
            }
        };
        if header.sha256.len() != 64 || !header.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::status::invalid_field(
                "header.sha256",
                format!(
                    "model upload of `{}`: header.sha256 must be the 64 hex digits of the file's sha256, got {:?}",
                    header.name, header.sha256
                ),
            ));
        }
        if header.size > limit {
            return Err(Status::resource_exhausted(format!(
                "model upload of `{}` declares {} bytes, above the model store's limit of {limit} bytes",
                header.name, header.size
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(header.size).unwrap_or(0));
        while let Some(chunk) = stream.message().await? {
            match chunk.chunk {
                Some(Chunk::Data(d)) => {
                    if (bytes.len() + d.len()) as u64 > limit {
                        return Err(Status::resource_exhausted(format!(
                            "model upload of `{}` exceeds the model store's limit of {limit} bytes",
                            header.name
                        )));
                    }
                    bytes.extend_from_slice(&d);
                }
                Some(Chunk::Header(_)) => {
                    return Err(crate::status::invalid_field(
                        "header",
                        "a second header arrived in a model upload: send one header, then data",
                    ));
                }
                None => {}
            }
        }
        if header.size != 0 && header.size != bytes.len() as u64 {
            return Err(crate::status::invalid_field(
                "header.size",
                format!(
                    "model upload of `{}`: header.size says {} bytes but {} arrived; nothing was stored",
                    header.name,
                    header.size,
                    bytes.len()
                ),
            ));
        }
        let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if !got.eq_ignore_ascii_case(&header.sha256) {
            return Err(crate::status::invalid_field(
                "header.sha256",
                format!(
                    "model upload of `{}`: the bytes' sha256 is {got}, not {} as the header says; nothing was stored",
                    header.name, header.sha256
                ),
            ));
        }
        let store = self.store.clone();
        let (name, bytes) = (header.name, Arc::new(bytes));
        let model = bytes.clone();
        let v = blocking(move || store.put(&name, &model)).await?;
        let v = if header.activate {
            self.activate(v, bytes).await?
        } else {
            v
        };
        Ok(Response::new(version(v)))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let name = request.into_inner().name;
        let store = self.store.clone();
        let versions = blocking(move || store.list((!name.is_empty()).then_some(name.as_str()))).await?;
        let shadows = match &self.policies {
            Some(h) => h.policy_shadows().await.map_err(crate::status::to_status)?,
            None => Vec::new(),
        };
        let versions = versions
            .into_iter()
            .map(|v| {
                let running = shadows
                    .iter()
                    .find(|s| s.model == v.name && s.progress.version == v.version);
                let mut out = version(v);
                out.shadow = running.map(|s| pb::ShadowProgress {
                    policy: s.policy.clone(),
                    decisions: s.progress.candidate.decisions,
                    needed: s.progress.gate.decisions,
                    candidate_score: s.progress.candidate.composite,
                    active_score: s.progress.active.composite,
                    against_version: s.active_version,
                });
                out
            })
            .collect();
        Ok(Response::new(pb::ListModelsResponse { versions }))
    }

    async fn activate_model(
        &self,
        request: Request<pb::ActivateModelRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let r = request.into_inner();
        let (store, checkpoints) = (self.store.clone(), self.checkpoints.clone());
        let (v, bytes) = match r.source {
            None => {
                return Err(Status::invalid_argument(
                    "give a `version` or a `checkpoint` to activate",
                ));
            }
            Some(pb::activate_model_request::Source::Version(n)) => {
                blocking(move || {
                    let v = store
                        .list(Some(&r.name))?
                        .into_iter()
                        .find(|v| v.version == n)
                        .ok_or(ModelsError::UnknownVersion {
                            name: r.name.clone(),
                            version: n,
                        })?;
                    let bytes = store.read(&r.name, n)?;
                    Ok((v, bytes))
                })
                .await?
            }
            // The checkpoint becomes the next version first: every model
            // that was offered stays in /models, active or not.
            Some(pb::activate_model_request::Source::Checkpoint(id)) => {
                blocking(move || {
                    let bytes = checkpoints.read(&r.name, &id)?;
                    Ok((store.put(&r.name, &bytes)?, bytes))
                })
                .await?
            }
        };
        if r.shadow {
            return Ok(Response::new(self.shadow(v, Arc::new(bytes), r.gate).await?));
        }
        let v = self.activate(v, Arc::new(bytes)).await?;
        Ok(Response::new(version(v)))
    }

    async fn list_checkpoints(
        &self,
        request: Request<pb::ListCheckpointsRequest>,
    ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
        let name = request.into_inner().name;
        let checkpoints = self.checkpoints.clone();
        let list = blocking(move || checkpoints.list(&name)).await?;
        Ok(Response::new(pb::ListCheckpointsResponse {
            checkpoints: list.into_iter().map(checkpoint).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(dir: &std::path::Path) -> Models {
        Models::new(
            ModelStore::open(dir.join("models"), 1024).unwrap(),
            Checkpoints::open(dir.join("checkpoints")).unwrap(),
        )
    }

    #[tokio::test]
    async fn refusals_map_to_codes_and_a_refused_version_never_becomes_active() {
        let dir = tempfile::tempdir().unwrap();
        let swaps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = swaps.clone();
        let s = service(dir.path()).with_activation_hook(Arc::new(move |name, v, bytes: Arc<Vec<u8>>| {
            let seen = seen.clone();
            Box::pin(async move {
                if bytes.as_slice() == b"bad" {
                    return Err(LiveError::InvalidArgument(
                        "model is not a readable ONNX model".into(),
                    ));
                }
                seen.lock().unwrap().push((name, v));
                Ok(())
            })
        }));
        let up = |model: &[u8], activate| {
            Request::new(pb::UploadModelRequest {
                name: "clstm".into(),
                model: model.to_vec(),
                activate,
            })
        };
        let v1 = s.upload_model(up(b"one", true)).await.unwrap().into_inner();
        assert_eq!((v1.version, v1.active), (1, true));
        let v2 = s.upload_model(up(b"bad", false)).await.unwrap().into_inner();
        assert_eq!((v2.version, v2.active), (2, false));
        let err = s
            .activate_model(Request::new(pb::ActivateModelRequest {
                name: "clstm".into(),
                source: Some(pb::activate_model_request::Source::Version(2)),
                ..pb::ActivateModelRequest::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("version 2 is stored but not active")
                && err.message().contains("not a readable ONNX model"),
            "{}",
            err.message()
        );
        // The refused version is not marked active: version 1 still is.
        assert_eq!(s.store.active("clstm").unwrap(), Some(1));
        let err = s.upload_model(up(b"bad", true)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(s.store.active("clstm").unwrap(), Some(1));
        let err = s
            .activate_model(Request::new(pb::ActivateModelRequest {
                name: "clstm".into(),
                source: Some(pb::activate_model_request::Source::Version(9)),
                ..pb::ActivateModelRequest::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        // A shadow evaluation needs a runtime with policies.
        let err = s
            .activate_model(Request::new(pb::ActivateModelRequest {
                name: "clstm".into(),
                source: Some(pb::activate_model_request::Source::Version(1)),
                shadow: true,
                gate: None,
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
        let err = s.upload_model(up(&[0; 2000], false)).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
        let list = s
            .list_models(Request::new(pb::ListModelsRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.versions.len(), 3);
        assert_eq!(swaps.lock().unwrap().as_slice(), [("clstm".to_string(), 1)]);
    }
}
