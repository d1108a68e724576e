//! The `rdp-doctor` command line. Exit codes follow the Nagios plugin convention: 0 healthy,
//! 1 warnings only, 2 an error finding, 3 the tool could not run.

use clap::{Args, Parser, Subcommand, ValueEnum};
use rdp_doctor::cert::TrustStore;
use rdp_doctor::facts::ClientProfile;
use rdp_doctor::model::Exit;
use rdp_doctor::render::{Format, Style};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rdp-doctor",
    version,
    about = "Finds out why a Remote Desktop connection fails, and prints the fix",
    long_about = "Walks the RDP connection sequence against a server phase by phase (DNS, TCP, X.224 \
negotiation, TLS and certificate, CredSSP/NLA, MCS, UDP), names the cause of a failure with its \
evidence, and prints the exact fix.\n\nExit codes: 0 healthy, 1 warnings, 2 errors, 3 rdp-doctor \
could not run."
)]
struct Cli {
    /// Colour: auto (when stdout is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose one RDP endpoint: HOST, HOST:PORT or [IPv6]:PORT.
    Check(Box<CheckArgs>),
    /// Serve a fault-injecting RDP endpoint (a test tool; binds to loopback by default).
    Lab(LabArgs),
    /// Start the lab with every fault in-process, check each endpoint, print the table.
    Demo(DemoArgs),
    /// Read Windows event logs (.evtx or Get-WinEvent JSON) offline and name the RDP failures
    /// they record, with counts, time range and fix.
    Logs(LogsArgs),
    /// Check an .rdp file for settings that cause or hide connection failures.
    Rdpfile(RdpfileArgs),
    /// Decode error codes as shown: 0x904 0x7, ERRINFO_*/ERRCONNECT_* names, NTSTATUS, SEC_E_*,
    /// event IDs (schannel:36870, 1058), RDP_NEG failures, TLS alerts, xfreerdp exit codes.
    Explain(ExplainArgs),
    /// Check many endpoints: hosts, files, ranges, CIDR blocks; a table, JSON Lines or CSV.
    Scan(rdp_doctor::fleet::ScanArgs),
    /// Serve a Prometheus exporter (blackbox_exporter style /probe?target=&module=).
    Serve(rdp_doctor::fleet::ServeArgs),
    /// Watch one endpoint over time: cheap probes (TCP, X.224, TLS + certificate) every
    /// second and a full check now and then; a live view, or a summary / JSON Lines off a
    /// terminal. Exits with the worst state seen.
    Watch(rdp_doctor::watch::WatchArgs),
}

#[derive(Args)]
struct LogsArgs {
    /// Only events at or after this time: RFC 3339, a date, or a duration back (90m, 36h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only events about this server (computer name, or the server a client connected to).
    #[arg(long)]
    host: Option<String>,
    #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
    format: ExplainFormat,
    /// .evtx files or JSON exports.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct RdpfileArgs {
    #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
    format: ExplainFormat,
    #[arg(value_name = "FILE.rdp")]
    file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExplainFormat {
    Human,
    Json,
}

#[derive(Args)]
struct ExplainArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
    format: ExplainFormat,
    /// Codes as shown, e.g. 0x904 0x7, 2308, ERRINFO_SERVER_DENIED_CONNECTION, 0xC000006D,
    /// -1073741715, schannel:36870, "Logon Type: 10", 4625/0xC000006E.
    #[arg(required = true, allow_negative_numbers = true, value_name = "CODE")]
    codes: Vec<String>,
}

