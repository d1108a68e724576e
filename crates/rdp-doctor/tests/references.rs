//! Every reference to a file or a section in the project's own text resolves, and what the tool
//! prints to users cites sources they can open.
//!
//! **Scanned**: the knowledge base (`crates/rdp-doctor/kb/*.toml`, `kb/codes/*.toml`), `README.md`,
//! `ARCHITECTURE.md`, `CHANGELOG.md`, `docs/*.md`, every other Markdown file under `crates/`, and
//! the comments of the Rust files in `crates/*/src` and `crates/*/tests`. A knowledge-base line that
//! is not a `#` comment is **shipped**: it is compiled into the binary and printed by `check`,
//! `logs` and `explain`. Everything else is **developer text**.
//!
//! **What counts as a reference**
//! - a file: a word ending in a source or document extension (`.md`, `.rs`, `.toml`, `.c`, `.h`,
//!   ...) outside a URL: with a `/` a path (`docs/windows.md`, `probe/mod.rs`, `../x/y.md`),
//!   otherwise a bare file name; `README` followed by a section (the `README.md` next to the citing
//!   file, else the root one); and the "lab README";
//! - a section: `§N`, `§3.2`, `§B5`, `section 3`, and a letter label (`B5`, `S3`) written right
//!   after a Markdown file name; chains (`§3.2/§3.3`, `§B2, §B3`, `B5 (...), B7`) and any later
//!   `§` up to the next file or the end of the string all belong to the file named before them;
//! - a Markdown link `[text](target)` / `[text](target#anchor)` / `[text](#anchor)` whose target
//!   is neither a URL nor a rustdoc path.
//!
//! Absolute paths on the user's system (`/etc/rdp-doctor/probe.toml`, `~/.config/...`) are not
//! references; absolute paths into the developers' machine (`/work/...`) are.
//!
//! **The rule**
//! 1. A file reference names a file or directory of this repository: resolved as written from
//!    the citing file's directory or the repository root, or as the tail of a repository path
//!    (`probe/mod.rs`, `lab_faults.rs`). Never a file outside the repository (`../shared/...`,
//!    `/work/...`, the developers' "lab README", `windows-evidence.md`): users do not have it.
//! 2. A file of another project is cited with its project: by URL, as `owner/repo:path`, or with
//!    the project's name before it on the same line (`FreeRDP libfreerdp/core/nla.c`, see
//!    [`PROJECTS`]); in shipped citation fields (`source`, `references`) only by URL.
//! 3. A section number matches a numbered heading of that file (`## 3.2 Title`, `## B5. Title`).
//! 4. A Markdown link's file exists (relative to the linking file) and its anchor is the GitHub
//!    slug of one of the target's headings.
//! 5. Shipped text cites primary sources: URLs on the hosts in [`PRIMARY_HOSTS`] (Microsoft Learn
//!    and its open specifications, RFCs, ...) or GitHub records ([`GITHUB_RECORDS`]: the FreeRDP
//!    source at a commit, an issue report), named specification sections (`[MS-RDPBCGR]
//!    2.2.1.2.2`, `RFC 8446 6.2`), the provider's message table for an event text, or repository
//!    files. The research notes `docs/rdp-knowledge.md` are secondary ([`SECONDARY`]): shipped
//!    text cites the primary source they name. The notes themselves are kept verbatim and use their
//!    own `repo:path` notation, so rule 2 does not apply to them ([`VERBATIM_NOTES`]).
//!
//! A violation fails the test with the file, the line, the reference and the reason.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// Hosts whose pages shipped text may cite: the primary sources of the knowledge base.
const PRIMARY_HOSTS: &[&str] = &[
    "learn.microsoft.com",
    "support.microsoft.com",
    "msrc.microsoft.com",
    "www.rfc-editor.org",
    "datatracker.ietf.org",
    "www.iana.org",
    "www.itu.int",
    "nvd.nist.gov",
    "www.cve.org",
];

/// GitHub pages that are primary records: a project's source, commits and issue reports.
const GITHUB_RECORDS: &[&str] = &["/blob/", "/tree/", "/commit/", "/issues/", "/pull/"];

