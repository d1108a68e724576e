//! Xvfb, needed by the FreeRDP shadow server and by xfreerdp (even for `/help`).
//!
//! One Xvfb is shared by everything that runs at the same time: [`shared`] hands out an `Arc`
//! and the server is killed when the last holder drops it, so none is left after the tests.
//! It runs with `-noreset`: without it, Xvfb regenerates when its last client disconnects and a
//! client connecting during that moment gets ECONNRESET — seen here as freerdp-shadow-cli's
//! intermittent "failed to open display" (its second XOpenDisplay right after closing the first).

use super::ports::next_display;
use super::process::{read_text, tail, GroupChild};
use super::tmp::TempDir;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long Xvfb may take to answer `xset q` (80-180 ms measured).
pub const READY_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Xvfb {
    // Field order = drop order: the process dies before its directory goes.
    child: GroupChild,
    display: u32,
    startup: Duration,
    dir: TempDir,
}

impl Xvfb {
    /// Starts a private Xvfb on a free display of the configured range.
    pub fn start() -> Result<Xvfb, String> {
        let mut errors = Vec::new();
        for _ in 0..4 {
            let display = next_display()?;
            match Self::start_on(display) {
                Ok(x) => return Ok(x),
                Err(e) => errors.push(e),
            }
        }
        Err(format!("Xvfb did not start:\n{}", errors.join("\n")))
    }

    fn start_on(display: u32) -> Result<Xvfb, String> {
        let dir = TempDir::new(&format!("xvfb{display}"))?;
        let log_path = dir.join("xvfb.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("xvfb log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut cmd = Command::new("Xvfb");
        cmd.arg(format!(":{display}"))
            .args([
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let t0 = Instant::now();
        let mut child = GroupChild::spawn(&format!("Xvfb :{display}"), cmd)?;
        loop {
            if let Some(st) = child.try_status() {
                return Err(format!(
                    "Xvfb :{display} exited ({st}):\n{}",
                    tail(&read_text(&log_path), 2000)
                ));
            }
            // The lock file names the server's pid: make sure `xset` reached ours, not
            // another X server that took the display in between.
            if lock_owner(display) == Some(child.pid()) && xset_ok(display) {
                break;
            }
            if t0.elapsed() > READY_LIMIT {
                return Err(format!(
                    "Xvfb :{display} not answering `xset q` after {READY_LIMIT:?}:\n{}",
                    tail(&read_text(&log_path), 2000)
                ));
            }
            sleep(Duration::from_millis(20));
        }
        Ok(Xvfb {
            child,
            display,
            startup: t0.elapsed(),
            dir,
        })
    }

    /// The display number (`DISPLAY=:N`).
    pub fn display(&self) -> u32 {
        self.display
    }

    /// The value for `DISPLAY`.
    pub fn display_env(&self) -> String {
        format!(":{}", self.display)
    }

    /// Time from exec to the first successful `xset q`.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn log(&self) -> String {
        read_text(&self.dir.join("xvfb.log"))
    }
}

fn lock_owner(display: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/tmp/.X{display}-lock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn xset_ok(display: u32) -> bool {
    Command::new("xset")
        .arg("q")
        .env("DISPLAY", format!(":{display}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Xvfb shared by the tests running now; started on demand.
pub fn shared() -> Result<Arc<Xvfb>, String> {
    static SHARED: Mutex<Weak<Xvfb>> = Mutex::new(Weak::new());
    let mut slot = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(x) = slot.upgrade() {
        return Ok(x);
    }
    let x = Arc::new(Xvfb::start()?);
    *slot = Arc::downgrade(&x);
    Ok(x)
}