#[derive(Args)]
struct LabArgs {
    /// ADDR:PORT, ADDR:FIRST-LAST, or FIRST_ADDR-LAST_ADDR:PORT (IPv4, many loopback addresses);
    /// repeat it, pairing each with a --fault. Default 127.0.0.1:33389 (none with --gateway).
    #[arg(long)]
    listen: Vec<String>,
    /// A fault name (see --list), or `all` to put every fault on consecutive ports of a range.
    #[arg(long, default_value = "healthy")]
    fault: Vec<String>,
    /// Names to issue the certificates for (default: localhost and the listen address).
    #[arg(long)]
    name: Vec<String>,
    /// Write the lab CA certificate (PEM) here, for `check --ca`.
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
    /// Listen on a non-loopback address (the lab is a deliberately broken server).
    #[arg(long)]
    allow_remote: bool,
    /// List the faults and exit.
    #[arg(long)]
    list: bool,
    /// Do not log each connection on stderr (benchmarks).
    #[arg(long)]
    quiet: bool,
    /// Serve an RD Gateway (MS-TSGU over HTTPS: WebSocket and legacy HTTP) on ADDR:PORT;
    /// repeat it, pairing each with a --gateway-fault. It relays to any RDP endpoint its RAP
    /// admits: loopback targets and those given with --gateway-allow.
    #[arg(long, value_name = "ADDR:PORT")]
    gateway: Vec<String>,
    /// A gateway fault name (see --list); one per --gateway, default healthy.
    #[arg(long, value_name = "NAME")]
    gateway_fault: Vec<String>,
    /// A target the gateway's RAP admits besides loopback ones: HOST or HOST:PORT.
    #[arg(long, value_name = "HOST[:PORT]")]
    gateway_allow: Vec<String>,
    /// A user the gateway's CAP admits (default: every lab user).
    #[arg(long, value_name = "USER")]
    gateway_cap: Vec<String>,
    /// Change the fault while running, in a loop: NAME:DURATION,... where NAME is a fault
    /// (see --list) or `refused` (the listening socket is closed: connections are refused),
    /// e.g. 'healthy:5s,refused:3s,cert-expired:4s'. One --listen address.
    #[arg(long, value_name = "SCHEDULE", conflicts_with_all = ["fault", "gateway"])]
    schedule: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Per-step time-out of the checks, in seconds (stalling faults take this long).
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// Print only the table, not the full report.
    #[arg(long)]
    table_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Human,
    Json,
    Nagios,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClientSec {
    /// What mstsc requests by default: TLS, CredSSP, CredSSP with early user authorization.
    Mstsc,
    /// A client with CredSSP turned off (enablecredsspsupport:i:0): TLS only.
    Tls,
    /// A client that only speaks Standard RDP Security.
    Rdp,
    /// A client that only offers CredSSP (FreeRDP /sec:nla, IronRDP).
    Nla,
    /// CredSSP with early user authorization only (FreeRDP /sec:ext).
    Ext,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthPackage {
    /// As mstsc: Kerberos when it can be used (a name, a realm, a KDC), NTLM otherwise.
    Negotiate,
    /// Kerberos only (no NTLM fallback).
    Kerberos,
    /// NTLM only.
    Ntlm,
}

#[derive(Args)]
struct CheckArgs {
    /// The server: HOST, HOST:PORT, [IPv6]:PORT (optional with --rdp-file).
    target: Option<String>,
    /// Take the target and the client's settings from this .rdp file, and say whether that
    /// client would fail against what the probe sees.
    #[arg(long, value_name = "FILE.rdp")]
    rdp_file: Option<PathBuf>,
    /// Event logs (.evtx, or Get-WinEvent JSON) of this server or its clients, joined with the
    /// probe: a probe symptom next to the logged cause becomes one confirmed finding.
    /// One file per flag; repeat the flag for more (so a target after it stays the target).
    #[arg(long, value_name = "FILE")]
    evidence: Vec<PathBuf>,
    /// Port, when not given in TARGET.
    #[arg(short, long, default_value_t = 3389)]
    port: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Human)]
    format: OutFormat,
    /// Also write the report as one self-contained HTML page to FILE (to attach to a ticket;
    /// opens in any browser, no network needed).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write a support bundle to FILE.zip: the JSON document, the HTML report, and the
    /// evidence used (event-log summaries, the .rdp file with its passwords and tokens removed).
    #[arg(long, value_name = "FILE.zip")]
    bundle: Option<PathBuf>,
    /// Longest wait for one network step (connect, one reply, a handshake), in seconds.
    #[arg(long, default_value_t = rdp_doctor::probe::defaults::STEP_TIMEOUT_S)]
    timeout: f64,
    /// How long to wait for an RDP-UDP answer, in seconds.
    #[arg(long, default_value_t = rdp_doctor::probe::defaults::UDP_WAIT_S)]
    udp_timeout: f64,
    /// Trust the CA certificates in this PEM file instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The client to model: which security protocols its X.224 request offers.
    #[arg(long = "sec", value_enum, default_value_t = ClientSec::Mstsc)]
    sec: ClientSec,
    /// Send `Cookie: mstshash=NAME` in the connection request (as mstsc does with the user name).
    #[arg(long, value_name = "NAME")]
    cookie: Option<String>,
    /// Skip the RDP-UDP probe.
    #[arg(long)]
    no_udp: bool,
    /// Skip the one-connection-per-protocol enumeration.
    #[arg(long)]
    no_enumerate: bool,
    /// Report certificates that expire within this many days.
    #[arg(long, default_value_t = rdp_doctor::diagnose::defaults::EXPIRY_WARNING_DAYS)]
    expiry_warning_days: i64,
    /// Median round trip (ms) above which the path counts as high-latency.
    #[arg(long, default_value_t = rdp_doctor::diagnose::defaults::LATENCY_THRESHOLD_MS)]
    latency_threshold: f64,
    /// Repeat the light phases (TCP connect + X.224) N times in all for firmer RTT/loss numbers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    samples: u32,
    /// Do not retry a stalled TLS handshake with a small MSS (path-MTU black-hole test).
    #[arg(long)]
    no_mss_retry: bool,
    /// Check these credentials with CredSSP/NLA: DOMAIN\\user, user@domain or user. The password
    /// comes from RDP_DOCTOR_PASSWORD, --password-file, or a prompt (never the command line).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Read the password from this file (its first line; the file should be readable only by you).
    #[arg(long, value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,
    /// Send credentials to a server whose certificate has this SHA-256 fingerprint (hex, colons
    /// allowed), even if the certificate is not otherwise trusted.
    #[arg(long, value_name = "SHA256", requires = "user")]
    trust_fingerprint: Option<String>,
    /// Send credentials even to a server whose certificate is not trusted. Dangerous: exposes
    /// them to NTLM relay and offline cracking by anyone posing as the server.
    #[arg(long, requires = "user")]
    insecure_send_credentials: bool,
    /// After authentication, continue through MCS, Client Info and licensing to the server's
    /// Demand Active PDU (or its Set Error Info reason). No session is started.
    #[arg(long, requires = "user")]
    full: bool,
    /// The security package for --user: negotiate (Kerberos first, as mstsc), kerberos, ntlm.
    #[arg(long = "auth", value_enum, default_value_t = AuthPackage::Negotiate, requires = "user")]
    auth: AuthPackage,
    /// The Kerberos realm (default: the user name's domain, or the DNS domain the server names
    /// in its NTLM challenge).
    #[arg(long, value_name = "REALM")]
    realm: Option<String>,
    /// A KDC to use instead of DNS SRV discovery (repeatable; port 88 by default).
    #[arg(long, value_name = "HOST[:PORT]")]
    kdc: Vec<String>,
    /// The DNS server for KDC discovery (SRV) and the KDCs' names, instead of the system's
    /// (repeatable; port 53 by default).
    #[arg(long, value_name = "IP[:PORT]")]
    dns_server: Vec<String>,
    /// Also read this server's own RDP configuration (registry, policy, certificate store,
    /// firewall, TermService). Windows only: run it on the server, elevated.
    #[arg(long)]
    local: bool,
    /// Reach the target through this RD Gateway (HTTPS, MS-TSGU): GW or GW:PORT (default 443).
    /// Also taken from the .rdp file (gatewayhostname with gatewayusagemethod 1 or 2). The
    /// target's phases then run inside the gateway's tunnel.
    #[arg(long, value_name = "GW[:PORT]")]
    gateway: Option<String>,
    /// The gateway account, when it is not --user's: DOMAIN\\user, user@domain or user. Its
    /// password comes from RDP_DOCTOR_GATEWAY_PASSWORD or a prompt (never the command line). An
    /// access token (the .rdp file's gatewayaccesstoken, or RDP_DOCTOR_GATEWAY_TOKEN) is used
    /// instead when present.
    #[arg(long, value_name = "USER")]
    gateway_user: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let usage_error = !matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            if usage_error && asks_for_nagios(std::env::args_os()) {
                let text = e.kind().as_str().unwrap_or("invalid arguments");
                nagios_unknown(&format!("{text} (see rdp-doctor check --help)"));
            }
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::from(Exit::Ok)
                }
                _ => ExitCode::from(Exit::Unknown),
            };
        }
    };
    if let Err(e) = rdp_doctor::commands::self_check() {
        return ExitCode::from(fail(&format!("internal error: {e}")));
    }
    let color = match cli.color {
        ColorChoice::Always => {
            // Asked for: colour even where the console cannot be switched to ANSI mode.
            let _ = rdp_doctor_sys::enable_ansi(&std::io::stdout());
            true
        }
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none()
                && std::io::stdout().is_terminal()
                && rdp_doctor_sys::enable_ansi(&std::io::stdout())
        }
    };
    let style = Style { color };
    let code = match cli.command {
        Command::Check(a) => run_check(*a, style),
        Command::Lab(a) => run_lab(a),
        Command::Demo(a) => run_demo(a, style),
        Command::Explain(a) => run_explain(a, style.color),
        Command::Logs(a) => run_logs(a, style.color),
        Command::Rdpfile(a) => run_rdpfile(a, style.color),
        Command::Scan(a) => rdp_doctor::fleet::run_scan(a, style),
        Command::Serve(a) => rdp_doctor::fleet::run_serve(a),
        Command::Watch(a) => rdp_doctor::watch::run(a, style),
    };
    ExitCode::from(code)
}

