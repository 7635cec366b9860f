//! bollinger
