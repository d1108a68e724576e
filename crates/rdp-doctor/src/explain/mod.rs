//! `rdp-doctor explain CODE...`: decodes the codes admins are shown — mstsc's "Error code
//! 0x904, Extended error code 0x7", `ERRINFO_*` and `ERRCONNECT_*` names from FreeRDP logs,
//! NTSTATUS and `SEC_E_*` values, Windows event IDs, RDP_NEG failure codes, TLS alerts, xfreerdp
//! exit codes — into their meaning, the phase of the RDP connection that failed, the likely
//! causes (most likely first), the `rdp-doctor check` findings that correspond, and the fixes.
//! The knowledge is data: `kb/codes/*.toml` (see [`tables`]).
//!
//! # What a query may look like
//! All arguments are read as one text, so a pasted dialog line works quoted or not:
//! `explain "Error code: 0x904, Extended error code: 0x7"` equals `explain 0x904 0x7`.
//! - Numbers: `0x904`, `0X0904`, `904h` (assembler-style hex suffix, must start with a digit),
//!   bare hex with a letter (`C000006D`), decimal `2308`, signed decimal `-1073741715` (an
//!   NTSTATUS printed as an int). Anything above 32 bits is refused with a message.
//! - Names, case-insensitive, with or without the family prefix: `ERRINFO_SERVER_DENIED_CONNECTION`,
//!   `server_denied_connection`, `exDiscReasonServerDeniedConnection`, `handshake_failure`.
//! - A `prefix:` picks the table: `schannel:36870`, `rcm:1058`, `event:1058`, `ext:0x7`,
//!   `errinfo:7`, `status:0xC000006D`, `sec:0x8009030D`, `neg:3`, `alert:40`, `exit:147`,
//!   `errconnect:0x2000D`, `logon:10` (see [`tables::SELECTORS`]; event providers by id or alias).
//! - Words before a code steer the ranking without restricting it: "Extended error code 0x7",
//!   "Status: 0xC000006D", "Schannel 36870", "alert 40"; "Logon Type: 10" is the only way,
//!   besides `logon:`, to reach the logon-type table.
//! - `a/b` reads two codes together: `4625/0xC000006E` (event + status), `0x904/0x7`.
//! - Two neighbouring codes that are an mstsc main code and an extended code (`0x904 0x7`) are
//!   read as a pair; the pair 0x904/0x7 has its own entry (kb/codes/pairs.toml).
//! - Other words are prose: listed under `ignored`, never an error on their own. Tokens are
//!   separated by white space, `,`, `;`, `=` and `|`; brackets and trailing punctuation are
//!   stripped (`[0x0002000D]`, `0x7.`). At most 4096 words and [`MAX_ITEMS`] codes are read;
//!   `notes` says when input was left out.
//!
//! # Ranking
//! A number that exists in several tables lists every interpretation, most likely first. The
//! form decides first: hex with `0x` points at mstsc, ERRINFO, NTSTATUS, SEC_E and FreeRDP
//! codes; decimal at event IDs, TLS alerts, RDP_NEG codes and exit codes; then context words and
//! `prefix:`. An unknown code is reported as unknown — with the documented structure of the
//! number where there is one (NTSTATUS severity, HRESULT facility, the mstsc protocol-error
//! range) and "did you mean" suggestions — never with a guessed meaning.
//!
//! # Exit codes ([`exit_code`])
//! - `0`: every code was decoded from a documented table entry.
//! - `1`: at least one code is unknown, or known only as an undocumented sighting.
//! - `3`: at least one query is not a code at all (malformed number, control characters, an
//!   unknown `prefix:`), or nothing in the input looked like a code. Also returned by [`run`]
//!   when writing the output fails (other than a closed pipe).
//!
//! # `--format json` (schema `rdp-doctor/explain/v1`)
//! ```json
//! {
//!   "schema": "rdp-doctor/explain/v1",
//!   "items": [{
//!     "query": "0x7",                  // the token as typed, escaped for terminals
//!     "status": "decoded",             // decoded | undocumented | unknown | not-a-code
//!     "value": 7,                      // the number read, null for names and non-codes
//!     "value_hex": "0x00000007",
//!     "message": null,                 // why, for unknown / not-a-code
//!     "did_you_mean": [],
//!     "notes": [],                     // e.g. the documented structure of an unknown number
//!     "interpretations": [{            // most likely first
//!       "table": "extended-reason", "table_title": "...", "key": "0x7",
//!       "query": "ext:0x7",            // selects exactly this interpretation
//!       "code": 7, "provider": null, "log": null,
//!       "name": "exDiscReasonServerDeniedConnection", "meaning": "...", "source": "...",
//!       "phase": "tls",                // resolve|tcp|x224|tls|credssp|auth|mcs|licensing|session|udp|null
//!       "causes": ["..."], "fixes": ["..."],
//!       "findings": [{"id": "tls-handshake-failed", "title": "..."}],
//!       "notes": ["..."], "undocumented": false,
//!       "matched_by": "number"         // number | name | alias | name-without-prefix | freerdp-class
//!     }]
//!   }],
//!   "combined": [{                     // readings of several items together
//!     "kind": "disconnect+extended",   // or "compound" for a/b
//!     "items": [0, 1],                 // indexes into items
//!     "title": "...", "meaning": "...", "phase": "tls",
//!     "causes": [], "fixes": [], "findings": [{"id": "...", "title": "..."}],
//!     "notes": [], "source": "..."
//!   }],
//!   "ignored": ["words", "that were not codes"],
//!   "notes": []                        // e.g. input truncated to the first 64 codes
//! }
//! ```