/// Research notes: a secondary source that shipped text does not cite.
const SECONDARY: &[&str] = &["docs/rdp-knowledge.md"];

/// The developers' shared folder (outside the repository).
const SHARED: &[&str] = &["shared/reference/", "shared/lab/", "shared/samples/"];

/// Research notes kept verbatim: their source notation names other projects' files by path
/// (`repo:path`, bare SupportArticles file names); only their references into this repository and
/// to their own sections are checked.
const VERBATIM_NOTES: &[&str] = &["docs/rdp-knowledge.md"];

/// Other projects whose files the text may name, written before the file on the same line.
const PROJECTS: &[&str] = &[
    "FreeRDP",
    "freerdp",
    "winpr",
    "IronRDP",
    "ironrdp",
    "sspi-rs",
    "nmap",
    "xrdp",
    "impacket",
    "rustls",
    "MicrosoftDocs",
    "SupportArticles-docs",
    "evtx",
    "chainsaw",
    "hayabusa",
    "sslyze",
    "trippy",
    "ripgrep",
    "blackbox_exporter",
    "metasploit",
    "Wireshark",
    "cargo-fuzz",
];

/// Extensions that make a word a file reference.
const EXTENSIONS: &[&str] = &[
    "md", "rs", "toml", "tsv", "py", "sh", "ps1", "c", "h", "cpp", "lua", "yml", "yaml", "admx",
];

/// The repository as the checker sees it: every path ('/'-separated, relative to the root) and
/// the text of the files it may read (Markdown, Rust, TOML).
struct Tree {
    files: BTreeMap<String, Option<String>>,
}

impl Tree {
    fn from_disk(root: &Path) -> Tree {
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Option<String>>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let rel = p
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                if p.is_dir() {
                    if [".git", "target", "artifacts", "coverage", "dist"].contains(&name.as_str())
                    {
                        continue;
                    }
                    walk(root, &p, files);
                } else {
                    let text = if !rel.starts_with("fuzz/corpus/")
                        && ["md", "rs", "toml"].contains(&ext(&name))
                    {
                        std::fs::read_to_string(&p).ok()
                    } else {
                        None
                    };
                    files.insert(rel, text);
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(root, root, &mut files);
        Tree { files }
    }

    fn from_pairs(pairs: &[(&str, &str)]) -> Tree {
        Tree {
            files: pairs
                .iter()
                .map(|(p, t)| ((*p).to_owned(), Some((*t).to_owned())))
                .collect(),
        }
    }

    fn exists(&self, p: &str) -> bool {
        let p = p.trim_end_matches('/');
        if p.is_empty() {
            return true;
        }
        self.files.contains_key(p) || {
            let dir = format!("{p}/");
            self.files
                .range(dir.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&dir))
        }
    }

    fn text(&self, p: &str) -> Option<&str> {
        self.files.get(p).and_then(|t| t.as_deref())
    }

    /// Files and directories whose path ends with `/tail` (or is `tail`).
    fn by_tail(&self, tail: &str) -> Vec<String> {
        let tail = tail.trim_end_matches('/');
        let suffix = format!("/{tail}");
        let mut out: BTreeSet<String> = BTreeSet::new();
        for k in self.files.keys() {
            if k == tail || k.ends_with(&suffix) {
                out.insert(k.clone());
            }
            // directories: a prefix of a file path that ends with the tail
            if let Some(pos) = k.find(&format!("{suffix}/")) {
                out.insert(k[..pos + suffix.len()].to_owned());
            } else if k.starts_with(&format!("{tail}/")) {
                out.insert(tail.to_owned());
            }
        }
        out.into_iter().collect()
    }
}

