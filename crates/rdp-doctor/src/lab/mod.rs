//! `rdp-doctor lab`: an RDP endpoint that behaves correctly up to a chosen fault. It speaks the
//! server side for real (X.224 Connection Confirm, TLS with a certificate generated at start-up,
//! CredSSP/NTLM CHALLENGE, MCS Connect Response, RDP-UDP SYN+ACK), so that `check`, xfreerdp
//! and nmap see a plausible server, and breaks in exactly one, named way.
//!
//! A test tool: it binds to loopback unless told otherwise.

mod activation;
mod certs;
mod conn;
pub mod gateway;
pub mod session;
mod udp;
mod weakkey;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};

/// Each fault is named after the finding `check` must report for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Healthy,
    CertExpired,
    CertNotYetValid,
    CertSelfSigned,
    CertNameMismatch,
    CertWeakKey,
    CertExpiringSoon,
    CertWrongUsage,
    TlsHandshakeFailed,
    TlsVersionMismatch,
    TlsStalled,
    ServerRequiresNla,
    ServerRequiresTls,
    ServerForbidsTls,
    ServerHasNoCertificate,
    StandardRdpSecurityOnly,
    CredsspOutdatedServer,
    CredsspFailed,
    ClockSkew,
    X224NoResponse,
    X224Reset,
    NotRdp,
    ServerDeniedConnection,
    SlowDrip,
    UdpBlocked,
    // Credentialed faults (check --user; the last two need --full).
    LogonFailure,
    AccountRestricted,
    PasswordExpired,
    PasswordMustChange,
    AccountDisabled,
    AccountLocked,
    NoRemoteDesktopRight,
    LogonTypeNotGranted,
    CredsspVersionMismatch,
    CredentialsRejectedSilently,
    CredsspDropped,
    ErrinfoDenied,
    ErrinfoLicense,
}

/// What `check` must conclude about a fault (the demo and the tests use this table).
pub struct Expectation {
    /// The first finding's id, or None for no finding at all.
    pub first_finding: Option<&'static str>,
    pub verdict: crate::model::Verdict,
    /// The client profile (`--sec`) that reproduces the failure, when it is not mstsc's.
    pub client: &'static str,
    /// `check --user labuser` (password [`DEFAULT_PASSWORD`] through the environment).
    pub user: bool,
    /// `check --full` as well.
    pub full: bool,
}

impl Expectation {
    /// The check options this fault needs besides the target, as typed.
    pub fn options(&self) -> String {
        let mut o = Vec::new();
        if self.client != "mstsc" {
            o.push(format!("--sec {}", self.client));
        }
        if self.user {
            o.push(format!("--user {DEFAULT_USER}"));
        }
        if self.full {
            o.push("--full".into());
        }
        o.join(" ")
    }
}

