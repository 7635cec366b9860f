//! `wasmtrade new strategy|indicator NAME`: a guest project from the
//! templates in `sdk/templates/` (embedded at build time, with the SDK).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::{NewArgs, NewKind, NewLang};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where the project's copy of the SDK goes (without `--sdk`).
const VENDORED_SDK: &str = "wasmtrade-sdk";

/// Names cargo refuses as package names, or that shadow a standard crate.
const RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "proc-macro",
    "self",
    "super",
    "crate",
    "build",
    "deps",
    "examples",
    "wasmtrade-sdk",
    "wasmtrade_sdk",
];

/// Creates the project.
pub fn run(args: &NewArgs) -> anyhow::Result<()> {
    let NewLang::Rust = args.lang;
    check_name(&args.name)?;
    let project = args.dir.join(&args.name);
    if project.exists()
        && std::fs::read_dir(&project)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty: choose another NAME or --dir",
            project.display()
        );
    }
    let sdk = match &args.sdk {
        Some(path) => Sdk::Path(checked_sdk(path)?),
        None => Sdk::Vendored,
    };
    let kind = match args.kind {
        NewKind::Strategy => "strategy",
        NewKind::Indicator => "indicator",
    };
    let vars = Vars::new(&args.name, &sdk);
    let prefix = format!("{kind}/");
    let mut written = 0;
    for (path, text) in embedded::TEMPLATES {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        write(&project.join(rel), &vars.fill(text))?;
        written += 1;
    }
    if written == 0 {
        bail!("this binary carries no {kind} template (built without sdk/templates/{kind})");
    }
    if let Sdk::Vendored = sdk {
        for (path, text) in embedded::SDK {
            write(&project.join(VENDORED_SDK).join(path), text)?;
        }
    }

    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", vars.crate_ident);
    let sdk_note = match &sdk {
        Sdk::Vendored => format!("the SDK copied into {}/{VENDORED_SDK}", args.name),
        Sdk::Path(p) => format!("the SDK at {}", p.display()),
    };
    println!(
        "created {kind} `{}` in {} (Rust, {sdk_note})",
        args.name,
        project.display()
    );
    println!("next:");
    println!("  cd {}", project.display());
    println!("  cargo test");
    println!("  cargo build --release --target wasm32-wasip2");
    match args.kind {
        NewKind::Strategy => {
            println!("  wasmtrade backtest --strategy {wasm} --config fast=10,slow=30,quantity=10")
        }
        NewKind::Indicator => println!("  wasmtrade guest inspect {wasm}"),
    }
    Ok(())
}

/// The SDK dependency of the new project.
enum Sdk {
    /// A copy inside the project.
    Vendored,
    /// The SDK directory given with `--sdk` (absolute).
    Path(PathBuf),
}

/// The template's placeholders.
struct Vars {
    name: String,
    crate_ident: String,
    type_name: String,
    sdk: String,
}

impl Vars {
    fn new(name: &str, sdk: &Sdk) -> Self {
        let type_name: String = name
            .split(['-', '_'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let path = match sdk {
            Sdk::Vendored => VENDORED_SDK.to_string(),
            Sdk::Path(p) => p.display().to_string(),
        };
        Self {
            name: name.to_string(),
            crate_ident: name.replace('-', "_"),
            type_name,
            sdk: format!("{{ path = {} }}", toml::Value::String(path)),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{{crate_ident}}", &self.crate_ident)
            .replace("{{crate}}", &self.name)
            .replace("{{Type}}", &self.type_name)
            .replace("{{name}}", &self.name)
            .replace("{{sdk}}", &self.sdk)
    }
}

/// A package name cargo accepts and a guest name the runtime accepts.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a usable guest name: use 1-64 lowercase ASCII letters, digits, `-` and `_`, starting with a letter (e.g. `my-strategy`)"
        );
    }
    if RESERVED.contains(&name) {
        bail!("`{name}` is reserved (cargo or the SDK uses it): choose another name");
    }
    Ok(())
}

/// The `--sdk` directory, absolute, if it holds the wasmtrade SDK.
fn checked_sdk(path: &Path) -> anyhow::Result<PathBuf> {
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("--sdk {}: cannot read {}", path.display(), manifest.display()))?;
    let table: toml::Table = text.parse().with_context(|| {
        format!(
            "--sdk {}: {} is not valid TOML",
            path.display(),
            manifest.display()
        )
    })?;
    let name = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str);
    if name != Some("wasmtrade-sdk") {
        bail!(
            "--sdk {}: {} is not the wasmtrade SDK's manifest (package name {:?})",
            path.display(),
            manifest.display(),
            name.unwrap_or("none")
        );
    }
    path.canonicalize()
        .with_context(|| format!("--sdk {}", path.display()))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_is_written() {
        for bad in [
            "",
            "My",
            "1abc",
            "a b",
            "../x",
            "a/b",
            "x.y",
            "test",
            "wasmtrade-sdk",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "my-strategy", "breakout_2"] {
            assert!(check_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn placeholders_become_the_package_ident_and_type_names() {
        let v = Vars::new("my-fast_strat", &Sdk::Vendored);
        assert_eq!(v.type_name, "MyFastStrat");
        assert_eq!(
            v.fill("{{crate}} {{crate_ident}} {{Type}} {{name}} {{sdk}}"),
            r#"my-fast_strat my_fast_strat MyFastStrat my-fast_strat { path = "wasmtrade-sdk" }"#
        );
    }

    #[test]
    fn the_binary_carries_both_templates_and_the_whole_sdk() {
        let has = |p: &str| embedded::TEMPLATES.iter().any(|(path, _)| *path == p);
        for p in [
            "strategy/Cargo.toml",
            "strategy/src/lib.rs",
            "indicator/src/lib.rs",
            "indicator/README.md",
        ] {
            assert!(has(p), "template file {p} missing");
        }
        let sdk = |p: &str| embedded::SDK.iter().any(|(path, _)| *path == p);
        for p in [
            "Cargo.toml",
            "src/lib.rs",
            "wit/guest.wit",
            "src/testing/harness.rs",
        ] {
            assert!(sdk(p), "SDK file {p} missing");
        }
        assert!(!embedded::SDK.iter().any(|(p, _)| p.starts_with("templates/")));
    }
}