fn ext(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// `base/rel` with `.` and `..` folded; `None` when it leaves the repository.
fn join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

// ---------------------------------------------------------------------------------------------
// The texts to scan

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Audience {
    /// Compiled into the binary and printed to users.
    Shipped,
    Developer,
}

struct Line {
    no: usize,
    text: String,
    audience: Audience,
    /// The TOML key a shipped line belongs to (`source`, `references`, `notes`, ...).
    field: String,
    /// Markdown: links and anchors are checked (Markdown files and Rust comments).
    markdown: bool,
}

/// Which files are scanned, and how.
fn scanned(tree: &Tree) -> Vec<String> {
    tree.files
        .iter()
        .filter(|(_, t)| t.is_some())
        .map(|(p, _)| p.clone())
        .filter(|p| {
            let e = ext(p);
            (p.starts_with("crates/rdp-doctor/kb/") && e == "toml")
                || ["README.md", "ARCHITECTURE.md", "CHANGELOG.md"].contains(&p.as_str())
                || (p.starts_with("docs/") && e == "md")
                || (p.starts_with("crates/") && e == "md")
                || (p.starts_with("crates/")
                    && e == "rs"
                    && (p.contains("/src/") || p.contains("/tests/"))
                    // the checker itself, whose examples are broken on purpose
                    && !p.ends_with("tests/references.rs"))
        })
        .collect()
}

fn lines_of(path: &str, text: &str) -> Vec<Line> {
    match ext(path) {
        "toml" => {
            let mut field = String::new();
            text.lines()
                .enumerate()
                .map(|(i, l)| {
                    let t = l.trim_start();
                    let comment = t.starts_with('#');
                    if !comment {
                        if let Some((k, _)) = t.split_once('=') {
                            let k = k.trim();
                            if !k.is_empty()
                                && k.chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                            {
                                field = k.to_owned();
                            }
                        } else if t.starts_with('[') && !t.starts_with("['") {
                            field.clear();
                        }
                    }
                    Line {
                        no: i + 1,
                        text: l.to_owned(),
                        audience: if comment {
                            Audience::Developer
                        } else {
                            Audience::Shipped
                        },
                        field: if comment {
                            String::new()
                        } else {
                            field.clone()
                        },
                        markdown: false,
                    }
                })
                .collect()
        }
        "rs" => rust_comments(text)
            .into_iter()
            .map(|(no, text)| Line {
                no,
                text,
                audience: Audience::Developer,
                field: String::new(),
                markdown: true,
            })
            .collect(),
        _ => text
            .lines()
            .enumerate()
            .map(|(i, l)| Line {
                no: i + 1,
                text: l.to_owned(),
                audience: Audience::Developer,
                field: String::new(),
                markdown: true,
            })
            .collect(),
    }
}

/// The comments of a Rust source, line by line (string and char literals skipped).
fn rust_comments(src: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = src.chars().collect();
    let mut out: BTreeMap<usize, String> = BTreeMap::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            let start = i;
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            out.entry(line)
                .or_default()
                .push_str(&c[start..i].iter().collect::<String>());
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            let mut seg = String::new();
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    seg.push_str("/*");
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    seg.push_str("*/");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if c[i] == '\n' {
                    out.entry(line).or_default().push_str(&seg);
                    seg.clear();
                    line += 1;
                    i += 1;
                } else {
                    seg.push(c[i]);
                    i += 1;
                }
            }
            out.entry(line).or_default().push_str(&seg);
        } else if let Some(open) = raw_string_start(&c, i) {
            // raw string r"..." / r#"..."# / br#"..."#: `open` is the index of its quote
            let hashes = open - i - if c[i] == 'b' { 2 } else { 1 };
            let mut j = open + 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                if c[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if at(i) == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            // char literal or lifetime
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if is_ident(ch) {
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// If a raw string literal (`r"`, `r#"`, `br"`, `br#"`) starts at `i`, the index of its quote.
fn raw_string_start(c: &[char], i: usize) -> Option<usize> {
    if i > 0 && is_ident(c[i - 1]) {
        return None;
    }
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    while c.get(j) == Some(&'#') {
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some(j)
}

// ---------------------------------------------------------------------------------------------
// Headings

/// The numbered labels (`3.2`, `B5`, `0`) and GitHub anchors of a Markdown file's headings.
struct Headings {
    labels: BTreeSet<String>,
    anchors: BTreeSet<String>,
}

fn headings(text: &str) -> Headings {
    let mut labels = BTreeSet::new();
    let mut anchors = BTreeSet::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fence = false;
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence || !t.starts_with('#') {
            continue;
        }
        let title = t.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let title = title.trim();
        if let Some(first) = title.split_whitespace().next() {
            let label = first.trim_end_matches(['.', ':']);
            if is_label(label) {
                labels.insert(label.to_owned());
            }
        }
        let slug = slug(title);
        let n = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    Headings { labels, anchors }
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens.
fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// `3`, `3.2`, `B5`, `S3`, `B5.1`.
fn is_label(s: &str) -> bool {
    let body = s
        .strip_prefix(|c: char| c.is_ascii_uppercase())
        .unwrap_or(s);
    !body.is_empty()
        && body
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// The checker

#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    reference: String,
    why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.file, self.line, self.reference, self.why
        )
    }
}

#[derive(Default)]
struct Report {
    violations: Vec<Violation>,
    /// References that resolved (files, sections, anchors, primary URLs).
    resolved: usize,
}

enum Resolved {
    /// Repository paths it may mean (several for an ambiguous tail such as `mod.rs`).
    Repo(Vec<String>),
    /// A path that leaves the repository.
    Outside,
    Missing,
    /// An absolute path on the user's system (`/etc/...`, `~/.config/...`): not a reference.
    System,
}

fn resolve(tree: &Tree, citing: &str, token: &str) -> Resolved {
    if token.starts_with('/') || token.starts_with('~') {
        return if token.starts_with("/work/") || token.contains("/shared/") {
            Resolved::Outside
        } else {
            Resolved::System
        };
    }
    let from_dir = join(dir_of(citing), token);
    if token.starts_with("../") || token.starts_with("./") {
        return match from_dir {
            None => Resolved::Outside,
            Some(p) if tree.exists(&p) => Resolved::Repo(vec![p]),
            Some(_) => Resolved::Missing,
        };
    }
    if let Some(p) = from_dir.filter(|p| tree.exists(p)) {
        return Resolved::Repo(vec![p]);
    }
    if tree.exists(token) {
        return Resolved::Repo(vec![token.trim_end_matches('/').to_owned()]);
    }
    let tails = tree.by_tail(token);
    if tails.is_empty() {
        Resolved::Missing
    } else {
        Resolved::Repo(tails)
    }
}

/// Is the file word at `start` written with its project (`owner/repo:path`, or a project name
/// earlier on the line)?
fn qualified(text: &str, start: usize) -> bool {
    let before = &text[..start];
    if let Some(owner_repo) = before.strip_suffix(':') {
        let word = owner_repo
            .rsplit(|c: char| c.is_whitespace() || c == '`' || c == '(')
            .next()
            .unwrap_or("");
        if word.contains('/') {
            return true;
        }
    }
    PROJECTS.iter().any(|p| {
        before.match_indices(p).any(|(i, _)| {
            let pre = before[..i].chars().next_back();
            let post = before[i + p.len()..].chars().next();
            !pre.is_some_and(is_ident) && !post.is_some_and(|c| is_ident(c) && c != '_')
        })
    })
}

fn url_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(off) = text[from..].find("://") {
        let colon = from + off;
        let start = text[..colon]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '-')
            .map_or(0, |i| i + 1);
        // up to white space, a quote or an unbalanced closing bracket
        let mut depth = 0i32;
        let mut end = text.len();
        for (i, c) in text[colon..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                c if c.is_whitespace() || "'\"<>`)]".contains(c) => {
                    end = colon + i;
                    break;
                }
                _ => {}
            }
        }
        let end = start.max(
            colon
                + text[colon..end]
                    .trim_end_matches(['.', ',', ';', ':'])
                    .len(),
        );
        if start < colon {
            spans.push((start, end));
        }
        from = end.max(colon + 3);
    }
    spans
}

