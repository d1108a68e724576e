//! A private xrdp 0.9.21 instance: `xrdp -n -c <private xrdp.ini>`, in its own
//! process group, no sesman (only needed for a login), `fork=false` (one thread per
//! connection, so the whole server is one process).
//!
//! xrdp reads `/etc/xrdp/rsakeys.ini`, `km-*.ini` and `xrdp_keyboard.ini` from a hard-coded
//! path; [`ensure_rsakeys`] creates the first one only when it is missing (the one write under
//! /etc/xrdp this harness allows itself).

use super::certs::{self, CertName};
use super::ports::free_port;
use super::process::{read_text, tail, wait_listening, GroupChild, StartError};
use super::tmp::TempDir;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// xrdp listens 16-110 ms after exec here; 5 s means something is wrong.
pub const READY_LIMIT: Duration = Duration::from_secs(5);
pub const RSAKEYS: &str = "/etc/xrdp/rsakeys.ini";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrdpConfig {
    /// `negotiate`, `tls` or `rdp`.
    pub security_layer: String,
    /// The certificate to serve; `None` points `certificate=`/`key_file=` at paths that do not
    /// exist, which makes xrdp answer RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER to TLS requests.
    pub cert: Option<CertName>,
    /// `ssl_protocols=` (e.g. `TLSv1.3` for a TLS-version-mismatch server); default
    /// `TLSv1.2, TLSv1.3` as in the packaged xrdp.ini.
    pub ssl_protocols: Option<String>,
    /// `crypt_level=` (`low|medium|high|fips`; Standard RDP Security only); default `high`.
    pub crypt_level: Option<String>,
    /// Listen address; default 127.0.0.1. IPv6 works (`tcp6://{::1}:PORT`).
    pub addr: Option<IpAddr>,
    /// Run as `ip netns exec NS xrdp ...` (the namespace must exist, with `lo` up).
    pub netns: Option<String>,
    /// A fixed port instead of one from the test range (e.g. 3389 inside a private network
    /// namespace, where nothing else listens; the range is checked on the host's loopback).
    pub port: Option<u16>,
}

impl Default for XrdpConfig {
    /// `negotiate` with the valid CA-signed certificate on 127.0.0.1.
    fn default() -> Self {
        XrdpConfig {
            security_layer: "negotiate".into(),
            cert: Some(CertName::Valid),
            ssl_protocols: None,
            crypt_level: None,
            addr: None,
            netns: None,
            port: None,
        }
    }
}

impl XrdpConfig {
    /// `security_layer` with the valid certificate and defaults otherwise.
    pub fn new(security_layer: &str) -> Self {
        XrdpConfig {
            security_layer: security_layer.into(),
            ..Default::default()
        }
    }

    pub fn cert(mut self, cert: Option<CertName>) -> Self {
        self.cert = cert;
        self
    }

    pub fn ssl_protocols(mut self, p: &str) -> Self {
        self.ssl_protocols = Some(p.into());
        self
    }

    pub fn crypt_level(mut self, c: &str) -> Self {
        self.crypt_level = Some(c.into());
        self
    }

    pub fn addr(mut self, a: IpAddr) -> Self {
        self.addr = Some(a);
        self
    }

    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }

    pub fn port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }

    fn validate(&self) -> Result<(), String> {
        if !["negotiate", "tls", "rdp"].contains(&self.security_layer.as_str()) {
            return Err(format!(
                "security_layer {:?}: expected negotiate|tls|rdp",
                self.security_layer
            ));
        }
        if let Some(c) = &self.crypt_level {
            if !["none", "low", "medium", "high", "fips"].contains(&c.as_str()) {
                return Err(format!("crypt_level {c:?}: expected low|medium|high|fips"));
            }
        }
        for v in [&self.ssl_protocols, &self.netns].into_iter().flatten() {
            if v.contains(['\n', '\r', '[']) {
                return Err(format!("{v:?} would break the ini file"));
            }
        }
        Ok(())
    }
}

