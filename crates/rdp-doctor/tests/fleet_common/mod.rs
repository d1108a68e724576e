//! Shared by the fleet integration tests: a lab process serving several faults on
//! kernel-chosen loopback ports, a temp dir, and a minimal HTTP client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

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
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rdp-doctor lab` with one endpoint per fault; killed (and reaped) on drop.
pub struct Lab {
    child: Child,
    /// fault name -> port (the last one, when a fault is served more than once)
    pub ports: HashMap<String, u16>,
    /// every endpoint, in the order reported
    pub all: Vec<(String, u16)>,
    pub dir: TempDir,
}

impl Lab {
    pub fn start(faults: &[&str]) -> Lab {
        let dir = TempDir::new("fleet-lab");
        let mut cmd = Command::new(BIN);
        cmd.arg("lab");
        for f in faults {
            cmd.args(["--listen", "127.0.0.1:0", "--fault", f]);
        }
        let mut child = cmd
            .arg("--quiet")
            .arg("--ca-out")
            .arg(dir.path("ca.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lab starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // lab listening on 127.0.0.1:PORT (tcp+udp, loopback only): FAULT - ...
                if let Some(rest) = line.strip_prefix("lab listening on 127.0.0.1:") {
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
                    let _ = tx.send((fault, port));
                }
            }
        });
        let mut ports = HashMap::new();
        let mut all = Vec::new();
        while all.len() < faults.len() {
            let (f, p) = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("lab reports its ports");
            ports.insert(f.clone(), p);
            all.push((f, p));
        }
        Lab {
            child,
            ports,
            all,
            dir,
        }
    }

    pub fn target(&self, fault: &str) -> String {
        format!("127.0.0.1:{}", self.ports[fault])
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET (or raw request bytes); returns status, headers and body.
pub fn http_raw(addr: &str, request: &[u8]) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn http_get(addr: &str, path: &str, extra_headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let (status, _, body) = http_raw(addr, req.as_bytes());
    (status, body)
}

/// The value of an unlabelled or exactly-labelled sample in a Prometheus text body.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == series).then(|| v.parse().ok()).flatten()
    })
}

/// `rdp-doctor serve` on a kernel-chosen loopback port; killed on drop.
pub struct Exporter {
    child: Child,
    pub addr: String,
}

impl Exporter {
    pub fn start(config: &std::path::Path) -> Exporter {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("rdp-doctor exporter listening on http://") {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(Ok(addr));
                } else {
                    let _ = tx.send(Err(line));
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(a)) => a,
            Ok(Err(line)) => panic!("serve did not start: {line}"),
            Err(e) => panic!("serve did not start: {e}"),
        };
        Exporter { child, addr }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
