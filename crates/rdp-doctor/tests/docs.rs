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
    assert!(readme.contains("sudo bash .ci/run"));
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
