//! Minimal blocking RDP client steps for the harness's own checks, built on the wire crate:
//! X.224 Connection Request -> Connection Confirm ([MS-RDPBCGR] 2.2.1.1 / 2.2.1.2), then
//! optionally a TLS handshake (rustls, any certificate accepted) to see what the server serves.
//! This is not rdp-doctor's probe; it exists to prove the lab servers are what they claim.

use rdp_doctor_wire::nego::{NegRequest, Protocols};
use rdp_doctor_wire::tpkt::{self, FrameStatus};
use rdp_doctor_wire::x224::{self, ConnectionConfirm, ConnectionRequest, Tpdu};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A Connection Confirm as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The whole TPKT frame.
    pub raw: Vec<u8>,
    pub cc: ConnectionConfirm,
}

/// Hex for assertion messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends a CR with `RDP_NEG_REQ requestedProtocols = requested` (or no RDP_NEG_REQ at all when
/// `None`, like a pre-RDP-5.2 client) and reads one TPKT frame, which must be a CC.
pub fn x224_connect(
    addr: SocketAddr,
    requested: Option<u32>,
) -> Result<(TcpStream, Confirm), String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("TCP connect {addr}: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let cr = ConnectionRequest {
        token: None,
        nego: requested.map(|p| NegRequest {
            flags: 0,
            protocols: Protocols(p),
        }),
        correlation_id: None,
    };
    let payload = cr.encode().map_err(|e| format!("encode CR: {e:?}"))?;
    let frame = tpkt::encode(&payload).map_err(|e| format!("encode TPKT: {e:?}"))?;
    s.write_all(&frame)
        .map_err(|e| format!("send X.224 CR: {e}"))?;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    let len = loop {
        match tpkt::frame_status(&buf) {
            FrameStatus::Complete { len } => break len,
            FrameStatus::Incomplete { .. } => {}
            other => return Err(format!("not a TPKT frame: {other:?}: {}", hex(&buf))),
        }
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("read X.224 CC (got {}): {e}", hex(&buf)))?;
        if n == 0 {
            return Err(format!(
                "server closed before a whole CC (got {})",
                hex(&buf)
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
    };
    buf.truncate(len);
    let (payload, _) = tpkt::split_frame(&buf).map_err(|e| format!("TPKT: {e:?}"))?;
    match x224::decode(payload) {
        Ok(Tpdu::ConnectionConfirm(cc)) => Ok((
            s,
            Confirm {
                raw: buf.clone(),
                cc,
            },
        )),
        Ok(other) => Err(format!("expected a CC, got {other:?}: {}", hex(&buf))),
        Err(e) => Err(format!("decode CC: {e:?}: {}", hex(&buf))),
    }
}

/// Only the Connection Confirm (the connection is closed afterwards).
pub fn x224_confirm(addr: SocketAddr, requested: Option<u32>) -> Result<Confirm, String> {
    x224_connect(addr, requested).map(|(_, c)| c)
}

/// What a TLS handshake after the CC showed.
#[derive(Debug, Clone)]
pub struct TlsPeek {
    pub confirm: Confirm,
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// The certificates the server sent, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// Bytes received from the server during the handshake (its TLS flight(s), record
    /// headers included): what has to cross the path MTU (docs/network-paths.md).
    pub handshake_bytes_in: usize,
}

/// Counts the bytes read through it.
struct Counting<'a> {
    inner: &'a mut TcpStream,
    read: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Accepts any certificate: the harness wants to see what is served, not to judge it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Which TLS versions the harness client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    Both,
    Only12,
    Only13,
}

/// X.224 with `requested`, then a TLS handshake (SNI `localhost`) offering `versions`.
pub fn tls_peek(
    addr: SocketAddr,
    requested: u32,
    versions: TlsVersions,
) -> Result<TlsPeek, String> {
    let (mut sock, confirm) = x224_connect(addr, Some(requested))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let vers: &[&rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Only12 => &[&rustls::version::TLS12],
        TlsVersions::Only13 => &[&rustls::version::TLS13],
    };
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(vers)
        .map_err(|e| format!("rustls config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").map_err(|e| format!("server name: {e}"))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| format!("rustls: {e}"))?;
    let mut counting = Counting {
        inner: &mut sock,
        read: 0,
    };
    while conn.is_handshaking() {
        conn.complete_io(&mut counting)
            .map_err(|e| format!("TLS handshake after CC {}: {e}", hex(&confirm.raw)))?;
    }
    let handshake_bytes_in = counting.read;
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let chain = conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
        .unwrap_or_default();
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(TlsPeek {
        confirm,
        version,
        chain,
        handshake_bytes_in,
    })
}

/// The DER certificates in a PEM file, in order.
pub fn pem_certs(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    let data = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    CertificateDer::pem_slice_iter(&data)
        .map(|c| c.map(|d| d.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PEM {}: {e}", path.display()))
}
