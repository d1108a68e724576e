//! Handing a check over: the HTML report (`check --html FILE`) and the support bundle
//! (`check --bundle FILE.zip`: the JSON document, the HTML report, and the evidence the check
//! used — the event logs' summaries and the .rdp file with its secrets removed). Files are
//! written atomically: a temporary file next to the target, then a rename, so a reader never
//! sees half a report and a failed write leaves nothing behind.

use crate::facts::rdp_file::{RdpFile, Value};
use crate::report::Report;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Fails early (before a check runs for seconds) when `path` cannot be a file we write: its
/// directory does not exist, or it is a directory itself. `what` names the option.
pub fn check_writable(path: &Path, what: &str) -> Result<(), String> {
    let shown = crate::sanitize::escape(&path.display().to_string());
    if path.as_os_str().is_empty() || path.is_dir() {
        return Err(format!("{what} {shown}: is a directory, give a file name"));
    }
    let dir = parent(path);
    if !dir.is_dir() {
        return Err(format!(
            "{what} {shown}: the directory {} does not exist",
            crate::sanitize::escape(&dir.display().to_string())
        ));
    }
    Ok(())
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically: `.NAME.tmp-PID` in the same directory, flushed to
/// disk, then renamed over `path`. The temporary file is removed when anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = parent(path).join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The HTML report's bytes.
pub fn html(report: &Report) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::render::html::render(report, &mut out)?;
    Ok(out)
}

/// The .rdp file as the check read it, without secrets: every setting on its line, values as
/// parsed; `password 51:b:`, `gatewayaccesstoken:s:` and any other password or token keep
/// their name with an empty value (the parser never kept the values). Lines that were not
/// settings are left out. UTF-8, CRLF (mstsc opens both encodings).
pub fn redacted_rdp(rdp: &RdpFile) -> String {
    let mut out = String::new();
    for s in &rdp.settings {
        let value = match &s.value {
            Value::Str { value } => value.replace(['\r', '\n'], " "),
            Value::Int { value } => value.to_string(),
            Value::Binary { .. } | Value::Secret { .. } => String::new(),
        };
        out.push_str(&format!("{}:{}:{}\r\n", s.key, s.kind, value));
    }
    out
}

/// The names of the settings whose values were removed.
fn removed(rdp: &RdpFile) -> Vec<String> {
    rdp.settings
        .iter()
        .filter(|s| matches!(s.value, Value::Binary { .. } | Value::Secret { .. }))
        .map(|s| format!("{}:{}", s.key, s.kind))
        .collect()
}

/// The support bundle: a ZIP archive of
/// * `report.json`: the check's JSON document (`--format json`);
/// * `report.html`: the HTML report;
/// * `evidence/logs.json` and `evidence/logs.txt`: the event logs as read for this target
///   (the `rdp-doctor logs` document: files, counts, summary lines, an example record each),
///   when `--evidence` was given;
/// * `evidence/client.rdp`: the .rdp file without its secrets, when `--rdp-file` was given;
/// * `README.txt`: what is in it.
pub fn bundle(report: &Report, unix_now: i64) -> io::Result<Vec<u8>> {
    let mut json = Vec::new();
    crate::render::json(report, &mut json)?;
    let html = html(report)?;
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("report.json".into(), json), ("report.html".into(), html)];
    let mut readme = format!(
        "rdp-doctor {} support bundle\r\n\r\nTarget: {}:{}\r\nVerdict: {}\r\nChecked: {}\r\n\r\n\
         report.html   the report; open it in a browser\r\n\
         report.json   the same as `rdp-doctor check --format json` (schema {})\r\n",
        env!("CARGO_PKG_VERSION"),
        crate::sanitize::escape(&report.target.host),
        report.target.port,
        report.verdict,
        report.started_at,
        report.schema
    );
    if let Some(logs) = &report.facts.logs {
        let facts = crate::facts::Facts {
            logs: Some(logs.clone()),
            ..crate::facts::Facts::default()
        };
        let findings =
            crate::diagnose::diagnose(&facts, &crate::diagnose::Context::without_target());
        let exit = crate::model::Exit::for_findings(&findings);
        let mut j = Vec::new();
        crate::evidence::render::logs_json(&logs.evidence, &findings, exit, &mut j)?;
        let mut t = Vec::new();
        crate::evidence::render::logs_human(
            &logs.evidence,
            &findings,
            &crate::evidence::LogsOptions::default(),
            &mut t,
            false,
        )?;
        files.push(("evidence/logs.json".into(), j));
        files.push(("evidence/logs.txt".into(), t));
        readme.push_str(
            "evidence/logs.json, logs.txt   the event logs given with --evidence, as read for this \
             target (the `rdp-doctor logs` document: counts, summary lines, one example record \
             per finding; not the logs themselves)\r\n",
        );
    }
    if let Some(rdp) = &report.facts.rdp_file {
        files.push(("evidence/client.rdp".into(), redacted_rdp(rdp).into_bytes()));
        let gone = removed(rdp);
        readme.push_str(&format!(
            "evidence/client.rdp   the .rdp file given with --rdp-file, secrets removed{}\r\n",
            if gone.is_empty() {
                " (it had none)".to_string()
            } else {
                format!(" (emptied: {})", crate::sanitize::escape(&gone.join(", ")))
            }
        ));
    }
    files.push(("README.txt".into(), readme.into_bytes()));
    let entries: Vec<crate::render::zip::Entry<'_>> = files
        .iter()
        .map(|(n, d)| crate::render::zip::Entry { name: n, data: d })
        .collect();
    let mut out = Vec::new();
    crate::render::zip::write(&entries, unix_now, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redacted_rdp_file_keeps_settings_and_drops_secrets() {
        let text = "full address:s:srv.example:3390\r\nusername:s:CORP\\alice\r\n\
                    password 51:b:01000000D08C9DDF0115D1118C7A00C04FC297EB\r\n\
                    gatewayaccesstoken:s:eyJhbGciOiJSUzI1NiJ9.secret-token\r\n\
                    clearpassword:s:Hunter2!\r\nauthentication level:i:2\r\n";
        let rdp = RdpFile::parse(text.as_bytes()).expect("parses");
        let out = redacted_rdp(&rdp);
        assert!(out.contains("full address:s:srv.example:3390\r\n"));
        assert!(out.contains("username:s:CORP\\alice\r\n"));
        assert!(out.contains("password 51:b:\r\n"));
        assert!(out.contains("gatewayaccesstoken:s:\r\n"));
        assert!(out.contains("clearpassword:s:\r\n"));
        assert!(out.contains("authentication level:i:2\r\n"));
        for secret in ["01000000D08C", "secret-token", "eyJhbGci", "Hunter2"] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        // and it reads back as the same settings
        let back = RdpFile::parse(out.as_bytes()).expect("parses");
        assert_eq!(back.settings.len(), rdp.settings.len());
    }

    #[test]
    fn writes_replace_the_file_whole_and_leave_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("rdp-doctor-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("r.html");
        write_atomic(&p, b"first").expect("write");
        write_atomic(&p, b"second").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(check_writable(&p, "--html").is_ok());
        assert!(check_writable(&dir, "--html")
            .unwrap_err()
            .contains("is a directory"));
        assert!(check_writable(&dir.join("no/such/x.zip"), "--bundle")
            .unwrap_err()
            .contains("does not exist"));
        assert!(write_atomic(&dir.join("no/such/x.zip"), b"x").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
