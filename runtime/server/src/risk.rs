//! `wasmtrade.v1.RiskService`: the pre-trade limits in force, changing
//! them, their history, and lifting halts.

use tonic::{Request, Response, Status};
use wasmtrade_live::{Handle, RiskChangeOutcome};
use wasmtrade_proto::v1 as pb;
use wasmtrade_proto::v1::risk_service_server::RiskService;

use crate::auth::who;
use crate::convert;
use crate::status::{invalid_field, to_status};

/// The risk service over a runtime handle.
pub struct Risk {
    handle: Handle,
}

impl Risk {
    /// The service.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }
}

#[tonic::async_trait]
impl RiskService for Risk {
    async fn get_limits(
        &self,
        _request: Request<pb::GetLimitsRequest>,
    ) -> Result<Response<pb::RiskLimits>, Status> {
        let limits = self.handle.risk_limits().await.map_err(to_status)?;
        Ok(Response::new(convert::risk_limits(&limits)))
    }

    async fn set_limits(
        &self,
        request: Request<pb::SetLimitsRequest>,
    ) -> Result<Response<pb::SetLimitsResponse>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        if !r.approved_by.trim().is_empty() {
            return Err(invalid_field(
                "approved_by",
                "approved_by is no longer accepted: a name typed by the caller approves nothing. Send the \
                 change without it; if it needs a second approver it is stored as pending and another \
                 principal approves it (`wasmtrade risk approve ID`, RiskService/ApproveLimits)",
            ));
        }
        let document: serde_json::Value = serde_json::from_str(&r.document_json).map_err(|e| {
            invalid_field(
                "document_json",
                format!("document_json is not JSON ({e}): send the whole risk configuration"),
            )
        })?;
        let expected = (r.expected_revision != 0).then_some(r.expected_revision);
        let outcome = self
            .handle
            .set_risk_limits(document, expected, &r.note, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(match outcome {
            RiskChangeOutcome::Applied(change) => pb::SetLimitsResponse {
                revision: change.revision,
                loosens: change.loosens,
                pending_id: 0,
            },
            RiskChangeOutcome::Pending(p) => pb::SetLimitsResponse {
                revision: p.base_revision,
                loosens: true,
                pending_id: p.id,
            },
        }))
    }

    async fn approve_limits(
        &self,
        request: Request<pb::ApproveLimitsRequest>,
    ) -> Result<Response<pb::SetLimitsResponse>, Status> {
        let who = who(&request);
        let id = request.into_inner().pending_id;
        if id == 0 {
            return Err(invalid_field(
                "pending_id",
                "pending_id is 0: name the pending change to approve (`wasmtrade risk pending` lists them)",
            ));
        }
        let change = self
            .handle
            .approve_risk_change(id, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetLimitsResponse {
            revision: change.revision,
            loosens: change.loosens,
            pending_id: 0,
        }))
    }

    async fn list_pending(
        &self,
        _request: Request<pb::ListPendingRequest>,
    ) -> Result<Response<pb::ListPendingResponse>, Status> {
        let pending = self.handle.pending_risk_changes().await.map_err(to_status)?;
        Ok(Response::new(pb::ListPendingResponse {
            pending: pending
                .into_iter()
                .map(|p| pb::PendingLimits {
                    pending_id: p.id,
                    proposed_by: p.proposed_by,
                    proposed_at_ns: p.proposed_at.nanos(),
                    note: p.note,
                    base_revision: p.base_revision,
                    document_json: p.document.to_string(),
                })
                .collect(),
        }))
    }

    async fn history(
        &self,
        _request: Request<pb::RiskHistoryRequest>,
    ) -> Result<Response<pb::RiskHistoryResponse>, Status> {
        let revisions = self.handle.risk_history().await.map_err(to_status)?;
        Ok(Response::new(pb::RiskHistoryResponse {
            revisions: revisions.iter().map(convert::risk_limits).collect(),
        }))
    }

    async fn reenable(
        &self,
        request: Request<pb::ReenableRequest>,
    ) -> Result<Response<pb::KillSwitchState>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        let strategy = (!r.strategy.trim().is_empty()).then_some(r.strategy.trim());
        let state = self.handle.reenable(strategy, &who).await.map_err(to_status)?;
        Ok(Response::new(convert::kill(&state)))
    }
}