fn in_spans(spans: &[(usize, usize)], i: usize) -> bool {
    spans.iter().any(|&(s, e)| i >= s && i < e)
}

/// Section labels written at `rest` (just after a file name): `§3.2`, `section 3`, and for a
/// Markdown file a bare letter label (`B5`); then chains joined by `, ` / `/` / ` and `.
fn section_chain(rest: &str, markdown_target: bool) -> Vec<String> {
    let mut labels = Vec::new();
    let mut s = rest;
    let mut first = true;
    loop {
        let t = s.trim_start();
        let (body, bare) = if let Some(b) = t.strip_prefix('§') {
            (b.trim_start(), false)
        } else if let Some(b) = t
            .strip_prefix("section ")
            .or_else(|| t.strip_prefix("sections "))
            .or_else(|| t.strip_prefix("Section "))
        {
            (b, false)
        } else if markdown_target && t.starts_with(|c: char| c.is_ascii_uppercase()) {
            (t, true)
        } else {
            break;
        };
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(body.len());
        let label = body[..end].trim_end_matches('.');
        if !is_label(label) || (bare && label.starts_with(|c: char| c.is_ascii_digit())) {
            break;
        }
        if bare && !first && label.len() > 6 {
            break;
        }
        labels.push(label.to_owned());
        first = false;
        s = &body[label.len()..];
        // an optional parenthesis, then a separator
        let t = s.trim_start();
        let t = if t.starts_with('(') {
            t.find(')').map_or(t, |i| &t[i + 1..])
        } else {
            t
        };
        if let Some(r) = t
            .strip_prefix(", ")
            .or_else(|| t.strip_prefix('/'))
            .or_else(|| t.strip_prefix(" and "))
            .or_else(|| t.strip_prefix("and "))
        {
            s = r;
        } else {
            s = t;
            // only `§` labels continue without a separator
            if !s.trim_start().starts_with('§') {
                break;
            }
        }
    }
    labels
}

