//! `wasmtrade.v1.StrategyService`: uploads, versions, hot swap, shadow runs,
//! logs and the audit trail.

use std::pin::Pin;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use wasmtrade_live::{GuestKind, Handle, UploadMeta};
use wasmtrade_proto::v1 as pb;
use wasmtrade_proto::v1::strategy_service_server::StrategyService;
use wasmtrade_proto::v1::upload_chunk::Chunk;

use crate::auth::who;
use crate::convert;
use crate::status::{invalid_field, to_status, to_status_in};

/// The strategy service over a runtime handle.
pub struct Strategies {
    handle: Handle,
}

impl Strategies {
    /// The service.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }
}

fn guest_kind(k: i32) -> Result<GuestKind, Status> {
    match pb::GuestKind::try_from(k) {
        Ok(pb::GuestKind::Strategy) => Ok(GuestKind::Strategy),
        Ok(pb::GuestKind::Indicator) => Ok(GuestKind::Indicator),
        Ok(pb::GuestKind::Policy) => Err(invalid_field(
            "header.kind",
            "upload header: policies are started from the configuration ([[policies]]), not uploaded \
             here; upload their models with ModelService (`wasmtrade model upload`)",
        )),
        _ => Err(invalid_field(
            "header.kind",
            "upload header: kind must be GUEST_KIND_STRATEGY or GUEST_KIND_INDICATOR",
        )),
    }
}

/// Refuses a module name outside
/// [`MODULE_NAME_RULE`](wasmtrade_model::MODULE_NAME_RULE) at the edge,
/// naming the request field.
fn check_name(field: &str, name: &str) -> Result<(), Status> {
    wasmtrade_model::check_module_name(name).map_err(|e| invalid_field(field, format!("`{field}`: {e}")))
}

fn some_version(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

type LogStream = Pin<Box<dyn Stream<Item = Result<pb::LogLine, Status>> + Send>>;

#[tonic::async_trait]
impl StrategyService for Strategies {
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadChunk>>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let who = who(&request);
        let mut stream = request.into_inner();
        let limit = self.handle.max_upload_bytes();
        let header = match stream.message().await? {
            Some(pb::UploadChunk {
                chunk: Some(Chunk::Header(h)),
            }) => h,
            Some(_) => {
                return Err(Status::invalid_argument(
                    "the first upload message must be the header (name, kind, sha256), not data",
                ));
            }
            None => {
                return Err(Status::invalid_argument(
                    "empty upload: send a header and the bytes",
                ));
            }
        };
        check_name("header.name", &header.name)?;
        let kind = guest_kind(header.kind)?;
        if header.size > limit {
            return Err(Status::resource_exhausted(format!(
                "upload of `{}` declares {} bytes, above the limit of {limit} bytes (guests.max_upload_bytes)",
                header.name, header.size
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(header.size.min(limit)).unwrap_or(0));
        while let Some(chunk) = stream.message().await? {
            match chunk.chunk {
                Some(Chunk::Data(d)) => {
                    if (bytes.len() + d.len()) as u64 > limit {
                        return Err(Status::resource_exhausted(format!(
                            "upload of `{}` exceeds the limit of {limit} bytes (guests.max_upload_bytes)",
                            header.name
                        )));
                    }
                    bytes.extend_from_slice(&d);
                }
                Some(Chunk::Header(_)) => {
                    return Err(Status::invalid_argument(
                        "a second upload header arrived: send one header, then data",
                    ));
                }
                None => {}
            }
        }
        let meta = UploadMeta {
            name: header.name,
            kind,
            label: header.label,
            sha256: header.sha256,
            size: header.size,
            config: header.config_json,
        };
        let done = self
            .handle
            .upload(meta, bytes, &who)
            .await
            .map_err(|e| to_status_in(e, "header"))?;
        Ok(Response::new(pb::UploadResponse {
            name: done.name,
            version: done.version,
            sha256: done.sha256,
            size: done.size,
            created: done.created,
            compile_ns: done.compile_ns,
        }))
    }

    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        let name = request.into_inner().name;
        let filter = (!name.is_empty()).then_some(name.as_str());
        let modules = self.handle.list(filter).await.map_err(to_status)?;
        Ok(Response::new(pb::ListResponse {
            modules: modules.iter().map(convert::module).collect(),
        }))
    }

    async fn activate(
        &self,
        request: Request<pb::ActivateRequest>,
    ) -> Result<Response<pb::ActivateResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        if r.version == 0 {
            return Err(invalid_field(
                "version",
                "activate: give the version to activate (1, 2, ...)",
            ));
        }
        let done = self
            .handle
            .activate(&r.name, r.version, r.config_json, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::installed(&done)))
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::ActivateResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let done = self
            .handle
            .rollback(&r.name, some_version(r.version), &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::installed(&done)))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::RemoveResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let removed = self
            .handle
            .remove(&r.name, some_version(r.version), &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RemoveResponse {
            name: r.name,
            removed,
        }))
    }

    async fn start_shadow(
        &self,
        request: Request<pb::ShadowRequest>,
    ) -> Result<Response<pb::ShadowResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        if r.version == 0 {
            return Err(invalid_field(
                "version",
                "start shadow: give the version to run in shadow",
            ));
        }
        let info = self
            .handle
            .start_shadow(&r.name, r.version, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ShadowResponse {
            name: r.name,
            shadow: Some(convert::shadow(&info)),
        }))
    }

    async fn stop_shadow(
        &self,
        request: Request<pb::StopShadowRequest>,
    ) -> Result<Response<pb::ShadowResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let info = self.handle.stop_shadow(&r.name, &who).await.map_err(to_status)?;
        Ok(Response::new(pb::ShadowResponse {
            name: r.name,
            shadow: Some(convert::shadow(&info)),
        }))
    }

    async fn promote(
        &self,
        request: Request<pb::PromoteRequest>,
    ) -> Result<Response<pb::ActivateResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let done = self.handle.promote(&r.name, &who).await.map_err(to_status)?;
        Ok(Response::new(convert::installed(&done)))
    }

    async fn update_config(
        &self,
        request: Request<pb::UpdateConfigRequest>,
    ) -> Result<Response<pb::ActivateResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let done = self
            .handle
            .update_config(&r.name, &r.config_json, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::installed(&done)))
    }

    type LogsStream = LogStream;

    async fn logs(&self, request: Request<pb::LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let r = request.into_inner();
        check_name("name", &r.name)?;
        let (recent, mut rx) = self.handle.logs(&r.name, r.tail as usize);
        let (tx, out) = mpsc::channel::<Result<pb::LogLine, Status>>(1024);
        let name = r.name;
        let follow = r.follow;
        tokio::spawn(async move {
            let mut last = 0;
            for e in &recent {
                last = e.seq;
                if let Some(line) = convert::log_line(e)
                    && tx.send(Ok(line)).await.is_err()
                {
                    return;
                }
            }
            if !follow {
                return;
            }
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if e.seq <= last {
                            continue;
                        }
                        let Some(line) = convert::log_line(&e) else {
                            continue;
                        };
                        if line.name != name {
                            continue;
                        }
                        if tx.send(Ok(line)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "log stream fell {n} events behind and was cut: reconnect (raise events.buffer for bursty guests)"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn audit(&self, request: Request<pb::AuditRequest>) -> Result<Response<pb::AuditResponse>, Status> {
        let name = request.into_inner().name;
        let filter = (!name.is_empty()).then_some(name.as_str());
        let records = self.handle.audit_trail(filter).await.map_err(to_status)?;
        Ok(Response::new(pb::AuditResponse {
            records: records.iter().map(convert::audit).collect(),
        }))
    }
}
