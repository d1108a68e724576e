//! The README documents what the code does: every probe finding id, every subcommand, and the
//! same test command `.ci/run` runs.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel),
    )
    .expect(rel)
}

#[test]
fn readme_lists_every_probe_finding() {
    let readme = read("README.md");
    let kb = read("crates/rdp-doctor/kb/findings.toml");
    let mut n = 0;
    for line in kb.lines() {
        if let Some(id) = line
            .strip_prefix("id = \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            assert!(
                readme.contains(&format!("`{id}`")),
                "README does not list {id}"
            );
            n += 1;
        }
    }
    assert!(n >= 40);
}

#[test]
fn readme_and_ci_run_the_same_tests() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let line = ci
        .lines()
        .find(|l| l.contains("# README test command"))
        .expect(".ci/run marks the README test command");
    assert!(line.contains("cargo test --workspace"), "{line}");
    assert!(readme.contains("cargo test --workspace"));
    assert!(readme.contains("bash .ci/run"));
    assert!(
        !readme.contains("sudo "),
        "say \"as root\": sudo is not on every Debian"
    );
    assert!(readme.contains("cargo run --release -- demo"));
}

#[test]
fn readme_documents_every_subcommand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdp-doctor"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = read("README.md");
    let mut in_commands = false;
    let mut n = 0;
    for l in help.lines() {
        if l.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if l.trim().is_empty() {
                break;
            }
            // "  name   description"; wrapped description lines are indented further.
            if !l.starts_with("  ") || l.starts_with("   ") {
                continue;
            }
            let Some(cmd) = l.split_whitespace().next() else {
                break;
            };
            if cmd == "help" {
                continue;
            }
            assert!(
                readme.contains(&format!("rdp-doctor {cmd}")),
                "README lacks `rdp-doctor {cmd}`"
            );
            n += 1;
        }
    }
    assert!(n >= 6, "{help}");
}

// ---------------------------------------------------------------------------------------------
// The README's samples are output of the commands they show: each block after a
// `<!-- sample: KIND ARGS -->` marker is compared, line by line in order, with what the command
// prints now (numbers, times and bars normalised; a line ending in `...` is a prefix; a line of
// `...` skips). A sample cannot go stale silently.

mod labproc;

/// A line's shape: numbers become `0`, a number with its unit `0t`, bars and runs of white
/// space collapse.
fn shape(line: &str) -> String {
    let mut toks: Vec<String> = Vec::new();
    for t in line.replace('#', " ").split_whitespace() {
        let mut s = String::new();
        let mut in_num = false;
        for c in t.chars() {
            if c.is_ascii_digit() {
                if !in_num {
                    s.push('0');
                }
                in_num = true;
            } else if in_num && matches!(c, '.' | ',') {
                // 1.5, 1,389: one number
            } else {
                in_num = false;
                s.push(c);
            }
        }
        if matches!(t, "ms" | "s") && toks.last().is_some_and(|p| p.ends_with('0')) {
            if let Some(p) = toks.last_mut() {
                p.push('t');
            }
            continue;
        }
        toks.push(s);
    }
    toks.join(" ")
}

/// Every line of `sample` (but `...`) matches a line of `output`, in order.
fn assert_same_shape(what: &str, sample: &str, output: &str) {
    let out: Vec<String> = output.lines().map(shape).collect();
    let mut at = 0;
    for want in sample.lines() {
        if want.trim() == "..." || want.trim().is_empty() {
            continue;
        }
        let (want_shape, prefix) = match want.split_once("...") {
            Some((head, _)) => (shape(head), true),
            None => (shape(want), false),
        };
        let found = out.iter().skip(at).position(|o| {
            if prefix {
                o.starts_with(&want_shape)
            } else {
                *o == want_shape
            }
        });
        match found {
            Some(i) => at += i + 1,
            None => panic!(
                "README sample for `{what}` is stale: no line shaped like\n  {want}\n(shape: {want_shape})\nafter line {at} of the output:\n{output}"
            ),
        }
    }
}

/// (marker arguments, the code block after it) for every `<!-- sample: ... -->` in the README.
fn samples(readme: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let mut rest = readme;
    while let Some(i) = rest.find("<!-- sample: ") {
        rest = &rest[i + "<!-- sample: ".len()..];
        let end = rest.find(" -->").expect("marker closes");
        let args = rest[..end].to_string();
        let open = rest.find("```").expect("a code block follows");
        let body_start = open + rest[open..].find('\n').expect("fence line") + 1;
        let close = body_start + rest[body_start..].find("```").expect("block closes");
        v.push((args, rest[body_start..close].to_string()));
        rest = &rest[close + 3..];
    }
    v
}