/// Every `§label` in `rest`, up to the end of the quoted string it is in.
fn later_sections(rest: &str) -> Vec<String> {
    // a double quote, a `;`, or a single quote that closes a TOML string (`', ` / `']`)
    let stop = rest
        .char_indices()
        .find(|&(i, c)| {
            c == '"'
                || c == ';'
                || (c == '\'' && matches!(rest[i + 1..].chars().next(), None | Some(',' | ']')))
        })
        .map_or(rest.len(), |(i, _)| i);
    let rest = &rest[..stop];
    rest.match_indices('§')
        .filter_map(|(i, _)| {
            let b = rest[i + '§'.len_utf8()..].trim_start();
            let end = b
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(b.len());
            let l = b[..end].trim_end_matches('.');
            is_label(l).then(|| l.to_owned())
        })
        .collect()
}

struct Checker<'a> {
    tree: &'a Tree,
    headings: BTreeMap<String, Headings>,
    report: Report,
}

impl<'a> Checker<'a> {
    fn new(tree: &'a Tree) -> Self {
        Checker {
            tree,
            headings: BTreeMap::new(),
            report: Report::default(),
        }
    }

    fn headings(&mut self, path: &str) -> Option<&Headings> {
        if !self.headings.contains_key(path) {
            let h = headings(self.tree.text(path)?);
            self.headings.insert(path.to_owned(), h);
        }
        self.headings.get(path)
    }

    fn fail(&mut self, file: &str, line: &Line, reference: &str, why: impl Into<String>) {
        self.report.violations.push(Violation {
            file: file.to_owned(),
            line: line.no,
            reference: reference.to_owned(),
            why: why.into(),
        });
    }

    fn check_file(&mut self, path: &str) {
        let Some(text) = self.tree.text(path) else {
            return;
        };
        for line in lines_of(path, text) {
            self.check_line(path, &line);
        }
    }

    fn check_line(&mut self, path: &str, line: &Line) {
        let text = line.text.as_str();
        let shipped = line.audience == Audience::Shipped;
        let citation = shipped && (line.field == "source" || line.field == "references");
        let mut skip = url_spans(text);

        // URLs in shipped text: primary sources only.
        if shipped {
            for &(s, e) in &skip {
                let url = &text[s..e];
                let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
                // An ADSI path in a PowerShell step (`[ADSI]'WinNT://./USER,user'`,
                // `LDAP://...`) names an object, not a source.
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    continue;
                }
                let github = rest.starts_with("github.com/")
                    && GITHUB_RECORDS.iter().any(|g| rest.contains(g));
                if github || PRIMARY_HOSTS.iter().any(|h| rest.starts_with(h)) {
                    self.report.resolved += 1;
                } else {
                    self.fail(
                        path,
                        line,
                        url,
                        "shipped text cites a primary source: this host is not one (see PRIMARY_HOSTS)",
                    );
                }
            }
        }

