//! Assembling the report: phase records (one line per phase) derived from the facts and the
//! timeline, the findings, and the verdict. Pure.

use crate::facts::*;
use crate::model::{Finding, PhaseRecord, Target, Verdict};
use serde::{Deserialize, Serialize};

/// The `check --format json` document's schema name.
pub const SCHEMA: &str = "rdp-doctor/check/v1";

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
    /// Through a gateway (`check --gateway`): the side the first error (or warning) blames:
    /// the path to the gateway, the gateway, the gateway's connection to the target, or the
    /// target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_side: Option<String>,
    pub phases: Vec<PhaseRecord>,
    pub findings: Vec<Finding>,
    pub facts: Facts,
}

impl Report {
    pub fn exit_code(&self) -> crate::model::Exit {
        self.verdict.exit_code()
    }
}

pub fn build(
    target: Target,
    started_at: String,
    duration_ms: f64,
    facts: Facts,
    timeline: &Timeline,
    findings: Vec<Finding>,
) -> Report {
    let phases = crate::phases::records(&facts, timeline);
    let failing_side = facts.gateway.as_ref().and_then(|_| {
        findings
            .iter()
            .find(|f| f.severity != crate::model::Severity::Info)
            .map(|f| crate::diagnose::gateway_side(f.phase, &f.id).to_string())
    });
    Report {
        failing_side,
        schema: SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        target,
        started_at,
        duration_ms,
        verdict: Verdict::from_findings(&findings),
        phases,
        findings,
        facts,
    }
}
