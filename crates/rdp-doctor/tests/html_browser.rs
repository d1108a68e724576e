//! `check --html`, `scan --html` and `check --bundle` end to end: the lab serves the faults,
//! rdp-doctor writes the pages, and a real browser (headless Chromium, Debian `chromium`) loads
//! each one: it must render a screenshot, log no load or script error, and its DOM must hold
//! the verdict and the first finding and none of the markup the `hostile-strings` fault sends
//! as element. The bundle is opened with Python's `zipfile` (an independent reader).
//!
//! Without Chromium the test fails (never skips), like every test that needs a tool:
//! `.ci/run` installs it (`apt-get install chromium`).
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod labproc;
use labproc::{Lab, TempDir, BIN};

/// Longest a browser run may take (a loaded CI machine starts Chromium in a few seconds).
const BROWSER_LIMIT_S: u32 = 90;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        let found = Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return c;
        }
    }
    panic!(
        "Chromium is not installed: this test renders the HTML reports in a real browser \
         (apt-get install chromium; .ci/run does)"
    );
}

/// Runs headless Chromium on `page` with `args`, in a private profile, bounded by `timeout`.
fn browser(page: &Path, args: &[String], dir: &TempDir) -> Output {
    let profile = dir.path(&format!(
        "profile-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&profile).expect("profile dir");
    let out = Command::new("timeout")
        .args(["--kill-after=5", &BROWSER_LIMIT_S.to_string(), chromium()])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", &profile)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert_ne!(
        out.status.code(),
        Some(124),
        "chromium did not finish within {BROWSER_LIMIT_S} s"
    );
    out
}

/// Browser console and load errors in Chromium's log (its own start-up noise is not ours).
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Failed to load resource")
                || l.contains("net::ERR_")
                || l.contains("Refused to")
        })
        .collect()
}

/// What the browser made of one page: the screenshot's size and the DOM after load.
struct Rendered {
    png_bytes: usize,
    dom: String,
}

fn render_in_browser(page: &Path, dir: &TempDir) -> Rendered {
    let png = page.with_extension("png");
    let shot = browser(
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2000".into(),
        ],
        dir,
    );
    let err = String::from_utf8_lossy(&shot.stderr);
    assert!(
        shot.status.success(),
        "chromium --screenshot failed on {}: {err}",
        page.display()
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "a PNG");
    assert_eq!(page_errors(&err), Vec::<&str>::new(), "{}", page.display());
    let dump = browser(page, &["--dump-dom".into()], dir);
    let err = String::from_utf8_lossy(&dump.stderr);
    assert!(dump.status.success(), "chromium --dump-dom failed: {err}");
    assert_eq!(page_errors(&err), Vec::<&str>::new(), "{}", page.display());
    Rendered {
        png_bytes: bytes.len(),
        dom: String::from_utf8_lossy(&dump.stdout).into_owned(),
    }
}

/// Every tag of serialized HTML: (name, attribute text). Text is serialized escaped, so each
/// `<` opens a tag, except inside the JSON data block, which holds no `<` at all.
fn tags(page: &str) -> Vec<(String, String)> {
    page.split('<')
        .skip(1)
        .filter_map(|t| {
            let t = t.split('>').next()?;
            let t = t.strip_prefix('/').unwrap_or(t);
            let name: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect();
            Some((name.to_ascii_lowercase(), t[name.len()..].to_string()))
        })
        .collect()
}

/// The elements the pages are made of.
const ELEMENTS: &[&str] = &[
    "!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
    "p", "span", "strong", "a", "code", "pre", "section", "table", "thead", "tbody", "tr", "th",
    "td", "ul", "ol", "li", "article", "details", "summary", "svg", "line", "text", "g", "rect",
    "script", "footer", "small", "div",
];

/// The DOM after the browser ran the page: only the report's own elements, one script element
/// (the JSON data block, of a type browsers do not run), no event handler, nothing to load.
fn assert_inert(dom: &str, what: &str) {
    let mut scripts = 0;
    for (name, attrs) in tags(dom) {
        assert!(
            ELEMENTS.contains(&name.as_str()),
            "{what}: an element that is not the report's: <{name}{attrs}>"
        );
        let lower = attrs.to_ascii_lowercase();
        assert!(
            !lower
                .split([' ', '"', '\''])
                .any(|a| a.starts_with("on") || a.starts_with("src=")),
            "{what}: <{name}{attrs}>"
        );
        if name == "script" && !attrs.is_empty() {
            scripts += 1;
            assert_eq!(
                attrs, " type=\"application/json\" id=\"rdp-doctor-report\"",
                "{what}: a script element that runs"
            );
        }
    }
    assert!(scripts <= 1, "{what}: {scripts} script elements");
    assert!(
        !dom.contains('\u{202e}'),
        "{what}: a bidi override in the DOM"
    );
}