        // Markdown links.
        if line.markdown {
            let mut from = 0;
            while let Some(off) = text[from..].find("](") {
                let open = from + off + 2;
                let Some(len) = text[open..].find(')') else {
                    break;
                };
                let target = text[open..open + len]
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>');
                let target = target.split_whitespace().next().unwrap_or("");
                skip.push((open, open + len));
                from = open + len;
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
                if file.is_empty() && ext(path) != "md" {
                    continue; // a rustdoc anchor
                }
                if file.contains("::")
                    || (!file.is_empty() && !file.contains('/') && !file.contains('.'))
                {
                    continue; // a rustdoc path
                }
                let resolved = if file.is_empty() {
                    Some(path.to_owned())
                } else {
                    join(dir_of(path), file)
                };
                let Some(resolved) = resolved.filter(|p| self.tree.exists(p)) else {
                    self.fail(
                        path,
                        line,
                        target,
                        "link to a file that is not in the repository",
                    );
                    continue;
                };
                self.report.resolved += 1;
                if !anchor.is_empty() {
                    let ok = self
                        .headings(&resolved)
                        .is_some_and(|h| h.anchors.contains(anchor));
                    if ok {
                        self.report.resolved += 1;
                    } else {
                        self.fail(
                            path,
                            line,
                            target,
                            format!("no heading of {resolved} has the anchor #{anchor}"),
                        );
                    }
                }
            }
        }

        // The developers' lab README.
        for (i, _) in text.match_indices("lab README") {
            if !in_spans(&skip, i) {
                let after = &text[i + "lab README".len()..];
                let sections = section_chain(after, true);
                let shown = if sections.is_empty() {
                    "lab README".to_owned()
                } else {
                    format!("lab README §{}", sections.join(", §"))
                };
                self.fail(
                    path,
                    line,
                    &shown,
                    "the lab README is in the developers' shared folder, not in this repository: \
                     cite a repository file or state the fact",
                );
            }
        }

        // File words.
        let mut words: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        let b = text.as_bytes();
        while i < b.len() {
            let is_word = |c: u8| c.is_ascii_alphanumeric() || b"_./~-".contains(&c);
            if is_word(b[i]) && (i == 0 || !is_word(b[i - 1])) {
                let s = i;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                words.push((s, i));
            } else {
                i += 1;
            }
        }
        let files: Vec<(usize, usize)> = words
            .into_iter()
            .filter_map(|(s, e)| {
                let w = text[s..e].trim_end_matches(['.', ',', '-']);
                let e = s + w.len();
                let name = w.rsplit('/').next().unwrap_or(w);
                let is_file = (name.contains('.')
                    && EXTENSIONS.contains(&ext(name))
                    && !name.starts_with('.')
                    && name.len() > ext(name).len() + 1)
                    || (w == "README" && {
                        let r = text[e..].trim_start();
                        r.starts_with('§') || r.starts_with("section ")
                    });
                (is_file && !in_spans(&skip, s) && !text[..s].ends_with("lab ")).then_some((s, e))
            })
            .collect();
        for (n, &(s, e)) in files.iter().enumerate() {
            let word = &text[s..e];
            let next_file = files.get(n + 1).map_or(text.len(), |&(ns, _)| ns);
            let rest = &text[e..next_file];
            let md = ext(word) == "md" || word == "README";
            let mut sections = section_chain(rest, md);
            for l in later_sections(rest) {
                if !sections.contains(&l) {
                    sections.push(l);
                }
            }
            let shown = if sections.is_empty() {
                word.to_owned()
            } else {
                format!("{word} §{}", sections.join(", §"))
            };
            let resolved = if word == "README" {
                let local = join(dir_of(path), "README.md").filter(|p| self.tree.exists(p));
                Resolved::Repo(vec![local.unwrap_or_else(|| "README.md".to_owned())])
            } else {
                resolve(self.tree, path, word)
            };
            let candidates = match resolved {
                Resolved::System => continue,
                Resolved::Outside => {
                    self.fail(
                        path,
                        line,
                        &shown,
                        "a path outside the repository: users do not have it",
                    );
                    continue;
                }
                Resolved::Missing if SHARED.iter().any(|d| word.contains(d)) => {
                    self.fail(
                        path,
                        line,
                        &shown,
                        "the developers' shared folder is not part of the repository: users do not \
                         have it",
                    );
                    continue;
                }
                Resolved::Missing if VERBATIM_NOTES.contains(&path) => continue,
                Resolved::Missing => {
                    if citation {
                        self.fail(
                            path,
                            line,
                            &shown,
                            "not a file of this repository: a shipped source cites another \
                             project's file by URL",
                        );
                    } else if !qualified(text, s) {
                        self.fail(
                            path,
                            line,
                            &shown,
                            "no such file in the repository (another project's file is written \
                             with its project: a URL, owner/repo:path, or the project's name first)",
                        );
                    }
                    continue;
                }
                Resolved::Repo(c) => c,
            };
            if shipped {
                if let Some(sec) = candidates.iter().find(|c| SECONDARY.contains(&c.as_str())) {
                    self.fail(
                        path,
                        line,
                        &shown,
                        format!(
                            "{sec} are research notes, not a source users can check: cite the \
                             primary source they name"
                        ),
                    );
                    continue;
                }
            }
            self.report.resolved += 1;
            for label in sections {
                let found = candidates
                    .iter()
                    .any(|c| self.headings(c).is_some_and(|h| h.labels.contains(&label)));
                if found {
                    self.report.resolved += 1;
                } else {
                    let c = candidates.join(" or ");
                    self.fail(
                        path,
                        line,
                        &shown,
                        format!("{c} has no heading numbered {label}"),
                    );
                }
            }
        }
    }
}

