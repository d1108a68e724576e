//! The code tables of the knowledge base (`kb/codes/*.toml`), compiled in and parsed once.
//!
//! One file per table; each entry carries its number, name, the meaning text of its source, the
//! source itself (specification section or documentation address), and where useful the phase
//! of the RDP connection it belongs to, ranked causes, fix steps, the ids of the `check`
//! findings that correspond, and notes ("undocumented", "sources disagree"). `pairs.toml` holds
//! the readings of an mstsc main code together with its extended code.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Every code table compiled in, in tie-break order: when two tables rank a number equally, the
/// earlier one is listed first.
pub const CODE_FILES: &[(&str, &str)] = &[
    (
        "kb/codes/disconnect-reasons.toml",
        include_str!("../../kb/codes/disconnect-reasons.toml"),
    ),
    (
        "kb/codes/extended-reasons.toml",
        include_str!("../../kb/codes/extended-reasons.toml"),
    ),
    (
        "kb/codes/errinfo.toml",
        include_str!("../../kb/codes/errinfo.toml"),
    ),
    (
        "kb/codes/neg-failures.toml",
        include_str!("../../kb/codes/neg-failures.toml"),
    ),
    (
        "kb/codes/ntstatus.toml",
        include_str!("../../kb/codes/ntstatus.toml"),
    ),
    (
        "kb/codes/sec-e.toml",
        include_str!("../../kb/codes/sec-e.toml"),
    ),
    (
        "kb/codes/errconnect.toml",
        include_str!("../../kb/codes/errconnect.toml"),
    ),
    (
        "kb/codes/xfreerdp-exit.toml",
        include_str!("../../kb/codes/xfreerdp-exit.toml"),
    ),
    (
        "kb/codes/events.toml",
        include_str!("../../kb/codes/events.toml"),
    ),
    (
        "kb/codes/tls-alerts.toml",
        include_str!("../../kb/codes/tls-alerts.toml"),
    ),
    (
        "kb/codes/logon-types.toml",
        include_str!("../../kb/codes/logon-types.toml"),
    ),
    (
        "kb/codes/tsgu-hresult.toml",
        include_str!("../../kb/codes/tsgu-hresult.toml"),
    ),
    (
        "kb/codes/kerberos.toml",
        include_str!("../../kb/codes/kerberos.toml"),
    ),
];

/// Readings of a disconnect reason together with its extended reason.
pub const PAIRS_FILE: (&str, &str) = (
    "kb/codes/pairs.toml",
    include_str!("../../kb/codes/pairs.toml"),
);

/// The step of the RDP connection a code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodePhase {
    Resolve,
    Tcp,
    X224,
    Tls,
    Credssp,
    Auth,
    Mcs,
    Licensing,
    Session,
    Udp,
    /// An RD Gateway in front of the server: its authentication, policies and tunnel.
    Gateway,
}

impl CodePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePhase::Resolve => "resolve",
            CodePhase::Tcp => "tcp",
            CodePhase::X224 => "x224",
            CodePhase::Tls => "tls",
            CodePhase::Credssp => "credssp",
            CodePhase::Auth => "auth",
            CodePhase::Mcs => "mcs",
            CodePhase::Licensing => "licensing",
            CodePhase::Session => "session",
            CodePhase::Udp => "udp",
            CodePhase::Gateway => "gateway",
        }
    }

    /// What the phase is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            CodePhase::Resolve => "name resolution, before any connection",
            CodePhase::Tcp => "the TCP connection",
            CodePhase::X224 => "the X.224 security negotiation (first RDP packets)",
            CodePhase::Tls => "the TLS handshake and the server certificate",
            CodePhase::Credssp => "CredSSP / Network Level Authentication",
            CodePhase::Auth => "authentication and logon rights",
            CodePhase::Mcs => "the MCS / basic settings exchange after security",
            CodePhase::Licensing => "RD licensing",
            CodePhase::Session => "the running session (after the connection was up)",
            CodePhase::Udp => "the UDP transport",
            CodePhase::Gateway => "the RD Gateway's authentication, policies and tunnel",
        }
    }
}

/// How a table's numbers are written by the tools that show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Display {
    /// `0x904`
    Hex,
    /// `0x0002000D`
    Hex8,
    /// `36870`
    Dec,
}