mod human;
mod oracle;
pub mod query;
pub use crate::kb::codes as tables;

pub use human::render_human;
pub use oracle::fuzz_explain;
pub use tables::{codebook, CodePhase};

use crate::sanitize::escape;
use query::{Form, Piece, Value};
use serde::Serialize;
use std::io::{self, Write};
use tables::{normalize_name, CodeBook, CodeEntry, NameMatch, Table};

pub const SCHEMA: &str = "rdp-doctor/explain/v1";
/// At most this many codes are explained per call; the rest is reported in `notes`.
pub const MAX_ITEMS: usize = 64;
const MAX_IGNORED: usize = 20;
const MAX_SUGGESTIONS: usize = 3;
/// Words checked for being a typo of a code name, per call.
const TYPO_BUDGET: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub schema: &'static str,
    pub items: Vec<Item>,
    pub combined: Vec<Combined>,
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Decoded,
    Undocumented,
    Unknown,
    NotACode,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub query: String,
    pub status: Status,
    pub value: Option<u32>,
    pub value_hex: Option<String>,
    pub message: Option<String>,
    pub did_you_mean: Vec<String>,
    pub notes: Vec<String>,
    pub interpretations: Vec<Interpretation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    Number,
    Name,
    Alias,
    NameWithoutPrefix,
    /// FreeRDP's `freerdp_get_last_error` class 1: 0x0001NNNN is ERRINFO NNNN.
    FreerdpClass,
    /// MIT krb5's error table: -1765328384 + code is the Kerberos error code.
    MitKrb5,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Interpretation {
    pub table: String,
    pub table_title: String,
    pub key: String,
    pub query: String,
    pub code: u32,
    pub provider: Option<String>,
    pub log: Option<String>,
    pub name: String,
    pub meaning: String,
    pub source: String,
    pub phase: Option<CodePhase>,
    pub causes: Vec<String>,
    pub fixes: Vec<String>,
    pub findings: Vec<FindingRef>,
    pub notes: Vec<String>,
    pub undocumented: bool,
    pub matched_by: MatchedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CombinedKind {
    #[serde(rename = "disconnect+extended")]
    DisconnectExtended,
    #[serde(rename = "compound")]
    Compound,
}

#[derive(Debug, Clone, Serialize)]
pub struct Combined {
    pub kind: CombinedKind,
    pub items: Vec<usize>,
    pub title: String,
    pub meaning: String,
    pub phase: Option<CodePhase>,
    pub causes: Vec<String>,
    pub fixes: Vec<String>,
    pub findings: Vec<FindingRef>,
    pub notes: Vec<String>,
    pub source: String,
}

/// A candidate reading of one token.
#[derive(Debug, Clone, Copy)]
struct Cand {
    table: usize,
    entry: usize,
    score: i32,
    how: MatchedBy,
}

/// What a token resolved to, before it becomes a public [`Item`].
#[derive(Debug)]
struct Draft {
    item: Item,
    cands: Vec<Cand>,
    group: Option<usize>,
    selected: bool,
    name_query: bool,
}

/// Context words: soft boosts for the next code.
#[derive(Debug, Default, Clone)]
struct Hints {
    boost: Vec<(&'static str, i32)>,
    provider: Option<String>,
    after_logon: bool,
}

impl Hints {
    fn bonus(&self, table: &str) -> i32 {
        self.boost
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, b)| *b)
            .max()
            .unwrap_or(0)
    }
    fn enables(&self, table: &str) -> bool {
        self.bonus(table) >= 100
    }
}

