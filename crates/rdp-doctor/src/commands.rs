//! The subcommands that read files instead of probing a server, as pipelines: `logs` (event
//! logs -> facts -> rules -> findings) and `rdpfile` (an .rdp file -> facts -> rules ->
//! findings). Errors go to stderr and name the file; results go to `w`.

use crate::diagnose::{self, Context};
use crate::facts::logs::LogFacts;
use crate::facts::Facts;
use crate::model::{Exit, Finding};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Parses the compiled-in knowledge (catalogue, code tables, event rules) once, before any
/// command runs: a malformed table is a build bug the tests rule out, and if one ever ships,
/// `main` says so and exits 3 instead of running with missing knowledge.
pub fn self_check() -> Result<(), String> {
    crate::kb::loaded().map_err(|e| format!("knowledge base: {e}"))?;
    crate::kb::codes::loaded().map_err(str::to_string)?;
    crate::evidence::rules::loaded().map_err(str::to_string)?;
    Ok(())
}

/// `rdp-doctor logs FILE...`: reads the logs, prints the findings. Exit: 3 when no file could
/// be read, otherwise by the worst finding (an unreadable file among readable ones is at
/// least a warning).
pub fn logs(
    files: &[PathBuf],
    opts: crate::evidence::LogsOptions,
    w: &mut dyn Write,
    color: bool,
) -> (Exit, std::io::Result<()>) {
    let evidence = crate::evidence::collect(files, &opts);
    for f in evidence.files.iter().filter(|f| f.error.is_some()) {
        eprintln!(
            "rdp-doctor: {}: cannot read: {}",
            f.path,
            f.error.as_deref().unwrap_or("")
        );
    }
    let readable = evidence.files.iter().filter(|f| f.error.is_none());
    if readable.clone().count() > 0 && readable.clone().all(|f| f.records == 0) {
        let damaged: u64 = readable.map(|f| f.damaged).sum();
        eprintln!(
            "rdp-doctor: no event could be read from the input ({damaged} damaged); nothing was checked"
        );
    }
    let facts = Facts {
        logs: Some(LogFacts {
            evidence,
            host_verified: false,
            target_names: Vec::new(),
        }),
        ..Facts::default()
    };
    let findings = diagnose::diagnose(&facts, &Context::without_target());
    let Some(logs) = facts.logs else {
        return (Exit::Unknown, Ok(()));
    };
    let ev = &logs.evidence;
    let exit = logs_exit(ev, &findings);
    let written = if opts.json {
        // A document that says every file failed, for whoever parses it.
        crate::evidence::render::logs_json(ev, &findings, exit, w)
    } else if exit == Exit::Unknown {
        // Nothing was read: the errors above are the whole answer, not "no events found".
        Ok(())
    } else {
        crate::evidence::render::logs_human(ev, &findings, &opts, w, color)
    };
    (exit, written)
}

/// Could not run (3) when nothing was read: no file readable, or not one record in them (an
/// empty export, every record damaged, JSON nested past the parser's limit) — never "healthy".
fn logs_exit(ev: &crate::facts::logs::EvidenceFindings, findings: &[Finding]) -> Exit {
    if ev.files.is_empty() || ev.files.iter().all(|f| f.error.is_some() || f.records == 0) {
        return Exit::Unknown;
    }
    let unreadable = if ev.files.iter().any(|f| f.error.is_some()) {
        Exit::Warning
    } else {
        Exit::Ok
    };
    Exit::for_findings(findings).merge(unreadable)
}

/// `rdp-doctor rdpfile FILE.rdp`: parses the file, prints its connection-relevant settings and
/// the findings.
pub fn rdpfile(
    path: &Path,
    json: bool,
    w: &mut dyn Write,
    color: bool,
) -> (Exit, std::io::Result<()>) {
    let shown_path = crate::sanitize::escape(&path.display().to_string());
    let rdp = match crate::rdpfile::RdpFile::read(path) {
        Ok(r) => r,
        Err(e) => {
            // The message names the file already.
            eprintln!("rdp-doctor: {e}");
            return (Exit::Unknown, Ok(()));
        }
    };
    let facts = Facts {
        rdp_file: Some(rdp),
        ..Facts::default()
    };
    let found = diagnose::diagnose(&facts, &Context::without_target());
    let exit = Exit::for_findings(&found);
    let Some(rdp) = &facts.rdp_file else {
        return (Exit::Unknown, Ok(()));
    };
    let written = if json {
        crate::rdpfile::render_json(rdp, &shown_path, &found, exit, w)
    } else {
        crate::rdpfile::render_human(rdp, &shown_path, &found, w, color)
    };
    (exit, written)
}

/// Fuzz oracle for .rdp files: the parser's own checks, then the rules over the parsed file;
/// never panics.
pub fn fuzz_rdpfile(data: &[u8]) {
    if let Some(rdp) = crate::rdpfile::fuzz_parse(data) {
        let facts = Facts {
            rdp_file: Some(rdp),
            ..Facts::default()
        };
        let _ = diagnose::diagnose(&facts, &Context::without_target());
    }
}