use rdp_doctor::cli::{fail, runtime, seconds};

/// Stdout for human output: every line wrapped to the terminal's width (80 when stdout is not
/// a terminal and COLUMNS is unset), and the renderers told that width for their tables.
fn wrapped_stdout() -> rdp_doctor::render::fit::Wrap<std::io::StdoutLock<'static>> {
    use rdp_doctor::render::fit;
    let width = fit::output_width(std::io::stdout().is_terminal());
    fit::set_width(width);
    fit::Wrap::new(std::io::stdout().lock(), width)
}

/// `--format nagios` (or `--format=nagios`) among the arguments clap could not parse.
fn asks_for_nagios(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    args.iter().any(|a| a == "--format=nagios")
        || args
            .windows(2)
            .any(|w| matches!(w, [f, v] if f == "--format" && v == "nagios"))
}

fn run_check(a: CheckArgs, style: Style) -> Exit {
    let nagios = matches!(a.format, OutFormat::Nagios);
    match check_command(a, style) {
        Ok(exit) => exit,
        Err(msg) => {
            if nagios {
                nagios_unknown(&msg);
            }
            fail(&msg)
        }
    }
}

/// A monitoring system shows the plugin's stdout: even "could not run" prints a status line.
fn nagios_unknown(msg: &str) {
    let line = rdp_doctor::sanitize::escape(msg).replace('|', "/");
    println!("RDP UNKNOWN - {line}");
}

