//! `rdp-doctor watch` end to end against a lab that flaps (`lab --schedule`): the summary
//! (`--report --cycles N`), the JSON lines, and the live view in a real terminal (tmux: keys
//! sent, the pane captured, the terminal restored after q).
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod labproc;

use labproc::{TempDir, BIN};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// healthy, then nothing listening, then an expired certificate, in a loop.
const FLAPPING: &str = "healthy:2s,refused:2s,cert-expired:2s";

struct FlappingLab {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl FlappingLab {
    fn start(schedule: &str) -> FlappingLab {
        let dir = TempDir::new("watch-lab");
        let mut child = Command::new(BIN)
            .args(["lab", "--listen", "127.0.0.1:0", "--schedule", schedule])
            .arg("--ca-out")
            .arg(dir.path("ca.pem"))
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lab starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("lab listening on 127.0.0.1:") {
                    let port: u16 = rest
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    assert!(rest.contains("schedule - "), "{line}");
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the lab reports its port");
        FlappingLab { child, port, dir }
    }

    fn ca(&self) -> String {
        self.dir.path("ca.pem").display().to_string()
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FlappingLab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enough 0.5 s samples to cover the 6 s schedule at least once, wherever it starts.
const CYCLES: &str = "18";

#[test]
fn report_summarises_a_flapping_server() {
    let lab = FlappingLab::start(FLAPPING);
    let out = Command::new(BIN)
        .args(["watch", "--report", "--cycles", CYCLES, "--interval", "0.5"])
        .args(["--full-every", "0", "--timeout", "3", "--ca", &lab.ca()])
        .arg(lab.target())
        .env("NO_COLOR", "1")
        .output()
        .expect("watch runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the listener was down: CRITICAL\n{text}\n{err}"
    );
    for l in text.lines() {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l:?}");
    }
    let tcp: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("tcp "))
        .expect("a tcp row")
        .split_whitespace()
        .collect();
    assert_eq!(tcp[1], CYCLES, "every sample tried TCP:\n{text}");
    let loss: f64 = tcp[2].trim_end_matches('%').parse().expect("loss %");
    assert!(
        loss > 0.0 && loss < 100.0,
        "some connects refused, some not:\n{text}"
    );
    for want in [
        "listener up",
        "listener down (refused)",
        "certificate changed",
        "certificate expired (",
        "verdict: ",
        "timeline (UTC):",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // The timeline is in order and the listener's states alternate.
    let states: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("listener "))
        .map(|l| {
            if l.contains("listener up") {
                "up"
            } else {
                "down"
            }
        })
        .collect();
    assert!(states.windows(2).all(|w| w[0] != w[1]), "{states:?}");
}

#[test]
fn jsonl_streams_one_parsable_line_per_event() {
    let lab = FlappingLab::start(FLAPPING);
    let out = Command::new(BIN)
        .args(["watch", "--format", "jsonl", "--cycles", CYCLES])
        .args(["--interval", "0.5", "--full-every", "2", "--timeout", "3"])
        .args(["--ca", &lab.ca()])
        .arg(lab.target())
        .output()
        .expect("watch runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let mut samples = 0;
    let mut fulls = 0;
    let mut changes = Vec::new();
    let mut last_elapsed = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        match v["type"].as_str() {
            Some("sample") => {
                samples += 1;
                let e = v["elapsed_ms"].as_u64().expect("elapsed_ms");
                assert!(e >= last_elapsed, "samples in order: {line}");
                last_elapsed = e;
                let listener = v["listener"].as_str().expect("listener");
                assert!(["up", "refused"].contains(&listener), "{line}");
                if listener == "up" {
                    assert_eq!(v["tcp"]["outcome"], "ok", "{line}");
                    assert!(v["tcp"]["ms"].as_f64().is_some(), "{line}");
                    assert!(v["cert"]["sha256"].as_str().is_some(), "{line}");
                } else {
                    assert_eq!(v["tcp"]["outcome"], "failed", "{line}");
                    assert_eq!(v["tls"]["outcome"], "skipped", "{line}");
                }
            }
            Some("change") => changes.push(v["text"].as_str().unwrap_or("").to_string()),
            Some("full") => {
                fulls += 1;
                assert!(
                    ["healthy", "degraded", "failing"].contains(&v["verdict"].as_str().unwrap()),
                    "{line}"
                );
            }
            other => panic!("unexpected type {other:?}: {line}"),
        }
    }
    assert_eq!(samples.to_string(), CYCLES);
    assert!(fulls >= 2, "a full check every 2 s: {fulls}");
    assert!(
        changes.iter().any(|c| c == "listener down (refused)"),
        "{changes:?}"
    );
    assert!(changes.iter().any(|c| c.starts_with("certificate expired")));
    assert!(!text.contains(labproc_password()), "no secrets");
}

fn labproc_password() -> &'static str {
    "LabPass1!"
}

/// A tmux server of our own (`-L`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().is_ok();
        assert!(ok, "tmux is needed (installed by .ci/run)");
        Tmux {
            socket: format!(
                "rdp-doctor-watch-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ),
        }
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "w"])
    }

    fn keys(&self, k: &str) {
        self.cmd(&["send-keys", "-t", "w", k]);
    }

    /// Captures until `ok` holds (the screen updates at the sampling pace), or panics after
    /// `secs` with the last capture.
    fn wait_for(&self, secs: u64, what: &str, mut ok: impl FnMut(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.capture();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < end, "waited for {what}; the pane:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn header_samples(pane: &str) -> Option<u64> {
    let line = pane.lines().find(|l| l.contains("rdp-doctor watch"))?;
    let before = line.split(" samples").next()?;
    before.split_whitespace().last()?.parse().ok()
}

#[test]
fn live_view_in_a_real_terminal() {
    let lab = FlappingLab::start(FLAPPING);
    let tmux = Tmux::new();
    // After watch: its status, and whether the terminal is back in canonical (cooked) mode.
    let script = format!(
        "{BIN} watch --interval 0.5 --full-every 3 --timeout 3 --ca {} {}; \
         echo WATCH-EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 600",
        lab.ca(),
        lab.target()
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "w",
        "-x",
        "100",
        "-y",
        "30",
        "sh",
        "-c",
        &script,
    ]);
    // The timeline shows the listener going down and coming back, and the certificate
    // changing to an expired one. Entries scroll away as new ones come: collect across
    // captures.
    let mut seen = std::collections::BTreeSet::new();
    let wanted = [
        "listener down (refused)",
        "listener up",
        "certificate changed",
        "certificate expired (",
        "verdict: ",
    ];
    tmux.wait_for(90, "the flapping states", |s| {
        for w in wanted {
            if s.contains(w) {
                seen.insert(w);
            }
        }
        // "listener up" again after a refusal: a down line above an up line.
        let lines: Vec<&str> = s.lines().collect();
        let down = lines
            .iter()
            .position(|l| l.contains("listener down (refused)"));
        let up_after = down.is_some_and(|d| lines[d..].iter().any(|l| l.contains("listener up")));
        if up_after {
            seen.insert("up after down");
        }
        seen.len() == wanted.len() + 1
    });
    let pane = tmux.capture();
    assert!(pane.contains("q quit"), "{pane}");
    assert!(pane.lines().any(|l| l.contains("tcp")), "{pane}");
    // p pauses; r then resets the statistics, which stay at 0 while paused.
    tmux.keys("p");
    let before = tmux.wait_for(20, "PAUSED", |s| s.contains("PAUSED"));
    let n = header_samples(&before).expect("the header counts samples");
    assert!(n > 2, "{before}");
    tmux.keys("r");
    // (a sample already in flight when p was pressed may still come in)
    let s = tmux.wait_for(20, "the count reset", |s| {
        header_samples(s).is_some_and(|m| m <= 1)
    });
    assert!(s.contains("PAUSED"));
    // d shows the last full check's report.
    tmux.keys("d");
    tmux.wait_for(20, "the details", |s| {
        s.contains("last full check (d closes)")
    });
    tmux.keys("d");
    tmux.wait_for(20, "the details closed", |s| !s.contains("last full check"));
    // Up scrolls back in the timeline, Down forward again.
    for _ in 0..3 {
        tmux.keys("Up");
    }
    tmux.wait_for(20, "3 back", |s| s.contains("timeline (UTC), 3 back"));
    tmux.keys("Down");
    tmux.wait_for(20, "2 back", |s| s.contains("timeline (UTC), 2 back"));
    // A resize redraws at the new size: the boxes end at the new right edge, at 80x24.
    tmux.cmd(&["resize-window", "-t", "w", "-x", "80", "-y", "24"]);
    let small = tmux.wait_for(20, "the view redrawn at 80x24", |s| {
        s.lines()
            .any(|l| l.starts_with("┌ timeline") && l.ends_with('┐') && l.chars().count() == 80)
    });
    assert!(small.contains("q quit"), "{small}");
    assert!(small.lines().count() <= 24, "{small}");
    // p resumes sampling.
    tmux.keys("p");
    tmux.wait_for(20, "sampling again", |s| {
        !s.contains("PAUSED") && header_samples(s).is_some_and(|n| n > 0)
    });
    tmux.keys("q");
    let after = tmux.wait_for(30, "watch to exit", |s| s.contains("WATCH-EXIT="));
    let code = after
        .lines()
        .find_map(|l| l.strip_prefix("WATCH-EXIT="))
        .map(str::trim);
    assert_eq!(code, Some("2"), "worst state seen: the listener was down");
    // The terminal is restored: cooked mode again, the main screen, the UI gone.
    let after = tmux.wait_for(10, "stty", |s| {
        s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{after}"
    );
    assert!(
        !after.contains("q quit"),
        "the live view is still on screen:\n{after}"
    );
    let alt = tmux.cmd(&["display-message", "-p", "-t", "w", "#{alternate_on}"]);
    assert_eq!(alt.trim(), "0", "still on the alternate screen");
    let cursor = tmux.cmd(&["display-message", "-p", "-t", "w", "#{cursor_flag}"]);
    assert_eq!(cursor.trim(), "1", "the cursor is hidden");
}

#[test]
fn sigterm_restores_the_terminal() {
    let lab = FlappingLab::start("healthy:60s");
    let tmux = Tmux::new();
    let script = format!(
        "{BIN} watch --interval 0.5 --ca {} {}; echo WATCH-EXIT=$?; \
         stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 600",
        lab.ca(),
        lab.target()
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "w",
        "-x",
        "80",
        "-y",
        "24",
        "sh",
        "-c",
        &script,
    ]);
    tmux.wait_for(60, "the live view", |s| s.contains("listener up"));
    // The shell of the pane is ours; its one child is watch.
    let sh = tmux.cmd(&["display-message", "-p", "-t", "w", "#{pane_pid}"]);
    let pid = child_of(sh.trim()).expect("watch runs in the pane");
    // (the shell's kill: /bin/kill is not in every image)
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let after = tmux.wait_for(30, "watch to exit", |s| {
        s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(
        after.contains("WATCH-EXIT=0"),
        "healthy all along:\n{after}"
    );
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{after}"
    );
    let alt = tmux.cmd(&["display-message", "-p", "-t", "w", "#{alternate_on}"]);
    assert_eq!(alt.trim(), "0", "still on the alternate screen");
}

/// A child process of `parent`, from /proc (`pgrep` is not in every image).
fn child_of(parent: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}