impl Fault {
    pub const ALL: [Fault; 38] = [
        Fault::Healthy,
        Fault::CertExpired,
        Fault::CertNotYetValid,
        Fault::CertSelfSigned,
        Fault::CertNameMismatch,
        Fault::CertWeakKey,
        Fault::CertExpiringSoon,
        Fault::CertWrongUsage,
        Fault::TlsHandshakeFailed,
        Fault::TlsVersionMismatch,
        Fault::TlsStalled,
        Fault::ServerRequiresNla,
        Fault::ServerRequiresTls,
        Fault::ServerForbidsTls,
        Fault::ServerHasNoCertificate,
        Fault::StandardRdpSecurityOnly,
        Fault::CredsspOutdatedServer,
        Fault::CredsspFailed,
        Fault::ClockSkew,
        Fault::X224NoResponse,
        Fault::X224Reset,
        Fault::NotRdp,
        Fault::ServerDeniedConnection,
        Fault::SlowDrip,
        Fault::UdpBlocked,
        Fault::LogonFailure,
        Fault::AccountRestricted,
        Fault::PasswordExpired,
        Fault::PasswordMustChange,
        Fault::AccountDisabled,
        Fault::AccountLocked,
        Fault::NoRemoteDesktopRight,
        Fault::LogonTypeNotGranted,
        Fault::CredsspVersionMismatch,
        Fault::CredentialsRejectedSilently,
        Fault::CredsspDropped,
        Fault::ErrinfoDenied,
        Fault::ErrinfoLicense,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Healthy => "healthy",
            Fault::CertExpired => "cert-expired",
            Fault::CertNotYetValid => "cert-not-yet-valid",
            Fault::CertSelfSigned => "cert-self-signed",
            Fault::CertNameMismatch => "cert-name-mismatch",
            Fault::CertWeakKey => "cert-weak-key",
            Fault::CertExpiringSoon => "cert-expiring-soon",
            Fault::CertWrongUsage => "cert-wrong-usage",
            Fault::TlsHandshakeFailed => "tls-handshake-failed",
            Fault::TlsVersionMismatch => "tls-version-mismatch",
            Fault::TlsStalled => "tls-stalled",
            Fault::ServerRequiresNla => "server-requires-nla",
            Fault::ServerRequiresTls => "server-requires-tls",
            Fault::ServerForbidsTls => "server-forbids-tls",
            Fault::ServerHasNoCertificate => "server-has-no-certificate",
            Fault::StandardRdpSecurityOnly => "standard-rdp-security-only",
            Fault::CredsspOutdatedServer => "credssp-outdated-server",
            Fault::CredsspFailed => "credssp-failed",
            Fault::ClockSkew => "clock-skew",
            Fault::X224NoResponse => "x224-no-response",
            Fault::X224Reset => "x224-reset",
            Fault::NotRdp => "not-rdp",
            Fault::ServerDeniedConnection => "server-denied-connection",
            Fault::SlowDrip => "slow-drip",
            Fault::UdpBlocked => "udp-blocked",
            Fault::LogonFailure => "logon-failure",
            Fault::AccountRestricted => "account-restricted",
            Fault::PasswordExpired => "password-expired",
            Fault::PasswordMustChange => "password-must-change",
            Fault::AccountDisabled => "account-disabled",
            Fault::AccountLocked => "account-locked",
            Fault::NoRemoteDesktopRight => "no-remote-desktop-right",
            Fault::LogonTypeNotGranted => "logon-type-not-granted",
            Fault::CredsspVersionMismatch => "credssp-version-mismatch",
            Fault::CredentialsRejectedSilently => "credentials-rejected-silently",
            Fault::CredsspDropped => "credssp-dropped",
            Fault::ErrinfoDenied => "errinfo-denied",
            Fault::ErrinfoLicense => "errinfo-license",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == s)
    }

    /// One line on what the endpoint does.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Healthy => "Windows defaults: NLA required (TLS-only and RDP-only requests get HYBRID_REQUIRED_BY_SERVER), a valid certificate for the listen name, UDP answered",
            Fault::CertExpired => "like healthy, with a certificate that expired 35 days ago",
            Fault::CertNotYetValid => "like healthy, with a certificate valid only from 30 days from now",
            Fault::CertSelfSigned => "like healthy, with a self-signed certificate",
            Fault::CertNameMismatch => "like healthy, with a certificate for wrong.example.invalid",
            Fault::CertWeakKey => "like healthy, with an RSA-1024 certificate",
            Fault::CertExpiringSoon => "like healthy, with a certificate that expires in 10 days",
            Fault::CertWrongUsage => "like healthy, with a certificate whose EKU is clientAuth only",
            Fault::TlsHandshakeFailed => "selects CredSSP, then resets the connection after the ClientHello (a server that cannot read its private key)",
            Fault::TlsVersionMismatch => "selects CredSSP, then answers the ClientHello with a protocol_version alert",
            Fault::TlsStalled => "selects CredSSP, sends the first part of its TLS flight, then nothing (an MTU black hole)",
            Fault::ServerRequiresNla => "NLA required; reproduce with a client that has CredSSP off (check --sec tls)",
            Fault::ServerRequiresTls => "TLS required, NLA off: RDP-only and CredSSP-only requests get SSL_REQUIRED_BY_SERVER (check --sec rdp)",
            Fault::ServerForbidsTls => "Standard RDP Security only: any request for TLS or CredSSP gets SSL_NOT_ALLOWED_BY_SERVER",
            Fault::ServerHasNoCertificate => "every request gets SSL_CERT_NOT_ON_SERVER",
            Fault::StandardRdpSecurityOnly => "selects Standard RDP Security whatever the client asks",
            Fault::CredsspOutdatedServer => "answers CredSSP with TSRequest version 3 (no CVE-2018-0886 fix)",
            Fault::CredsspFailed => "resets the connection after the client's first TSRequest",
            Fault::ClockSkew => "NTLM CHALLENGE timestamp 4 hours ahead",
            Fault::X224NoResponse => "accepts TCP, reads the Connection Request, never answers",
            Fault::X224Reset => "accepts TCP, reads the Connection Request, resets",
            Fault::NotRdp => "answers like an HTTP server",
            Fault::ServerDeniedConnection => "TLS without NLA; answers the MCS Connect Initial with a Disconnect Provider Ultimatum",
            Fault::SlowDrip => "like healthy, but writes one byte per second",
            Fault::UdpBlocked => "like healthy, but never answers on UDP",
            Fault::LogonFailure => "answers any NTLM AUTHENTICATE with errorCode 0xC000006D STATUS_LOGON_FAILURE",
            Fault::AccountRestricted => "answers any NTLM AUTHENTICATE with errorCode 0xC000006E STATUS_ACCOUNT_RESTRICTION",
            Fault::PasswordExpired => "answers any NTLM AUTHENTICATE with errorCode 0xC0000071 STATUS_PASSWORD_EXPIRED",
            Fault::PasswordMustChange => "answers any NTLM AUTHENTICATE with errorCode 0xC0000224 STATUS_PASSWORD_MUST_CHANGE",
            Fault::AccountDisabled => "answers any NTLM AUTHENTICATE with errorCode 0xC0000072 STATUS_ACCOUNT_DISABLED",
            Fault::AccountLocked => "answers any NTLM AUTHENTICATE with errorCode 0xC0000234 STATUS_ACCOUNT_LOCKED_OUT",
            Fault::NoRemoteDesktopRight => "verifies the credentials, then sends the HYBRID_EX Early User Authorization Result AUTHZ_ACCESS_DENIED",
            Fault::LogonTypeNotGranted => "answers any NTLM AUTHENTICATE with errorCode 0xC000015B STATUS_LOGON_TYPE_NOT_GRANTED",
            Fault::CredsspVersionMismatch => "answers any NTLM AUTHENTICATE with errorCode 0x80090302 SEC_E_UNSUPPORTED_FUNCTION (encryption oracle remediation)",
            Fault::CredentialsRejectedSilently => "closes the connection after the NTLM AUTHENTICATE without an errorCode (as FreeRDP servers answer a wrong password)",
            Fault::CredsspDropped => "verifies the credentials and answers pubKeyAuth, then closes after the client's authInfo",
            Fault::ErrinfoDenied => "completes CredSSP and MCS, then answers the Client Info PDU with Set Error Info ERRINFO_SERVER_DENIED_CONNECTION (0x7)",
            Fault::ErrinfoLicense => "completes CredSSP and MCS, then answers the Client Info PDU with Set Error Info ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS (0x10A)",
        }
    }

    /// The TSRequest errorCode the fault answers every NTLM AUTHENTICATE with, if any.
    pub fn auth_error_code(self) -> Option<u32> {
        Some(match self {
            Fault::LogonFailure => 0xC000_006D,
            Fault::AccountRestricted => 0xC000_006E,
            Fault::PasswordExpired => 0xC000_0071,
            Fault::PasswordMustChange => 0xC000_0224,
            Fault::AccountDisabled => 0xC000_0072,
            Fault::AccountLocked => 0xC000_0234,
            Fault::LogonTypeNotGranted => 0xC000_015B,
            Fault::CredsspVersionMismatch => 0x8009_0302,
            _ => return None,
        })
    }

    /// The ERRINFO code the fault sends after the Client Info PDU, if any.
    pub fn error_info(self) -> Option<u32> {
        match self {
            Fault::ErrinfoDenied => Some(0x0000_0007),
            Fault::ErrinfoLicense => Some(0x0000_010A),
            _ => None,
        }
    }

    pub fn expectation(self) -> Expectation {
        use crate::model::Verdict::*;
        let (first, verdict, client) = match self {
            Fault::Healthy => (None, Healthy, "mstsc"),
            Fault::CertExpired => (Some("cert-expired"), Failing, "mstsc"),
            Fault::CertNotYetValid => (Some("cert-not-yet-valid"), Failing, "mstsc"),
            Fault::CertSelfSigned => (Some("cert-self-signed"), Degraded, "mstsc"),
            Fault::CertNameMismatch => (Some("cert-name-mismatch"), Degraded, "mstsc"),
            Fault::CertWeakKey => (Some("cert-weak-key"), Degraded, "mstsc"),
            Fault::CertExpiringSoon => (Some("cert-expiring-soon"), Degraded, "mstsc"),
            Fault::CertWrongUsage => (Some("cert-wrong-usage"), Degraded, "mstsc"),
            Fault::TlsHandshakeFailed => (Some("tls-handshake-failed"), Failing, "mstsc"),
            Fault::TlsVersionMismatch => (Some("tls-version-mismatch"), Failing, "mstsc"),
            Fault::TlsStalled => (Some("tls-stalled"), Failing, "mstsc"),
            Fault::ServerRequiresNla => (Some("server-requires-nla"), Failing, "tls"),
            Fault::ServerRequiresTls => (Some("server-requires-tls"), Failing, "rdp"),
            Fault::ServerForbidsTls => (Some("server-forbids-tls"), Failing, "mstsc"),
            Fault::ServerHasNoCertificate => (Some("server-has-no-certificate"), Failing, "mstsc"),
            Fault::StandardRdpSecurityOnly => {
                (Some("standard-rdp-security-only"), Degraded, "mstsc")
            }
            Fault::CredsspOutdatedServer => (Some("credssp-outdated-server"), Failing, "mstsc"),
            Fault::CredsspFailed => (Some("credssp-failed"), Failing, "mstsc"),
            Fault::ClockSkew => (Some("clock-skew"), Degraded, "mstsc"),
            Fault::X224NoResponse => (Some("x224-no-response"), Failing, "mstsc"),
            Fault::X224Reset => (Some("x224-reset"), Failing, "mstsc"),
            Fault::NotRdp => (Some("not-rdp"), Failing, "mstsc"),
            Fault::ServerDeniedConnection => (Some("server-denied-connection"), Failing, "mstsc"),
            Fault::SlowDrip => (Some("slow-drip"), Failing, "mstsc"),
            Fault::UdpBlocked => (Some("udp-blocked"), Healthy, "mstsc"),
            Fault::LogonFailure
            | Fault::AccountRestricted
            | Fault::PasswordExpired
            | Fault::PasswordMustChange
            | Fault::AccountDisabled
            | Fault::AccountLocked
            | Fault::NoRemoteDesktopRight
            | Fault::CredsspVersionMismatch
            | Fault::CredentialsRejectedSilently
            | Fault::CredsspDropped => (Some(self.name()), Failing, "mstsc"),
            Fault::LogonTypeNotGranted => (Some("no-remote-desktop-right"), Failing, "mstsc"),
            Fault::ErrinfoDenied => (Some("server-denied-connection"), Failing, "mstsc"),
            Fault::ErrinfoLicense => (Some("server-error-info"), Failing, "mstsc"),
        };
        let user = self.auth_error_code().is_some()
            || self.error_info().is_some()
            || matches!(
                self,
                Fault::NoRemoteDesktopRight
                    | Fault::CredentialsRejectedSilently
                    | Fault::CredsspDropped
            );
        Expectation {
            first_finding: first,
            verdict,
            client,
            user,
            full: self.error_info().is_some(),
        }
    }

    fn needs_own_cert(self) -> bool {
        matches!(
            self,
            Fault::CertExpired
                | Fault::CertNotYetValid
                | Fault::CertSelfSigned
                | Fault::CertNameMismatch
                | Fault::CertWeakKey
                | Fault::CertExpiringSoon
                | Fault::CertWrongUsage
        )
    }
}

