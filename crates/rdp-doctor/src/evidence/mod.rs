//! Evidence from Windows: event logs (`.evtx`, or `Get-WinEvent | ConvertTo-Json` exports) read
//! offline on any OS, turned into findings by rules kept as data (`kb/event-rules.toml`), and
//! joined with a probe report ([`join`]).
//!
//! Data flow: files -> readers ([`evtx`], [`winevent_json`]) -> [`Event`]s (streamed, never all
//! in memory) -> [`rules`] (match + aggregate per finding) -> [`EvidenceFindings`] ->
//! renderers ([`render`]) or [`join::join`] into a `check` report.
//!
//! Damaged input is data: a record that cannot be read is counted and reported with its
//! reason, the next one is read. Only a file that cannot be opened or recognised at all is an
//! error for that file, and only "no file could be read" fails the command (exit 3).

pub mod decode;
pub mod evtx;
pub mod render;
pub mod rules;
pub mod winevent_json;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::OffsetDateTime;

pub use crate::facts::logs::FileStats;
pub use crate::text::{decode_text, truncate};
pub use rules::{EvidenceFindings, LogFinding};

/// JSON schema name of `rdp-doctor logs --format json`.
pub const LOGS_SCHEMA: &str = "rdp-doctor/logs/v1";

/// Limits against hostile or broken input.
pub mod limits {
    /// A `ConvertTo-Json` export larger than this is refused (it is streamed, so this bounds
    /// time, not memory), and so is an `.evtx` read from a pipe (held in memory).
    pub const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;
    /// Fields kept per event; the rest are dropped (and counted as truncation in the value).
    pub const MAX_FIELDS: usize = 128;
    /// Characters kept per field value.
    pub const MAX_VALUE_CHARS: usize = 2048;
    /// Damage messages kept per file (all damaged records are counted).
    pub const MAX_DAMAGE_EXAMPLES: usize = 5;
}

/// One Windows event, whatever file format it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `TimeCreated/@SystemTime`, UTC.
    pub time: Option<OffsetDateTime>,
    /// `Provider/@Name`, e.g. `Schannel`, `Microsoft-Windows-Security-Auditing`.
    pub provider: String,
    /// `Channel` (log name), e.g. `System`, `Security`.
    pub channel: String,
    pub event_id: u32,
    /// `Computer`: the machine that logged the event.
    pub computer: String,
    pub record_id: u64,
    /// `EventData/Data[@Name]` or `UserData/*/*` as name -> text. Unnamed classic `Data`
    /// elements are `Data`, `Data_1`, ...; the binary part of a classic event is `Binary` (hex).
    pub data: BTreeMap<String, String>,
    /// The file it was read from (for the example record).
    pub source: Arc<str>,
}

impl Event {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.data.get(name).map(String::as_str)
    }
}

/// Inserts a field, bounded in count and length; a repeated name gets `_1`, `_2` ... suffixes.
pub(crate) fn put_field(data: &mut BTreeMap<String, String>, name: &str, value: String) {
    if data.len() >= limits::MAX_FIELDS {
        return;
    }
    let value = if value.chars().count() > limits::MAX_VALUE_CHARS {
        let mut v: String = value.chars().take(limits::MAX_VALUE_CHARS).collect();
        v.push_str("...");
        v
    } else {
        value
    };
    use std::collections::btree_map::Entry;
    if let Entry::Vacant(e) = data.entry(name.to_string()) {
        e.insert(value);
        return;
    }
    for i in 1..limits::MAX_FIELDS {
        if let Entry::Vacant(e) = data.entry(format!("{name}_{i}")) {
            e.insert(value);
            return;
        }
    }
}

/// Formats a time as RFC 3339 (UTC, as many fractional digits as needed).
pub fn fmt_time(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl FileStats {
    pub(crate) fn damage(&mut self, why: &str) {
        self.damaged += 1;
        if self.damage_examples.len() < limits::MAX_DAMAGE_EXAMPLES {
            self.damage_examples
                .push(crate::sanitize::escape(&truncate(why, 300)));
        }
    }
}

/// Options of `rdp-doctor logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Ignore events before this time.
    pub since: Option<OffsetDateTime>,
    /// Keep only events about this server (its computer name, or the server named in a
    /// client-side event); see [`HostMatcher`].
    pub host: Option<String>,
    /// JSON output (schema `rdp-doctor/logs/v1`) instead of the human report.
    pub json: bool,
    /// Worker threads; 0 = one per CPU.
    pub threads: usize,
}

/// Parses `--since`: RFC 3339 (`2024-05-01T08:00:00Z`), a date (`2024-05-01`, midnight UTC),
/// or a duration back from `now` (`90m`, `36h`, `7d`, `2w`).
pub fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    let t = s.trim();
    if let Ok(v) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(v);
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(t, &date_fmt) {
        return Ok(d.midnight().assume_utc());
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("--since: cannot read '{}'", crate::sanitize::escape(s)))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "--since: unknown unit in '{}' (use s, m, h, d or w, an RFC 3339 time or a date)",
                crate::sanitize::escape(s)
            ))
        }
    };
    n.checked_mul(secs)
        .and_then(|d| now.checked_sub(time::Duration::seconds(d)))
        .ok_or_else(|| "--since: duration out of range".to_string())
}