/// The page as written: no external resource (no src, no style sheet link, no url() or
/// @import in the CSS).
fn assert_self_contained(html: &str, what: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(lower.starts_with("<!doctype html>"), "{what}");
    for (name, attrs) in tags(html) {
        assert!(
            !["link", "img", "iframe", "object", "embed", "base"].contains(&name.as_str()),
            "{what}: <{name}{attrs}>"
        );
        let a = attrs.to_ascii_lowercase();
        assert!(
            !a.contains("src=") && !a.contains("style="),
            "{what}: <{name}{attrs}>"
        );
        if let Some(href) = a.split("href=\"").nth(1) {
            assert!(
                href.starts_with("#") || href.starts_with("https://"),
                "{what}: <{name}{attrs}>"
            );
        }
    }
    let css = lower
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .expect("a style sheet");
    assert!(
        !css.contains("url(") && !css.contains("@import"),
        "{what}: CSS loads something"
    );
}

struct Case {
    fault: &'static str,
    sec: &'static str,
    verdict: &'static str,
    first: Option<&'static str>,
    exit: i32,
}

#[test]
fn check_and_scan_html_load_in_a_real_browser_and_stay_inert() {
    let cases = [
        Case {
            fault: "healthy",
            sec: "mstsc",
            verdict: "HEALTHY",
            first: None,
            exit: 0,
        },
        Case {
            fault: "cert-expired",
            sec: "mstsc",
            verdict: "FAILING",
            first: Some("cert-expired"),
            exit: 2,
        },
        Case {
            fault: "server-requires-nla",
            sec: "tls",
            verdict: "FAILING",
            first: Some("server-requires-nla"),
            exit: 2,
        },
        Case {
            fault: "hostile-strings",
            sec: "mstsc",
            verdict: "DEGRADED",
            first: Some("cert-name-mismatch"),
            exit: 1,
        },
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.fault).collect();
    let lab = Lab::start_with(&names, true);
    let dir = TempDir::new("html");
    let ca = lab.ca();
    for c in &cases {
        let page = dir.path(&format!("{}.html", c.fault));
        let out = Command::new(BIN)
            .args([
                "check",
                &lab.target(c.fault),
                "--timeout",
                "2",
                "--sec",
                c.sec,
            ])
            .arg("--ca")
            .arg(&ca)
            .arg("--html")
            .arg(&page)
            .stdin(Stdio::null())
            .output()
            .expect("check runs");
        assert_eq!(
            out.status.code(),
            Some(c.exit),
            "{}: {}",
            c.fault,
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(&page).expect("the page was written");
        assert_self_contained(&html, c.fault);
        let r = render_in_browser(&page, &dir);
        eprintln!(
            "{}: {} bytes of HTML, screenshot {} bytes",
            c.fault,
            html.len(),
            r.png_bytes
        );
        assert!(r.png_bytes > 20_000, "{}: a blank screenshot?", c.fault);
        assert_inert(&r.dom, c.fault);
        assert!(r.dom.contains(c.verdict), "{}: verdict not shown", c.fault);
        if let Some(id) = c.first {
            assert!(r.dom.contains(&format!("<code>{id}</code>")), "{}", c.fault);
        } else {
            assert!(r.dom.contains("No problem found"), "{}", c.fault);
        }
        // the waterfall drew one bar per measured phase
        assert!(r.dom.contains("<svg class=\"waterfall\""), "{}", c.fault);
        // the measured loss, with how sure it is (loopback: none)
        assert!(
            r.dom.contains("none of ")
                && r.dom
                    .contains(" transmissions lost (95 % confidence: below "),
            "{}: no loss row",
            c.fault
        );
        if c.fault == "hostile-strings" {
            // shown as text, where the subject and the NTLM names are
            assert!(r.dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(r.dom.contains("&lt;img src=x onerror=alert(2)&gt;"));
            assert!(r.dom.contains("\\u{202e}lab"));
        }
    }
    // The fleet page: every fault once, plus a port where nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let fleet = dir.path("fleet.html");
    let mut targets: Vec<String> = names.iter().map(|n| lab.target(n)).collect();
    targets.push(format!("127.0.0.1:{closed}"));
    let out = Command::new(BIN)
        .args(["scan", "--timeout", "2", "--no-progress", "--format", "csv"])
        .arg("--ca")
        .arg(&ca)
        .arg("--html")
        .arg(&fleet)
        .args(&targets)
        .stdin(Stdio::null())
        .output()
        .expect("scan runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&fleet).expect("the fleet page was written");
    assert_self_contained(&html, "fleet");
    let r = render_in_browser(&fleet, &dir);
    assert!(r.png_bytes > 20_000);
    assert_inert(&r.dom, "fleet");
    assert!(
        !r.dom.to_ascii_lowercase().contains("<script"),
        "the fleet page has no script"
    );
    assert!(r.dom.contains("5 targets"), "{}", r.dom);
    for t in &targets {
        assert!(r.dom.contains(t.as_str()), "{t} missing");
    }
    // grouped by first finding: the refused port's group and the expired certificate's
    assert!(r.dom.contains("<code>tcp-refused</code>"));
    assert!(r.dom.contains("<code>cert-expired</code>"));
    // worst first: the first row of that table is a failing target
    let worst = r.dom.find("id=\"worst-first\"").expect("worst-first table");
    let first_row = r.dom[worst..]
        .find("<tr class=\"")
        .map(|i| &r.dom[worst + i..]);
    assert!(first_row.is_some_and(|row| row.starts_with("<tr class=\"failing\"")));
}

/// `--bundle`: the JSON, the HTML and the evidence, read back by Python's zipfile; the .rdp
/// file's password and token are not in it, anywhere.
#[test]
fn the_bundle_holds_json_html_and_evidence_without_secrets() {
    let lab = Lab::one("tls-handshake-failed");
    let dir = TempDir::new("bundle");
    let rdp = dir.path("client.rdp");
    let secret_hex = "01000000D08C9DDF0115D1118C7A00C04FC297EB0100000033F1";
    let token = "eyJhbGciOiJSUzI1NiJ9.bundle-test-token.c2lnbmF0dXJl";
    std::fs::write(
        &rdp,
        format!(
            "full address:s:127.0.0.1:{}\r\nusername:s:CORP\\alice\r\npassword 51:b:{secret_hex}\r\n\
             gatewayaccesstoken:s:{token}\r\nauthentication level:i:2\r\n",
            lab.port
        ),
    )
    .expect("rdp file");
    let log = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence/json/server-schannel.json");
    let zip = dir.path("ticket.zip");
    let html = dir.path("report.html");
    let out = Command::new(BIN)
        .args(["check", "--timeout", "2", "--format", "json", "--rdp-file"])
        .arg(&rdp)
        .arg("--evidence")
        .arg(&log)
        .arg("--bundle")
        .arg(&zip)
        .arg("--html")
        .arg(&html)
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout_json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        stdout_json["findings"][0]["id"],
        "server-private-key-unreadable"
    );
    // Python lists, CRC-checks and extracts the archive.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None, 'CRC error'\n\
             out = {n: z.read(n).decode('utf-8') for n in z.namelist()}\n\
             print(json.dumps(out))\n",
        )
        .arg(&zip)
        .output()
        .expect("python3 runs");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let files: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&py.stdout).expect("python's listing");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "README.txt",
            "evidence/client.rdp",
            "evidence/logs.json",
            "evidence/logs.txt",
            "report.html",
            "report.json"
        ]
    );
    for (name, body) in &files {
        for secret in [secret_hex, token, "bundle-test-token"] {
            assert!(!body.contains(secret), "{name} holds a secret");
        }
    }
    // the JSON is the check's document (same as stdout, but for the timing it was run at)
    let in_zip: serde_json::Value = serde_json::from_str(&files["report.json"]).expect("json");
    assert_eq!(in_zip, stdout_json);
    // the HTML in the bundle is the page --html wrote
    assert_eq!(
        files["report.html"],
        std::fs::read_to_string(&html).expect("html")
    );
    let rdp_out = &files["evidence/client.rdp"];
    assert!(rdp_out.contains("password 51:b:\r\n"), "{rdp_out}");
    assert!(rdp_out.contains("gatewayaccesstoken:s:\r\n"), "{rdp_out}");
    assert!(rdp_out.contains(&format!("full address:s:127.0.0.1:{}", lab.port)));
    let logs: serde_json::Value = serde_json::from_str(&files["evidence/logs.json"]).expect("json");
    assert_eq!(logs["schema"], "rdp-doctor/logs/v1");
    assert!(files["evidence/logs.txt"].contains("36870"));
    // the joined event-log evidence is in the page, and the page loads
    assert!(files["report.html"].contains("id=\"event-logs\""));
    let r = render_in_browser(&html, &dir);
    assert_inert(&r.dom, "bundle report");
    assert!(r.dom.contains("server-private-key-unreadable"));
}