/// Applies a context word; false if the word is not one.
fn apply_hint(book: &CodeBook, word: &str, h: &mut Hints) -> bool {
    let w = word.to_ascii_lowercase();
    let after_logon = std::mem::take(&mut h.after_logon);
    let boosts: &[(&'static str, i32)] = match w.as_str() {
        "extended" | "ext" => &[("extended-reason", 100), ("errinfo", 90)],
        "errinfo" => &[("errinfo", 100)],
        "reason" => &[("errinfo", 20), ("extended-reason", 20)],
        "error" | "code" => &[("disconnect-reason", 15)],
        "status" | "substatus" | "ntstatus" => &[("ntstatus", 100), ("sec-e", 90)],
        "hresult" => &[("sec-e", 100), ("tsgu-hresult", 100)],
        "gateway" | "rdg" => &[("tsgu-hresult", 100)],
        "alert" => &[("tls-alert", 100)],
        "exit" => &[("xfreerdp-exit", 100)],
        "event" | "eventid" | "id" => &[("event", 100)],
        "logontype" => &[("logon-type", 100)],
        "type" if after_logon => &[("logon-type", 100)],
        "failurecode" => &[("neg-failure", 100)],
        "freerdp" => &[("errconnect", 50), ("errinfo", 40)],
        "kdc" | "kerberos" | "krb" | "krb5" => &[("kerberos", 100)],
        "xfreerdp" => &[("xfreerdp-exit", 60)],
        "logon" => {
            h.after_logon = true;
            &[]
        }
        "sub" | "type" => &[],
        _ => {
            if let Some(p) = book.provider_by_alias(&w) {
                h.boost.push(("event", 100));
                h.provider = Some(p.id.clone());
                return true;
            }
            return false;
        }
    };
    h.boost.extend_from_slice(boosts);
    true
}

/// Prior of a table for a number written in `form`: mstsc, ERRINFO, NTSTATUS, SEC_E and FreeRDP
/// show hex with 0x; event IDs, TLS alerts, RDP_NEG failure codes and exit codes are decimal.
fn prior(table: &str, form: Form) -> i32 {
    let hex = !matches!(form, Form::Decimal);
    match (table, hex) {
        ("disconnect-reason", true) => 60,
        ("disconnect-reason", false) => 30,
        ("extended-reason", true) => 55,
        ("extended-reason", false) => 28,
        ("errinfo", true) => 50,
        ("errinfo", false) => 27,
        ("ntstatus" | "sec-e", true) => 60,
        ("ntstatus" | "sec-e", false) => 20,
        ("errconnect", true) => 50,
        ("errconnect", false) => 10,
        ("neg-failure", true) => 20,
        ("neg-failure", false) => 25,
        ("xfreerdp-exit", true) => 5,
        ("xfreerdp-exit", false) => 22,
        ("event", true) => 5,
        ("event", false) => 50,
        ("tls-alert", true) => 10,
        ("tls-alert", false) => 24,
        ("tsgu-hresult", true) => 60,
        ("tsgu-hresult", false) => 20,
        // Security 4768/4769/4771 show the code in hex (0x18).
        ("kerberos", true) => 35,
        ("kerberos", false) => 12,
        _ => 0,
    }
}

/// Which tables a token may be looked up in.
enum Scope {
    /// Bare: tables marked `bare`, plus those enabled by a context word.
    Bare,
    /// `prefix:` naming a table (extended reasons also reach ERRINFO: same numbers).
    Table(&'static str),
    /// `provider:` — the events table, one provider.
    Provider(String),
}

impl Scope {
    fn allows(&self, t: &Table, hints: &Hints) -> bool {
        match self {
            Scope::Bare => t.meta.bare || hints.enables(&t.meta.id),
            Scope::Table(id) => {
                t.meta.id == *id
                    || (*id == "extended-reason" && t.meta.id == "errinfo")
                    || (*id == "errconnect" && t.meta.id == "errinfo")
            }
            Scope::Provider(_) => t.meta.id == "event",
        }
    }
    fn provider(&self) -> Option<&str> {
        match self {
            Scope::Provider(p) => Some(p),
            _ => None,
        }
    }
}

fn scope_for(book: &CodeBook, selector: &str) -> Option<Scope> {
    if let Some((_, id)) = tables::SELECTORS.iter().find(|(w, _)| *w == selector) {
        return Some(Scope::Table(id));
    }
    book.provider_by_alias(selector)
        .map(|p| Scope::Provider(p.id.clone()))
}

fn number_cands(book: &CodeBook, value: u32, form: Form, scope: &Scope, h: &Hints) -> Vec<Cand> {
    let mut out = Vec::new();
    for (ti, t) in book.tables.iter().enumerate() {
        if !scope.allows(t, h) {
            continue;
        }
        let id = t.meta.id.as_str();
        let provider = scope.provider();
        for (ei, e) in t.entries.iter().enumerate() {
            if e.code != value || provider.is_some_and(|p| e.provider.as_deref() != Some(p)) {
                continue;
            }
            let mut score = prior(id, form) + h.bonus(id);
            if h.provider.is_some() && e.provider == h.provider {
                score += 50;
            }
            if matches!(scope, Scope::Table(s) if *s != id) {
                score -= 10; // reached through a related table
            }
            out.push(Cand {
                table: ti,
                entry: ei,
                score,
                how: MatchedBy::Number,
            });
        }
    }
    // FreeRDP's last-error class 1 is ERRINFO: 0x00010007 = ERRINFO 7.
    if value >> 16 == 1 {
        if let Some(ti) = book.table_index("errinfo") {
            let ok = match scope {
                Scope::Bare => true,
                Scope::Table(id) => *id == "errinfo" || *id == "errconnect",
                Scope::Provider(_) => false,
            };
            if let (true, Some(t)) = (ok, book.tables.get(ti)) {
                for (ei, e) in t.entries.iter().enumerate() {
                    if e.code == value & 0xFFFF {
                        out.push(Cand {
                            table: ti,
                            entry: ei,
                            score: 45 + h.bonus("errconnect"),
                            how: MatchedBy::FreerdpClass,
                        });
                    }
                }
            }
        }
    }
    // MIT krb5's messages: -1765328360 is Kerberos error 24.
    if value.wrapping_sub(tables::MIT_KRB5_ERROR_BASE) <= 0xFF {
        if let Some(ti) = book.table_index("kerberos") {
            let ok = match scope {
                Scope::Bare => true,
                Scope::Table(id) => *id == "kerberos",
                Scope::Provider(_) => false,
            };
            if let (true, Some(t)) = (ok, book.tables.get(ti)) {
                for (ei, e) in t.entries.iter().enumerate() {
                    if e.code == value.wrapping_sub(tables::MIT_KRB5_ERROR_BASE) {
                        out.push(Cand {
                            table: ti,
                            entry: ei,
                            score: 80,
                            how: MatchedBy::MitKrb5,
                        });
                    }
                }
            }
        }
    }
    sort_cands(&mut out);
    out
}

fn name_cands(book: &CodeBook, raw: &str, scope: &Scope, h: &Hints) -> Vec<Cand> {
    let norm = normalize_name(raw);
    // A prefix may be left out only by someone typing an identifier, not prose ("success").
    let identifier_like =
        raw.contains('_') || raw.chars().filter(char::is_ascii_uppercase).count() >= 2;
    let mut out = Vec::new();
    for &(ti, ei, how) in book.by_name(&norm) {
        let Some(t) = book.tables.get(ti) else {
            continue;
        };
        if !scope.allows(t, h) {
            continue;
        }
        if how == NameMatch::NameWithoutPrefix && !identifier_like {
            continue;
        }
        let bonus = match how {
            NameMatch::Name => 30,
            NameMatch::Alias => 20,
            NameMatch::NameWithoutPrefix => 0,
        };
        out.push(Cand {
            table: ti,
            entry: ei,
            score: 60 + bonus + h.bonus(&t.meta.id),
            how: match how {
                NameMatch::Name => MatchedBy::Name,
                NameMatch::Alias => MatchedBy::Alias,
                NameMatch::NameWithoutPrefix => MatchedBy::NameWithoutPrefix,
            },
        });
    }
    sort_cands(&mut out);
    out
}

fn sort_cands(c: &mut Vec<Cand>) {
    c.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.table.cmp(&b.table))
            .then(a.entry.cmp(&b.entry))
    });
    c.dedup_by(|a, b| a.table == b.table && a.entry == b.entry);
}

