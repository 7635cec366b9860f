//! Reading what a component says about itself (its imports, its exports and
//! how much code it carries) without compiling it.
//!
//! Compiling a large guest takes seconds to minutes and hundreds of MiB; a
//! component that imports what guests may not use, or that implements
//! another world, says so in its import and export sections. [`outline`]
//! reads those sections (skipping function bodies) in milliseconds, and
//! [`precheck`] refuses such a component before any compilation starts. The
//! checks after compilation (`validate`) still run: they also compare types.

use wasmparser::{ComponentExternalKind, ComponentTypeRef, Parser, Payload};

use crate::HostError;
use crate::engine::{INDICATOR_WORLD, POLICY_WORLD, STRATEGY_WORLD};
use crate::validate::{self, ExportCheck, INDICATOR_EXPORTS, POLICY_EXPORTS, STRATEGY_EXPORTS};

/// The world a component is loaded as: which exports it must have and which
/// imports it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestWorld {
    /// `wasmtrade:guest/strategy`.
    Strategy,
    /// `wasmtrade:guest/indicator`.
    Indicator,
    /// `wasmtrade:guest/policy` (may also carry clock and filesystem imports,
    /// linked as functions that trap).
    Policy,
}

impl GuestWorld {
    /// The world's name as errors show it, e.g. `strategy@0.1.0`.
    pub fn name(self) -> &'static str {
        match self {
            GuestWorld::Strategy => STRATEGY_WORLD,
            GuestWorld::Indicator => INDICATOR_WORLD,
            GuestWorld::Policy => POLICY_WORLD,
        }
    }

    pub(crate) fn exports(self) -> &'static [(&'static str, ExportCheck)] {
        match self {
            GuestWorld::Strategy => STRATEGY_EXPORTS,
            GuestWorld::Indicator => INDICATOR_EXPORTS,
            GuestWorld::Policy => POLICY_EXPORTS,
        }
    }

    /// Imports admitted beyond the common allow-list.
    pub(crate) fn also_allowed(self) -> fn(&str) -> bool {
        match self {
            GuestWorld::Policy => validate::is_trapped_policy_import,
            GuestWorld::Strategy | GuestWorld::Indicator => |_| false,
        }
    }

    const ALL: [GuestWorld; 3] = [GuestWorld::Strategy, GuestWorld::Indicator, GuestWorld::Policy];
}

/// What a component's binary declares, read without compiling it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentOutline {
    imports: Vec<String>,
    /// Top-level exports, each with whether it is a function.
    exports: Vec<(String, bool)>,
    code_bytes: u64,
}

impl ComponentOutline {
    /// The component's own imports (not those of the modules inside it),
    /// e.g. `wasi:io/streams@0.2.6`.
    pub fn imports(&self) -> impl Iterator<Item = &str> {
        self.imports.iter().map(String::as_str)
    }

    /// Bytes of function bodies across every core module inside the
    /// component: what the compiler works through (custom sections and data
    /// are not compiled).
    pub fn code_bytes(&self) -> u64 {
        self.code_bytes
    }

    fn exports_function(&self, name: &str) -> Option<bool> {
        self.exports.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    }

    /// True if every export `world` requires is here as a function.
    fn implements(&self, world: GuestWorld) -> bool {
        world
            .exports()
            .iter()
            .all(|(name, _)| self.exports_function(name) == Some(true))
    }
}

fn malformed(e: &wasmparser::BinaryReaderError) -> HostError {
    HostError::Compile {
        reason: format!("not a valid component: {e}"),
    }
}

