//! `check`: probe -> facts -> rules -> report.

use crate::diagnose::{self, Context};
use crate::model::Report;
use crate::probe::{self, CheckOptions};

/// Runs a full check of one target.
pub async fn check(opts: &CheckOptions, ctx: &Context) -> Report {
    let started_at = crate::cert::rfc3339(opts.now_unix);
    let run = probe::run(opts).await;
    let findings = diagnose::diagnose(&run.facts, ctx);
    crate::report::build(
        opts.target.clone(),
        started_at,
        run.duration_ms,
        run.facts,
        &run.timeline,
        findings,
    )
}

pub use crate::clock::now_unix;
