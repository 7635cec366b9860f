//! Embeds the SDK (for `wasmtrade new`, which vendors it into a new guest
//! project) and the project templates from `sdk/templates/`, so the binary
//! scaffolds a buildable project anywhere, without this repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn table(name: &str, doc: &str, root: &Path, paths: &[PathBuf]) -> String {
    let mut s = format!("#[doc = {doc:?}]\npub static {name}: &[(&str, &str)] = &[\n");
    for p in paths {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(s, "    ({rel:?}, include_str!({:?})),", p.display().to_string());
    }
    s.push_str("];\n");
    s
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let sdk = manifest.join("../../sdk");
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    let mut sdk_files = Vec::new();
    for part in ["Cargo.toml", "README.md"] {
        sdk_files.push(sdk.join(part));
    }
    files(&sdk.join("src"), &mut sdk_files);
    files(&sdk.join("wit"), &mut sdk_files);
    let templates = sdk.join("templates");
    let mut template_files = Vec::new();
    files(&templates, &mut template_files);

    let mut code = table(
        "SDK",
        "The SDK's files: path in sdk/, contents.",
        &sdk,
        &sdk_files,
    );
    code.push_str(&table(
        "TEMPLATES",
        "The project templates: path in sdk/templates/, contents.",
        &templates,
        &template_files,
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
    for dir in ["Cargo.toml", "README.md", "src", "wit", "templates"] {
        println!("cargo:rerun-if-changed={}", sdk.join(dir).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
