//! The FreeRDP 2.11 shadow server under Xvfb: real NLA (CredSSP/NTLM against a
//! SAM file), or TLS-only, or Standard RDP Security only.
//!
//! `HOME=<temp> DISPLAY=:N freerdp-shadow-cli /bind-address:127.0.0.1 /port:P /sam-file:SAM
//! /sec:nla|tls|rdp`. The certificate is read from `$HOME/.config/freerdp/shadow/shadow.{crt,key}`;
//! without one the server generates a self-signed `CN=<hostname>` pair on start (0.3-1.3 s).
//! Note `/sec:ext` (HYBRID_EX) is broken in 2.11: every request gets SSL_REQUIRED_BY_SERVER.

use super::certs::{self, CertName};
use super::ports::free_port;
use super::process::{read_text, tail, wait_listening, GroupChild, StartError};
use super::tmp::TempDir;
use super::xvfb::{self, Xvfb};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The lab's NLA user (a test credential, not a secret).
pub const LAB_USER: &str = "labuser";
pub const LAB_PASSWORD: &str = "LabPass1!";
/// Second lab user, with a domain: `LAB\labuser2` / `Other2@`.
pub const LAB_USER2: (&str, &str, &str) = ("labuser2", "LAB", "Other2@");

/// 60-120 ms with a given certificate, up to 1.3 s when it makes its own.
pub const READY_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowConfig {
    /// `nla`, `tls`, `rdp` (or `ext`, which is broken in 2.11).
    pub sec: String,
    /// Certificate copied to `$HOME/.config/freerdp/shadow/`; `None` lets the server generate
    /// its own self-signed one.
    pub cert: Option<CertName>,
    /// SAM entries: (user, domain, password); domain may be empty.
    pub users: Vec<(String, String, String)>,
    /// More command-line options, e.g. `+auth`.
    pub extra_args: Vec<String>,
    /// The program: `freerdp-shadow-cli` (FreeRDP 2.11) or `freerdp-shadow-cli3` (FreeRDP 3,
    /// which accepts Kerberos with `/keytab:`; see `krb`).
    pub program: String,
    /// More environment (`KRB5_CONFIG` for the FreeRDP 3 server's MIT library).
    pub env: Vec<(String, String)>,
    /// Start without `/sam-file`: no NTLM account at all (NTLM refused for everyone).
    pub no_sam: bool,
}

impl Default for ShadowConfig {
    /// `/sec:nla` with the valid certificate and the lab user.
    fn default() -> Self {
        ShadowConfig {
            sec: "nla".into(),
            cert: Some(CertName::Valid),
            users: vec![(LAB_USER.into(), String::new(), LAB_PASSWORD.into())],
            extra_args: Vec::new(),
            program: "freerdp-shadow-cli".into(),
            env: Vec::new(),
            no_sam: false,
        }
    }
}

impl ShadowConfig {
    pub fn new(sec: &str) -> Self {
        ShadowConfig {
            sec: sec.into(),
            ..Default::default()
        }
    }

    pub fn cert(mut self, cert: Option<CertName>) -> Self {
        self.cert = cert;
        self
    }

    pub fn user(mut self, user: &str, domain: &str, password: &str) -> Self {
        self.users
            .push((user.into(), domain.into(), password.into()));
        self
    }

    /// Run another shadow server program (`freerdp-shadow-cli3`: FreeRDP 3).
    pub fn program(mut self, b: &str) -> Self {
        self.program = b.into();
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.extra_args.push(a.into());
        self
    }
}

