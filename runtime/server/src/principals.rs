//! Who may call the API: named principals, each with the sha256 of its
//! bearer token and a [`Role`].
//!
//! The tokens file (`server.tokens_file`) is TOML, one `[[principal]]` per
//! person or system; the token itself is never in it:
//!
//! ```toml
//! [[principal]]
//! name = "alice"
//! role = "deployer"
//! token_sha256 = "…64 hex digits: `wasmtrade token hash` of alice's token…"
//! ```
//!
//! The single-token setup (`WASMTRADE_TOKEN`, `server.token_file` or the
//! generated `data/api-token`) is one more principal, named
//! [`SINGLE_TOKEN_PRINCIPAL`], with the `admin` role.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The name of the principal holding the single API token.
pub const SINGLE_TOKEN_PRINCIPAL: &str = "token";

/// What a principal may do. Every role may read; `admin` may do everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Read-only calls: lists, logs, audit, book, events, limits.
    Viewer,
    /// Also the kill switch (engage and release).
    Trader,
    /// Also guests (upload, activate, rollback, remove, shadow, config),
    /// models, risk limits (propose, approve) and lifting risk halts.
    Deployer,
    /// Everything a trader and a deployer may do (the single API token).
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Trader, Role::Deployer, Role::Admin];

    /// Its name in the tokens file and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Trader => "trader",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }

    /// The role named `name` (`viewer`, `trader`, `deployer`, `admin`).
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether a principal with this role may make a call that needs `needed`.
    pub fn covers(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Admin, _) | (_, Role::Viewer) => true,
            (have, need) => have == need,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Its name (unique).
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// Why the principals could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PrincipalsError {
    /// The tokens file could not be read.
    #[error("cannot read the tokens file {path} (server.tokens_file)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tokens file is not TOML of the expected shape.
    #[error("the tokens file {path} is not valid: fix it (see `wasmtrade token new`)")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's report (with the line).
        #[source]
        source: toml::de::Error,
    },
    /// Entries are wrong; every problem is listed.
    #[error("the tokens file {path} has {} problem(s): {}", problems.len(), problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One message per problem, naming the line and the principal.
        problems: Vec<String>,
    },
    /// The tokens file names nobody.
    #[error(
        "the tokens file {path} has no [[principal]] entry: add one per person or system \
         (`wasmtrade token new --name NAME --role ROLE` prints one)"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The single token is also in the tokens file, or its name is taken.
    #[error("{0}")]
    Conflict(String),
}

struct Entry {
    principal: Principal,
    digest: [u8; 32],
}

/// Every principal that may call the API.
pub struct Principals {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Principals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.principal))
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hex sha256 of `token`, as the tokens file's `token_sha256` wants it.
pub fn token_hash(token: &str) -> String {
    digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    principal: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: toml::Spanned<String>,
    role: toml::Spanned<String>,
    token_sha256: toml::Spanned<String>,
}

impl Principals {
    /// One principal, [`SINGLE_TOKEN_PRINCIPAL`], with every role.
    pub fn single(token: &str) -> Self {
        Self {
            entries: vec![Entry {
                principal: Principal {
                    name: SINGLE_TOKEN_PRINCIPAL.to_string(),
                    role: Role::Admin,
                },
                digest: digest(token),
            }],
        }
    }

