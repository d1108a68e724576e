//! Network namespaces for network-path tests (root only): `ip netns add`, `lo` up, deleted on
//! drop. Servers go in with `XrdpConfig::netns`, clients with `ToolOpts::netns`.
//!
//! Names are `rdpd<pid>n<k>` ([`NetNs::create`]) or `<prefix><pid>n<k>`
//! ([`NetNs::create_with_prefix`], e.g. `rdn` for the path lab). Namespaces of dead test
//! processes (and their `/etc/netns/<name>` directories) are deleted by the next create;
//! processes left inside them are killed by the owner-tag reaper (see `process.rs`).

use super::process::proc_stat;
use super::require_root;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

#[derive(Debug)]
pub struct NetNs {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn delete_stale_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let Some(pid) = PREFIXES.iter().find_map(|p| {
                name.strip_prefix(p)
                    .and_then(|r| r.split_once('n'))
                    .and_then(|(pid, _)| pid.parse::<u32>().ok())
            }) else {
                continue;
            };
            if pid != std::process::id() && proc_stat(pid).is_none() {
                let _ = ip(&["netns", "delete", name]);
                let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
            }
        }
    });
}

/// Name prefixes of the namespaces this harness creates (stale ones are cleaned up).
pub const PREFIXES: [&str; 2] = ["rdpd", "rdn"];

impl NetNs {
    /// Creates a fresh namespace with `lo` up. Panics (via [`require_root`]) without root.
    pub fn create() -> Result<NetNs, String> {
        Self::create_with_prefix("rdpd")
    }

    /// Like [`NetNs::create`], named `<prefix><pid>n<k>`; `prefix` must be one of [`PREFIXES`].
    pub fn create_with_prefix(prefix: &str) -> Result<NetNs, String> {
        require_root();
        if !PREFIXES.contains(&prefix) {
            return Err(format!(
                "namespace prefix {prefix:?} is not one of {PREFIXES:?}"
            ));
        }
        delete_stale_once();
        static K: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}{}n{}",
            std::process::id(),
            K.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...` (e.g. to add addresses or routes).
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "delete", &self.name]);
    }
}