/// NT hash (MD4 of the UTF-16LE password, [MS-NLMP] 3.3.1 NTOWFv1) as lowercase hex, computed by
/// `openssl dgst -md4` with the legacy provider; the password goes through stdin, not argv.
pub fn nt_hash(password: &str) -> Result<String, String> {
    let utf16: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut child = Command::new("openssl")
        .args([
            "dgst",
            "-md4",
            "-r",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&utf16)
            .map_err(|e| format!("openssl stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("openssl md4: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().next().unwrap_or("");
    if !out.status.success() || hex.len() != 32 {
        return Err(format!(
            "openssl dgst -md4 failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// One SAM line, `user:domain:LMhash:NThash:::` (LM left empty, as winpr-hash does).
pub fn sam_line(user: &str, domain: &str, password: &str) -> Result<String, String> {
    Ok(format!("{user}:{domain}::{}:::\n", nt_hash(password)?))
}

/// A running shadow server. Dropping it kills its group, then releases its Xvfb.
#[derive(Debug)]
pub struct ShadowServer {
    // Field order = drop order.
    child: GroupChild,
    xvfb: Arc<Xvfb>,
    addr: SocketAddr,
    startup: Duration,
    config: ShadowConfig,
    dir: TempDir,
}

impl ShadowServer {
    /// Starts the server (and the shared Xvfb if needed) and waits until it listens; retries on
    /// a new port (twice) if another program took the port first.
    pub fn start(config: ShadowConfig) -> Result<ShadowServer, String> {
        if !["nla", "tls", "rdp", "ext"].contains(&config.sec.as_str()) {
            return Err(format!("sec {:?}: expected nla|tls|rdp|ext", config.sec));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&config) {
                Err(StartError::PortTaken(e)) if attempt < 3 => {
                    eprintln!("shadow: port taken, retrying on another: {}", tail(&e, 200));
                }
                Err(StartError::PortTaken(e) | StartError::Other(e)) => return Err(e),
                Ok(s) => return Ok(s),
            }
        }
    }

    fn start_once(config: &ShadowConfig) -> Result<ShadowServer, StartError> {
        let xvfb = xvfb::shared()?;
        let port = free_port()?;
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let dir = TempDir::new(&format!("shadow-{}-{port}", config.sec))?;
        let home = dir.join("home");
        let cert_dir = home.join(".config/freerdp/shadow");
        std::fs::create_dir_all(&cert_dir).map_err(|e| format!("mkdir: {e}"))?;
        if let Some(name) = config.cert {
            let f = certs::try_files(name)?;
            std::fs::copy(f.served(), cert_dir.join("shadow.crt"))
                .map_err(|e| format!("copy cert: {e}"))?;
            std::fs::copy(&f.key, cert_dir.join("shadow.key"))
                .map_err(|e| format!("copy key: {e}"))?;
        }
        let mut sam = String::new();
        for (user, domain, password) in &config.users {
            sam.push_str(&sam_line(user, domain, password)?);
        }
        let sam_path = dir.write("SAM", sam.as_bytes())?;
        let sam_arg = (!config.no_sam).then(|| format!("/sam-file:{}", sam_path.display()));
        let log = std::fs::File::create(dir.join("shadow.log"))
            .map_err(|e| format!("shadow log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("dup: {e}"))?;

        // stdbuf: WLog writes with stdio, which a file would otherwise block-buffer until exit.
        let mut cmd = Command::new("stdbuf");
        cmd.args(["-oL", "-eL", &config.program])
            .arg(format!("/bind-address:{}", addr.ip()))
            .arg(format!("/port:{port}"))
            .args(sam_arg)
            .arg(format!("/sec:{}", config.sec))
            .args(&config.extra_args)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", &home)
            .env("DISPLAY", xvfb.display_env())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let t0 = Instant::now();
        let mut child = GroupChild::spawn(&format!("{} {addr}", config.program), cmd)?;
        let ready = wait_listening(&mut child, addr, READY_LIMIT);
        let startup = t0.elapsed();
        match ready {
            Ok(_) => Ok(ShadowServer {
                child,
                xvfb,
                addr,
                startup,
                config: config.clone(),
                dir,
            }),
            Err(e) => {
                child.stop();
                let log = read_text(&dir.join("shadow.log"));
                let msg = format!(
                    "{e}\nconfig: sec={} cert={:?} users={:?} extra={:?} DISPLAY={}\n--- shadow log ---\n{}",
                    config.sec,
                    config.cert,
                    config.users.iter().map(|u| &u.0).collect::<Vec<_>>(),
                    config.extra_args,
                    xvfb.display_env(),
                    tail(&log, 4000),
                );
                if log.contains("Problem creating TCP listener") {
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

    pub fn config(&self) -> &ShadowConfig {
        &self.config
    }

    /// Time from exec until the listening socket appeared (Xvfb start not included).
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The Xvfb the server captures (shared; also usable as `DISPLAY` for xfreerdp).
    pub fn xvfb(&self) -> &Arc<Xvfb> {
        &self.xvfb
    }

    /// The server's WLog output so far (stdout and stderr, line-buffered).
    pub fn log(&self) -> String {
        read_text(&self.dir.join("shadow.log"))
    }

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

    /// The certificate the server presents: the lab file, or the one it generated in HOME.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("home/.config/freerdp/shadow/shadow.crt")
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_status().is_none()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