/// Creates `/etc/xrdp/rsakeys.ini` with `xrdp-keygen` if (and only if) it is missing or empty.
pub fn ensure_rsakeys() -> Result<(), String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let present = std::fs::metadata(RSAKEYS).is_ok_and(|m| m.len() > 0);
    if present {
        return Ok(());
    }
    let out = Command::new("xrdp-keygen")
        .args(["xrdp", RSAKEYS])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run xrdp-keygen (is xrdp installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "xrdp-keygen xrdp {RSAKEYS} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A running private xrdp. Dropping it kills its process group and removes its directory.
#[derive(Debug)]
pub struct XrdpServer {
    child: GroupChild,
    addr: SocketAddr,
    startup: Duration,
    config: XrdpConfig,
    dir: TempDir,
}

fn ini(cfg: &XrdpConfig, addr: SocketAddr, dir: &Path) -> Result<String, String> {
    let (cert, key) = match cfg.cert {
        Some(name) => {
            let f = certs::try_files(name)?;
            (f.served().to_path_buf(), f.key.clone())
        }
        None => (
            dir.join("missing/no-such-cert.pem"),
            dir.join("missing/no-such-key.pem"),
        ),
    };
    let port = match addr.ip() {
        IpAddr::V4(ip) => format!("tcp://{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("tcp6://{{{ip}}}:{}", addr.port()),
    };
    let mut s = String::new();
    let w = &mut s;
    // `let _ =`: writing to a String cannot fail.
    let _ = writeln!(w, "[Globals]");
    let _ = writeln!(w, "fork=false");
    let _ = writeln!(w, "port={port}");
    let _ = writeln!(w, "security_layer={}", cfg.security_layer);
    let _ = writeln!(
        w,
        "crypt_level={}",
        cfg.crypt_level.as_deref().unwrap_or("high")
    );
    let _ = writeln!(w, "certificate={}", cert.display());
    let _ = writeln!(w, "key_file={}", key.display());
    let _ = writeln!(
        w,
        "ssl_protocols={}",
        cfg.ssl_protocols.as_deref().unwrap_or("TLSv1.2, TLSv1.3")
    );
    // The rest of [Globals] and [Channels] as in the Debian package's xrdp.ini: without
    // [Channels], xrdp grants no static channels and xfreerdp fails at the MCS channel join
    // ("requested 4 channels, got 0 instead").
    for line in [
        "ini_version=1",
        "tcp_nodelay=true",
        "tcp_keepalive=true",
        "allow_channels=true",
        "allow_multimon=true",
        "bitmap_cache=true",
        "bitmap_compression=true",
        "bulk_compression=true",
        "max_bpp=32",
        "new_cursors=true",
        "use_fastpath=both",
    ] {
        let _ = writeln!(w, "{line}");
    }
    let _ = writeln!(w, "[Logging]");
    let _ = writeln!(w, "LogFile={}", dir.join("xrdp.log").display());
    let _ = writeln!(w, "LogLevel=DEBUG");
    let _ = writeln!(w, "EnableSyslog=false");
    let _ = writeln!(w, "EnableConsole=false");
    let _ = writeln!(w, "[Channels]");
    for ch in [
        "rdpdr", "rdpsnd", "drdynvc", "cliprdr", "rail", "xrdpvr", "tcutils",
    ] {
        let _ = writeln!(w, "{ch}=true");
    }
    // A session type must exist for the login screen; it is never reached.
    let _ = writeln!(w, "[Xvnc]");
    let _ = writeln!(w, "name=Xvnc");
    let _ = writeln!(w, "lib=libvnc.so");
    let _ = writeln!(w, "username=ask");
    let _ = writeln!(w, "password=ask");
    let _ = writeln!(w, "ip=127.0.0.1");
    let _ = writeln!(w, "port=-1");
    Ok(s)
}

impl XrdpServer {
    /// Writes the private ini, starts xrdp and waits until it listens. The error says why, with
    /// the xrdp log. If another program took the port between allocation and bind, it retries
    /// on a new port (twice).
    pub fn start(config: XrdpConfig) -> Result<XrdpServer, String> {
        config.validate()?;
        ensure_rsakeys()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&config) {
                Err(StartError::PortTaken(e)) if attempt < 3 => {
                    eprintln!("xrdp: port taken, retrying on another: {}", tail(&e, 200));
                }
                Err(StartError::PortTaken(e) | StartError::Other(e)) => return Err(e),
                Ok(s) => return Ok(s),
            }
        }
    }

    fn start_once(config: &XrdpConfig) -> Result<XrdpServer, StartError> {
        let ip = config.addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = match config.port {
            Some(p) => p,
            None => free_port()?,
        };
        let addr = SocketAddr::new(ip, port);
        let dir = TempDir::new(&format!("xrdp-{}-{port}", config.security_layer))?;
        let ini_path = dir.write("xrdp.ini", ini(config, addr, dir.path())?.as_bytes())?;
        let console = std::fs::File::create(dir.join("console.log"))
            .map_err(|e| format!("console log: {e}"))?;
        let console2 = console.try_clone().map_err(|e| format!("dup: {e}"))?;

        let mut cmd = match &config.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "xrdp"]);
                c
            }
            None => Command::new("xrdp"),
        };
        cmd.arg("-n")
            .arg("-c")
            .arg(&ini_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console2);
        let t0 = Instant::now();
        let mut child = GroupChild::spawn(&format!("xrdp {addr}"), cmd)?;
        let ready = wait_listening(&mut child, addr, READY_LIMIT);
        let startup = t0.elapsed();
        match ready {
            Ok(_) => Ok(XrdpServer {
                child,
                addr,
                startup,
                config: config.clone(),
                dir,
            }),
            Err(e) => {
                child.stop();
                let log = read_text(&dir.join("xrdp.log"));
                let msg = format!(
                    "{e}\nconfig: {config:?}\n--- xrdp.log ---\n{}\n--- console ---\n{}\n--- xrdp.ini ---\n{}",
                    tail(&log, 4000),
                    tail(&read_text(&dir.join("console.log")), 2000),
                    read_text(&ini_path),
                );
                // xrdp logs this and exits 1 when the bind fails.
                if log.contains("trans_listen_address failed") {
                    Err(StartError::PortTaken(msg))
                } else {
                    Err(StartError::Other(msg))
                }
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> IpAddr {
        self.addr.ip()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn config(&self) -> &XrdpConfig {
        &self.config
    }

    /// Time from exec until the listening socket appeared.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The xrdp log so far (`LogLevel=DEBUG`).
    pub fn log(&self) -> String {
        read_text(&self.dir.join("xrdp.log"))
    }

    /// stdout/stderr of the xrdp process (normally empty).
    pub fn console(&self) -> String {
        read_text(&self.dir.join("console.log"))
    }

    /// Polls the log until it contains `needle` (xrdp logs from its connection thread, so a
    /// line may land a moment after the client saw the answer).
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if t0.elapsed() > limit {
                return false;
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_status().is_none()
    }

    /// The directory holding xrdp.ini and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Starts several servers concurrently (one thread each); results in input order.
pub fn start_many(configs: Vec<XrdpConfig>) -> Vec<Result<XrdpServer, String>> {
    let handles: Vec<_> = configs
        .into_iter()
        .map(|c| std::thread::spawn(move || XrdpServer::start(c)))
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("xrdp start thread panicked".into()))
        })
        .collect()
}

/// The certificate a server with `cfg` serves, if any (for assertions).
pub fn served_cert(cfg: &XrdpConfig) -> Option<&'static Path> {
    cfg.cert
        .and_then(|n| certs::try_files(n).ok())
        .map(|f| f.served())
}