fn rdp_doctor(args: &[&str], cwd: Option<&Path>) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rdp-doctor"));
    cmd.args(args).env_remove("NO_COLOR").env("COLUMNS", "80");
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c < 3),
        "{args:?}: exit {:?}: {}{text}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The words of a `$ rdp-doctor ...` line, shell quotes removed (double quotes only).
fn command_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[test]
fn readme_samples_are_what_the_commands_print() {
    let readme = read("README.md");
    let all = samples(&readme);
    let kinds: Vec<&str> = all.iter().map(|(a, _)| a.as_str()).collect();
    for want in ["run", "check", "nagios", "demo", "lab-list"] {
        assert!(
            kinds.iter().any(|k| k.split(' ').next() == Some(want)),
            "README marks a `{want}` sample: {kinds:?}"
        );
    }
    let lab = labproc::Lab::start(&["tls-handshake-failed"]);
    let ca = lab.ca().display().to_string();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence");
    for (args, body) in &all {
        let mut a = args.split(' ');
        let kind = a.next().unwrap_or("");
        let (what, output) = match kind {
            // `$ rdp-doctor ...` on the block's first line; files are found in the fixtures.
            "run" => {
                let dir = a.next().map(|d| fixtures.join(d));
                let first = body.lines().next().unwrap_or("");
                let words = command_words(first.strip_prefix("$ rdp-doctor ").expect(first));
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let body_rest: String = body.lines().skip(1).map(|l| format!("{l}\n")).collect();
                let out = rdp_doctor(&words, dir.as_deref());
                assert_same_shape(first, &body_rest, &out);
                continue;
            }
            "check" => {
                let fault = a.next().expect("check FAULT");
                let target = lab.target(fault);
                (
                    format!("check {fault}"),
                    rdp_doctor(&["check", "--ca", &ca, &target], None),
                )
            }
            "nagios" => {
                let fault = a.next().expect("nagios FAULT");
                let target = lab.target(fault);
                (
                    format!("check --format nagios {fault}"),
                    rdp_doctor(&["check", "--format", "nagios", "--ca", &ca, &target], None),
                )
            }
            "demo" => (
                "demo --table-only".to_string(),
                rdp_doctor(&["demo", "--table-only"], None),
            ),
            "lab-list" => (
                "lab --list".to_string(),
                rdp_doctor(&["lab", "--list"], None),
            ),
            other => panic!("unknown sample kind {other}"),
        };
        assert_same_shape(&what, body, &output);
    }
}

/// The lab example in the README starts: the port range holds every fault.
#[test]
fn readme_lab_all_example_has_enough_ports() {
    let readme = read("README.md");
    let line = readme
        .lines()
        .find(|l| l.contains("--fault all"))
        .expect("README shows --fault all");
    let range = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("a --listen range");
    let (first, last) = range
        .trim_start_matches("127.0.0.1:")
        .split_once('-')
        .expect("FIRST-LAST");
    let n = last.parse::<u32>().expect("last") - first.parse::<u32>().expect("first") + 1;
    let list = rdp_doctor(&["lab", "--list"], None);
    assert_eq!(
        n as usize,
        // the RDP faults: the lines up to the blank line before the gateway's
        list.lines()
            .take_while(|l| !l.is_empty())
            .filter(|l| !l.starts_with(' '))
            .count(),
        "{line}: one port per fault"
    );
}

/// docs/windows.md names the integration tests `.ci/windows` runs under Wine, and no test
/// count that would go stale; `.ci/windows` runs clippy for the Windows target.
#[test]
fn windows_docs_match_what_ci_windows_runs() {
    let ci = read(".ci/windows");
    let doc = read("docs/windows.md");
    let readme = read("README.md");
    let line = ci
        .lines()
        .find(|l| l.starts_with("WINE_TESTS=("))
        .expect("WINE_TESTS");
    let tests: Vec<&str> = line
        .split_whitespace()
        .filter(|w| !w.starts_with("--") && !w.starts_with("WINE_TESTS"))
        .map(|w| w.trim_end_matches(')'))
        .collect();
    assert!(tests.len() >= 5, "{line}");
    for t in &tests {
        assert!(doc.contains(&format!("`{t}`")), "docs/windows.md names {t}");
    }
    assert!(!doc.contains("all integration tests"));
    for text in [&doc, &readme] {
        assert!(
            !text.contains("tests pass)"),
            "no hand-copied test count: .ci/windows prints it"
        );
    }
    assert!(
        ci.contains("cargo clippy --target \"$TARGET\" --workspace --all-targets -- -D warnings")
    );
}
