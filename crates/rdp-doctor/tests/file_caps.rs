//! Every file option has a cap that fits its kind and a clear error beyond it, and errors quote
//! a hostile file escaped and shortened (issue 15). /dev/zero is the endless file.
#![cfg(unix)]
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// Runs the binary; returns the exit code and stderr, and checks it ended within 10 s.
fn run(args: &[&str]) -> (i32, String) {
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "{args:?} took {:?}",
        t0.elapsed()
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rdp-doctor-caps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[test]
fn endless_files_stop_at_their_cap_with_exit_3() {
    let cfg = temp(
        "ca-zero.toml",
        b"[allow]\ncidrs = [\"127.0.0.0/8\"]\nports = [3389]\n[modules.rdp]\nca_file = \"/dev/zero\"\n",
    );
    let cfg = cfg.to_str().expect("utf-8");
    let cases: [(&[&str], &str); 6] = [
        (
            &["check", "127.0.0.1:9", "--ca", "/dev/zero"],
            "larger than 4 MiB",
        ),
        (
            &["scan", "127.0.0.1:9", "--ca", "/dev/zero"],
            "larger than 4 MiB",
        ),
        (&["serve", "--config", "/dev/zero"], "larger than 1 MiB"),
        (
            &["serve", "--check-config", "--config", "/dev/zero"],
            "larger than 1 MiB",
        ),
        (
            &["serve", "--check-config", "--config", cfg],
            "larger than 4 MiB",
        ),
        (
            &[
                "check",
                "127.0.0.1:9",
                "--user",
                "u",
                "--password-file",
                "/dev/zero",
            ],
            "larger than 4096 bytes",
        ),
    ];
    for (args, cap) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, 3, "{args:?}: {stderr}");
        assert!(stderr.contains(cap), "{args:?}: {stderr}");
        assert!(stderr.len() < 2000, "{args:?}: {} bytes", stderr.len());
    }
}

#[test]
fn config_errors_quote_the_file_escaped_and_short() {
    let esc = temp(
        "esc.toml",
        b"listen = \"\x1b[2J\x1b]0;owned\x07\"\n[allow\n",
    );
    let nul = temp("nul.toml", &vec![0u8; 1024 * 1024]);
    for p in [esc, nul] {
        let (code, stderr) = run(&["serve", "--config", p.to_str().expect("utf-8")]);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            !stderr.bytes().any(|b| b == 0x1b || b == 0x07 || b == 0),
            "raw control bytes: {stderr:?}"
        );
        assert!(stderr.len() < 2000, "{} bytes: {stderr:?}", stderr.len());
    }
}