fn finding_refs(ids: &[String]) -> Vec<FindingRef> {
    let cat = crate::kb::catalogue();
    ids.iter()
        .map(|id| FindingRef {
            id: id.clone(),
            title: cat
                .get(id)
                .map(|f| f.title.clone())
                .unwrap_or_else(|| "(not in the finding catalogue)".into()),
        })
        .collect()
}

fn interpretation(t: &Table, e: &CodeEntry, how: MatchedBy) -> Interpretation {
    let provider = e.provider.as_deref().and_then(|p| t.provider(p));
    Interpretation {
        table: t.meta.id.clone(),
        table_title: t.meta.title.clone(),
        key: t.key(e),
        query: t.canonical_query(e),
        code: e.code,
        provider: provider.map(|p| p.name.clone()),
        log: e.log.clone().or_else(|| provider.map(|p| p.log.clone())),
        name: e.name.clone(),
        meaning: e.meaning.clone(),
        source: e.source.clone(),
        phase: e.phase,
        causes: e.causes.clone(),
        fixes: e.fixes.clone(),
        findings: finding_refs(&e.findings),
        notes: e.notes.clone(),
        undocumented: e.undocumented,
        matched_by: how,
    }
}

fn empty_item(query: &str, status: Status) -> Item {
    Item {
        query: escape(query),
        status,
        value: None,
        value_hex: None,
        message: None,
        did_you_mean: Vec::new(),
        notes: Vec::new(),
        interpretations: Vec::new(),
    }
}

fn label(book: &CodeBook, c: &Cand) -> Option<String> {
    let (t, e) = book.entry(c.table, c.entry)?;
    Some(format!("{} ({})", t.canonical_query(e), e.name))
}

/// Levenshtein distance of two short ASCII strings, or None when it is certainly above `max`.
fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        let mut row_min = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX / 2) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX / 2) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX / 2) + 1;
            let v = sub.min(del).min(ins);
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = v;
            }
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().filter(|d| *d <= max)
}

