//! The report: what every source produces (facts and phase records), what the rules conclude
//! (findings), and the verdict. Renderers read only this.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A step of the RDP connection sequence (or another source of evidence), in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The RD Gateway's own phases (`check --gateway`), before the target's.
    GwResolve,
    GwTcp,
    GwTls,
    GwHttp,
    GwAuth,
    GwTransport,
    GwTunnel,
    Resolve,
    Tcp,
    X224,
    Protocols,
    Tls,
    Credssp,
    Kdc,
    Auth,
    Mcs,
    Udp,
    Path,
    Client,
    Evidence,
    Local,
}

impl Phase {
    /// The phases of a check against a server (the exporter pre-creates a duration for each).
    /// `Kdc` is not among them: it runs only against a domain member (or with `--realm`).
    pub const PROBE_PHASES: [Phase; 9] = [
        Phase::Resolve,
        Phase::Tcp,
        Phase::X224,
        Phase::Protocols,
        Phase::Tls,
        Phase::Credssp,
        Phase::Auth,
        Phase::Mcs,
        Phase::Udp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::GwResolve => "gw-resolve",
            Phase::GwTcp => "gw-tcp",
            Phase::GwTls => "gw-tls",
            Phase::GwHttp => "gw-http",
            Phase::GwAuth => "gw-auth",
            Phase::GwTransport => "gw-transport",
            Phase::GwTunnel => "gw-tunnel",
            Phase::Resolve => "resolve",
            Phase::Tcp => "tcp",
            Phase::X224 => "x224",
            Phase::Protocols => "protocols",
            Phase::Tls => "tls",
            Phase::Credssp => "credssp",
            Phase::Kdc => "kdc",
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
            "gw-resolve" => Phase::GwResolve,
            "gw-tcp" => Phase::GwTcp,
            "gw-tls" => Phase::GwTls,
            "gw-http" => Phase::GwHttp,
            "gw-auth" => Phase::GwAuth,
            "gw-transport" => Phase::GwTransport,
            "gw-tunnel" => Phase::GwTunnel,
            "resolve" => Phase::Resolve,
            "tcp" => Phase::Tcp,
            "x224" => Phase::X224,
            "protocols" => Phase::Protocols,
            "tls" => Phase::Tls,
            "credssp" => Phase::Credssp,
            "kdc" => Phase::Kdc,
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
    pub fn exit_code(self) -> Exit {
        match self {
            Verdict::Healthy => Exit::Ok,
            Verdict::Degraded => Exit::Warning,
            Verdict::Failing => Exit::Critical,
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
    /// Events behind the finding (event logs): how many, the first and the last (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
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

/// The exit status of every subcommand, after the Nagios/Icinga plugin convention so that
/// `check` drops into existing monitoring: 0 nothing to report, 1 warnings, 2 an error
/// finding, 3 rdp-doctor could not run (bad arguments, unreadable input). Results of several
/// targets or files merge to the worst ([`Exit::merge`]). Only `main` turns it into a process
/// exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Exit {
    /// The worse of two results ("could not run" is the worst).
    pub fn merge(self, other: Exit) -> Exit {
        self.max(other)
    }

    /// The status for the worst severity among findings.
    pub fn for_findings(findings: &[Finding]) -> Exit {
        Verdict::from_findings(findings).exit_code()
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}
