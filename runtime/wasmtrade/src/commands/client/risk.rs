//! `wasmtrade risk show|set|approve|pending|history|reenable`: the pre-trade limits of a
//! running server. Limits travel as JSON; people read and write TOML (the
//! keys of the config file's `[risk]` section).

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use wasmtrade_proto::v1::{
    ApproveLimitsRequest, GetLimitsRequest, ListPendingRequest, ReenableRequest, RiskHistoryRequest,
    RiskLimits, SetLimitsRequest, SetLimitsResponse,
};

use super::args::RiskCommand;
use super::connect::Connection;
use super::output::{or_dash, table, timestamp_ns};
use super::trading::kill_text;
use super::{json, output};

/// Runs one `wasmtrade risk` command.
pub async fn run(command: RiskCommand) -> anyhow::Result<()> {
    match command {
        RiskCommand::Show { client } => {
            let conn = Connection::open(&client).await?;
            let limits = get(&conn).await?;
            let document = document(&limits)?;
            if client.json {
                json::print_document(&revision_json(&limits, document))
            } else {
                output::print(&format!(
                    "# risk limits revision {}, changed by {} at {}{}\n{}",
                    limits.revision,
                    or_dash(&limits.changed_by),
                    timestamp_ns(limits.changed_at_ns),
                    if limits.note.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", limits.note)
                    },
                    to_toml(&document)?
                ))
            }
        }
        RiskCommand::Set {
            file,
            limits,
            note,
            client,
        } => {
            if file.is_none() && limits.is_empty() {
                bail!("nothing to set: give --file FILE.toml and/or --limit key=value");
            }
            let conn = Connection::open(&client).await?;
            let current = get(&conn).await?;
            let mut document = match &file {
                Some(path) => read_toml(path)?,
                None => document(&current)?,
            };
            for pair in &limits {
                apply(&mut document, pair)?;
            }
            let request = conn.request(SetLimitsRequest {
                document_json: document.to_string(),
                expected_revision: current.revision,
                note,
                approved_by: String::new(),
            });
            let done = conn
                .unary("RiskService/SetLimits", conn.risk().set_limits(request))
                .await?;
            print_change(&done, client.json)
        }
        RiskCommand::Approve { id, client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(ApproveLimitsRequest { pending_id: id });
            let done = conn
                .unary("RiskService/ApproveLimits", conn.risk().approve_limits(request))
                .await?;
            print_change(&done, client.json)
        }
        RiskCommand::Pending { client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(ListPendingRequest {});
            let pending = conn
                .unary("RiskService/ListPending", conn.risk().list_pending(request))
                .await?
                .pending;
            if client.json {
                let items = pending
                    .iter()
                    .map(|p| {
                        let limits: Value = serde_json::from_str(&p.document_json).unwrap_or(Value::Null);
                        json!({
                            "id": p.pending_id, "proposed_by": p.proposed_by,
                            "proposed_at_ns": p.proposed_at_ns, "note": p.note,
                            "base_revision": p.base_revision, "limits": limits,
                        })
                    })
                    .collect::<Vec<_>>();
                json::print_document(&json!({ "pending": items }))
            } else {
                let rows: Vec<Vec<String>> = pending
                    .iter()
                    .map(|p| {
                        vec![
                            p.pending_id.to_string(),
                            p.proposed_by.clone(),
                            timestamp_ns(p.proposed_at_ns),
                            p.base_revision.to_string(),
                            or_dash(&p.note).to_string(),
                        ]
                    })
                    .collect();
                output::print(&table(
                    &["id", "proposed by", "at", "against revision", "note"],
                    &rows,
                ))
            }
        }
        RiskCommand::History { client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(RiskHistoryRequest {});
            let history = conn
                .unary("RiskService/History", conn.risk().history(request))
                .await?;
            if client.json {
                let revisions = history
                    .revisions
                    .iter()
                    .map(|r| document(r).map(|d| revision_json(r, d)))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                json::print_document(&json!({ "revisions": revisions }))
            } else {
                let rows: Vec<Vec<String>> = history
                    .revisions
                    .iter()
                    .map(|r| {
                        vec![
                            r.revision.to_string(),
                            timestamp_ns(r.changed_at_ns),
                            or_dash(&r.changed_by).to_string(),
                            or_dash(&r.note).to_string(),
                        ]
                    })
                    .collect();
                output::print(&table(&["revision", "changed at", "by", "note"], &rows))
            }
        }
        RiskCommand::Reenable { strategy, client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(ReenableRequest {
                strategy: strategy.unwrap_or_default(),
            });
            let state = conn
                .unary("RiskService/Reenable", conn.risk().reenable(request))
                .await?;
            if client.json {
                json::print_document(&json::kill_switch(&state))
            } else {
                output::print(&kill_text(&state))
            }
        }
    }
}

