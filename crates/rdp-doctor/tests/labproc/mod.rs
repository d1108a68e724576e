//! `rdp-doctor lab` as a child process for the integration tests: one endpoint per fault on
//! kernel-chosen loopback ports, the lab CA written to a temp dir, the lab's log kept, and
//! the process killed and reaped on drop. Portable (std only): the tests that use it also run
//! under Wine (`.ci/windows`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "rdp-doctor-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Lab {
    child: Child,
    /// The first endpoint's port (the only one for a one-fault lab).
    pub port: u16,
    /// fault name -> port (the last one, when a fault is served more than once).
    pub ports: HashMap<String, u16>,
    /// Every endpoint, in the order the lab reported them.
    pub all: Vec<(String, u16)>,
    /// gateway fault name -> port of the lab RD Gateways (`Lab::with_gateways`).
    pub gateways: HashMap<String, u16>,
    pub dir: TempDir,
    log: Arc<Mutex<String>>,
}

impl Lab {
    /// A lab with one endpoint per fault; `quiet` turns off the per-connection log.
    pub fn start_with(faults: &[&str], quiet: bool) -> Lab {
        Lab::spawn(faults, &[], quiet)
    }

    /// A lab with one RDP endpoint per fault and one lab RD Gateway per gateway fault.
    pub fn with_gateways(faults: &[&str], gateway_faults: &[&str]) -> Lab {
        Lab::spawn(faults, gateway_faults, false)
    }

    fn spawn(faults: &[&str], gateway_faults: &[&str], quiet: bool) -> Lab {
        let dir = TempDir::new("lab");
        let mut cmd = Command::new(BIN);
        cmd.arg("lab");
        for f in faults {
            cmd.args(["--listen", "127.0.0.1:0", "--fault", f]);
        }
        for f in gateway_faults {
            cmd.args(["--gateway", "127.0.0.1:0", "--gateway-fault", f]);
        }
        if quiet {
            cmd.arg("--quiet");
        }
        let mut child = cmd
            .arg("--ca-out")
            .arg(dir.path("ca.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lab starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let log2 = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // lab listening on 127.0.0.1:PORT (tcp+udp, loopback only): FAULT - ...
                // lab gateway listening on 127.0.0.1:PORT (https, loopback only): FAULT - ...
                for (prefix, gateway) in [
                    ("lab listening on 127.0.0.1:", false),
                    ("lab gateway listening on 127.0.0.1:", true),
                ] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let port: u16 = rest
                            .split_whitespace()
                            .next()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0);
                        let fault = rest
                            .split_once("): ")
                            .and_then(|(_, f)| f.split(' ').next())
                            .unwrap_or("")
                            .to_string();
                        let _ = tx.send((gateway, fault, port));
                    }
                }
                if let Ok(mut l) = log2.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let mut ports = HashMap::new();
        let mut all = Vec::new();
        let mut gateways = HashMap::new();
        let mut gateways_seen = 0;
        while all.len() < faults.len() || gateways_seen < gateway_faults.len() {
            let (gateway, f, p) = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("lab reports its ports");
            if gateway {
                gateways.insert(f, p);
                gateways_seen += 1;
            } else {
                ports.insert(f.clone(), p);
                all.push((f, p));
            }
        }
        Lab {
            child,
            port: all.first().map(|(_, p)| *p).unwrap_or(0),
            ports,
            all,
            gateways,
            dir,
            log,
        }
    }

    pub fn start(faults: &[&str]) -> Lab {
        Lab::start_with(faults, false)
    }

    /// A lab serving one fault.
    pub fn one(fault: &str) -> Lab {
        Lab::start(&[fault])
    }

    /// `127.0.0.1:PORT` of the endpoint serving `fault`.
    pub fn target(&self, fault: &str) -> String {
        format!("127.0.0.1:{}", self.ports.get(fault).copied().unwrap_or(0))
    }

    /// The lab CA certificate (PEM), for `check --ca`.
    pub fn ca(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }

    /// What the lab logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