fn check_command(a: CheckArgs, style: Style) -> Result<Exit, String> {
    if a.local && !rdp_doctor::local::SUPPORTED {
        return Err(rdp_doctor::local::UNSUPPORTED.to_string());
    }
    let rdp = match &a.rdp_file {
        Some(p) => Some(rdp_doctor::rdpfile::RdpFile::read(p)?),
        None => None,
    };
    let typed = match (&a.target, &rdp) {
        (Some(t), _) => t.clone(),
        (None, Some(r)) => match rdp_doctor::rdpfile::target(r) {
            Some((host, port)) if host.contains(':') => format!("[{host}]:{port}"),
            Some((host, port)) => format!("{host}:{port}"),
            None => {
                return Err("the .rdp file has no 'full address'; give the target too".to_string())
            }
        },
        (None, None) => {
            return Err(
                "give a target (HOST, HOST:PORT or [IPv6]:PORT) or --rdp-file FILE".to_string(),
            )
        }
    };
    let target = rdp_doctor::target::parse_target(&typed, a.port)?;
    if let Some(p) = &a.html {
        rdp_doctor::bundle::check_writable(p, "--html")?;
    }
    if let Some(p) = &a.bundle {
        rdp_doctor::bundle::check_writable(p, "--bundle")?;
    }
    for f in &a.evidence {
        if !f.exists() {
            return Err(format!("evidence file {} does not exist", f.display()));
        }
    }
    let (timeout, udp_wait) = match (
        seconds(a.timeout, "--timeout"),
        seconds(a.udp_timeout, "--udp-timeout"),
    ) {
        (Ok(t), Ok(u)) => (t, u),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let trust = match &a.ca {
        Some(p) => TrustStore::from_pem_file(p)?,
        None => TrustStore::system(),
    };
    let mut client = match a.sec {
        ClientSec::Mstsc => ClientProfile::mstsc(),
        ClientSec::Tls => ClientProfile::with("tls", 0x01),
        ClientSec::Rdp => ClientProfile::with("rdp", 0x00),
        ClientSec::Nla => ClientProfile::with("nla", 0x02),
        ClientSec::Ext => ClientProfile::with("ext", 0x08),
    };
    if let Some(r) = &rdp {
        client = rdp_doctor::rdpfile::client_profile(r);
    }
    if a.cookie.is_some() {
        client.cookie = a.cookie.clone();
    }
    let auth = auth_options(&a)?;
    let gateway = gateway_options(&a, rdp.as_ref(), auth.as_ref())?;
    let kdc = kdc_options(&a)?;
    let opts = rdp_doctor::probe::CheckOptions {
        gateway,
        client,
        kdc,
        timeout,
        udp_wait,
        enumerate_protocols: !a.no_enumerate,
        udp: !a.no_udp,
        samples: a.samples,
        mss_retry: !a.no_mss_retry,
        auth,
        ..rdp_doctor::probe::CheckOptions::new(target.clone(), Arc::new(trust))
    };
    let mut ctx = rdp_doctor::diagnose::Context::new(target);
    ctx.expiry_warning_days = a.expiry_warning_days;
    ctx.latency_threshold_ms = a.latency_threshold;
    let rt = runtime()?;
    let extra = rdp_doctor::check::Extra {
        rdp_file: rdp,
        evidence: a.evidence.clone(),
        local: a.local,
    };
    let report = rt.block_on(rdp_doctor::check::check_with(&opts, &ctx, extra));
    let format = match a.format {
        OutFormat::Human => Format::Human,
        OutFormat::Json => Format::Json,
        OutFormat::Nagios => Format::Nagios,
    };
    let written = if format == Format::Human {
        let mut out = wrapped_stdout();
        rdp_doctor::render::render(&report, format, style, &mut out).and_then(|_| out.flush())
    } else {
        let mut out = std::io::stdout().lock();
        rdp_doctor::render::render(&report, format, style, &mut out).and_then(|_| out.flush())
    };
    let exit = finish(report.exit_code(), written);
    if let Err(msg) = hand_over(&report, a.html.as_deref(), a.bundle.as_deref()) {
        // After the result line: a Nagios plugin prints one status line, not two.
        return Ok(fail(&msg));
    }
    Ok(exit)
}

/// `--html FILE` and `--bundle FILE.zip`, each written atomically; an error names the file.
fn hand_over(
    report: &rdp_doctor::report::Report,
    html: Option<&std::path::Path>,
    bundle: Option<&std::path::Path>,
) -> Result<(), String> {
    let cannot = |p: &std::path::Path, e: std::io::Error| {
        format!(
            "cannot write {}: {e}",
            rdp_doctor::sanitize::escape(&p.display().to_string())
        )
    };
    if let Some(p) = html {
        rdp_doctor::bundle::html(report)
            .and_then(|bytes| rdp_doctor::bundle::write_atomic(p, &bytes))
            .map_err(|e| cannot(p, e))?;
        eprintln!("HTML report written to {}", p.display());
    }
    if let Some(p) = bundle {
        rdp_doctor::bundle::bundle(report, rdp_doctor::check::now_unix())
            .and_then(|bytes| rdp_doctor::bundle::write_atomic(p, &bytes))
            .map_err(|e| cannot(p, e))?;
        eprintln!("support bundle written to {}", p.display());
    }
    Ok(())
}

/// `--realm`, `--kdc`, `--dns-server`.
fn kdc_options(a: &CheckArgs) -> Result<rdp_doctor::probe::kdc::KdcOptions, String> {
    let realm = match &a.realm {
        Some(r) => {
            let ok = !r.is_empty()
                && r.len() <= 255
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
            if !ok {
                return Err(format!(
                    "--realm '{}': expected a realm such as CORP.EXAMPLE",
                    rdp_doctor::sanitize::escape(r)
                ));
            }
            Some(r.to_ascii_uppercase())
        }
        None => None,
    };
    let mut kdcs = Vec::new();
    for k in &a.kdc {
        let t = rdp_doctor::target::parse_target(k, 88).map_err(|e| format!("--kdc: {e}"))?;
        kdcs.push((t.host, t.port));
    }
    let mut dns_servers = Vec::new();
    for d in &a.dns_server {
        let sa = d
            .parse::<std::net::SocketAddr>()
            .or_else(|_| {
                d.parse::<std::net::IpAddr>()
                    .map(|ip| std::net::SocketAddr::new(ip, 53))
            })
            .map_err(|_| {
                format!(
                    "--dns-server '{}': expected an IP address, IP:PORT or [IPv6]:PORT",
                    rdp_doctor::sanitize::escape(d)
                )
            })?;
        dns_servers.push(sa);
    }
    Ok(rdp_doctor::probe::kdc::KdcOptions {
        realm,
        kdcs,
        dns_servers,
    })
}

/// `--user` and friends: the password is read here (file, environment, or a prompt without
/// echo) and lives only in a zeroizing `Secret` from now on.
fn auth_options(a: &CheckArgs) -> Result<Option<rdp_doctor::probe::auth::AuthOptions>, String> {
    use rdp_doctor::credentials::{self, Credentials, PASSWORD_ENV};
    let Some(user) = &a.user else {
        return Ok(None);
    };
    let (domain, account) = credentials::parse_user(user)?;
    let pinned = a
        .trust_fingerprint
        .as_deref()
        .map(credentials::parse_fingerprint)
        .transpose()?;
    // into_string moves the buffer (no copy left behind); a non-UTF-8 value is refused.
    let env = match std::env::var_os(PASSWORD_ENV).map(std::ffi::OsString::into_string) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(v)) => {
            drop(rdp_doctor::credentials::Secret::new(
                v.to_string_lossy().into_owned(),
            ));
            return Err(format!("{PASSWORD_ENV} is not valid UTF-8"));
        }
    };
    let shown = rdp_doctor::sanitize::escape(user);
    let (password, source) = credentials::obtain_password(
        a.password_file.as_deref(),
        env,
        std::io::stdin().is_terminal(),
        || rpassword::prompt_password(format!("Password for {shown}: ")),
    )?;
    if a.insecure_send_credentials {
        eprintln!("{}", credentials::INSECURE_WARNING);
    }
    Ok(Some(rdp_doctor::probe::auth::AuthOptions {
        credentials: Arc::new(Credentials {
            domain,
            user: account,
            password,
        }),
        password_source: source.as_str(),
        pinned_sha256: pinned,
        insecure: a.insecure_send_credentials,
        full: a.full,
        mode: match a.auth {
            AuthPackage::Negotiate => rdp_doctor::probe::kdc::AuthMode::Negotiate,
            AuthPackage::Kerberos => rdp_doctor::probe::kdc::AuthMode::Kerberos,
            AuthPackage::Ntlm => rdp_doctor::probe::kdc::AuthMode::Ntlm,
        },
    }))
}