fn check(tree: &Tree, paths: &[String]) -> Report {
    let mut c = Checker::new(tree);
    for p in paths {
        c.check_file(p);
    }
    c.report
}

fn check_pairs(pairs: &[(&str, &str)]) -> Report {
    let tree = Tree::from_pairs(pairs);
    let paths: Vec<String> = pairs.iter().map(|(p, _)| (*p).to_owned()).collect();
    check(&tree, &paths)
}

#[test]
fn every_reference_resolves_and_shipped_references_cite_primary_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tree = Tree::from_disk(&root);
    let paths = scanned(&tree);
    assert!(
        paths.iter().any(|p| p.ends_with("kb/findings.toml"))
            && paths.iter().any(|p| p.ends_with("kb/codes/errinfo.toml"))
            && paths.iter().any(|p| p == "README.md")
            && paths.iter().any(|p| p.ends_with("src/kb/mod.rs")),
        "the scan misses files: {paths:?}"
    );
    let report = check(&tree, &paths);
    let list: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
    assert!(
        list.is_empty(),
        "{} broken reference(s):\n{}",
        list.len(),
        list.join("\n")
    );
    eprintln!("{} references resolved", report.resolved);
    // The scan really reads references (a checker that finds nothing proves nothing).
    assert!(
        report.resolved > 300,
        "only {} references checked",
        report.resolved
    );
}

// ---------------------------------------------------------------------------------------------
// The checker itself

fn whys(r: &Report) -> Vec<String> {
    r.violations.iter().map(|v| v.to_string()).collect()
}

const NOTES: &str = "# Notes\n\n## 3. Servers\n\n### 3.2 xrdp\n\n## B5. CredSSP\n";

#[test]
fn a_section_that_does_not_exist_fails() {
    let r = check_pairs(&[
        ("docs/notes.md", NOTES),
        (
            "crates/x/src/lib.rs",
            "//! See docs/notes.md §3.2 and docs/notes.md §6.4.\nfn f() {}\n",
        ),
    ]);
    let w = whys(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("crates/x/src/lib.rs:1: `docs/notes.md §6.4`"),
        "{w:?}"
    );
    assert!(w[0].contains("no heading numbered 6.4"), "{w:?}");
}

#[test]
fn a_missing_file_fails() {
    let r = check_pairs(&[
        ("docs/notes.md", NOTES),
        (
            "crates/x/src/lib.rs",
            "fn f() {}\n// the table in docs/gone.md and in docs/notes.md B5\n",
        ),
    ]);
    let w = whys(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("crates/x/src/lib.rs:2: `docs/gone.md`"),
        "{w:?}"
    );
}