impl Display {
    pub fn format(self, code: u32) -> String {
        match self {
            Display::Hex => format!("0x{code:X}"),
            Display::Hex8 => format!("0x{code:08X}"),
            Display::Dec => code.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMeta {
    /// Stable table id, e.g. `disconnect-reason`.
    pub id: String,
    pub title: String,
    pub display: Display,
    /// Where people see these codes.
    pub seen_in: String,
    /// Whether a bare number or name (no `prefix:`) is looked up in this table.
    pub bare: bool,
    /// Name prefixes that may be left out when typing a name (`ERRINFO_`, `exDiscReason`).
    pub name_prefixes: Vec<String>,
}

/// An event-log provider (events table only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub log: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// Event provider id (events table only).
    #[serde(default)]
    pub provider: Option<String>,
    pub code: u32,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Event log, when it differs from the provider's default.
    #[serde(default)]
    pub log: Option<String>,
    pub meaning: String,
    pub source: String,
    #[serde(default)]
    pub phase: Option<CodePhase>,
    #[serde(default)]
    pub causes: Vec<String>,
    #[serde(default)]
    pub fixes: Vec<String>,
    #[serde(default)]
    pub findings: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Seen in the wild but not in the source's list: the entry carries the sighting only.
    #[serde(default)]
    pub undocumented: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    table: TableMeta,
    #[serde(default)]
    provider: Vec<Provider>,
    code: Vec<CodeEntry>,
}

#[derive(Debug)]
pub struct Table {
    pub file: &'static str,
    pub meta: TableMeta,
    pub providers: Vec<Provider>,
    pub entries: Vec<CodeEntry>,
}

impl Table {
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The code as people see it: `0x904`, `0x0002000D`, `schannel:36870`.
    pub fn key(&self, e: &CodeEntry) -> String {
        match &e.provider {
            Some(p) => format!("{p}:{}", self.meta.display.format(e.code)),
            None => self.meta.display.format(e.code),
        }
    }

    /// A query that selects exactly this entry: `ext:0x7`, `rcm:1058`, `exit:147`.
    pub fn canonical_query(&self, e: &CodeEntry) -> String {
        match &e.provider {
            Some(_) => self.key(e),
            None => format!(
                "{}:{}",
                selector_for(&self.meta.id),
                self.meta.display.format(e.code)
            ),
        }
    }
}

/// The `prefix:` that selects a table (the first of its selector words).
pub fn selector_for(table_id: &str) -> &'static str {
    SELECTORS
        .iter()
        .find(|(_, t)| *t == table_id)
        .map(|(w, _)| *w)
        .unwrap_or("event")
}

/// `prefix:` words and the table each selects. Event providers are selectors too (their
/// aliases in events.toml). The first word per table is the canonical one.
pub const SELECTORS: &[(&str, &str)] = &[
    ("disc", "disconnect-reason"),
    ("mstsc", "disconnect-reason"),
    ("discreason", "disconnect-reason"),
    ("ext", "extended-reason"),
    ("extended", "extended-reason"),
    ("errinfo", "errinfo"),
    ("neg", "neg-failure"),
    ("nego", "neg-failure"),
    ("rdp_neg", "neg-failure"),
    ("failurecode", "neg-failure"),
    ("status", "ntstatus"),
    ("substatus", "ntstatus"),
    ("ntstatus", "ntstatus"),
    ("sec", "sec-e"),
    ("sspi", "sec-e"),
    ("sec_e", "sec-e"),
    ("hresult", "sec-e"),
    ("errconnect", "errconnect"),
    ("freerdp", "errconnect"),
    ("exit", "xfreerdp-exit"),
    ("xfreerdp", "xfreerdp-exit"),
    ("event", "event"),
    ("evt", "event"),
    ("eventid", "event"),
    ("id", "event"),
    ("alert", "tls-alert"),
    ("tls", "tls-alert"),
    ("logon", "logon-type"),
    ("logontype", "logon-type"),
    ("gateway", "tsgu-hresult"),
    ("rdg", "tsgu-hresult"),
    ("tsgu", "tsgu-hresult"),
    ("kdc", "kerberos"),
    ("krb", "kerberos"),
    ("kerberos", "kerberos"),
    ("krb5", "kerberos"),
];

/// MIT krb5's error-table base (`ERROR_TABLE_BASE_krb5`, -1765328384): MIT prints a KRB-ERROR
/// code `c` as this plus `c` (-1765328360 = 24 = KDC_ERR_PREAUTH_FAILED), in 32 bits 0x96C73A00.
pub const MIT_KRB5_ERROR_BASE: u32 = 0x96C7_3A00;

/// A reading of a disconnect reason together with its extended reason (`pairs.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairDef {
    pub disconnect: u32,
    pub extended: u32,
    pub title: String,
    pub meaning: String,
    #[serde(default)]
    pub phase: Option<CodePhase>,
    pub causes: Vec<String>,
    pub fixes: Vec<String>,
    pub findings: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairFile {
    pair: Vec<PairDef>,
}

/// How a name matched an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameMatch {
    Name,
    Alias,
    NameWithoutPrefix,
}

