//! `wasmtrade model upload|list|activate|checkpoints`: policy models on a
//! running server (`wasmtrade.v1.ModelService`, docs/policies.md).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use wasmtrade_proto::v1::model_service_client::ModelServiceClient;
use wasmtrade_proto::v1::{
    ActivateModelRequest, ListCheckpointsRequest, ListModelsRequest, ModelChunk, ModelUploadHeader,
    ModelVersion, ShadowGate, activate_model_request::Source, model_chunk::Chunk,
};

use super::args::ClientArgs;
use super::connect::Connection;
use super::output::table;
use super::{json, output};

/// Bytes per message of a streamed model upload.
const MODEL_CHUNK_BYTES: usize = 1 << 20;

/// `wasmtrade model ...`: policy models on a running server.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Store an ONNX file as the next version of a model.
    Upload {
        /// The ONNX file.
        path: PathBuf,
        /// Model name (a-z, 0-9, `-`, `_`).
        #[arg(long)]
        name: String,
        /// Activate it at once (the running policy takes the weights).
        #[arg(long)]
        activate: bool,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every stored version (of every model, or of `--name`).
    List {
        /// Only this model.
        #[arg(long, default_value = "")]
        name: String,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a version, or a checkpoint, the active model.
    Activate {
        /// Model name.
        #[arg(long)]
        name: String,
        /// A stored version.
        #[arg(long, conflicts_with = "checkpoint")]
        version: Option<u64>,
        /// A checkpoint id in the checkpoints directory.
        #[arg(long)]
        checkpoint: Option<String>,
        /// Evaluate it beside the running version first (its decisions
        /// recorded, never traded); the shadow gate promotes it only if its
        /// figures beat the running version's (see `model list`).
        #[arg(long)]
        shadow: bool,
        /// Shadow gate: decisions before the gate decides (default 500).
        #[arg(long, requires = "shadow")]
        decisions: Option<u32>,
        /// Shadow gate: how much higher the composite score must be (default 0.1).
        #[arg(long, requires = "shadow")]
        margin: Option<f64>,
        /// Shadow gate: how much larger the max drawdown may be (default 0.05).
        #[arg(long, requires = "shadow")]
        max_drawdown_increase: Option<f64>,
        /// Shadow gate: cost per unit of equity traded (default 0.0005).
        #[arg(long, requires = "shadow")]
        turnover_cost: Option<f64>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Checkpoints a learner wrote for a model.
    Checkpoints {
        /// Model name.
        #[arg(long)]
        name: String,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn client(conn: &Connection) -> ModelServiceClient<super::connect::Authed> {
    conn.models()
}

fn print_versions(versions: &[ModelVersion], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let v: Vec<_> = versions
            .iter()
            .map(|v| {
                let verdict = v.verdict.as_ref().map(|g| {
                    json!({
                        "verdict": g.verdict, "policy": g.policy, "against_version": g.against_version,
                        "decisions": g.decisions, "candidate_score": g.candidate_score,
                        "active_score": g.active_score, "detail": g.detail, "decided_at": g.decided_at,
                    })
                });
                let shadow = v.shadow.as_ref().map(|p| {
                    json!({
                        "policy": p.policy, "decisions": p.decisions, "needed": p.needed,
                        "candidate_score": p.candidate_score, "active_score": p.active_score,
                        "against_version": p.against_version,
                    })
                });
                json!({
                    "name": v.name, "version": v.version, "size": v.size, "sha256": v.sha256,
                    "active": v.active, "verdict": verdict, "shadow": shadow,
                })
            })
            .collect();
        return json::print_document(&json!(v));
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.version.to_string(),
                v.size.to_string(),
                v.sha256.chars().take(16).collect(),
                if v.active { "active".into() } else { String::new() },
                gate_column(v),
            ]
        })
        .collect();
    output::print(&table(
        &["NAME", "VERSION", "BYTES", "SHA256", "", "SHADOW GATE"],
        &rows,
    ))
}

/// The shadow gate's state of a version, for the table.
fn gate_column(v: &ModelVersion) -> String {
    if let Some(p) = &v.shadow {
        return format!(
            "evaluating in {}: {}/{} decisions, score {:.3} vs {:.3} (v{})",
            p.policy, p.decisions, p.needed, p.candidate_score, p.active_score, p.against_version
        );
    }
    match &v.verdict {
        Some(g) => format!(
            "{} by {}: score {:.3} vs {:.3} (v{}) over {} decisions",
            g.verdict, g.policy, g.candidate_score, g.active_score, g.against_version, g.decisions
        ),
        None => String::new(),
    }
}

/// Runs one `wasmtrade model` command.
pub async fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Upload {
            path,
            name,
            activate,
            client: args,
        } => {
            let model = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let conn = Connection::open(&args).await?;
            // Streamed in chunks with the file's sha256: no single message
            // holds the model, and the server checks the bytes end to end.
            let header = ModelUploadHeader {
                name,
                activate,
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&model)),
                size: model.len() as u64,
            };
            let chunks: Vec<ModelChunk> = std::iter::once(Chunk::Header(header))
                .chain(model.chunks(MODEL_CHUNK_BYTES).map(|c| Chunk::Data(c.to_vec())))
                .map(|chunk| ModelChunk { chunk: Some(chunk) })
                .collect();
            let request = conn.request(tokio_stream::iter(chunks));
            let v = conn
                .unary(
                    "ModelService/UploadModelStream",
                    client(&conn).upload_model_stream(request),
                )
                .await?;
            print_versions(&[v], args.json)
        }
        ModelCommand::List { name, client: args } => {
            let conn = Connection::open(&args).await?;
            let request = conn.request(ListModelsRequest { name });
            let r = conn
                .unary("ModelService/ListModels", client(&conn).list_models(request))
                .await?;
            print_versions(&r.versions, args.json)
        }
        ModelCommand::Activate {
            name,
            version,
            checkpoint,
            shadow,
            decisions,
            margin,
            max_drawdown_increase,
            turnover_cost,
            client: args,
        } => {
            let gate = shadow.then(|| ShadowGate {
                decisions: decisions.unwrap_or(0),
                margin: margin.unwrap_or(0.0),
                max_drawdown_increase: max_drawdown_increase.unwrap_or(0.0),
                turnover_cost: turnover_cost.unwrap_or(0.0),
            });
            let source = match (version, checkpoint) {
                (Some(v), None) => Source::Version(v),
                (None, Some(c)) => Source::Checkpoint(c),
                _ => bail!("give --version N or --checkpoint ID"),
            };
            let conn = Connection::open(&args).await?;
            let request = conn.request(ActivateModelRequest {
                name,
                source: Some(source),
                shadow,
                gate,
            });
            let v = conn
                .unary(
                    "ModelService/ActivateModel",
                    client(&conn).activate_model(request),
                )
                .await?;
            print_versions(&[v], args.json)
        }
        ModelCommand::Checkpoints { name, client: args } => {
            let conn = Connection::open(&args).await?;
            let request = conn.request(ListCheckpointsRequest { name });
            let r = conn
                .unary(
                    "ModelService/ListCheckpoints",
                    client(&conn).list_checkpoints(request),
                )
                .await?;
            if args.json {
                let v: Vec<_> = r
                    .checkpoints
                    .iter()
                    .map(|c| json!({"name": c.name, "id": c.id, "size": c.size}))
                    .collect();
                return json::print_document(&json!(v));
            }
            let rows: Vec<Vec<String>> = r
                .checkpoints
                .iter()
                .map(|c| vec![c.name.clone(), c.id.clone(), c.size.to_string()])
                .collect();
            output::print(&table(&["NAME", "CHECKPOINT", "BYTES"], &rows))
        }
    }
}
