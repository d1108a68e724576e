//! `rdp-doctor lab`: an RDP endpoint that behaves correctly up to a chosen fault. It speaks the
//! server side for real (X.224 Connection Confirm, TLS with a certificate generated at start-up,
//! CredSSP/NTLM CHALLENGE, MCS Connect Response, RDP-UDP SYN+ACK), so that `check`, xfreerdp
//! and nmap see a plausible server, and breaks in exactly one, named way.
//!
//! The faults, one table row each (name, description, behaviour, expected diagnosis), are in
//! `faults.rs`; the files below act on a fault's behaviour step by step.
//!
//! A test tool: it binds to loopback unless told otherwise.

mod activation;
mod certs;
mod conn;
mod faults;
pub mod gateway;
pub mod schedule;
pub mod session;
mod udp;
mod weakkey;

pub use faults::{write_list, Expectation, Fault, HOSTILE_ORGANIZATION};
use faults::{Behaviour, Cert};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};

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
    pub behaviour: Behaviour,
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
    let default_key = certs::leaf_for(&Cert::LAB, &ca, &names)?;
    let users = if cfg.users.is_empty() {
        vec![session::LabUser::new(DEFAULT_USER, "", DEFAULT_PASSWORD)]
    } else {
        cfg.users.clone()
    };
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    for e in &cfg.endpoints {
        let behaviour = e.fault.behaviour();
        let key = if behaviour.cert != Cert::LAB {
            certs::leaf_for(&behaviour.cert, &ca, &names)?
        } else {
            default_key.clone()
        };
        let (listener, udp, addr) = bind_pair(e.addr).await?;
        let spki = key
            .cert
            .first()
            .and_then(|c| crate::probe::auth::subject_public_key(c.as_ref()))
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            fault: e.fault,
            behaviour,
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
            gateway::faults::Tls::Cert(name) => {
                let fault = Fault::parse(name).ok_or_else(|| {
                    format!("gateway fault {}: no lab fault {name}", g.fault.name)
                })?;
                certs::leaf_for(&fault.behaviour().cert, &ca, &names)?
            }
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