fn print_change(done: &SetLimitsResponse, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let pending = (done.pending_id != 0).then_some(done.pending_id);
        return json::print_document(
            &json!({ "revision": done.revision, "loosens": done.loosens, "pending_id": pending }),
        );
    }
    if done.pending_id != 0 {
        return output::print(&format!(
            "risk limits: pending change {id} (loosens limits) waits for another principal's approval; \
             revision {} stays in force until `wasmtrade risk approve {id}`\n",
            done.revision,
            id = done.pending_id
        ));
    }
    output::print(&format!(
        "risk limits: revision {}{}\n",
        done.revision,
        if done.loosens { " (loosens limits)" } else { "" }
    ))
}

async fn get(conn: &Connection) -> anyhow::Result<RiskLimits> {
    let request = conn.request(GetLimitsRequest {});
    conn.unary("RiskService/GetLimits", conn.risk().get_limits(request))
        .await
}

fn document(limits: &RiskLimits) -> anyhow::Result<Value> {
    serde_json::from_str(&limits.document_json).with_context(|| {
        format!(
            "the server sent risk limits revision {} that are not JSON",
            limits.revision
        )
    })
}

fn revision_json(r: &RiskLimits, document: Value) -> Value {
    json!({
        "revision": r.revision, "changed_by": r.changed_by, "changed_at_ns": r.changed_at_ns,
        "note": r.note, "limits": document,
    })
}

/// JSON without nulls (TOML has none: an absent key means "no limit").
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn to_toml(document: &Value) -> anyhow::Result<String> {
    let value = toml::Value::try_from(strip_nulls(document)).context("cannot show the limits as TOML")?;
    toml::to_string_pretty(&value).context("cannot show the limits as TOML")
}

fn read_toml(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    serde_json::to_value(table).with_context(|| format!("cannot convert {} to JSON", path.display()))
}

/// Applies `dotted.key=value` (value in TOML syntax, else a string).
fn apply(document: &mut Value, pair: &str) -> anyhow::Result<()> {
    let (key, raw) = pair.split_once('=').ok_or_else(|| {
        anyhow!("--limit {pair:?}: expected key=value, e.g. account.max_order_quantity=100")
    })?;
    let path: Vec<&str> = key.trim().split('.').map(str::trim).collect();
    if path.iter().any(|p| p.is_empty()) {
        bail!("--limit {pair:?}: the key has an empty part");
    }
    let value = match format!("v = {}", raw.trim()).parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or(toml::Value::String(raw.trim().to_string())),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let value =
        serde_json::to_value(value).with_context(|| format!("--limit {pair:?}: cannot convert the value"))?;
    let Some((last, parents)) = path.split_last() else {
        bail!("--limit {pair:?}: empty key");
    };
    let mut node = document;
    for p in parents {
        let map = node
            .as_object_mut()
            .ok_or_else(|| anyhow!("--limit {pair:?}: `{p}` is inside a value that is not a table"))?;
        node = map
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let map = node
        .as_object_mut()
        .ok_or_else(|| anyhow!("--limit {pair:?}: the parent of `{last}` is not a table"))?;
    map.insert((*last).to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_pairs_set_nested_keys_with_toml_values() {
        let mut doc = json!({ "enforce_cash": true, "strategies": {} });
        apply(&mut doc, "strategies.sma-cross.max_position=500").unwrap();
        apply(&mut doc, "account.max_order_notional = \"1000.5\"").unwrap();
        apply(&mut doc, "restricted=[\"GME\"]").unwrap();
        apply(&mut doc, "day_timezone=America/New_York").unwrap();
        assert_eq!(doc["strategies"]["sma-cross"]["max_position"], 500);
        assert_eq!(doc["account"]["max_order_notional"], "1000.5");
        assert_eq!(doc["restricted"], json!(["GME"]));
        assert_eq!(doc["day_timezone"], "America/New_York");
    }

    #[test]
    fn bad_limit_pairs_are_refused_with_the_pair_named() {
        let mut doc = json!({ "enforce_cash": true });
        let e = apply(&mut doc, "no-equals-sign").unwrap_err().to_string();
        assert!(e.contains("no-equals-sign"), "{e}");
        let e = apply(&mut doc, "enforce_cash.x=1").unwrap_err().to_string();
        assert!(e.contains("not a table"), "{e}");
        let e = apply(&mut doc, "a..b=1").unwrap_err().to_string();
        assert!(e.contains("empty part"), "{e}");
    }

    #[test]
    fn limits_show_as_toml_without_nulls() {
        let doc =
            json!({ "enforce_cash": true, "account": { "max_position": null, "max_order_quantity": 5 } });
        let text = to_toml(&doc).unwrap();
        assert!(text.contains("enforce_cash = true"), "{text}");
        assert!(text.contains("max_order_quantity = 5"), "{text}");
        assert!(!text.contains("max_position"), "{text}");
    }
}