/// Names close to `raw` (a typo), as "NAME" strings of the entries they belong to.
fn similar_names(book: &CodeBook, raw: &str) -> Vec<String> {
    let norm = normalize_name(raw);
    if norm.len() < 6 || norm.len() > query::MAX_TOKEN_CHARS {
        return Vec::new();
    }
    let max = if norm.len() >= 16 { 3 } else { 2 };
    let mut found: Vec<(usize, String)> = Vec::new();
    for (key, hits) in book.names() {
        let Some(d) = distance(&norm, key, max) else {
            continue;
        };
        if d == 0 {
            continue;
        }
        for &(ti, ei, _) in hits {
            if let Some((t, e)) = book.entry(ti, ei) {
                if !t.meta.bare {
                    continue;
                }
                if !found.iter().any(|(_, n)| *n == e.name) {
                    found.push((d, e.name.clone()));
                }
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, n)| n)
        .collect()
}

/// Whether a word that matched nothing was meant as a code name (then it is "unknown"), rather
/// than prose: it carries a family prefix such as `ERRINFO_` or `exDiscReason`.
fn has_code_prefix(book: &CodeBook, raw: &str) -> bool {
    let norm = normalize_name(raw);
    book.tables.iter().any(|t| {
        t.meta.name_prefixes.iter().any(|p| {
            let p = normalize_name(p);
            norm.len() > p.len() && norm.starts_with(&p)
        })
    })
}

/// Documented structure of a number that is in no table (never a guessed meaning).
fn structure_notes(value: u32) -> Vec<String> {
    let mut n = Vec::new();
    if value >> 30 == 0b11 {
        n.push(format!(
            "0x{value:08X} has the shape of an NTSTATUS error (severity bits 11); look it up in ntstatus.h or the Windows SDK documentation."
        ));
    } else if value >> 16 == 0x8007 {
        n.push(format!(
            "0x{value:08X} has the shape of an HRESULT wrapping Win32 error {} (HRESULT_FROM_WIN32); look up that Win32 error number.",
            value & 0xFFFF
        ));
    } else if value >> 16 == 0x8009 {
        n.push(format!(
            "0x{value:08X} has the shape of a security (SSPI/Schannel) HRESULT, facility 9 (SEC_E_* codes)."
        ));
    } else if value >> 31 == 1 {
        n.push(format!(
            "0x{value:08X} has the shape of an HRESULT error (facility {}, code {}).",
            (value >> 16) & 0x7FF,
            value & 0xFFFF
        ));
    }
    if (0x1000..=0x7FFF).contains(&value) {
        n.push("As an mstsc extended error code it lies in the documented protocol-error range 0x1000-0x7FFF (exDiscReasonProtocolRangeStart to End): 'Check the server event log for additional details.'".into());
    }
    if value >> 16 == 1 {
        n.push(format!(
            "If it is a FreeRDP last-error value, it is class 1 (ERRINFO) code 0x{:04X}, which is not in the ERRINFO table either.",
            value & 0xFFFF
        ));
    }
    n
}

/// Reads the queries. Pure: no I/O, no clock; the code tables are compiled in.
pub fn explain(queries: &[String]) -> Explanation {
    let book = codebook();
    let (tokens, cut) = query::tokenize(queries);
    // Typo suggestions cost an edit distance per known name: only for the first words of prose.
    let mut typo_budget = TYPO_BUDGET;
    let mut drafts: Vec<Draft> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    let mut ignored_more = 0usize;
    let mut notes = Vec::new();
    let mut dropped = 0usize;
    let mut hints = Hints::default();

    for tok in tokens {
        if drafts.len() >= MAX_ITEMS {
            if !matches!(tok.piece, Piece::Word { .. }) {
                dropped += 1;
            }
            continue;
        }
        let draft = match tok.piece {
            Piece::Invalid { text, message } => {
                let mut item = empty_item(&text, Status::NotACode);
                item.message = Some(format!("'{}' {}", escape(&text), message));
                Some(Draft {
                    item,
                    cands: Vec::new(),
                    group: tok.group,
                    selected: false,
                    name_query: false,
                })
            }
            Piece::Word { text } => {
                if !apply_hint(book, &text, &mut hints) {
                    if ignored.len() < MAX_IGNORED {
                        ignored.push(escape(&text));
                    } else {
                        ignored_more += 1;
                    }
                }
                None
            }
            Piece::Code {
                text,
                selector,
                value,
            } => resolve(
                book,
                &text,
                selector.as_deref(),
                value,
                tok.group,
                &mut hints,
                &mut Prose {
                    ignored: &mut ignored,
                    more: &mut ignored_more,
                    typo_budget: &mut typo_budget,
                },
            ),
        };
        if let Some(d) = draft {
            // The Kerberos events carry a Kerberos error code: `4771 0x18`, `4768/0x12`.
            let kerberos_event = top(book, &d)
                .is_some_and(|(t, e)| t.meta.id == "event" && matches!(e.code, 4768 | 4769 | 4771));
            drafts.push(d);
            hints = Hints::default();
            if kerberos_event {
                hints.boost.push(("kerberos", 100));
            }
        }
    }
    if cut {
        notes.push(format!(
            "The input is longer than {} words; the rest was not read.",
            query::MAX_TOKENS
        ));
    }
    if dropped > 0 {
        notes.push(format!(
            "Only the first {MAX_ITEMS} codes were explained; {dropped} more were left out."
        ));
    }
    if ignored_more > 0 {
        ignored.push(format!("... and {ignored_more} more"));
    }
    if drafts.is_empty() {
        // The one item below shows the input; listing its words again as ignored adds nothing.
        ignored.clear();
        let all = queries.join(" ");
        let shown: String = all.chars().take(query::MAX_TOKEN_CHARS).collect();
        let mut item = empty_item(&shown, Status::NotACode);
        item.message = Some(if all.trim().is_empty() {
            "Nothing to explain: give a code such as 0x904, ERRINFO_SERVER_DENIED_CONNECTION, 0xC000006D or schannel:36870.".into()
        } else {
            "No code found in the input: give a code such as 0x904, ERRINFO_SERVER_DENIED_CONNECTION, 0xC000006D or schannel:36870.".into()
        });
        drafts.push(Draft {
            item,
            cands: Vec::new(),
            group: None,
            selected: false,
            name_query: false,
        });
    }
    merge_name_and_number(&mut drafts);
    let combined = combine(book, &mut drafts);
    Explanation {
        schema: SCHEMA,
        items: drafts.into_iter().map(|d| d.item).collect(),
        combined,
        ignored,
        notes,
    }
}

/// Where words that are not codes go, and how many more may be checked for typos.
struct Prose<'a> {
    ignored: &'a mut Vec<String>,
    more: &'a mut usize,
    typo_budget: &'a mut usize,
}