/// All code tables plus an index of names.
#[derive(Debug, Default)]
pub struct CodeBook {
    pub tables: Vec<Table>,
    pub pairs: Vec<PairDef>,
    /// Normalised name -> (table index, entry index, how).
    names: BTreeMap<String, Vec<(usize, usize, NameMatch)>>,
}

/// Upper-case ASCII letters and digits only: `exDiscReason_ServerDenied` and
/// `EXDISCREASONSERVERDENIED` compare equal.
pub fn normalize_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl CodeBook {
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.meta.id == id)
    }

    pub fn table_index(&self, id: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.meta.id == id)
    }

    /// Entries whose normalised name, alias or name-without-prefix equals `norm`.
    pub fn by_name(&self, norm: &str) -> &[(usize, usize, NameMatch)] {
        self.names.get(norm).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every indexed normalised name (for "did you mean").
    pub fn names(&self) -> impl Iterator<Item = (&String, &Vec<(usize, usize, NameMatch)>)> {
        self.names.iter()
    }

    pub fn entry(&self, table: usize, entry: usize) -> Option<(&Table, &CodeEntry)> {
        let t = self.tables.get(table)?;
        Some((t, t.entries.get(entry)?))
    }

    pub fn pair(&self, disconnect: u32, extended: u32) -> Option<&PairDef> {
        self.pairs
            .iter()
            .find(|p| p.disconnect == disconnect && p.extended == extended)
    }

    /// The event provider whose id or alias is `word` (lower case).
    pub fn provider_by_alias(&self, word: &str) -> Option<&Provider> {
        self.table("event")?
            .providers
            .iter()
            .find(|p| p.id == word || p.aliases.iter().any(|a| a == word))
    }
}

/// The compiled-in code tables. Checked by the tests below, so a malformed file cannot ship;
/// parsing happens once.
pub fn codebook() -> &'static CodeBook {
    static EMPTY: OnceLock<CodeBook> = OnceLock::new();
    match loaded() {
        Ok(b) => b,
        // Unreachable after `main`'s self-check (which exits 3); never a panic.
        Err(_) => EMPTY.get_or_init(CodeBook::default),
    }
}

/// The tables as parsed once, or why they do not parse (a build bug the tests rule out;
/// `main` checks it before any command runs).
pub fn loaded() -> Result<&'static CodeBook, &'static str> {
    static BOOK: OnceLock<Result<CodeBook, String>> = OnceLock::new();
    BOOK.get_or_init(|| {
        parse_codebook(CODE_FILES, PAIRS_FILE).map_err(|e| format!("kb/codes: {e}"))
    })
    .as_ref()
    .map_err(String::as_str)
}