    /// Reads the tokens file at `path`.
    pub fn load(path: &Path) -> Result<Self, PrincipalsError> {
        let text = std::fs::read_to_string(path).map_err(|source| PrincipalsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a tokens file's `text` (`path` names it in errors). Every
    /// problem is reported at once, each naming its line and principal.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PrincipalsError> {
        let raw: RawFile = toml::from_str(text).map_err(|source| PrincipalsError::Syntax {
            path: path.to_path_buf(),
            source,
        })?;
        if raw.principal.is_empty() {
            return Err(PrincipalsError::Empty {
                path: path.to_path_buf(),
            });
        }
        let line =
            |span: std::ops::Range<usize>| text.get(..span.start).map_or(0, |t| t.matches('\n').count() + 1);
        let mut problems = Vec::new();
        let mut entries: Vec<(Entry, usize)> = Vec::new();
        for e in raw.principal {
            let at = line(e.name.span());
            let name = e.name.get_ref().trim();
            let mut ok = true;
            if !valid_name(name) {
                problems.push(format!(
                    "line {at}: principal name `{name}` must be 1 to 64 of A-Z a-z 0-9 _ - . @"
                ));
                ok = false;
            }
            let role = Role::from_name(e.role.get_ref().trim());
            if role.is_none() {
                problems.push(format!(
                    "line {}, principal `{name}`: unknown role `{}`: use viewer, trader, deployer or admin",
                    line(e.role.span()),
                    e.role.get_ref()
                ));
            }
            let hash = parse_hex(&e.token_sha256.get_ref().trim().to_ascii_lowercase());
            if hash.is_none() {
                problems.push(format!(
                    "line {}, principal `{name}`: token_sha256 must be 64 hex digits, the sha256 of the token \
                     (`wasmtrade token hash` prints it), never the token itself",
                    line(e.token_sha256.span())
                ));
            }
            if let Some((_, first)) = entries.iter().find(|(x, _)| x.principal.name == name) {
                problems.push(format!(
                    "line {at}: principal `{name}` is already defined at line {first}: names are unique"
                ));
                ok = false;
            }
            if let Some(h) = hash
                && let Some((x, first)) = entries.iter().find(|(x, _)| x.digest == h)
            {
                problems.push(format!(
                    "line {at}, principal `{name}`: same token as `{}` (line {first}): give each principal its own token",
                    x.principal.name
                ));
                ok = false;
            }
            if let (true, Some(role), Some(digest)) = (ok, role, hash) {
                let principal = Principal {
                    name: name.to_string(),
                    role,
                };
                entries.push((Entry { principal, digest }, at));
            }
        }
        if !problems.is_empty() {
            return Err(PrincipalsError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok(Self {
            entries: entries.into_iter().map(|(e, _)| e).collect(),
        })
    }

    /// Adds the single API token as principal [`SINGLE_TOKEN_PRINCIPAL`]
    /// (`admin`); refused if the tokens file already uses that name or token.
    pub fn with_single(mut self, token: &str) -> Result<Self, PrincipalsError> {
        let d = digest(token);
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.digest == d || e.principal.name == SINGLE_TOKEN_PRINCIPAL)
        {
            return Err(PrincipalsError::Conflict(format!(
                "the single API token (WASMTRADE_TOKEN or server.token_file) is principal `{SINGLE_TOKEN_PRINCIPAL}`, \
                 but the tokens file's principal `{}` has that name or that token: rename it or give it its own token",
                e.principal.name
            )));
        }
        self.entries.extend(Principals::single(token).entries);
        Ok(self)
    }

    /// How many principals there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nobody may call.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal holding `token`. Its digest is compared with every
    /// entry's, byte by byte without early exit, so the time taken does not
    /// tell how much of a wrong token was right.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        let given = digest(token);
        let mut found = None;
        for e in &self.entries {
            let diff = given
                .iter()
                .zip(e.digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(diff) == 0 {
                found = Some(&e.principal);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn entry(name: &str, role: &str, token: &str) -> String {
        format!(
            "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
            token_hash(token)
        )
    }

    fn parse(text: &str) -> Result<Principals, PrincipalsError> {
        Principals::parse(text, Path::new("/etc/wasmtrade/tokens.toml"))
    }

    #[test]
    fn a_tokens_file_names_principals_by_the_hash_of_their_token() {
        let text = entry("alice", "deployer", "a-secret") + &entry("bob", "viewer", "b-secret");
        let p = parse(&text).unwrap();
        assert_eq!(p.len(), 2);
        let alice = p.authenticate("a-secret").unwrap();
        assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Deployer));
        assert_eq!(p.authenticate("b-secret").unwrap().role, Role::Viewer);
        assert!(p.authenticate("a-secret ").is_none());
        assert!(
            p.authenticate(&token_hash("a-secret")).is_none(),
            "the hash is not the token"
        );
    }

    #[test]
    fn a_bad_hash_is_refused_naming_the_file_line_and_principal() {
        let text = entry("alice", "deployer", "x")
            + "[[principal]]\nname = \"bob\"\nrole = \"viewer\"\ntoken_sha256 = \"b-secret\"\n";
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("/etc/wasmtrade/tokens.toml"), "{e}");
        assert!(
            e.contains("line 8, principal `bob`: token_sha256 must be 64 hex digits"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_role_is_refused_with_the_roles_there_are() {
        let e = parse(&entry("carol", "root", "c")).unwrap_err().to_string();
        assert!(
            e.contains("line 3, principal `carol`: unknown role `root`"),
            "{e}"
        );
        assert!(e.contains("viewer, trader, deployer or admin"), "{e}");
    }

    #[test]
    fn duplicate_names_and_tokens_are_refused_with_both_lines() {
        let text =
            entry("alice", "viewer", "a") + &entry("alice", "trader", "b") + &entry("bob", "trader", "a");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("2 problem(s)"), "{e}");
        assert!(
            e.contains("line 6: principal `alice` is already defined at line 2"),
            "{e}"
        );
        assert!(
            e.contains("line 10, principal `bob`: same token as `alice` (line 2)"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_file_unknown_keys_and_bad_names_are_refused() {
        assert!(matches!(parse(""), Err(PrincipalsError::Empty { .. })));
        let e = parse("[[principal]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"x\"\n").unwrap_err();
        assert!(matches!(e, PrincipalsError::Syntax { .. }), "{e}");
        let e = parse(&entry("a b", "viewer", "x")).unwrap_err().to_string();
        assert!(e.contains("principal name `a b`"), "{e}");
    }

    #[test]
    fn the_single_token_is_an_admin_principal_named_token_and_must_not_collide() {
        let p = parse(&entry("alice", "viewer", "a"))
            .unwrap()
            .with_single("t")
            .unwrap();
        let t = p.authenticate("t").unwrap();
        assert_eq!((t.name.as_str(), t.role), (SINGLE_TOKEN_PRINCIPAL, Role::Admin));
        let e = parse(&entry("alice", "viewer", "a"))
            .unwrap()
            .with_single("a")
            .unwrap_err();
        assert!(e.to_string().contains("`alice`"), "{e}");
        let e = parse(&entry("token", "viewer", "a"))
            .unwrap()
            .with_single("t")
            .unwrap_err();
        assert!(matches!(e, PrincipalsError::Conflict(_)));
    }

    #[test]
    fn roles_cover_reading_and_admin_covers_everything() {
        for r in Role::ALL {
            assert!(r.covers(Role::Viewer));
            assert!(Role::Admin.covers(r));
            assert_eq!(Role::from_name(r.as_str()), Some(r));
        }
        assert!(!Role::Viewer.covers(Role::Trader));
        assert!(!Role::Trader.covers(Role::Deployer));
        assert!(!Role::Deployer.covers(Role::Trader));
        assert!(!Role::Deployer.covers(Role::Admin));
    }
}