/// The lab's published test account.
pub const DEFAULT_USER: &str = "labuser";
pub const DEFAULT_PASSWORD: &str = "LabPass1!";

pub use session::LabUser;

/// One listening endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub fault: Fault,
}

pub struct LabConfig {
    pub endpoints: Vec<Endpoint>,
    /// Accounts CredSSP accepts (default: labuser / LabPass1!, a published test account).
    pub users: Vec<session::LabUser>,
    /// Names the certificates are issued for (default: localhost and the listen addresses).
    pub names: Vec<String>,
    /// Log each connection on stderr.
    pub log: bool,
    /// RD Gateway endpoints (`lab --gateway`), with the same CA and users.
    pub gateways: Vec<gateway::GatewayEndpoint>,
}

/// State shared by the connections of one endpoint.
pub(crate) struct Shared {
    pub fault: Fault,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub log: bool,
    pub addr: SocketAddr,
    /// The certificate's subjectPublicKey (what CredSSP binds to).
    pub spki: Vec<u8>,
    pub users: Vec<session::LabUser>,
}

/// A running lab. Dropping it stops every endpoint.
pub struct Lab {
    pub endpoints: Vec<Endpoint>,
    /// The lab CA certificate (PEM): trust it (`check --ca`) and certificate faults are the
    /// only certificate findings.
    pub ca_pem: String,
    /// The gateway endpoints as bound, with their faults.
    pub gateways: Vec<(SocketAddr, &'static gateway::GwFault)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn tls_config(key: Arc<rustls::sign::CertifiedKey>) -> Result<Arc<rustls::ServerConfig>, String> {
    #[derive(Debug)]
    struct One(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for One {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(One(key)));
    Ok(Arc::new(cfg))
}

/// Listen addresses added to the certificates' names automatically.
pub const MAX_AUTO_NAMES: usize = 16;

/// Binds every endpoint (TCP and UDP on the same port) and starts serving.
pub async fn start(cfg: LabConfig) -> Result<Lab, String> {
    let ca = certs::LabCa::generate()?;
    let mut names = cfg.names.clone();
    if names.is_empty() {
        names.push("localhost".into());
    }
    // The listen addresses become certificate names, up to a few: a lab on thousands of
    // addresses (a scan benchmark) must not put thousands of SANs in every certificate.
    let mut auto = 0;
    let listen = cfg
        .endpoints
        .iter()
        .map(|e| e.addr)
        .chain(cfg.gateways.iter().map(|g| g.addr));
    for a in listen {
        let ip = a.ip().to_string();
        if auto < MAX_AUTO_NAMES && !names.contains(&ip) && !a.ip().is_unspecified() {
            names.push(ip);
            auto += 1;
        }
    }
    let default_key = certs::leaf_for(Fault::Healthy, &ca, &names)?;
    let users = if cfg.users.is_empty() {
        vec![session::LabUser::new(DEFAULT_USER, "", DEFAULT_PASSWORD)]
    } else {
        cfg.users.clone()
    };
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    for e in &cfg.endpoints {
        let key = if e.fault.needs_own_cert() {
            certs::leaf_for(e.fault, &ca, &names)?
        } else {
            default_key.clone()
        };
        let (listener, udp, addr) = bind_pair(e.addr).await?;
        let spki = key
            .cert
            .first()
            .and_then(|c| {
                use x509_parser::prelude::FromDer;
                x509_parser::certificate::X509Certificate::from_der(c.as_ref())
                    .ok()
                    .map(|(_, x)| x.public_key().subject_public_key.data.to_vec())
            })
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            fault: e.fault,
            tls: Some(tls_config(key)?),
            log: cfg.log,
            addr,
            spki,
            users: users.clone(),
        });
        let s2 = shared.clone();
        tasks.push(tokio::spawn(async move { udp::serve(udp, s2).await }));
        tasks.push(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let s = shared.clone();
                        tokio::spawn(async move { conn::serve(stream, peer, s).await });
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
        }));
        bound.push(Endpoint {
            addr,
            fault: e.fault,
        });
    }
    let mut gateways = Vec::new();
    for g in &cfg.gateways {
        let key = match g.fault.behaviour.tls {
            gateway::faults::Tls::Cert(f) => certs::leaf_for(f, &ca, &names)?,
            _ => default_key.clone(),
        };
        let (task, addr) = gateway::start(g, tls_config(key)?, users.clone(), cfg.log).await?;
        tasks.push(task);
        gateways.push((addr, g.fault));
    }
    Ok(Lab {
        endpoints: bound,
        ca_pem: ca.pem,
        gateways,
        tasks,
    })
}