/// Parses and checks the tables: unique table ids, unique (provider, code) per table, known
/// providers, non-empty meaning and source.
pub fn parse_codebook(
    files: &[(&'static str, &str)],
    pairs: (&str, &str),
) -> Result<CodeBook, String> {
    let mut tables: Vec<Table> = Vec::new();
    for (name, text) in files {
        let file: TableFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        if tables.iter().any(|t| t.meta.id == file.table.id) {
            return Err(format!("{name}: duplicate table id {}", file.table.id));
        }
        let mut seen = BTreeSet::new();
        for e in &file.code {
            if !seen.insert((e.provider.clone(), e.code)) {
                return Err(format!("{name}: duplicate code {} ({})", e.code, e.name));
            }
            if e.meaning.trim().is_empty() || e.source.trim().is_empty() || e.name.is_empty() {
                return Err(format!(
                    "{name}: {} lacks a name, meaning or source",
                    e.code
                ));
            }
            if let Some(p) = &e.provider {
                if !file.provider.iter().any(|d| &d.id == p) {
                    return Err(format!("{name}: {} names unknown provider {p}", e.code));
                }
            }
        }
        tables.push(Table {
            file: name,
            meta: file.table,
            providers: file.provider,
            entries: file.code,
        });
    }
    let (pname, ptext) = pairs;
    let pairs: PairFile = toml::from_str(ptext).map_err(|e| format!("{pname}: {e}"))?;

    let mut names: BTreeMap<String, Vec<(usize, usize, NameMatch)>> = BTreeMap::new();
    for (ti, t) in tables.iter().enumerate() {
        let prefixes: Vec<String> = t
            .meta
            .name_prefixes
            .iter()
            .map(|p| normalize_name(p))
            .collect();
        for (ei, e) in t.entries.iter().enumerate() {
            // Descriptive names (events, undocumented sightings) are not typed as one word.
            if e.name.contains(' ') {
                continue;
            }
            let mut add = |k: String, how: NameMatch| {
                if k.is_empty() {
                    return;
                }
                let v = names.entry(k).or_default();
                if !v.iter().any(|(a, b, _)| *a == ti && *b == ei) {
                    v.push((ti, ei, how));
                }
            };
            let full = normalize_name(&e.name);
            add(full.clone(), NameMatch::Name);
            for a in &e.aliases {
                add(normalize_name(a), NameMatch::Alias);
            }
            for p in &prefixes {
                if let Some(rest) = full.strip_prefix(p.as_str()) {
                    add(rest.to_string(), NameMatch::NameWithoutPrefix);
                }
            }
        }
    }
    Ok(CodeBook {
        tables,
        pairs: pairs.pair,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_and_every_entry_has_meaning_and_source() {
        let book = parse_codebook(CODE_FILES, PAIRS_FILE).expect("the code tables parse");
        assert_eq!(book.tables.len(), CODE_FILES.len());
        for t in &book.tables {
            assert!(!t.entries.is_empty(), "{} is empty", t.file);
            assert!(!t.meta.title.is_empty() && !t.meta.seen_in.is_empty());
            for e in &t.entries {
                assert!(
                    !e.meaning.trim().is_empty(),
                    "{}: {} has no meaning",
                    t.file,
                    e.name
                );
                assert!(
                    !e.source.trim().is_empty(),
                    "{}: {} has no source",
                    t.file,
                    e.name
                );
                for s in e.causes.iter().chain(&e.fixes).chain(&e.notes) {
                    assert!(
                        !s.trim().is_empty(),
                        "{}: {} has an empty line",
                        t.file,
                        e.name
                    );
                }
            }
        }
        assert!(!book.pairs.is_empty());
    }

    #[test]
    fn codes_are_unique_per_table() {
        // parse_codebook rejects duplicates; prove that it does, then check the real data.
        let dup =
            "[table]\nid='x'\ntitle='x'\ndisplay='hex'\nseen_in='x'\nbare=true\nname_prefixes=[]\n\
                   [[code]]\ncode=1\nname='A'\nmeaning='m'\nsource='s'\n\
                   [[code]]\ncode=0x1\nname='B'\nmeaning='m'\nsource='s'\n";
        let err =
            parse_codebook(&[("dup.toml", dup)], PAIRS_FILE).expect_err("duplicates are refused");
        assert!(err.contains("duplicate code 1"), "{err}");
        let book = codebook();
        for t in &book.tables {
            let mut seen = BTreeSet::new();
            for e in &t.entries {
                assert!(
                    seen.insert((e.provider.clone(), e.code)),
                    "{}: {}",
                    t.file,
                    e.code
                );
            }
        }
    }

    #[test]
    fn empty_meaning_is_rejected() {
        let bad =
            "[table]\nid='x'\ntitle='x'\ndisplay='dec'\nseen_in='x'\nbare=true\nname_prefixes=[]\n\
                   [[code]]\ncode=1\nname='A'\nmeaning=' '\nsource='s'\n";
        assert!(parse_codebook(&[("bad.toml", bad)], PAIRS_FILE).is_err());
    }

    #[test]
    fn every_referenced_finding_exists_in_the_catalogue() {
        let cat = crate::kb::catalogue();
        let book = codebook();
        let mut refs = 0;
        for t in &book.tables {
            for e in &t.entries {
                for id in &e.findings {
                    refs += 1;
                    assert!(
                        cat.get(id).is_some(),
                        "{}: {} names unknown finding {id}",
                        t.file,
                        e.name
                    );
                }
            }
        }
        for p in &book.pairs {
            for id in &p.findings {
                assert!(
                    cat.get(id).is_some(),
                    "pairs.toml names unknown finding {id}"
                );
            }
        }
        assert!(refs > 50, "only {refs} finding references");
    }

    #[test]
    fn table_ids_match_the_selectors_and_the_phases_are_known() {
        let book = codebook();
        for t in &book.tables {
            assert!(
                SELECTORS.iter().any(|(_, id)| *id == t.meta.id),
                "no selector for {}",
                t.meta.id
            );
        }
        for (_, id) in SELECTORS {
            assert!(book.table(id).is_some(), "selector for missing table {id}");
        }
    }

    #[test]
    fn the_reference_tables_are_complete() {
        // Row counts of rdp-knowledge.md: B1 47 documented + 3 undocumented sightings, B2 28
        // + exDiscReasonShutdown 0x19 and exDiscReasonReboot 0x1A ([MS-RDPBCGR] 2.2.5.1.1),
        // B3 119 rows + FreeRDP's ERRINFO_NONE + ERRINFO_SERVER_SHUTDOWN/REBOOT (0x19, 0x1A),
        // B4 6, A7 ERRCONNECT 0x01..0x1E.
        let book = codebook();
        let count = |id: &str| book.table(id).map(|t| t.entries.len()).unwrap_or(0);
        assert_eq!(count("disconnect-reason"), 50);
        assert_eq!(count("extended-reason"), 30);
        assert_eq!(count("errinfo"), 122);
        assert_eq!(count("neg-failure"), 6);
        assert_eq!(count("errconnect"), 30);
        let und = book
            .table("disconnect-reason")
            .map(|t| t.entries.iter().filter(|e| e.undocumented).count());
        assert_eq!(und, Some(3));
    }

    #[test]
    fn hex_and_decimal_written_in_the_prose_agree() {
        // Any "0xHEX (DEC)" or "DEC (0xHEX)" in a text field must name the same number.
        fn digits(s: &str, radix: u32) -> &str {
            let n = s.chars().take_while(|c| c.is_digit(radix)).count();
            s.get(..n).unwrap_or("")
        }
        fn check(s: &str, what: &str) -> Result<usize, String> {
            let mut checked = 0;
            // 0xHEX (DEC)
            for (pos, _) in s.match_indices("0x") {
                let after = s.get(pos + 2..).unwrap_or("");
                let hex = digits(after, 16);
                let rest = after.get(hex.len()..).unwrap_or("");
                let Some(r) = rest.strip_prefix(" (") else {
                    continue;
                };
                let dec = digits(r, 10);
                if hex.is_empty()
                    || dec.is_empty()
                    || !r.get(dec.len()..).unwrap_or("").starts_with(')')
                {
                    continue;
                }
                let h = u64::from_str_radix(hex, 16).expect("hex digits");
                let d: u64 = dec.parse().expect("decimal digits");
                if h != d {
                    return Err(format!("{what}: {after}"));
                }
                checked += 1;
            }
            // DEC (0xHEX) and DEC = 0xHEX
            for sep in [" (0x", " = 0x"] {
                for (pos, _) in s.match_indices(sep) {
                    let before = s.get(..pos).unwrap_or("");
                    let n = before
                        .chars()
                        .rev()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    let dec = before.get(before.len() - n..).unwrap_or("");
                    let prev = before.get(..before.len() - n).unwrap_or("");
                    if dec.is_empty()
                        || prev.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '%')
                    {
                        continue;
                    }
                    let hex = digits(s.get(pos + sep.len()..).unwrap_or(""), 16);
                    if hex.is_empty() {
                        continue;
                    }
                    let h = u64::from_str_radix(hex, 16).expect("hex digits");
                    let d: u64 = dec.parse().expect("decimal digits");
                    if h != d {
                        return Err(format!("{what}: {}", s.get(pos - n..).unwrap_or("")));
                    }
                    checked += 1;
                }
            }
            Ok(checked)
        }
        let mut n = 0;
        for t in &codebook().tables {
            for e in &t.entries {
                let what = format!("{} {}", t.file, e.name);
                for s in std::iter::once(&e.meaning)
                    .chain(&e.causes)
                    .chain(&e.fixes)
                    .chain(&e.notes)
                    .chain(std::iter::once(&e.source))
                {
                    n += check(s, &what).expect("hex and decimal agree");
                }
            }
        }
        for p in &codebook().pairs {
            for s in std::iter::once(&p.meaning).chain(&p.causes).chain(&p.notes) {
                n += check(s, "pairs.toml").expect("hex and decimal agree");
            }
        }
        // The checker itself catches a wrong pair.
        assert_eq!(
            check("code 0x904 (2308) and 2308 (0x904)", "self-test"),
            Ok(2)
        );
        assert!(check("0x904 (2309)", "self-test").is_err());
        assert!(check("2309 (0x904)", "self-test").is_err());
        assert!(n >= 2, "only {n} hex/decimal pairs found in the prose");
    }
}
