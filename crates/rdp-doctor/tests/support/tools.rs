//! Third-party reference tools the lab and rdp-doctor are cross-checked against: xfreerdp 2.11
//! and nmap 7.93. Each run is wrapped in `timeout` (xfreerdp has none for
//! a stalled TLS handshake or a missing X.224 answer), gets stdin from /dev/null, and has its
//! stdout+stderr captured in order.
//!
//! xfreerdp exit codes (FreeRDP client/X11/xfreerdp.h, enum XF_EXIT_CODE): 0 ok, 131 CONN_FAILED, 133 NEGO_FAILURE,
//! 136 PRE_CONNECT_FAILED, 140 DNS_NAME_NOT_FOUND, 141 CONNECT_FAILED, 143 TLS_CONNECT_FAILED,
//! 147 CONNECT_TRANSPORT_FAILED; 124 = killed by `timeout`.

use super::process::{read_text, GroupChild};
use super::tmp::TempDir;
use super::xvfb;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a tool run produced.
#[derive(Debug, Clone)]
pub struct ToolRun {
    /// The command line, with any `/p:` password replaced by `***`.
    pub command: String,
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    /// Whether `timeout` had to stop it (exit 124, or 137 after `--kill-after`).
    pub timed_out: bool,
    /// stdout and stderr interleaved as written.
    pub output: String,
    pub elapsed: Duration,
}