/// Decides whether a name in an event refers to the server the user asked about. Names compare
/// case-insensitively; a short name matches the first label of a fully qualified one
/// (`FS03` ~ `fs03.offsec.lan`); addresses compare exactly (ports and brackets removed).
#[derive(Debug, Clone, Default)]
pub struct HostMatcher {
    names: Vec<String>,
}

impl HostMatcher {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> HostMatcher {
        let names = names
            .into_iter()
            .map(|n| normalize_host(n.as_ref()))
            .filter(|n| !n.is_empty())
            .collect();
        HostMatcher { names }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn matches(&self, candidate: &str) -> bool {
        let c = normalize_host(candidate);
        if c.is_empty() {
            return false;
        }
        let c_ip = c.parse::<std::net::IpAddr>().is_ok();
        self.names.iter().any(|n| {
            if *n == c {
                return true;
            }
            if c_ip || n.parse::<std::net::IpAddr>().is_ok() {
                return false;
            }
            let first = |s: &str| s.split('.').next().unwrap_or("").to_string();
            (!n.contains('.') || !c.contains('.')) && first(n) == first(&c)
        })
    }
}

fn normalize_host(s: &str) -> String {
    decode::strip_port(s)
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Which reader an input needs, from its first bytes.
fn sniff(head: &[u8]) -> &'static str {
    if head.starts_with(b"ElfFile\0") {
        return "evtx";
    }
    let (text, _) = decode_text(head);
    match text.trim_start().chars().next() {
        Some('[') | Some('{') => "json",
        _ if head.is_empty() => "empty",
        _ => "unknown",
    }
}

/// Reads until `buf` is full or the input ends (a pipe may hand out fewer bytes per read).
fn fill(r: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The rest of a stream after `head`, at most `cap` bytes in all (`None` beyond).
fn slurp(head: &[u8], r: &mut dyn std::io::Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = head.to_vec();
    r.take((cap + 1).saturating_sub(head.len() as u64))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// Reads one input of either format, streaming its events into `sink`. The input is opened
/// and read once (the format is sniffed from the first bytes, which the parser then gets
/// too), so pipes, `<(...)` and standard input (`-`) read the same as a file (issue 15: a
/// second open of a pipe lost the sniffed bytes and misread the JSON as empty).
pub fn read_file(path: &Path, threads: usize, sink: &mut dyn FnMut(Event)) -> FileStats {
    use std::io::{Seek, SeekFrom};
    let started = Instant::now();
    let mut stats = FileStats {
        path: crate::sanitize::escape(&path.display().to_string()),
        ..FileStats::default()
    };
    let stdin = path.as_os_str() == "-";
    // A regular file can be rewound for the .evtx reader (which seeks); anything else is
    // read as a stream.
    let (mut file, seekable) = if stdin {
        (None, false)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => {
                let meta = f.metadata().ok();
                stats.bytes = meta.as_ref().map_or(0, |m| m.len());
                let regular = meta.is_some_and(|m| m.is_file());
                (Some(f), regular)
            }
            Err(e) => {
                stats.format = "unknown".into();
                stats.error = Some(format!("cannot open: {e}"));
                stats.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                return stats;
            }
        }
    };
    // Standard input is locked only when it is the input (workers read files in parallel).
    let mut stdin_lock = stdin.then(|| std::io::stdin().lock());
    let reader: &mut dyn std::io::Read = match (file.as_mut(), stdin_lock.as_mut()) {
        (Some(f), _) => f,
        (None, Some(l)) => l,
        (None, None) => &mut std::io::empty(),
    };
    let mut head_buf = [0u8; 8];
    let format = match fill(reader, &mut head_buf) {
        Ok(n) => {
            let head = head_buf.get(..n).unwrap_or(&[]);
            let format = sniff(head);
            stats.format = format.into();
            match format {
                "evtx" if seekable => match file.take() {
                    Some(mut f) => match f.seek(SeekFrom::Start(0)) {
                        Ok(_) => evtx::read_seek(f, path, threads, &mut stats, sink),
                        Err(e) => stats.error = Some(format!("cannot read: {e}")),
                    },
                    None => stats.error = Some("cannot read the file".into()),
                },
                // Streamed, event by event: memory stays flat in the size of the export.
                "json" if stats.bytes > limits::MAX_JSON_BYTES => {
                    stats.error = Some(winevent_json::too_large())
                }
                "json" => {
                    let source: Arc<str> = Arc::from(path.display().to_string());
                    let mut input = std::io::Read::chain(head, reader);
                    let read = winevent_json::read_stream(&mut input, &source, &mut stats, sink);
                    if !seekable {
                        stats.bytes = read;
                    }
                }
                // An .evtx file that cannot seek (a pipe) is read into memory first.
                "evtx" => match slurp(head, reader, limits::MAX_JSON_BYTES) {
                    Ok(Some(bytes)) => {
                        stats.bytes = bytes.len() as u64;
                        evtx::read_seek(
                            std::io::Cursor::new(bytes),
                            path,
                            threads,
                            &mut stats,
                            sink,
                        );
                    }
                    Ok(None) => stats.error = Some(winevent_json::too_large()),
                    Err(e) => stats.error = Some(format!("cannot read: {e}")),
                },
                "empty" => stats.error = Some("the file is empty".into()),
                _ => {
                    stats.error = Some(
                        "neither an .evtx file (no ElfFile header) nor Get-WinEvent JSON".into(),
                    )
                }
            }
            format
        }
        Err(e) => {
            stats.error = Some(format!("cannot read: {e}"));
            "unknown"
        }
    };
    if stats.format.is_empty() {
        stats.format = format.into();
    }
    stats.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    stats
}

/// Reads every file (in parallel: one worker per CPU, files handed out in order), applies the
/// filters and the rules, and returns the merged findings. Deterministic: the result does not
/// depend on which worker read which file.
pub fn collect(files: &[PathBuf], opts: &LogsOptions) -> EvidenceFindings {
    collect_with(
        files,
        opts,
        opts.host.as_ref().map(|h| HostMatcher::new([h])),
    )
}

/// [`collect`] with a host filter that may know several names for the server.
pub fn collect_with(
    files: &[PathBuf],
    opts: &LogsOptions,
    host: Option<HostMatcher>,
) -> EvidenceFindings {
    let started = Instant::now();
    let engine = rules::engine();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = if opts.threads == 0 {
        cpus
    } else {
        opts.threads
    }
    .clamp(1, files.len().max(1));
    // A file gets the CPUs no other file is using (evtx parses its chunks on rayon).
    let per_file_threads = (if opts.threads == 0 {
        cpus
    } else {
        opts.threads
    } / workers)
        .max(1);
    let filter = rules::Filter {
        since: opts.since,
        host,
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileStats, rules::Aggregator)>> = Mutex::new(Vec::new());

    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(path) = files.get(i) else { break };
                let mut agg = rules::Aggregator::new(engine);
                let mut filtered = 0u64;
                let mut matched = 0u64;
                let mut sink = |ev: Event| match agg.add(&ev, &filter) {
                    rules::Outcome::Filtered => filtered += 1,
                    rules::Outcome::Matched => matched += 1,
                    rules::Outcome::Unmatched => {}
                };
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    read_file(path, per_file_threads, &mut sink)
                }));
                let mut stats = match outcome {
                    Ok(s) => s,
                    Err(_) => FileStats {
                        path: crate::sanitize::escape(&path.display().to_string()),
                        format: "unknown".into(),
                        error: Some("the reader failed on this file (internal error)".into()),
                        ..FileStats::default()
                    },
                };
                stats.filtered_out = filtered;
                stats.matched = matched;
                if let Ok(mut r) = results.lock() {
                    r.push((i, stats, agg));
                }
            });
        }
    });

    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _, _)| *i);
    let mut total = rules::Aggregator::new(engine);
    let mut stats = Vec::with_capacity(results.len());
    for (_, s, agg) in results {
        total.merge(agg);
        stats.push(s);
    }
    total.finish(stats, started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_decoding_follows_the_bom() {
        assert_eq!(decode_text(b"\xff\xfea\x00b\x00").0, "ab");
        assert_eq!(decode_text(b"\xfe\xff\x00a\x00b").0, "ab");
        assert_eq!(decode_text(b"\xef\xbb\xbfab").0, "ab");
        assert_eq!(decode_text(b"a\x00b\x00c\x00").1, "utf-16le");
        assert_eq!(decode_text(b"abc").0, "abc");
        // Odd byte count and lone surrogates never panic.
        assert_eq!(decode_text(b"\xff\xfe\x00\xd8a").0, "\u{fffd}");
    }

    #[test]
    fn host_names_match_short_and_qualified_forms() {
        let m = HostMatcher::new(["FS03"]);
        assert!(m.matches("fs03.offsec.lan"));
        assert!(!m.matches("fs030.offsec.lan"));
        let m = HostMatcher::new(["fs03.offsec.lan."]);
        assert!(m.matches("FS03"));
        assert!(!m.matches("fs03.other.lan"));
        let m = HostMatcher::new(["10.0.0.5"]);
        assert!(m.matches("10.0.0.5:3389"));
        assert!(!m.matches("10.0.0.50"));
        assert!(!m.matches("10"));
    }

    #[test]
    fn since_accepts_times_dates_and_durations() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid");
        assert_eq!(
            parse_since("2h", now).expect("parses").unix_timestamp(),
            1_700_000_000 - 7200
        );
        assert_eq!(
            parse_since("2023-11-14", now)
                .expect("parses")
                .unix_timestamp(),
            1_699_920_000
        );
        assert!(parse_since("2023-11-14T22:13:20Z", now).is_ok());
        assert!(parse_since("7y", now).is_err());
        assert!(parse_since("99999999999999999w", now).is_err());
    }
}