/// A path that cannot be written is "could not run" (3), with the file named, and no check
/// is wasted on it when its directory does not exist.
#[test]
fn an_unwritable_path_is_exit_3_with_the_file_named() {
    let dir = TempDir::new("unwritable");
    for (flag, path) in [
        ("--html", dir.path("no-such-dir/r.html")),
        ("--bundle", dir.path("no-such-dir/r.zip")),
        ("--html", dir.0.clone()),
    ] {
        let out = Command::new(BIN)
            .args(["check", "127.0.0.1:1", "--timeout", "1", flag])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("check runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{flag} {}: {err}",
            path.display()
        );
        assert!(err.starts_with("rdp-doctor: "), "{err}");
        assert!(err.contains(flag), "{err}");
        assert!(out.stdout.is_empty(), "no check ran");
    }
    // A directory that exists but takes no new file: the check runs, then writing fails.
    let out = Command::new(BIN)
        .args(["check", "127.0.0.1:1", "--timeout", "1", "--html"])
        .arg("/proc/rdp-doctor-report.html")
        .stdin(Stdio::null())
        .output()
        .expect("check runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot write /proc/rdp-doctor-report.html"),
        "{err}"
    );
    assert!(
        !out.stdout.is_empty(),
        "the check ran and printed its report"
    );
}
