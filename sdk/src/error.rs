//! The error a guest returns from a callback.

use std::fmt;

/// Why a guest callback failed. The host records the message and applies its
/// quarantine policy; write it for the person who reads the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with a message (lowercase, naming the input, saying what to do).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
    /// An invalid configuration: `invalid config: {message}`.
    pub fn config(message: impl fmt::Display) -> Self {
        Self::new(format!("invalid config: {message}"))
    }
    /// A snapshot that cannot be restored: `invalid state: {message}`.
    pub fn state(message: impl fmt::Display) -> Self {
        Self::new(format!("invalid state: {message}"))
    }
    /// A callback the guest does not implement.
    pub fn unsupported(what: &str) -> Self {
        Self::new(format!("{what} is not supported by this guest"))
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::new(format!("json: {e}"))
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// Parses a guest configuration from the JSON text the host sends to `init`.
///
/// An empty or blank string is read as `{}`, so a guest whose fields all have
/// defaults needs no configuration. Errors read like
/// ``invalid config: missing field `slow` at line 1 column 10``.
pub fn parse_config<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Error> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(Error::config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Cfg {
        fast: u32,
        slow: u32,
    }

    #[test]
    fn config_errors_name_the_missing_field_and_position() {
        let err = parse_config::<Cfg>(r#"{"fast": 3}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: missing field `slow` at line 1 column 11"
        );
    }

    #[test]
    fn blank_config_reads_as_an_empty_object() {
        #[derive(serde::Deserialize)]
        struct Empty {}
        assert!(parse_config::<Empty>("  ").is_ok());
    }
}