/// `--gateway` (or the .rdp file's gateway) and its credentials: `--gateway-user` with
/// RDP_DOCTOR_GATEWAY_PASSWORD or a prompt, else `--user`'s credentials (the .rdp default
/// `promptcredentialonce`); an access token from RDP_DOCTOR_GATEWAY_TOKEN or the file.
fn gateway_options(
    a: &CheckArgs,
    rdp: Option<&rdp_doctor::rdpfile::RdpFile>,
    auth: Option<&rdp_doctor::probe::auth::AuthOptions>,
) -> Result<Option<rdp_doctor::probe::gateway::client::GatewayOptions>, String> {
    use rdp_doctor::credentials::{self, Credentials, Secret};
    let from_file = rdp
        .filter(|r| r.uses_gateway())
        .and_then(|r| r.gateway_hostname());
    let typed = match (&a.gateway, from_file) {
        (Some(g), _) => g.clone(),
        (None, Some(g)) => g.to_string(),
        (None, None) => {
            if a.gateway_user.is_some() {
                return Err(
                    "--gateway-user needs --gateway (or an .rdp file that uses one)".into(),
                );
            }
            return Ok(None);
        }
    };
    let target =
        rdp_doctor::target::parse_target(&typed, 443).map_err(|e| format!("--gateway: {e}"))?;
    let token = match std::env::var(GATEWAY_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(t) => Some(Secret::new(t)),
        None => a
            .rdp_file
            .as_deref()
            .filter(|_| from_file.is_some())
            .and_then(rdp_doctor::rdpfile::read_access_token),
    }
    .map(Arc::new);
    let credentials = match &a.gateway_user {
        Some(u) => {
            let (domain, user) = credentials::parse_user(u)?;
            let env = std::env::var(GATEWAY_PASSWORD_ENV).ok();
            let shown = rdp_doctor::sanitize::escape(u);
            let (password, _) =
                credentials::obtain_password(None, env, std::io::stdin().is_terminal(), || {
                    rpassword::prompt_password(format!("Gateway password for {shown}: "))
                })?;
            Some(Arc::new(Credentials {
                domain,
                user,
                password,
            }))
        }
        None => auth.map(|o| o.credentials.clone()),
    };
    Ok(Some(rdp_doctor::probe::gateway::client::GatewayOptions {
        target,
        credentials,
        token,
        pinned_sha256: None,
        insecure: a.insecure_send_credentials,
    }))
}