/// Reads the component's imports, exports and code size. Fails on bytes
/// that do not parse (truncated, garbage sections): that is a
/// [`HostError::Compile`], as compiling them would have said.
pub(crate) fn outline(bytes: &[u8]) -> Result<ComponentOutline, HostError> {
    let mut out = ComponentOutline::default();
    // 0 is the component itself; nested modules and components are deeper.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| malformed(&e))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| malformed(&e))?;
                    // A type import (`bar`, `order-intent` of the world's
                    // `use types.{..}`) names a type; it grants nothing.
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) {
                        out.imports.push(import.name.name.to_owned());
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| malformed(&e))?;
                    out.exports.push((
                        export.name.name.to_owned(),
                        export.kind == ComponentExternalKind::Func,
                    ));
                }
            }
            Payload::CodeSectionStart { size, .. } => out.code_bytes += u64::from(size),
            Payload::UnknownSection { id, range, .. } => {
                return Err(HostError::Compile {
                    reason: format!(
                        "not a valid component: unknown section id {id:#x} at offset {:#x}",
                        range.start
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Refuses a component whose imports are not allowed for `world` (naming
/// every one), or that lacks an export of `world` (naming them, the world
/// expected and the world it does implement, if any). Types are compared
/// after compilation.
pub(crate) fn precheck(outline: &ComponentOutline, world: GuestWorld) -> Result<(), HostError> {
    let also_allowed = world.also_allowed();
    let mut forbidden: Vec<String> = outline
        .imports()
        .filter(|name| !validate::is_allowed_import(name) && !also_allowed(name))
        .map(str::to_owned)
        .collect();
    if !forbidden.is_empty() {
        forbidden.sort();
        forbidden.dedup();
        return Err(HostError::ForbiddenImports { imports: forbidden });
    }
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (name, _) in world.exports() {
        match outline.exports_function(name) {
            None => missing.push((*name).to_owned()),
            Some(false) => mismatched.push(format!("{name} (not a function)")),
            Some(true) => {}
        }
    }
    if missing.is_empty() && mismatched.is_empty() {
        return Ok(());
    }
    let looks_like = GuestWorld::ALL
        .into_iter()
        .find(|w| *w != world && outline.implements(*w))
        .map(GuestWorld::name);
    Err(HostError::WorldMismatch {
        world: world.name(),
        missing,
        mismatched,
        looks_like,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn section(id: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        leb(payload.len(), &mut out);
        out.extend_from_slice(payload);
        out
    }

    fn name(n: &str, out: &mut Vec<u8>) {
        out.push(0x00);
        leb(n.len(), out);
        out.extend_from_slice(n.as_bytes());
    }

    /// A component import section importing instances named `names`, and
    /// a type named `bar` (as the world's `use types.{bar}` does).
    fn imports(names: &[&str]) -> Vec<u8> {
        let mut p = Vec::new();
        leb(names.len() + 1, &mut p);
        for n in names {
            name(n, &mut p);
            p.extend_from_slice(&[0x05, 0x00]); // an instance of type 0
        }
        name("bar", &mut p);
        p.extend_from_slice(&[0x03, 0x00, 0x00]); // a type equal to type 0
        section(10, &p)
    }

    /// A component export section exporting functions named `names`.
    fn func_exports(names: &[&str]) -> Vec<u8> {
        let mut p = Vec::new();
        leb(names.len(), &mut p);
        for (i, n) in names.iter().enumerate() {
            name(n, &mut p);
            p.push(0x01); // func
            leb(i, &mut p);
            p.push(0x00); // no type ascription
        }
        section(11, &p)
    }

    /// A core module (as a component's module section) with one empty
    /// function whose body is `body_len` bytes long, importing `import`.
    fn core_module(import: &str, body_len: usize) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend(section(1, &[1, 0x60, 0, 0]));
        let mut imp = vec![1];
        for part in [import, "f"] {
            leb(part.len(), &mut imp);
            imp.extend_from_slice(part.as_bytes());
        }
        imp.extend_from_slice(&[0x00, 0x00]); // func of type 0
        m.extend(section(2, &imp));
        m.extend(section(3, &[1, 0]));
        // Body: no locals, `nop`s, `end`.
        let mut body = vec![0u8];
        body.resize(body_len - 1, 0x01);
        body.push(0x0b);
        let mut code = vec![1];
        leb(body.len(), &mut code);
        code.extend(body);
        m.extend(section(10, &code));
        section(1, &m)
    }

    fn component(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut c = b"\0asm\x0d\0\x01\0".to_vec();
        for s in sections {
            c.extend_from_slice(s);
        }
        c
    }

    const STRATEGY: [&str; 9] = [
        "info",
        "init",
        "on-bar",
        "on-tick",
        "on-fill",
        "on-timer",
        "on-reject",
        "snapshot",
        "restore",
    ];

    #[test]
    fn reads_top_level_imports_and_counts_nested_code() {
        let bytes = component(&[
            core_module("wasi:sockets/tcp@0.2.6", 100),
            imports(&["wasmtrade:guest/host@0.1.0", "wasi:io/streams@0.2.6"]),
            func_exports(&["info"]),
        ]);
        let o = outline(&bytes).unwrap();
        // The nested module's import is satisfied inside the component.
        assert_eq!(
            o.imports().collect::<Vec<_>>(),
            ["wasmtrade:guest/host@0.1.0", "wasi:io/streams@0.2.6"]
        );
        assert!(o.code_bytes() >= 100, "{}", o.code_bytes());
        assert_eq!(o.exports_function("info"), Some(true));
    }

    #[test]
    fn accepts_a_strategy_outline() {
        let bytes = component(&[
            imports(&["wasmtrade:guest/host@0.1.0", "wasi:cli/stdout@0.2.6"]),
            func_exports(&STRATEGY),
        ]);
        assert!(precheck(&outline(&bytes).unwrap(), GuestWorld::Strategy).is_ok());
    }

    #[test]
    fn refuses_forbidden_imports_before_compiling() {
        let bytes = component(&[
            imports(&[
                "wasmtrade:guest/host@0.1.0",
                "wasi:sockets/tcp@0.2.6",
                "wasi:filesystem/types@0.2.6",
            ]),
            func_exports(&STRATEGY),
        ]);
        let o = outline(&bytes).unwrap();
        let err = precheck(&o, GuestWorld::Strategy).unwrap_err();
        let HostError::ForbiddenImports { imports } = &err else {
            panic!("expected forbidden imports, got {err}")
        };
        assert_eq!(
            imports,
            &["wasi:filesystem/types@0.2.6", "wasi:sockets/tcp@0.2.6"]
        );
        // A policy may carry the filesystem (trapped), never sockets.
        let err = precheck(&o, GuestWorld::Policy).unwrap_err();
        let HostError::ForbiddenImports { imports } = &err else {
            panic!("expected forbidden imports, got {err}")
        };
        assert_eq!(imports, &["wasi:sockets/tcp@0.2.6"]);
    }

    #[test]
    fn refuses_the_wrong_world_naming_both() {
        let policy = component(&[
            imports(&["wasmtrade:guest/host@0.1.0", "wasi:clocks/wall-clock@0.2.6"]),
            func_exports(&["info", "init", "load", "act"]),
        ]);
        let o = outline(&policy).unwrap();
        assert!(precheck(&o, GuestWorld::Policy).is_ok());
        // As a strategy, its clock import is refused first ...
        assert!(matches!(
            precheck(&o, GuestWorld::Strategy),
            Err(HostError::ForbiddenImports { .. })
        ));
        // ... and without it, the world is wrong, and which one it is is said.
        let policy = component(&[
            imports(&["wasmtrade:guest/host@0.1.0"]),
            func_exports(&["info", "init", "load", "act"]),
        ]);
        let err = precheck(&outline(&policy).unwrap(), GuestWorld::Strategy).unwrap_err();
        let HostError::WorldMismatch {
            world,
            missing,
            looks_like,
            ..
        } = &err
        else {
            panic!("expected a world mismatch, got {err}")
        };
        assert_eq!(*world, "strategy@0.1.0");
        assert_eq!(*looks_like, Some("policy@0.1.0"));
        assert!(missing.contains(&"on-bar".to_owned()), "{missing:?}");
        let msg = err.to_string();
        assert!(msg.contains("world strategy@0.1.0"), "{msg}");
        assert!(msg.contains("policy@0.1.0"), "{msg}");
    }

    #[test]
    fn refuses_an_export_that_is_not_a_function() {
        let mut exports = vec![STRATEGY.len() as u8];
        for (i, n) in STRATEGY.iter().enumerate() {
            name(n, &mut exports);
            // `restore` exported as an instance instead of a function.
            exports.extend_from_slice(&[if *n == "restore" { 0x05 } else { 0x01 }, i as u8, 0x00]);
        }
        let bytes = component(&[imports(&[]), section(11, &exports)]);
        let err = precheck(&outline(&bytes).unwrap(), GuestWorld::Strategy).unwrap_err();
        let HostError::WorldMismatch { mismatched, .. } = &err else {
            panic!("expected a world mismatch, got {err}")
        };
        assert_eq!(mismatched, &["restore (not a function)"]);
    }

    #[test]
    fn truncated_or_garbage_components_are_refused_as_invalid() {
        let bytes = component(&[
            core_module("env", 50),
            imports(&["wasmtrade:guest/host@0.1.0"]),
            func_exports(&STRATEGY),
        ]);
        for cut in [9, 20, bytes.len() / 2, bytes.len() - 1] {
            let err = outline(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(&err, HostError::Compile { reason } if reason.contains("not a valid component")),
                "cut at {cut}: {err}"
            );
        }
        let mut garbage = component(&[]);
        garbage.extend_from_slice(&[0x42, 0x05, 1, 2, 3, 4, 5]);
        let err = outline(&garbage).unwrap_err();
        assert!(err.to_string().contains("unknown section id 0x42"), "{err}");
        // A section claiming more bytes than follow.
        let mut garbage = component(&[]);
        garbage.extend_from_slice(&[10, 0x7f, 1, 2]);
        assert!(matches!(outline(&garbage), Err(HostError::Compile { .. })));
    }
}
