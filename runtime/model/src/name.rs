//! Module names: what a strategy, indicator or policy may be called. The
//! name is a store key, a strategy id, a metrics label and part of API
//! paths, so it is kept to a small safe set: no `.`/`..`, no separators,
//! no upper case (no two names that differ only in case), no unicode.

/// The rule, as messages and docs state it.
pub const MODULE_NAME_RULE: &str =
    "1 to 64 characters from a-z, 0-9, `-` and `_`, starting with a letter or a digit";

/// Longest module name, in bytes.
pub const MAX_MODULE_NAME_LEN: usize = 64;

/// A module name outside [`MODULE_NAME_RULE`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("module name {} is invalid: use {MODULE_NAME_RULE}", shown(.name))]
pub struct InvalidModuleName {
    /// The name as given.
    pub name: String,
}

/// The name quoted for a message, cut after 64 characters.
fn shown(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(MAX_MODULE_NAME_LEN).collect();
    if chars.next().is_some() {
        format!("{head:?}… ({} bytes)", name.len())
    } else {
        format!("{head:?}")
    }
}

/// Checks `name` against [`MODULE_NAME_RULE`]:
/// `^[a-z0-9][a-z0-9_-]{0,63}$`.
///
/// ```
/// use wasmtrade_model::check_module_name;
/// assert!(check_module_name("sma-cross_2").is_ok());
/// assert!(check_module_name("..").is_err());
/// ```
pub fn check_module_name(name: &str) -> Result<(), InvalidModuleName> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_MODULE_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(InvalidModuleName {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_names_in_use() {
        for name in ["sma", "sma-cross", "rsi_reversion", "clstm", "a", "0", "v2-ema_9"] {
            assert_eq!(check_module_name(name), Ok(()), "{name}");
        }
        assert_eq!(check_module_name(&"a".repeat(64)), Ok(()));
    }

    #[test]
    fn refuses_paths_separators_case_unicode_and_lengths() {
        let long = "a".repeat(65);
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "-a",
            "_a",
            "a.b",
            "Sma",
            "sma cross",
            "smа",
            "a\0",
            &long,
        ] {
            assert!(check_module_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn the_message_names_the_rule_and_cuts_long_names() {
        assert_eq!(
            check_module_name("..").unwrap_err().to_string(),
            "module name \"..\" is invalid: use 1 to 64 characters from a-z, 0-9, `-` and `_`, starting with a letter or a digit"
        );
        let text = check_module_name(&"b".repeat(200)).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!(
                "module name \"{}\"… (200 bytes) is invalid",
                "b".repeat(64)
            )),
            "{text}"
        );
    }
}
