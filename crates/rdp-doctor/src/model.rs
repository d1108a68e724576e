//! The report: what every source produces (facts and phase records), what the rules conclude
//! (findings), and the verdict. Renderers read only this.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const SCHEMA: &str = "rdp-doctor/check/v1";

/// A step of the RDP connection sequence (or another source of evidence), in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Resolve,
    Tcp,
    X224,
    Protocols,
    Tls,
    Credssp,
    Auth,
    Mcs,
    Udp,
    Path,
    Client,
    Evidence,
    Local,
}

impl Phase {
    pub const PROBE_PHASES: [Phase; 8] = [
        Phase::Resolve,
        Phase::Tcp,
        Phase::X224,
        Phase::Protocols,
        Phase::Tls,
        Phase::Credssp,
        Phase::Mcs,
        Phase::Udp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Tcp => "tcp",
            Phase::X224 => "x224",
            Phase::Protocols => "protocols",
            Phase::Tls => "tls",
            Phase::Credssp => "credssp",
            Phase::Auth => "auth",
            Phase::Mcs => "mcs",
            Phase::Udp => "udp",
            Phase::Path => "path",
            Phase::Client => "client",
            Phase::Evidence => "evidence",
            Phase::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "resolve" => Phase::Resolve,
            "tcp" => Phase::Tcp,
            "x224" => Phase::X224,
            "protocols" => Phase::Protocols,
            "tls" => Phase::Tls,
            "credssp" => Phase::Credssp,
            "auth" => Phase::Auth,
            "mcs" => Phase::Mcs,
            "udp" => Phase::Udp,
            "path" => Phase::Path,
            "client" => Phase::Client,
            "evidence" => Phase::Evidence,
            "local" => Phase::Local,
            _ => return None,
        })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `error`: a standard Windows client will fail; `warning`: fails for some clients, soon, or
/// weakens security; `info`: worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Failing,
}

impl Verdict {
    pub fn from_findings(findings: &[Finding]) -> Verdict {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Error) => Verdict::Failing,
            Some(Severity::Warning) => Verdict::Degraded,
            _ => Verdict::Healthy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Failing => "failing",
        }
    }

    /// The Nagios/Icinga plugin convention: 0 OK, 1 WARNING, 2 CRITICAL.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => 1,
            Verdict::Failing => 2,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a finding makes connections fail (for some or all clients), or is a security
/// weakness that does not stop a connection. Failures are listed before hardening findings of
/// the same severity: they are the likelier cause of a failing connection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Failure,
    Hardening,
}

/// A diagnosis: the cause (stable `id`), its evidence and the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub severity: Severity,
    #[serde(default)]
    pub kind: Kind,
    pub phase: Phase,
    pub title: String,
    /// What this means, in a sentence or two.
    pub explanation: String,
    /// The measured facts that support the finding.
    pub evidence: Vec<String>,
    /// Steps, in order; a step that weakens security says so.
    pub fix: Vec<String>,
    pub references: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    Ok,
    Failed,
    Timeout,
    Skipped,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Ok => "ok",
            PhaseStatus::Failed => "failed",
            PhaseStatus::Timeout => "timeout",
            PhaseStatus::Skipped => "skipped",
        }
    }
}

/// One line of the report per phase: what happened, when, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub phase: Phase,
    pub status: PhaseStatus,
    /// Milliseconds from the start of the check to the start of this phase.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// One human-readable line (server-supplied text in it is escaped by the renderers).
    pub summary: String,
    /// The phase's facts (the same values as under `facts`).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// Where the user pointed us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// As typed.
    pub input: String,
    pub host: String,
    pub port: u16,
    /// `dns`, `ipv4` or `ipv6`.
    pub host_kind: String,
}

/// The full result of `check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool_version: String,
    pub target: Target,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    pub verdict: Verdict,
    pub phases: Vec<PhaseRecord>,
    pub findings: Vec<Finding>,
    pub facts: crate::facts::Facts,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        self.verdict.exit_code()
    }
}
