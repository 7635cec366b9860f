//! `wasmtrade strategy ...`: versions, hot swap, shadow runs, logs and the
//! audit trail of the guests on a running server.

use tonic::Request;
use wasmtrade_proto::v1::{
    ActivateRequest, ActivateResponse, AuditRequest, ListRequest, LogsRequest, PromoteRequest, RemoveRequest,
    RollbackRequest, ShadowRequest, ShadowResponse, StopShadowRequest, UpdateConfigRequest,
};

use super::args::{ClientArgs, StrategyCommand};
use super::connect::Connection;
use super::output::{self, emit_line, or_dash, table};
use super::{json, upload};
use crate::guest_config;

/// Runs one `strategy` subcommand.
pub async fn run(command: StrategyCommand) -> anyhow::Result<()> {
    match command {
        StrategyCommand::Upload(args) => upload::run(*args).await,
        StrategyCommand::List { name, client } => list(name.unwrap_or_default(), &client).await,
        StrategyCommand::Activate {
            name,
            version,
            config,
            client,
        } => {
            let config_json = if config.config.trim().is_empty() && config.config_file.is_none() {
                None
            } else {
                Some(guest_config::build(
                    &config.config,
                    config.config_file.as_deref(),
                )?)
            };
            let conn = Connection::open(&client).await?;
            let request = conn.request(ActivateRequest {
                name,
                version,
                config_json,
            });
            let r = conn
                .unary("StrategyService/Activate", conn.strategies().activate(request))
                .await?;
            print_activation(&client, &r)
        }
        StrategyCommand::Rollback { name, to, client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(RollbackRequest {
                name,
                version: to.unwrap_or(0),
            });
            let r = conn
                .unary("StrategyService/Rollback", conn.strategies().rollback(request))
                .await?;
            print_activation(&client, &r)
        }
        StrategyCommand::Remove {
            name,
            version,
            client,
        } => remove(name, version, &client).await,
        StrategyCommand::Logs {
            name,
            follow,
            tail,
            client,
        } => {
            logs(
                LogsRequest {
                    name,
                    follow,
                    tail: tail.unwrap_or(0),
                },
                &client,
            )
            .await
        }
        StrategyCommand::Shadow {
            name,
            version,
            client,
        } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(ShadowRequest { name, version });
            let r = conn
                .unary(
                    "StrategyService/StartShadow",
                    conn.strategies().start_shadow(request),
                )
                .await?;
            print_shadow(&client, &r, "running")
        }
        StrategyCommand::ShadowStop { name, client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(StopShadowRequest { name });
            let r = conn
                .unary(
                    "StrategyService/StopShadow",
                    conn.strategies().stop_shadow(request),
                )
                .await?;
            print_shadow(&client, &r, "stopped")
        }
        StrategyCommand::Promote { name, client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(PromoteRequest { name });
            let r = conn
                .unary("StrategyService/Promote", conn.strategies().promote(request))
                .await?;
            print_activation(&client, &r)
        }
        StrategyCommand::Config { name, config, client } => {
            let config_json = guest_config::build(&config.config, config.config_file.as_deref())?;
            let conn = Connection::open(&client).await?;
            let request = conn.request(UpdateConfigRequest { name, config_json });
            let r = conn
                .unary(
                    "StrategyService/UpdateConfig",
                    conn.strategies().update_config(request),
                )
                .await?;
            print_activation(&client, &r)
        }
        StrategyCommand::Audit { name, client } => audit(name.unwrap_or_default(), &client).await,
    }
}

async fn list(name: String, client: &ClientArgs) -> anyhow::Result<()> {
    let conn = Connection::open(client).await?;
    let request = conn.request(ListRequest { name });
    let modules = conn
        .unary("StrategyService/List", conn.strategies().list(request))
        .await?
        .modules;
    if client.json {
        let modules: Vec<_> = modules.iter().map(json::module).collect();
        json::print_document(&serde_json::json!({ "modules": modules }))?;
    } else {
        output::print(&output::modules_table(&modules))?;
    }
    Ok(())
}

