//! Guest configuration from the command line: `key=value` pairs, JSON or a
//! TOML/JSON file, always handed to guests as one JSON object.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Parses `key=value,key=value` (values typed as integer, float, bool or
/// string; `a.b=1` nests) or a JSON object into a JSON object.
pub fn parse_pairs(text: &str) -> anyhow::Result<Map<String, Value>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Map::new());
    }
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).context("--config is not valid JSON")?;
        return match v {
            Value::Object(m) => Ok(m),
            _ => bail!("--config must be a JSON object"),
        };
    }
    let mut map = Map::new();
    for pair in text.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--config entry `{pair}` is not `key=value`");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("--config entry `{pair}` has an empty key");
        }
        insert_path(&mut map, key, typed_value(value.trim()))?;
    }
    Ok(map)
}

/// A `--config` value typed as integer, float, bool or string.
pub fn typed_value(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(v.to_string()),
    }
}

/// Sets `key` (dotted for nested tables) in `map`.
pub fn insert_path(map: &mut Map<String, Value>, key: &str, value: Value) -> anyhow::Result<()> {
    match key.split_once('.') {
        None => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Some((head, rest)) => {
            let entry = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(inner) => insert_path(inner, rest, value),
                _ => bail!("--config key `{head}` is both a value and a table"),
            }
        }
    }
}

/// Reads a TOML (`.toml`) or JSON file into a JSON object.
pub fn read_file(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let value: Value = if path.extension().is_some_and(|e| e == "toml") {
        let t: toml::Table =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
        serde_json::to_value(t).with_context(|| format!("{} cannot be converted to JSON", path.display()))?
    } else {
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
    };
    match value {
        Value::Object(m) => Ok(m),
        _ => bail!("{} must hold a table/object at the top level", path.display()),
    }
}

/// The configuration JSON for a guest: the file (if any) overlaid by pairs.
pub fn build(pairs: &str, file: Option<&Path>) -> anyhow::Result<String> {
    let mut base = match file {
        Some(p) => read_file(p)?,
        None => Map::new(),
    };
    for (k, v) in parse_pairs(pairs)? {
        base.insert(k, v);
    }
    Ok(Value::Object(base).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_typed_and_nested() {
        let m = parse_pairs("fast=10,slow=20.5,on=true,name=x,a.b=1").unwrap();
        assert_eq!(
            Value::Object(m).to_string(),
            r#"{"a":{"b":1},"fast":10,"name":"x","on":true,"slow":20.5}"#
        );
    }

    #[test]
    fn rejects_entries_without_equals() {
        let e = parse_pairs("fast").unwrap_err().to_string();
        assert!(e.contains("`fast` is not `key=value`"), "{e}");
    }

    #[test]
    fn accepts_json_objects_only() {
        assert!(parse_pairs(r#"{"fast": 3}"#).is_ok());
        assert!(parse_pairs("[1]").is_err());
    }
}
