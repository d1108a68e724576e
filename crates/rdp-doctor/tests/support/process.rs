//! Child processes that live in their own process group, are found again after a crashed run,
//! and are killed as a whole group.
//!
//! Why process groups: a server child stuck in `SSL_accept` (e.g. behind an MTU blackhole)
//! ignores SIGTERM, and `xrdp` children outlive a killed parent. Each server is
//! started with `process_group(0)`, so its pid is its pgid, and `kill -- -PGID` reaches all of it.
//!
//! Why the owner tag: PID 1 on this machine does not reap orphans and a test process killed by
//! SIGKILL cannot run destructors. Every child gets `RDP_DOCTOR_TEST_OWNER=<pid>:<starttime>` in
//! its environment; the first spawn of a later run kills tagged processes whose owner is gone.

use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Environment variable that marks processes started by this harness.
pub const OWNER_ENV: &str = "RDP_DOCTOR_TEST_OWNER";

/// How long a group gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(1500);

/// `<pid>:<starttime>` of this test process: the pid alone could be reused.
pub fn owner_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let pid = std::process::id();
        let start = proc_stat(pid).map(|s| s.starttime).unwrap_or(0);
        format!("{pid}:{start}")
    })
}

/// Whether the process that wrote `token` (see [`owner_token`]) still runs.
pub fn owner_alive(token: &str) -> bool {
    let Some((pid, start)) = token.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    proc_stat(pid).is_some_and(|s| s.starttime == start && s.state != 'Z')
}

/// The few fields of `/proc/PID/stat` the harness needs.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    pub state: char,
    pub pgrp: u32,
    pub starttime: u64,
}

pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let after = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime).
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
    })
}

/// Pids of the live (not zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            proc_stat(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        })
        .collect()
}

/// Sends `signal` (e.g. "TERM") to every process of group `pgid`. No libc in this crate and
/// unsafe code is denied, so this runs the `kill` program.
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills processes left behind by an earlier test process that died without cleaning up (once
/// per test process). Only processes carrying [`OWNER_ENV`] with a dead owner are touched.
pub fn reap_stale_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(dir) = fs::read_dir("/proc") else {
            return;
        };
        let needle = format!("{OWNER_ENV}=");
        for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            let owner = env
                .split(|&b| b == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok())
                .find_map(|kv| kv.strip_prefix(needle.as_str()).map(str::to_owned));
            if let Some(owner) = owner {
                if owner != owner_token() && !owner_alive(&owner) {
                    let _ = Command::new("kill")
                        .args(["-s", "KILL", &pid.to_string()])
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    });
}

/// A child process that is the leader of its own process group. Dropping it kills the group
/// (TERM, then KILL after [`TERM_GRACE`]) and reaps the child.
#[derive(Debug)]
pub struct GroupChild {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl GroupChild {
    /// Spawns `cmd` as a new process group, tagged with the owner token. The caller sets up
    /// stdio; stdin defaults to null here.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Self, String> {
        reap_stale_once();
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        cmd.env(OWNER_ENV, owner_token());
        let child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot start {:?}: {e}", cmd.get_program()))?;
        Ok(GroupChild {
            name: name.to_owned(),
            child,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status if the child has exited (it is reaped then).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status
    }

    /// Waits for the child to exit on its own, up to `limit`; kills the group when the limit
    /// passes. Returns the status and whether the limit was hit.
    pub fn wait_timeout(&mut self, limit: Duration) -> (Option<ExitStatus>, bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.try_status() {
                // The leader is gone; stragglers in its group are killed too.
                self.stop();
                return (Some(st), false);
            }
            sleep(Duration::from_millis(10));
        }
        self.stop();
        (self.status, true)
    }

    /// Kills the whole group and reaps the child. Idempotent.
    pub fn stop(&mut self) {
        let pgid = self.child.id();
        // The unreaped leader keeps its pid reserved, so the pgid cannot have been reused yet.
        if !group_members(pgid).is_empty() {
            signal_group(pgid, "TERM");
            let deadline = Instant::now() + TERM_GRACE;
            while Instant::now() < deadline && !group_members(pgid).is_empty() {
                sleep(Duration::from_millis(10));
            }
            if !group_members(pgid).is_empty() {
                signal_group(pgid, "KILL");
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && !group_members(pgid).is_empty() {
                    sleep(Duration::from_millis(10));
                }
            }
        }
        if self.status.is_none() {
            if let Ok(st) = self.child.wait() {
                self.status = Some(st);
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    dir.filter_map(|e| {
        let target = fs::read_link(e.ok()?.path()).ok()?;
        let s = target.to_str()?;
        s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
}

/// Parses a `/proc/net/tcp{,6}` local address (`0100007F:AB7C`): the address is printed as
/// native-endian 32-bit words.
pub fn parse_proc_addr(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::from(u32::from_str_radix(addr, 16).ok()?.to_ne_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether process `pid` itself holds a TCP socket listening on exactly `addr`. Reads
/// `/proc/PID/net/tcp*`, which shows the network namespace of `pid`, so this also works for a
/// server started with `ip netns exec` — and it makes no connection the server would log.
pub fn listens_on(pid: u32, addr: SocketAddr) -> bool {
    let table = if addr.is_ipv4() { "tcp" } else { "tcp6" };
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
        return false;
    };
    let mut listening = HashSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
            continue;
        };
        if *state == "0A" && parse_proc_addr(local) == Some(addr) {
            if let Ok(inode) = inode.parse::<u64>() {
                listening.insert(inode);
            }
        }
    }
    !listening.is_empty() && !listening.is_disjoint(&socket_inodes(pid))
}

/// Polls until `child` listens on `addr`; fails early when it exits. Returns the time waited.
pub fn wait_listening(
    child: &mut GroupChild,
    addr: SocketAddr,
    limit: Duration,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        if listens_on(child.pid(), addr) {
            return Ok(t0.elapsed());
        }
        if let Some(st) = child.try_status() {
            return Err(format!(
                "{} exited ({st}) before listening on {addr}",
                child.name()
            ));
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "{} did not listen on {addr} within {limit:?}",
                child.name()
            ));
        }
        sleep(Duration::from_millis(5));
    }
}

/// Why one server start attempt failed: losing the race for a port to another program (between
/// allocation and the server's bind) is retried on a new port; anything else is reported.
#[derive(Debug)]
pub enum StartError {
    PortTaken(String),
    Other(String),
}

impl From<String> for StartError {
    fn from(e: String) -> Self {
        StartError::Other(e)
    }
}

/// A file's text (lossy), or a note saying why it could not be read.
pub fn read_text(path: &Path) -> String {
    match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// The last `max` bytes of `text` (on a char boundary), for error messages.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or(text)
}