/// The gateway password's environment variable (`--gateway-user`).
const GATEWAY_PASSWORD_ENV: &str = "RDP_DOCTOR_GATEWAY_PASSWORD";
/// An RD Gateway access token (PAA), as the .rdp file's gatewayaccesstoken.
const GATEWAY_TOKEN_ENV: &str = "RDP_DOCTOR_GATEWAY_TOKEN";

/// The lab is a deliberately broken server: it listens on loopback only, unless told
/// `--allow-remote`.
fn lab_may_listen(addr: std::net::SocketAddr, allow_remote: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address; the lab is a deliberately broken server, pass --allow-remote to expose it"
        ))
    }
}

fn run_lab(a: LabArgs) -> Exit {
    use rdp_doctor::lab::{self, Endpoint, Fault};
    if a.list {
        let mut out = wrapped_stdout();
        let written = lab::write_list(&mut out).and_then(|_| out.flush());
        return finish(Exit::Ok, written);
    }
    if let Some(spec) = &a.schedule {
        return run_lab_schedule(&a, spec);
    }
    let mut gateways = Vec::new();
    if a.gateway_fault.len() > a.gateway.len().max(1) {
        return fail("give one --gateway-fault per --gateway");
    }
    for (i, g) in a.gateway.iter().enumerate() {
        let addr = match lab::parse_listen(g).map(|v| (v.len(), v.first().copied())) {
            Ok((1, Some(a))) => a,
            Ok(_) => return fail("--gateway takes one ADDR:PORT"),
            Err(e) => return fail(&e),
        };
        let name = a
            .gateway_fault
            .get(i)
            .map(String::as_str)
            .unwrap_or("healthy");
        let Some(fault) = lab::gateway::faults::parse(name) else {
            return fail(&format!(
                "unknown gateway fault '{}'; see rdp-doctor lab --list",
                rdp_doctor::sanitize::escape(name)
            ));
        };
        gateways.push(lab::gateway::GatewayEndpoint {
            addr,
            fault,
            allow: a.gateway_allow.clone(),
            cap_users: a.gateway_cap.clone(),
        });
    }
    let listen = if a.listen.is_empty() && gateways.is_empty() {
        vec!["127.0.0.1:33389".to_string()]
    } else {
        a.listen.clone()
    };
    let mut addrs = Vec::new();
    for l in &listen {
        match lab::parse_listen(l) {
            Ok(v) => addrs.push(v),
            Err(e) => return fail(&e),
        }
    }
    let mut endpoints = Vec::new();
    if addrs.is_empty() {
        // Only gateways.
    } else if a.fault.len() == 1 && a.fault.first().map(String::as_str) == Some("all") {
        let ports: Vec<_> = addrs.into_iter().flatten().collect();
        if ports.len() < Fault::ALL.len() {
            return fail(&format!(
                "--fault all needs {} ports, --listen gives {}",
                Fault::ALL.len(),
                ports.len()
            ));
        }
        for (addr, &fault) in ports.into_iter().zip(Fault::ALL) {
            endpoints.push(Endpoint { addr, fault });
        }
    } else {
        if a.fault.len() != addrs.len() {
            return fail("give one --fault per --listen (or --fault all with a port range)");
        }
        for (range, name) in addrs.into_iter().zip(&a.fault) {
            let Some(fault) = Fault::parse(name) else {
                return fail(&format!(
                    "unknown fault '{}'; see rdp-doctor lab --list",
                    rdp_doctor::sanitize::escape(name)
                ));
            };
            for addr in range {
                endpoints.push(Endpoint { addr, fault });
            }
        }
    }
    let all_addrs = endpoints
        .iter()
        .map(|e| e.addr)
        .chain(gateways.iter().map(|g| g.addr));
    for addr in all_addrs {
        if let Err(e) = lab_may_listen(addr, a.allow_remote) {
            return fail(&e);
        }
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    rt.block_on(async {
        let lab = match lab::start(lab::LabConfig {
            endpoints,
            users: Vec::new(),
            names: a.name.clone(),
            log: !a.quiet,
            gateways,
        })
        .await
        {
            Ok(l) => l,
            Err(e) => return fail(&e),
        };
        if let Some(p) = &a.ca_out {
            if let Err(e) = std::fs::write(p, &lab.ca_pem) {
                return fail(&format!("cannot write {}: {e}", p.display()));
            }
            eprintln!(
                "lab CA certificate written to {} (use: rdp-doctor check --ca {} ...)",
                p.display(),
                p.display()
            );
        }
        for e in &lab.endpoints {
            let where_ = if e.addr.ip().is_loopback() {
                "loopback only"
            } else {
                "REACHABLE FROM THE NETWORK"
            };
            eprintln!(
                "lab listening on {} (tcp+udp, {where_}): {} - {}",
                e.addr,
                e.fault.name(),
                e.fault.describe()
            );
        }
        for (addr, f) in &lab.gateways {
            let where_ = if addr.ip().is_loopback() {
                "loopback only"
            } else {
                "REACHABLE FROM THE NETWORK"
            };
            eprintln!(
                "lab gateway listening on {addr} (https, {where_}): {} - {}",
                f.name, f.describe
            );
        }
        eprintln!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        Exit::Ok
    })
}

/// `lab --schedule`: one endpoint whose fault changes while it runs.
fn run_lab_schedule(a: &LabArgs, spec: &str) -> Exit {
    use rdp_doctor::lab::{self, schedule};
    let steps = match schedule::parse(spec) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let listen = match a.listen.as_slice() {
        [] => "127.0.0.1:33389",
        [one] => one.as_str(),
        _ => return fail("--schedule serves one --listen address"),
    };
    let addr = match lab::parse_listen(listen).map(|v| (v.len(), v.first().copied())) {
        Ok((1, Some(a))) => a,
        Ok(_) => return fail("--schedule serves one --listen address (no ranges)"),
        Err(e) => return fail(&e),
    };
    if let Err(e) = lab_may_listen(addr, a.allow_remote) {
        return fail(&e);
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    rt.block_on(async {
        let described = schedule::describe(&steps);
        let lab = match schedule::start(addr, steps, a.name.clone(), !a.quiet).await {
            Ok(l) => l,
            Err(e) => return fail(&e),
        };
        if let Some(p) = &a.ca_out {
            if let Err(e) = std::fs::write(p, &lab.ca_pem) {
                return fail(&format!("cannot write {}: {e}", p.display()));
            }
            eprintln!("lab CA certificate written to {}", p.display());
        }
        let where_ = if lab.addr.ip().is_loopback() {
            "loopback only"
        } else {
            "REACHABLE FROM THE NETWORK"
        };
        eprintln!(
            "lab listening on {} (tcp+udp, {where_}): schedule - {described}, in a loop",
            lab.addr
        );
        eprintln!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        Exit::Ok
    })
}

fn run_demo(a: DemoArgs, style: Style) -> Exit {
    let timeout = match seconds(a.timeout, "--timeout") {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let result = match rt.block_on(rdp_doctor::demo::run(rdp_doctor::lab::Fault::ALL, timeout)) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut out = wrapped_stdout();
    let render = if a.table_only {
        let mut r = result;
        r.reports.clear();
        rdp_doctor::demo::render(&r, style, &mut out).map(|_| r.rows.iter().all(|x| x.ok))
    } else {
        rdp_doctor::demo::render(&result, style, &mut out).map(|_| result.rows.iter().all(|x| x.ok))
    };
    match render {
        Ok(true) => Exit::Ok,
        Ok(false) => Exit::Critical,
        Err(e) => finish(Exit::Ok, Err(e)),
    }
}

fn run_explain(a: ExplainArgs, color: bool) -> Exit {
    let json = matches!(a.format, ExplainFormat::Json);
    let (exit, written) = if json {
        let mut out = std::io::stdout().lock();
        let (exit, written) = rdp_doctor::explain::run(&a.codes, json, false, &mut out);
        (exit, written.and_then(|_| out.flush()))
    } else {
        let mut out = wrapped_stdout();
        let (exit, written) = rdp_doctor::explain::run(&a.codes, json, color, &mut out);
        (exit, written.and_then(|_| out.flush()))
    };
    finish(exit, written)
}

fn run_logs(a: LogsArgs, color: bool) -> Exit {
    let since = match &a.since {
        Some(s) => match rdp_doctor::evidence::parse_since(s, time::OffsetDateTime::now_utc()) {
            Ok(t) => Some(t),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let json = matches!(a.format, ExplainFormat::Json);
    let opts = rdp_doctor::evidence::LogsOptions {
        since,
        host: a.host.clone(),
        json,
        threads: 0,
    };
    // JSON as it is; the human report wrapped to the terminal (80 columns off one), like
    // check's and explain's.
    let (exit, written) = if json {
        let mut out = std::io::stdout().lock();
        let (exit, written) = rdp_doctor::commands::logs(&a.files, opts, &mut out, false);
        (exit, written.and_then(|_| out.flush()))
    } else {
        let mut out = wrapped_stdout();
        let (exit, written) = rdp_doctor::commands::logs(&a.files, opts, &mut out, color);
        (exit, written.and_then(|_| out.flush()))
    };
    finish(exit, written)
}

fn run_rdpfile(a: RdpfileArgs, color: bool) -> Exit {
    let json = matches!(a.format, ExplainFormat::Json);
    let (exit, written) = if json {
        let mut out = std::io::stdout().lock();
        let (exit, written) = rdp_doctor::commands::rdpfile(&a.file, true, &mut out, false);
        (exit, written.and_then(|_| out.flush()))
    } else {
        let mut out = wrapped_stdout();
        let (exit, written) = rdp_doctor::commands::rdpfile(&a.file, false, &mut out, color);
        (exit, written.and_then(|_| out.flush()))
    };
    finish(exit, written)
}

/// The exit status after writing the result: a closed pipe (`| head`) is not an error; any
/// other write error is "could not run".
fn finish(exit: Exit, written: std::io::Result<()>) -> Exit {
    match written {
        Ok(()) => exit,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit,
        Err(e) => fail(&format!("cannot write the output: {e}")),
    }
}