/// Binds TCP and UDP on the same port. With port 0 the kernel picks the TCP port; if that port
/// is taken on UDP, try another.
async fn bind_pair(want: SocketAddr) -> Result<(TcpListener, UdpSocket, SocketAddr), String> {
    let mut last = String::new();
    for _ in 0..20 {
        let listener = TcpListener::bind(want)
            .await
            .map_err(|err| format!("cannot listen on {want}: {err}"))?;
        let addr = listener.local_addr().map_err(|err| err.to_string())?;
        match UdpSocket::bind(addr).await {
            Ok(udp) => return Ok((listener, udp, addr)),
            Err(err) => {
                last = format!("cannot bind UDP {addr}: {err}");
                if want.port() != 0 {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// Most endpoints one `--listen` may open (addresses times ports).
pub const MAX_LISTEN_ENDPOINTS: usize = 65_536;

/// Parses `ADDR:PORT`, `ADDR:FIRST-LAST`, or (IPv4) `FIRST_ADDR-LAST_ADDR:PORT[-LAST]` into
/// socket addresses, addresses outer, ports inner. Many loopback addresses on one port give a
/// scan benchmark thousands of distinct endpoints (every 127.x.y.z works on Linux).
pub fn parse_listen(s: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, ports) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("expected [ADDR]:PORT, got '{s}'"))?;
        (h.to_string(), p.to_string())
    } else {
        let (h, p) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("expected ADDR:PORT, got '{s}'"))?;
        (h.to_string(), p.to_string())
    };
    let ips: Vec<IpAddr> = match host.split_once('-') {
        Some((a, b)) => {
            let a: std::net::Ipv4Addr = a
                .parse()
                .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
            let b: std::net::Ipv4Addr = b
                .parse()
                .map_err(|_| format!("'{b}' is not an IPv4 address"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || (b - a) as usize >= MAX_LISTEN_ENDPOINTS {
                return Err(format!(
                    "bad address range {host} (at most {MAX_LISTEN_ENDPOINTS} addresses)"
                ));
            }
            (a..=b)
                .map(|v| IpAddr::V4(std::net::Ipv4Addr::from(v)))
                .collect()
        }
        None => vec![host
            .parse()
            .map_err(|_| format!("'{host}' is not an IP address"))?],
    };
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (a, b),
        None => (ports.as_str(), ports.as_str()),
    };
    let a: u16 = a.parse().map_err(|_| format!("bad port '{a}'"))?;
    let b: u16 = b.parse().map_err(|_| format!("bad port '{b}'"))?;
    if b < a || b - a > 1000 {
        return Err(format!("bad port range {a}-{b} (at most 1000 ports)"));
    }
    let n = ips.len() * (usize::from(b - a) + 1);
    if n > MAX_LISTEN_ENDPOINTS {
        return Err(format!(
            "{s} is {n} endpoints (at most {MAX_LISTEN_ENDPOINTS})"
        ));
    }
    Ok(ips
        .into_iter()
        .flat_map(|ip| (a..=b).map(move |p| SocketAddr::new(ip, p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_is_a_finding_id_or_healthy() {
        let cat = crate::kb::catalogue();
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()), Some(f));
            if f == Fault::Healthy {
                continue;
            }
            let first = f.expectation().first_finding.expect("a finding");
            assert!(cat.get(first).is_some(), "{first} is not a finding id");
            // A fault is named after its finding, except where one finding has several
            // causes the lab reproduces separately (named after the server's code).
            if ![
                Fault::LogonTypeNotGranted,
                Fault::ErrinfoDenied,
                Fault::ErrinfoLicense,
            ]
            .contains(&f)
            {
                assert_eq!(first, f.name());
            }
        }
    }

    #[test]
    fn listen_ranges() {
        assert_eq!(parse_listen("127.0.0.1:3389").expect("ok").len(), 1);
        assert_eq!(parse_listen("127.0.0.1:4000-4009").expect("ok").len(), 10);
        assert_eq!(
            parse_listen("[::1]:4000").expect("ok")[0].to_string(),
            "[::1]:4000"
        );
        assert!(parse_listen("localhost:1").is_err());
        assert!(parse_listen("127.0.0.1:9-1").is_err());
        let many = parse_listen("127.0.0.1-127.0.3.232:44389").expect("range");
        assert_eq!(many.len(), 1000);
        assert_eq!(many[999].to_string(), "127.0.3.232:44389");
        assert_eq!(
            parse_listen("127.0.0.1-127.0.0.2:5-6")
                .expect("both")
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            vec!["127.0.0.1:5", "127.0.0.1:6", "127.0.0.2:5", "127.0.0.2:6"]
        );
        assert!(parse_listen("127.0.0.2-127.0.0.1:5").is_err());
        assert!(
            parse_listen("127.0.0.0-127.1.0.0:5").is_err(),
            "over the cap"
        );
    }
}
