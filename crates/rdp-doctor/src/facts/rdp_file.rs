//! The client's `.rdp` file as a source of facts: its settings (secrets only as their size),
//! and the problems found while reading it. The parser is `crate::rdpfile`; the rules are in
//! `crate::diagnose::client`.

use serde::Serialize;

/// A setting's value. Secrets keep only their size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Value {
    Str {
        value: String,
    },
    Int {
        value: i64,
    },
    /// A `b:` value (hex): never stored, never printed.
    Binary {
        bytes: usize,
    },
    /// A password or token in clear text (`password:s:`, `gatewayaccesstoken:s:`): never stored.
    Secret {
        chars: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// 1-based line number.
    pub line: usize,
    /// Lowercase, trimmed (names are case-insensitive).
    pub key: String,
    /// The type letter as written (`s`, `i`, `b`, or something unknown).
    pub kind: char,
    pub value: Value,
    pub known: bool,
}

impl Setting {
    /// The value for display: escaped; secrets only as "present".
    pub fn display_value(&self) -> String {
        match &self.value {
            Value::Str { value } => crate::sanitize::escape(value),
            Value::Int { value } => value.to_string(),
            Value::Binary { bytes } => format!("(binary, {bytes} bytes: present, not shown)"),
            Value::Secret { .. } => "(present, not shown)".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    /// What is wrong, escaped (never contains a secret value).
    pub what: String,
}

/// A parsed `.rdp` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RdpFile {
    /// `utf-16le`, `utf-16be` or `utf-8`.
    pub encoding: String,
    pub settings: Vec<Setting>,
    pub problems: Vec<Problem>,
}