impl Prose<'_> {
    fn ignore(&mut self, word: &str) {
        if self.ignored.len() < MAX_IGNORED {
            self.ignored.push(escape(word));
        } else {
            *self.more += 1;
        }
    }
}

fn resolve(
    book: &CodeBook,
    text: &str,
    selector: Option<&str>,
    value: Value,
    group: Option<usize>,
    hints: &mut Hints,
    prose: &mut Prose<'_>,
) -> Option<Draft> {
    let scope = match selector {
        None => Scope::Bare,
        Some(sel) => match scope_for(book, sel) {
            Some(s) => s,
            None => {
                let mut item = empty_item(text, Status::NotACode);
                // Every accepted prefix is a suggestion candidate; the message lists one per table.
                let mut known: Vec<&str> = tables::SELECTORS.iter().map(|(w, _)| *w).collect();
                let mut listed: Vec<&str> = book
                    .tables
                    .iter()
                    .map(|t| tables::selector_for(&t.meta.id))
                    .filter(|w| *w != "event")
                    .collect();
                listed.push("event");
                if let Some(t) = book.table("event") {
                    known.extend(t.providers.iter().map(|p| p.id.as_str()));
                    listed.extend(t.providers.iter().map(|p| p.id.as_str()));
                }
                item.message = Some(format!(
                    "unknown prefix '{}:'; known prefixes include {}",
                    escape(sel),
                    listed.join(", ")
                ));
                let rest = text.split_once(':').map(|(_, r)| r).unwrap_or("");
                let mut close: Vec<(usize, &str)> = known
                    .iter()
                    .filter_map(|k| {
                        distance(&sel.to_ascii_uppercase(), &k.to_ascii_uppercase(), 2)
                            .map(|d| (d, *k))
                    })
                    .collect();
                close.sort();
                item.did_you_mean = close
                    .into_iter()
                    .take(MAX_SUGGESTIONS)
                    .map(|(_, k)| format!("{k}:{}", escape(rest)))
                    .collect();
                return Some(Draft {
                    item,
                    cands: Vec::new(),
                    group,
                    selected: true,
                    name_query: false,
                });
            }
        },
    };
    let selected = selector.is_some();
    match value {
        Value::Number { value, form } => {
            let cands = number_cands(book, value, form, &scope, hints);
            let mut item = empty_item(text, Status::Unknown);
            item.value = Some(value);
            item.value_hex = Some(format!("0x{value:08X}"));
            if cands.is_empty() {
                let where_ = match (&scope, selector) {
                    (Scope::Bare, _) => "rdp-doctor's code tables".to_string(),
                    (Scope::Table(id), _) => book
                        .table(id)
                        .map(|t| format!("the {} table", t.meta.title))
                        .unwrap_or_default(),
                    (Scope::Provider(p), _) => format!("the {p} events rdp-doctor knows"),
                };
                item.message = Some(format!(
                    "{} (decimal {value}, hex 0x{value:X}) is not in {where_}; rdp-doctor does not guess what it means.",
                    escape(text)
                ));
                item.did_you_mean = number_suggestions(book, text, value, form, &scope);
                item.notes = structure_notes(value);
            }
            Some(finish(book, item, cands, group, selected, false))
        }
        Value::Name(raw) => {
            if selector.is_none() && apply_hint(book, &raw, hints) {
                return None;
            }
            let cands = name_cands(book, &raw, &scope, hints);
            if cands.is_empty() {
                let coded = selector.is_some() || has_code_prefix(book, &raw);
                let similar = if coded || *prose.typo_budget > 0 {
                    *prose.typo_budget = prose.typo_budget.saturating_sub(1);
                    similar_names(book, &raw)
                } else {
                    Vec::new()
                };
                if !coded && similar.is_empty() {
                    prose.ignore(&raw);
                    return None;
                }
                let mut item = empty_item(text, Status::Unknown);
                item.message = Some(format!(
                    "'{}' is not a code name rdp-doctor knows; it does not guess.",
                    escape(text)
                ));
                item.did_you_mean = similar;
                return Some(Draft {
                    item,
                    cands,
                    group,
                    selected,
                    name_query: true,
                });
            }
            let item = empty_item(text, Status::Unknown);
            Some(finish(book, item, cands, group, selected, true))
        }
    }
}

fn finish(
    book: &CodeBook,
    mut item: Item,
    cands: Vec<Cand>,
    group: Option<usize>,
    selected: bool,
    name_query: bool,
) -> Draft {
    item.interpretations = cands
        .iter()
        .filter_map(|c| {
            let (t, e) = book.entry(c.table, c.entry)?;
            Some(interpretation(t, e, c.how))
        })
        .collect();
    if !item.interpretations.is_empty() {
        item.status = if item.interpretations.iter().any(|i| !i.undocumented) {
            Status::Decoded
        } else {
            Status::Undocumented
        };
    }
    Draft {
        item,
        cands,
        group,
        selected,
        name_query,
    }
}

