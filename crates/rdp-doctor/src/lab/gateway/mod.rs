//! `rdp-doctor lab --gateway ADDR:PORT`: an RD Gateway ([MS-TSGU] HTTP transport) that behaves
//! correctly up to a chosen fault. TLS with the lab's certificates; the RD Gateway resource
//! over WebSocket and over the legacy two-connection transport; NTLM authentication of the lab
//! users over HTTP (scheme `NTLM`, or raw NTLMSSP under `Negotiate`); an access token (PAA);
//! a CAP (which users may use the gateway) and a RAP (which targets they may reach: loopback
//! ones and those given with `--gateway-allow`); and a relay of the channel to the target:
//! the lab's own RDP faults, xrdp, a FreeRDP shadow server.
//!
//! The faults are a table ([`faults::FAULTS`]); `conn` and `tunnel` act on a fault's
//! behaviour. A test tool: loopback only unless the lab is told otherwise.

mod conn;
pub mod faults;
mod tunnel;

pub use faults::{GwFault, Needs, FAULTS};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The access token the lab gateway accepts (`gatewayaccesstoken`, FreeRDP `/gat:`): a
/// published test value like the lab password.
pub const LAB_TOKEN: &str = "LabToken1";

/// One gateway endpoint.
#[derive(Debug, Clone)]
pub struct GatewayEndpoint {
    pub addr: SocketAddr,
    pub fault: &'static GwFault,
    /// Targets the RAP admits besides loopback addresses (`HOST:PORT`, or `HOST` for any port).
    pub allow: Vec<String>,
    /// Users the CAP admits (empty: every lab user).
    pub cap_users: Vec<String>,
}

/// A legacy OUT channel waiting for its IN channel (keyed by RDG-Connection-Id).
pub(crate) type InChannel = (
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
);

/// State shared by the connections of one gateway endpoint.
pub(crate) struct GwShared {
    pub fault: &'static GwFault,
    pub tls: Arc<rustls::ServerConfig>,
    pub addr: SocketAddr,
    pub log: bool,
    pub users: Vec<super::LabUser>,
    pub allow: Vec<String>,
    pub cap_users: Vec<String>,
    /// OUT channels waiting for their IN channel.
    pub waiting: Mutex<HashMap<String, tokio::sync::oneshot::Sender<InChannel>>>,
    pub next_tunnel: std::sync::atomic::AtomicU32,
}

pub(crate) fn log(shared: &GwShared, peer: SocketAddr, msg: &str) {
    if shared.log {
        eprintln!(
            "lab gateway {} [{}] {peer}: {msg}",
            shared.addr, shared.fault.name
        );
    }
}

/// Binds one gateway endpoint and serves it until the task is aborted.
pub(crate) async fn start(
    e: &GatewayEndpoint,
    tls: Arc<rustls::ServerConfig>,
    users: Vec<super::LabUser>,
    log: bool,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), String> {
    let listener = TcpListener::bind(e.addr)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", e.addr))?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    let shared = Arc::new(GwShared {
        fault: e.fault,
        tls,
        addr,
        log,
        users,
        allow: e.allow.clone(),
        cap_users: e.cap_users.clone(),
        waiting: Mutex::new(HashMap::new()),
        next_tunnel: std::sync::atomic::AtomicU32::new(1),
    });
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let s = shared.clone();
                    tokio::spawn(async move { conn::serve(stream, peer, s).await });
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    });
    Ok((task, addr))
}