#[test]
fn paths_outside_the_repository_and_the_lab_readme_fail() {
    let r = check_pairs(&[
        ("docs/notes.md", NOTES),
        (
            "crates/rdp-doctor/kb/x.toml",
            "# Facts: ../../shared/reference/rdp-knowledge.md §B5\n\
             references = [\"lab README §4 case 16\"]\n",
        ),
        (
            "crates/x/tests/t.rs",
            "// xrdp answers as README §3.2 says\nfn f() {}\n",
        ),
    ]);
    let w = whys(&r);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].contains("x.toml:1") && w[0].contains("shared folder"),
        "{w:?}"
    );
    assert!(w[1].contains("x.toml:2: `lab README §4`"), "{w:?}");
    assert!(
        w[2].contains("t.rs:1: `README §3.2`") && w[2].contains("README.md"),
        "{w:?}"
    );
}

#[test]
fn shipped_text_cites_primary_sources() {
    let r = check_pairs(&[
        ("docs/rdp-knowledge.md", NOTES),
        (
            "crates/rdp-doctor/kb/x.toml",
            "[[finding]]\n\
             references = [\"rdp-knowledge.md B5\", \"https://learn.microsoft.com/en-us/x\", \"[MS-CSSP] 3.1.5\"]\n\
             source = 'FreeRDP winpr/include/winpr/nt.h (value)'\n\
             notes = ['FreeRDP maps it (nla.c).', 'see https://example.com/blog']\n\
             source = 'https://github.com/FreeRDP/FreeRDP/blob/9626564/winpr/include/winpr/nt.h'\n",
        ),
    ]);
    let w = whys(&r);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].contains("x.toml:2: `rdp-knowledge.md §B5`") && w[0].contains("research notes"),
        "{w:?}"
    );
    assert!(
        w[1].contains("x.toml:3: `winpr/include/winpr/nt.h`") && w[1].contains("by URL"),
        "{w:?}"
    );
    assert!(
        w[2].contains("x.toml:4: `https://example.com/blog`"),
        "{w:?}"
    );
}

#[test]
fn links_and_anchors_are_checked() {
    let r = check_pairs(&[
        ("docs/notes.md", NOTES),
        (
            "README.md",
            "[ok](docs/notes.md#32-xrdp) [bad anchor](docs/notes.md#4-nothing) \
             [gone](docs/none.md) [here](#title) [web](https://example.com/x.md)\n\n# Title\n",
        ),
    ]);
    let w = whys(&r);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("`docs/notes.md#4-nothing`"), "{w:?}");
    assert!(w[1].contains("`docs/none.md`"), "{w:?}");
}

#[test]
fn what_resolves_passes() {
    let r = check_pairs(&[
        ("docs/notes.md", NOTES),
        ("crates/x/src/probe/mod.rs", "fn f() {}\n"),
        (
            "crates/x/src/lib.rs",
            "// probe/mod.rs; docs/notes.md §3, §3.2/§B5; notes.md B5 (x), 3 (y)\n\
             // FreeRDP libfreerdp/core/nla.c, FreeRDP/FreeRDP:client/common/file.c\n\
             /* see https://example.com/a.md and [`x`](crate::x) */\n\
             const S: &str = \"// docs/absent.md in a string\";\n",
        ),
    ]);
    assert!(r.violations.is_empty(), "{:?}", whys(&r));
    assert!(r.resolved >= 7, "{}", r.resolved);
}

#[test]
fn rust_comments_skip_strings_and_chars() {
    let src = concat!(
        "let a = \"// no\"; // yes\n",
        "let b = '\"'; /* x\n",
        "y */ let r = r#\"// no\"#;\n",
        "let q = br#\"\\\" // no\"#; let r#type = 1; fn f<'a>(x: &'a u8) {} // z\n",
    );
    assert_eq!(
        rust_comments(src),
        vec![
            (1, "// yes".to_owned()),
            (2, "/* x".to_owned()),
            (3, "y */".to_owned()),
            (4, "// z".to_owned()),
        ]
    );
}