async fn remove(name: String, version: Option<u32>, client: &ClientArgs) -> anyhow::Result<()> {
    let conn = Connection::open(client).await?;
    let request = conn.request(RemoveRequest {
        name,
        version: version.unwrap_or(0),
    });
    let r = conn
        .unary("StrategyService/Remove", conn.strategies().remove(request))
        .await?;
    if client.json {
        json::print_document(&json::removal(&r))?;
    } else if r.removed.is_empty() {
        output::print(&format!("{}: nothing to remove\n", r.name))?;
    } else {
        let versions: Vec<String> = r.removed.iter().map(|v| format!("v{v}")).collect();
        let what = if version.is_none() {
            "module removed"
        } else {
            "removed"
        };
        output::print(&format!("{}: {what} ({})\n", r.name, versions.join(", ")))?;
    }
    Ok(())
}

async fn logs(request: LogsRequest, client: &ClientArgs) -> anyhow::Result<()> {
    const RPC: &str = "StrategyService/Logs";
    let conn = Connection::open(client).await?;
    let mut stream = conn
        .strategies()
        .logs(Request::new(request))
        .await
        .map_err(|s| conn.status_error(RPC, &s))?
        .into_inner();
    while let Some(line) = stream.message().await.map_err(|s| conn.status_error(RPC, &s))? {
        let text = if client.json {
            json::log_line(&line).to_string()
        } else {
            format!(
                "{}  {:<5}  v{}  {}",
                output::timestamp_ns(line.ts_ns),
                output::level_name(line.level),
                line.version,
                line.message
            )
        };
        if !emit_line(&text)? {
            break;
        }
    }
    Ok(())
}

async fn audit(name: String, client: &ClientArgs) -> anyhow::Result<()> {
    let conn = Connection::open(client).await?;
    let request = conn.request(AuditRequest { name });
    let records = conn
        .unary("StrategyService/Audit", conn.strategies().audit(request))
        .await?
        .records;
    if client.json {
        let records: Vec<_> = records.iter().map(json::audit).collect();
        json::print_document(&serde_json::json!({ "records": records }))?;
        return Ok(());
    }
    if records.is_empty() {
        output::print("no audit records\n")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                output::timestamp_ns(r.ts_ns),
                or_dash(&r.who).to_string(),
                r.action.clone(),
                or_dash(&r.name).to_string(),
                if r.version == 0 {
                    "-".into()
                } else {
                    format!("v{}", r.version)
                },
                or_dash(r.sha256.get(..12).unwrap_or(&r.sha256)).to_string(),
                or_dash(&r.detail).to_string(),
            ]
        })
        .collect();
    output::print(&table(
        &["TIME", "WHO", "ACTION", "NAME", "VERSION", "SHA256", "DETAIL"],
        &rows,
    ))?;
    Ok(())
}

fn print_activation(client: &ClientArgs, r: &ActivateResponse) -> anyhow::Result<()> {
    if client.json {
        json::print_document(&json::activation(r))
    } else {
        output::print(&output::activation(r))
    }
}

fn print_shadow(client: &ClientArgs, r: &ShadowResponse, what: &str) -> anyhow::Result<()> {
    if client.json {
        return json::print_document(&json::shadow_response(r));
    }
    let text = match &r.shadow {
        None => format!("{}: no shadow run\n", r.name),
        Some(s) => {
            let fault = if s.fault.is_empty() {
                String::new()
            } else {
                format!(", faulted: {}", s.fault)
            };
            format!(
                "{}: shadow v{} {what}: {} events, {} matching, {} diverging, {} intents recorded{fault}\n",
                r.name, s.version, s.events, s.matching, s.diverging, s.intents
            )
        }
    };
    output::print(&text)
}