/// "Did you mean" for a number: the same digits read in the other base, or the same number in
/// the tables a `prefix:` excluded.
fn number_suggestions(
    book: &CodeBook,
    text: &str,
    value: u32,
    form: Form,
    scope: &Scope,
) -> Vec<String> {
    let mut out = Vec::new();
    let none = Hints::default();
    let digits = text.split_once(':').map(|(_, r)| r).unwrap_or(text);
    match form {
        Form::Decimal if digits.len() <= 8 && digits.chars().all(|c| c.is_ascii_digit()) => {
            if let Ok(v) = u32::from_str_radix(digits, 16) {
                for c in number_cands(book, v, Form::Hex, &Scope::Bare, &none) {
                    out.extend(label(book, &c));
                }
            }
        }
        Form::Hex => {
            let h = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
                .unwrap_or("");
            if !h.is_empty() && h.len() <= 9 && h.chars().all(|c| c.is_ascii_digit()) {
                if let Ok(v) = h.parse::<u32>() {
                    for c in number_cands(book, v, Form::Decimal, &Scope::Bare, &none) {
                        out.extend(label(book, &c));
                    }
                }
            }
        }
        _ => {}
    }
    if !matches!(scope, Scope::Bare) {
        for c in number_cands(book, value, form, &Scope::Bare, &none) {
            out.extend(label(book, &c));
        }
    }
    out.dedup();
    out.truncate(MAX_SUGGESTIONS);
    out
}

/// FreeRDP logs "ERRCONNECT_LOGON_FAILURE [0x00020014]": a name followed by its own number is
/// one item.
fn merge_name_and_number(drafts: &mut Vec<Draft>) {
    let mut i = 0;
    while i + 1 < drafts.len() {
        let same = match (drafts.get(i), drafts.get(i + 1)) {
            (Some(a), Some(b)) => {
                a.name_query
                    && !b.name_query
                    && a.group.is_none()
                    && b.group.is_none()
                    && matches!((a.cands.first(), b.cands.first()), (Some(x), Some(y)) if x.table == y.table && x.entry == y.entry)
            }
            _ => false,
        };
        if same {
            let b = drafts.remove(i + 1);
            if let Some(a) = drafts.get_mut(i) {
                a.item.query = format!("{} [{}]", a.item.query, b.item.query);
                a.item.value = b.item.value;
                a.item.value_hex = b.item.value_hex;
                a.name_query = false;
            }
        }
        i += 1;
    }
}

fn top<'a>(book: &'a CodeBook, d: &Draft) -> Option<(&'a Table, &'a CodeEntry)> {
    d.cands.first().and_then(|c| book.entry(c.table, c.entry))
}

fn push_unique(v: &mut Vec<String>, items: &[String]) {
    for s in items {
        if !v.contains(s) {
            v.push(s.clone());
        }
    }
}

/// Pairs of mstsc main + extended codes, and `a/b` compounds.
fn combine(book: &CodeBook, drafts: &mut [Draft]) -> Vec<Combined> {
    let mut out = Vec::new();
    let mut paired = vec![false; drafts.len()];
    let ext_ix = book.table_index("extended-reason");
    let errinfo_ix = book.table_index("errinfo");
    let disc_ix = book.table_index("disconnect-reason");
    let mut i = 0;
    while i + 1 < drafts.len() {
        let ok = match (drafts.get(i), drafts.get(i + 1)) {
            (Some(a), Some(b)) => {
                a.group == b.group
                    && !a.selected
                    && !b.selected
                    && a.cands.first().map(|c| Some(c.table)) == Some(disc_ix)
                    && b.cands.iter().any(|c| {
                        Some(c.table) == ext_ix
                            || (Some(c.table) == errinfo_ix
                                && book
                                    .entry(c.table, c.entry)
                                    .is_some_and(|(_, e)| (0x1000..=0x7FFF).contains(&e.code)))
                    })
            }
            _ => false,
        };
        if !ok {
            i += 1;
            continue;
        }
        // In a pair the second code is an extended reason: list that reading first.
        if let Some(b) = drafts.get_mut(i + 1) {
            b.cands.sort_by_key(|c| {
                if Some(c.table) == ext_ix {
                    0
                } else if Some(c.table) == errinfo_ix {
                    1
                } else {
                    2
                }
            });
            b.item.interpretations = b
                .cands
                .iter()
                .filter_map(|c| {
                    let (t, e) = book.entry(c.table, c.entry)?;
                    Some(interpretation(t, e, c.how))
                })
                .collect();
        }
        if let (Some(a), Some(b)) = (drafts.get(i), drafts.get(i + 1)) {
            if let (Some((_, d)), Some((_, x))) = (top(book, a), top(book, b)) {
                out.push(pair_reading(book, i, d, x));
            }
        }
        if let Some(p) = paired.get_mut(i) {
            *p = true;
        }
        if let Some(p) = paired.get_mut(i + 1) {
            *p = true;
        }
        i += 2;
    }
    // a/b compounds not already read as a pair.
    let mut g = 0;
    while g < drafts.len() {
        let Some(group) = drafts.get(g).and_then(|d| d.group) else {
            g += 1;
            continue;
        };
        let members: Vec<usize> = (g..drafts.len())
            .take_while(|&j| drafts.get(j).and_then(|d| d.group) == Some(group))
            .collect();
        let all_paired = members
            .iter()
            .all(|&j| paired.get(j).copied().unwrap_or(false));
        let tops: Vec<(&Table, &CodeEntry)> = members
            .iter()
            .filter_map(|&j| drafts.get(j).and_then(|d| top(book, d)))
            .collect();
        if !all_paired && members.len() >= 2 && tops.len() == members.len() {
            out.push(compound_reading(&members, &tops));
        }
        g += members.len().max(1);
    }
    out
}

