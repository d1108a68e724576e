//! The lab's CredSSP and MCS answers (after the X.224/TLS steps in `conn`).

use super::conn::{hold, log};
use super::Shared;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};

/// Standard RDP Security: the client's next message is the MCS Connect Initial, in the clear.
pub(crate) async fn standard_rdp<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
) {
    log(shared, peer, "standard RDP security: waiting for MCS");
    hold(&mut s).await;
}

/// TLS without CredSSP: the client's next message is the MCS Connect Initial.
pub(crate) async fn mcs_over_tls<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
) {
    log(shared, peer, "TLS: waiting for MCS");
    hold(&mut s).await;
}

/// CredSSP: answer the client's NTLM NEGOTIATE.
pub(crate) async fn credssp<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
    _selected: rdp_doctor_wire::nego::Protocols,
) {
    log(shared, peer, "CredSSP: waiting for TSRequest");
    hold(&mut s).await;
}