impl ToolRun {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A one-line summary plus the output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` -> exit {:?}{} in {:.2?}\n{}",
            self.command,
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.elapsed,
            self.output
        )
    }
}

/// Options shared by the tool runners.
#[derive(Debug, Clone, Default)]
pub struct ToolOpts {
    /// Hard limit (default 30 s).
    pub timeout: Option<Duration>,
    /// Extra environment, e.g. `SSL_CERT_FILE` to trust the lab CA.
    pub env: Vec<(String, String)>,
    /// Run inside `ip netns exec NS`.
    pub netns: Option<String>,
}

fn redact(arg: &str) -> String {
    if arg.starts_with("/p:") || arg.starts_with("/password:") || arg.starts_with("/gp:") {
        let key = arg.split(':').next().unwrap_or("/p");
        format!("{key}:***")
    } else if let Some(rest) = arg.strip_prefix("/gateway:") {
        // FreeRDP 3's /gateway:g:...,u:...,p:PASSWORD,...
        let parts: Vec<String> = rest
            .split(',')
            .map(|p| {
                if p.starts_with("p:") {
                    "p:***".to_owned()
                } else {
                    p.to_owned()
                }
            })
            .collect();
        format!("/gateway:{}", parts.join(","))
    } else {
        arg.to_owned()
    }
}

/// Runs `program args` under `timeout`, in its own process group, in `dir`, with `env`.
fn run(
    program: &str,
    args: &[String],
    dir: &TempDir,
    env: &[(String, String)],
    opts: &ToolOpts,
) -> Result<ToolRun, String> {
    let limit = opts.timeout.unwrap_or(Duration::from_secs(30));
    let out_path = dir.join("output.txt");
    let out = std::fs::File::create(&out_path).map_err(|e| format!("tool output: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("dup: {e}"))?;

    let mut argv: Vec<String> = Vec::new();
    if let Some(ns) = &opts.netns {
        argv.extend(["ip", "netns", "exec", ns.as_str()].map(String::from));
    }
    argv.extend(
        [
            "timeout".to_owned(),
            "--kill-after=2".to_owned(),
            format!("{}", limit.as_secs().max(1)),
            "stdbuf".to_owned(),
            "-oL".to_owned(),
            "-eL".to_owned(),
            program.to_owned(),
        ]
        .into_iter()
        .chain(args.iter().cloned()),
    );
    let command = args
        .iter()
        .map(|a| redact(a))
        .fold(program.to_owned(), |acc, a| acc + " " + &a);

    let (first, rest) = argv.split_first().ok_or("empty argv")?;
    let mut cmd = Command::new(first);
    cmd.args(rest)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (k, v) in env.iter().chain(opts.env.iter()) {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = GroupChild::spawn(program, cmd)?;
    // Backstop in case `timeout` itself hangs; kills the whole group.
    let (status, hit_backstop) = child.wait_timeout(limit + Duration::from_secs(5));
    let elapsed = t0.elapsed();
    let code = status.and_then(|s| s.code());
    Ok(ToolRun {
        command,
        code,
        timed_out: hit_backstop || matches!(code, Some(124) | Some(137)),
        output: read_text(&out_path),
        elapsed,
    })
}

/// Runs xfreerdp with `args` (e.g. `/v:127.0.0.1:PORT`, `/sec:nla`, `+auth-only`), with
/// `DISPLAY` from the shared Xvfb and a fresh `HOME` (known_hosts2 lives there).
pub fn xfreerdp(args: &[String], opts: &ToolOpts) -> Result<ToolRun, String> {
    let x = xvfb::shared()?;
    let dir = TempDir::new("xfreerdp")?;
    let home = dir.join("home");
    std::fs::create_dir_all(&home).map_err(|e| format!("mkdir home: {e}"))?;
    let env = vec![
        ("DISPLAY".to_owned(), x.display_env()),
        ("HOME".to_owned(), home.display().to_string()),
    ];
    let r = run("xfreerdp", args, &dir, &env, opts);
    drop(x);
    r
}

/// Runs FreeRDP 3's `xfreerdp3` (Debian bookworm-backports) like [`xfreerdp`]. OpenSSL 3
/// keeps MD4 in its legacy provider, and FreeRDP 3's NTLM needs it ("Failed to initialize
/// digest md4" otherwise): `OPENSSL_CONF` points at a config that loads it.
pub fn xfreerdp3(args: &[String], opts: &ToolOpts) -> Result<ToolRun, String> {
    let x = xvfb::shared()?;
    let dir = TempDir::new("xfreerdp3")?;
    let home = dir.join("home");
    std::fs::create_dir_all(&home).map_err(|e| format!("mkdir home: {e}"))?;
    let cnf = dir.join("openssl-legacy.cnf");
    std::fs::write(
        &cnf,
        "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n\
         [provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n\
         [default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n",
    )
    .map_err(|e| format!("openssl config: {e}"))?;
    let env = vec![
        ("DISPLAY".to_owned(), x.display_env()),
        ("HOME".to_owned(), home.display().to_string()),
        ("OPENSSL_CONF".to_owned(), cnf.display().to_string()),
    ];
    let r = run("xfreerdp3", args, &dir, &env, opts);
    drop(x);
    r
}

/// `xfreerdp /v:HOST:PORT /u:USER [/d:DOMAIN] /p:PASSWORD /cert:ignore +auth-only EXTRA...`.
///
/// The password goes through argv: acceptable only here, for the third-party client against
/// lab credentials (rdp-doctor itself never takes one that way).
pub fn xfreerdp_auth_only(
    host: &str,
    port: u16,
    user: &str,
    domain: &str,
    password: &str,
    extra: &[&str],
) -> Result<ToolRun, String> {
    let mut args = vec![format!("/v:{host}:{port}"), format!("/u:{user}")];
    if !domain.is_empty() {
        args.push(format!("/d:{domain}"));
    }
    args.push(format!("/p:{password}"));
    args.push("/cert:ignore".into());
    args.push("+auth-only".into());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    xfreerdp(&args, &ToolOpts::default())
}

/// `nmap -Pn -n -p PORT --script +S1,+S2 ADDR`. The `+` forces the rdp-* scripts on ports
/// other than 3389 (their portrule is `port_or_service(3389, "ms-wbt-server")`). 2.4-3.7 s.
pub fn nmap_scripts(
    addr: IpAddr,
    port: u16,
    scripts: &[&str],
    opts: &ToolOpts,
) -> Result<ToolRun, String> {
    let dir = TempDir::new("nmap")?;
    let mut args: Vec<String> = vec!["-Pn".into(), "-n".into()];
    if addr.is_ipv6() {
        args.push("-6".into());
    }
    args.push("-p".into());
    args.push(port.to_string());
    if !scripts.is_empty() {
        args.push("--script".into());
        args.push(
            scripts
                .iter()
                .map(|s| format!("+{}", s.trim_start_matches('+')))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    args.push(addr.to_string());
    let opts = ToolOpts {
        timeout: Some(opts.timeout.unwrap_or(Duration::from_secs(60))),
        ..opts.clone()
    };
    run("nmap", &args, &dir, &[], &opts)
}

/// `rdp-enum-encryption` and `rdp-ntlm-info` against one server.
pub fn nmap_rdp(addr: IpAddr, port: u16) -> Result<ToolRun, String> {
    nmap_scripts(
        addr,
        port,
        &["rdp-enum-encryption", "rdp-ntlm-info"],
        &ToolOpts::default(),
    )
}
