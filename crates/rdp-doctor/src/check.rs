//! The one pipeline: sources -> facts -> rules -> findings -> report. Every command that
//! diagnoses (`check`, `demo`, `scan`, `serve`, `logs`, `rdpfile`) goes through [`run`]; the
//! report is built once and not changed afterwards.

use crate::diagnose::{self, Context};
use crate::facts::logs::LogFacts;
use crate::facts::rdp_file::RdpFile;
use crate::facts::{Facts, Timeline};
use crate::model::Phase;
use crate::probe::{self, CheckOptions};
use crate::report::Report;
use std::path::PathBuf;
use std::time::Instant;

pub use crate::clock::now_unix;

/// The sources of one check besides the network probe.
#[derive(Debug, Default)]
pub struct Extra {
    /// The client's .rdp file (`--rdp-file`).
    pub rdp_file: Option<RdpFile>,
    /// Event logs to join (`--evidence`).
    pub evidence: Vec<PathBuf>,
    /// Read the server's own configuration (`--local`, Windows).
    pub local: bool,
}

/// Runs a full check of one target: the probe (and, with `--local`, the collector at the same
/// time), then the evidence files, then the rules once, then the report.
pub async fn check(opts: &CheckOptions, ctx: &Context) -> Report {
    check_with(opts, ctx, Extra::default()).await
}

/// [`check`] with the other sources.
pub async fn check_with(opts: &CheckOptions, ctx: &Context, extra: Extra) -> Report {
    let started_at = crate::cert::rfc3339(opts.now_unix);
    let t0 = Instant::now();
    let collector = extra.local.then(|| {
        tokio::task::spawn_blocking(move || {
            let r = crate::local::read(crate::local::COLLECT_TIMEOUT);
            (r, crate::probe::net::ms(t0.elapsed()))
        })
    });
    let run = probe::run(opts).await;
    let mut facts = run.facts;
    let mut timeline = run.timeline;
    let mut duration_ms = run.duration_ms;
    if let Some(c) = collector {
        let (local, ms) = match c.await {
            Ok(r) => r,
            Err(e) => (
                Err(format!("the collector task failed: {e}")),
                crate::probe::net::ms(t0.elapsed()),
            ),
        };
        timeline.add(Phase::Local, 0.0, ms);
        duration_ms = duration_ms.max(ms);
        match local {
            Ok(l) => facts.local = Some(l),
            Err(e) => facts.local_error = Some(e),
        }
    }
    facts.rdp_file = extra.rdp_file;
    if !extra.evidence.is_empty() {
        facts.logs = Some(read_logs_for(&extra.evidence, &facts, &ctx.target.host));
    }
    let mut ctx = ctx.clone();
    ctx.now_unix = opts.now_unix;
    finish(
        ctx.target.clone(),
        started_at,
        duration_ms,
        facts,
        &timeline,
        &ctx,
    )
}

/// Rules once over the facts, then the report, built once.
pub fn finish(
    target: crate::model::Target,
    started_at: String,
    duration_ms: f64,
    facts: Facts,
    timeline: &Timeline,
    ctx: &Context,
) -> Report {
    let findings = diagnose::diagnose(&facts, ctx);
    crate::report::build(target, started_at, duration_ms, facts, timeline, findings)
}

/// Reads event logs for a probed target: when the probe knows the target by a name (what the
/// user typed, or the names in the server's NTLM challenge), events about other hosts are left
/// out; otherwise every event is read and the join says the host could not be verified.
pub fn read_logs_for(files: &[PathBuf], facts: &Facts, typed_host: &str) -> LogFacts {
    let mut names = vec![typed_host.to_string()];
    if let Some(a) = &facts.address_used {
        names.push(a.clone());
    }
    if let Some(r) = &facts.resolve {
        names.extend(r.addresses.iter().cloned());
    }
    if let Some(ntlm) = facts.credssp.as_ref().and_then(|c| c.ntlm.as_ref()) {
        names.extend(ntlm.dns_computer.iter().cloned());
        names.extend(ntlm.netbios_computer.iter().cloned());
    }
    let matcher = crate::evidence::HostMatcher::new(names.clone());
    let host_verified = names.iter().any(|n| n.parse::<std::net::IpAddr>().is_err());
    let opts = crate::evidence::LogsOptions::default();
    let evidence = crate::evidence::collect_with(files, &opts, host_verified.then_some(matcher));
    LogFacts {
        evidence,
        host_verified,
        target_names: names,
    }
}
