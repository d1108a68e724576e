//! Event-log observations as facts: per finding id, how many events, when, about which hosts,
//! the distinct summary lines and an example record; per file, what could be read. The readers
//! and the event rules are in `crate::evidence`; the join with the probe is a rule in
//! `crate::diagnose::logs`.

use crate::kb::Hit;
use serde::Serialize;
use std::collections::BTreeMap;

/// The record shown as an example of a finding (values escaped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub provider: String,
    pub channel: String,
    pub event_id: u32,
    pub computer: String,
    pub record_id: u64,
    pub file: String,
    pub data: BTreeMap<String, String>,
}

/// What the reader made of one input file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileStats {
    pub path: String,
    /// `evtx`, `json`, or `unknown` when the file could not be recognised.
    pub format: String,
    pub bytes: u64,
    /// Records read successfully.
    pub records: u64,
    /// Records (or whole chunks) that could not be read; skipped.
    pub damaged: u64,
    /// The first few reasons, escaped.
    pub damage_examples: Vec<String>,
    /// Records dropped by `--since` / `--host`.
    pub filtered_out: u64,
    /// Records that a rule turned into a finding.
    pub matched: u64,
    /// Why the file could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryLine {
    pub count: u64,
    pub text: String,
}

/// One finding from the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFinding {
    /// The catalogue id, the evidence lines and the placeholder values from the example.
    pub hit: Hit,
    pub count: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The servers the events are about (computer names, or the server a client connected to),
    /// escaped.
    pub hosts: Vec<String>,
    /// Distinct summary lines, most frequent first (at most [`MAX_LINES`]).
    pub lines: Vec<SummaryLine>,
    pub distinct_lines: usize,
    pub example: ExampleRecord,
    pub rules: Vec<String>,
}

pub const MAX_LINES: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub files: usize,
    pub files_unreadable: usize,
    pub bytes: u64,
    pub records: u64,
    pub damaged: u64,
    pub matched: u64,
    pub filtered_out: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub mib_per_second: f64,
}

/// What `logs` found: per-file statistics and the findings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceFindings {
    pub files: Vec<FileStats>,
    pub findings: Vec<LogFinding>,
    pub totals: Totals,
}

/// The logs given to `check --evidence` (or `logs`), read for one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFacts {
    pub evidence: EvidenceFindings,
    /// Whether the report knows the target by a name its events can be compared with; when it
    /// does, events about other hosts were left out while reading.
    pub host_verified: bool,
    /// The names and addresses of the target the events were compared with.
    pub target_names: Vec<String>,
}
