//! `wasmtrade token hash|new`: tokens for the API's tokens file
//! (`server.tokens_file`), which holds only their sha256.

use std::io::Read;

use anyhow::{Context, bail};
use wasmtrade_server::{Role, token_hash};

use crate::cli::{RoleArg, TokenCommand};

/// Runs one `wasmtrade token` command.
pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Hash => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the token from stdin")?;
            let token = text.trim();
            if token.is_empty() {
                bail!("no token on stdin: pipe it in, e.g. `wasmtrade token hash < token.txt`");
            }
            write_stdout(&format!("{}\n", token_hash(token)))
        }
        TokenCommand::New { name, role, json } => {
            let token = random_token()?;
            let role = role_of(role);
            let hash = token_hash(&token);
            if json {
                let v = serde_json::json!({
                    "name": name, "role": role.as_str(), "token": token, "token_sha256": hash,
                });
                return write_stdout(&format!("{v}\n"));
            }
            eprintln!(
                "token for {name} (shown once, stored nowhere; only its hash goes into the tokens file):"
            );
            eprintln!("{token}");
            write_stdout(&entry(&name, role, &hash))
        }
    }
}

fn role_of(role: RoleArg) -> Role {
    match role {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Trader => Role::Trader,
        RoleArg::Deployer => Role::Deployer,
        RoleArg::Admin => Role::Admin,
    }
}

/// A `[[principal]]` entry of the tokens file.
fn entry(name: &str, role: Role, hash: &str) -> String {
    let name = toml::Value::String(name.to_string());
    format!("[[principal]]\nname = {name}\nrole = \"{role}\"\ntoken_sha256 = \"{hash}\"\n")
}

/// 32 random bytes from the OS, as 64 hex digits.
fn random_token() -> anyhow::Result<String> {
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("cannot read /dev/urandom to make a token")?;
    Ok(hex::encode(raw))
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use wasmtrade_server::Principals;

    #[test]
    fn a_new_entry_parses_as_a_tokens_file_and_authenticates_its_token() {
        let token = random_token().unwrap();
        assert_eq!(token.len(), 64);
        let text = entry("alice", Role::Deployer, &token_hash(&token));
        let p = Principals::parse(&text, std::path::Path::new("tokens.toml")).unwrap();
        let alice = p.authenticate(&token).unwrap();
        assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Deployer));
        assert!(!text.contains(&token), "the entry never holds the token");
    }
}