fn pair_reading(book: &CodeBook, first: usize, d: &CodeEntry, x: &CodeEntry) -> Combined {
    let items = vec![first, first + 1];
    if let Some(p) = book.pair(d.code, x.code) {
        return Combined {
            kind: CombinedKind::DisconnectExtended,
            items,
            title: p.title.clone(),
            meaning: p.meaning.clone(),
            phase: p.phase,
            causes: p.causes.clone(),
            fixes: p.fixes.clone(),
            findings: finding_refs(&p.findings),
            notes: p.notes.clone(),
            source: p.source.clone(),
        };
    }
    let dkey = format!("0x{:X}", d.code);
    let xkey = format!("0x{:X}", x.code);
    let mut causes = Vec::new();
    push_unique(&mut causes, &x.causes);
    push_unique(&mut causes, &d.causes);
    let mut fixes = Vec::new();
    push_unique(&mut fixes, &x.fixes);
    push_unique(&mut fixes, &d.fixes);
    let mut findings = Vec::new();
    push_unique(&mut findings, &x.findings);
    push_unique(&mut findings, &d.findings);
    let source = if d.source == x.source {
        d.source.clone()
    } else {
        format!("{} ; {}", d.source, x.source)
    };
    Combined {
        kind: CombinedKind::DisconnectExtended,
        items,
        title: format!("{} + {}", d.name, x.name),
        meaning: format!(
            "Main code {dkey} ({}): {} Extended code {xkey} ({}): {}",
            d.name, d.meaning, x.name, x.meaning
        ),
        phase: x.phase.or(d.phase),
        causes,
        fixes,
        findings: finding_refs(&findings),
        notes: vec![
            "No reading of this particular pair is documented; this combines the two entries, the extended reason first.".into(),
        ],
        source,
    }
}

fn compound_reading(members: &[usize], tops: &[(&Table, &CodeEntry)]) -> Combined {
    let mut causes = Vec::new();
    let mut fixes = Vec::new();
    let mut findings = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    // The later parts (a status after an event ID) are the more specific: first.
    for (_, e) in tops.iter().rev() {
        push_unique(&mut causes, &e.causes);
        push_unique(&mut fixes, &e.fixes);
        push_unique(&mut findings, &e.findings);
        push_unique(&mut sources, std::slice::from_ref(&e.source));
    }
    sources.reverse();
    Combined {
        kind: CombinedKind::Compound,
        items: members.to_vec(),
        title: tops
            .iter()
            .map(|(t, e)| format!("{} {}", t.key(e), e.name))
            .collect::<Vec<_>>()
            .join(" + "),
        meaning: tops
            .iter()
            .map(|(t, e)| format!("{}: {}", t.key(e), e.meaning))
            .collect::<Vec<_>>()
            .join(" / "),
        phase: tops.iter().rev().find_map(|(_, e)| e.phase),
        causes,
        fixes,
        findings: finding_refs(&findings),
        notes: vec![
            "Read together as written (a/b); each part is also explained on its own.".into(),
        ],
        source: sources.join(" ; "),
    }
}

/// 0: every code decoded; 1: some code unknown or only undocumented; 3: some query is not a
/// code at all (see the module documentation).
pub fn exit_code(ex: &Explanation) -> crate::model::Exit {
    use crate::model::Exit;
    if ex.items.iter().any(|i| i.status == Status::NotACode) {
        Exit::Unknown
    } else if ex
        .items
        .iter()
        .any(|i| matches!(i.status, Status::Unknown | Status::Undocumented))
    {
        Exit::Warning
    } else {
        Exit::Ok
    }
}

/// The JSON form (`--format json`), pretty-printed, newline-terminated.
pub fn render_json(ex: &Explanation, w: &mut dyn Write) -> io::Result<()> {
    crate::sanitize::to_writer_pretty(&mut *w, ex)?;
    writeln!(w)
}

/// What the CLI calls: explains, writes human text or JSON to `w`; returns the exit status
/// and whether the output could be written (the caller decides what a write error means).
pub fn run(
    queries: &[String],
    json: bool,
    color: bool,
    w: &mut dyn Write,
) -> (crate::model::Exit, io::Result<()>) {
    let ex = explain(queries);
    let res = if json {
        render_json(&ex, w)
    } else {
        render_human(&ex, w, color)
    };
    (exit_code(&ex), res)
}

#[cfg(test)]
mod tests;
