//! The TLS step: a rustls handshake whose verifier *records* the server's chain instead of
//! rejecting it, over a stream wrapper that counts (and keeps the first bytes of) what the
//! server sent, so a failed or stalled handshake still yields evidence.

use super::net;
use crate::facts::{AlertDirection, TlsAlertFact, TlsFact, TlsFailure, TlsOutcome};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How many server bytes we keep for analysis (the whole first flight of any real server).
const CAPTURE_MAX: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    total: usize,
}

/// A stream that records what the peer sent.
pub struct Counting<S> {
    inner: S,
    capture: Arc<Mutex<Capture>>,
}

impl<S> Counting<S> {
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = buf.filled().get(before..).unwrap_or(&[]);
            if let Ok(mut c) = self.capture.lock() {
                c.total += new.len();
                let room = CAPTURE_MAX.saturating_sub(c.bytes.len());
                c.bytes
                    .extend_from_slice(new.get(..room.min(new.len())).unwrap_or(&[]));
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts every certificate but keeps the chain, and whether the handshake signature verified.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Mutex<Option<Vec<Vec<u8>>>>,
    signature_ok: Mutex<Option<bool>>,
}

impl RecordingVerifier {
    fn note_signature(
        &self,
        r: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if let Ok(mut s) = self.signature_ok.lock() {
            *s = Some(r.is_ok());
        }
        Ok(HandshakeSignatureValid::assertion())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.as_ref().to_vec()];
        chain.extend(intermediates.iter().take(16).map(|c| c.as_ref().to_vec()));
        if let Ok(mut c) = self.chain.lock() {
            *c = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_signature(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_signature(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

pub struct TlsResult<S = TcpStream> {
    pub fact: TlsFact,
    /// Leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// Whether the server's handshake signature verified with its certificate's key.
    pub signature_ok: Option<bool>,
    pub stream: Option<TlsStream<Counting<S>>>,
}

pub fn server_name(host: &str) -> ServerName<'static> {
    match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into())),
    }
}

/// The bytes of the ClientHello this check's TLS handshake starts with (the identification
/// probe sends it to a listener that did not answer X.224). `None` only if rustls cannot be
/// configured.
pub fn client_hello(host: &str) -> Option<Vec<u8>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(RecordingVerifier {
        provider: provider.clone(),
        chain: Mutex::new(None),
        signature_ok: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.enable_sni = host.parse::<IpAddr>().is_err();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server_name(host)).ok()?;
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).ok()? == 0 {
            break;
        }
    }
    Some(out)
}

/// Runs the TLS handshake over an already negotiated X.224 connection.
pub async fn handshake(stream: TcpStream, host: &str, timeout: Duration) -> TlsResult {
    handshake_over(stream, host, timeout).await
}

/// The handshake over any byte stream (a socket, or a gateway's tunnel).
pub async fn handshake_over<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    timeout: Duration,
) -> TlsResult<S> {
    let start = Instant::now();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(RecordingVerifier {
        provider: provider.clone(),
        chain: Mutex::new(None),
        signature_ok: Mutex::new(None),
    });
    let config = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth(),
        Err(e) => {
            return TlsResult {
                fact: error_fact(&start, format!("TLS configuration: {e}")),
                chain: Vec::new(),
                signature_ok: None,
                stream: None,
            }
        }
    };
    let mut config = config;
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_sni = host.parse::<IpAddr>().is_err();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let capture = Arc::new(Mutex::new(Capture::default()));
    let counting = Counting {
        inner: stream,
        capture: capture.clone(),
    };
    let result =
        tokio::time::timeout(timeout, connector.connect(server_name(host), counting)).await;
    let duration_ms = net::ms(start.elapsed());
    let (bytes, total) = capture
        .lock()
        .map(|c| (c.bytes.clone(), c.total))
        .unwrap_or_default();
    let flight = rdp_doctor_wire::tls::analyze_server_flight(&bytes);
    let chain = verifier
        .chain
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .unwrap_or_default();
    let signature_ok = verifier.signature_ok.lock().ok().and_then(|s| *s);
    let mut fact = TlsFact {
        outcome: TlsOutcome::Ok,
        duration_ms,
        version: None,
        cipher_suite: None,
        server_bytes: total,
        server_complete_record_bytes: flight.complete_record_bytes,
        alert: flight.alert.map(|a| TlsAlertFact {
            level: a.level,
            description: a.description,
            name: a.description_name().into(),
            direction: AlertDirection::Received,
        }),
        server_hello_version: flight
            .server_hello
            .map(|h| rdp_doctor_wire::tls::version_name(h.version())),
        chain_length: chain.len(),
        error: None,
        failure: None,
        mss: None,
    };
    let stream = match result {
        Err(_) => {
            fact.outcome = TlsOutcome::Stalled;
            None
        }
        Ok(Ok(s)) => {
            let (_, conn) = s.get_ref();
            fact.version = conn.protocol_version().map(version_label);
            fact.cipher_suite = conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()));
            Some(s)
        }
        Ok(Err(e)) => {
            classify_error(&e, &flight, &mut fact);
            None
        }
    };
    TlsResult {
        fact,
        chain,
        signature_ok,
        stream,
    }
}

fn version_label(v: rustls::ProtocolVersion) -> String {
    rdp_doctor_wire::tls::version_name(u16::from(v))
}

fn error_fact(start: &Instant, error: String) -> TlsFact {
    TlsFact {
        error: Some(error),
        failure: Some(TlsFailure::Other),
        ..TlsFact::new(TlsOutcome::Error, net::ms(start.elapsed()))
    }
}

fn classify_error(e: &io::Error, flight: &rdp_doctor_wire::tls::ServerFlight, fact: &mut TlsFact) {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    fact.error = Some(match inner {
        Some(r) => r.to_string(),
        None => e.to_string(),
    });
    fact.failure = Some(inner.map_or(TlsFailure::Connection, failure_of));
    if flight.not_tls {
        fact.outcome = TlsOutcome::Error;
        fact.error = Some("the server answered the ClientHello with bytes that are not TLS".into());
        fact.failure = Some(TlsFailure::NotTls);
        return;
    }
    fact.outcome = match inner {
        Some(rustls::Error::AlertReceived(desc)) => {
            let d = u8::from(*desc);
            fact.alert = Some(TlsAlertFact {
                level: 2,
                description: d,
                name: rdp_doctor_wire::tls::alert_name(d).into(),
                direction: AlertDirection::Received,
            });
            TlsOutcome::Alert
        }
        Some(_) => TlsOutcome::Error,
        None => match net::io_end(e) {
            net::ReadEnd::Reset => TlsOutcome::Reset,
            net::ReadEnd::Eof => TlsOutcome::Closed,
            _ => TlsOutcome::Error,
        },
    };
    if fact.outcome == TlsOutcome::Error && flight.alert.is_some() {
        fact.outcome = TlsOutcome::Alert;
    }
}

/// Why rustls refused the handshake, from its error value.
pub fn failure_of(e: &rustls::Error) -> TlsFailure {
    use rustls::{Error, InvalidMessage, PeerIncompatible as P};
    match e {
        Error::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13
            | P::ServerTlsVersionIsDisabledByOurConfig
            | P::SupportedVersionsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled
            | P::Tls13RequiredForQuic,
        ) => TlsFailure::VersionMismatch,
        Error::PeerIncompatible(
            P::NoCipherSuitesInCommon
            | P::NoKxGroupsInCommon
            | P::NoSignatureSchemesInCommon
            | P::NoEcPointFormatsInCommon
            | P::NoCertificateRequestSignatureSchemesInCommon,
        ) => TlsFailure::NoCommonCipher,
        Error::PeerIncompatible(_) => TlsFailure::Incompatible,
        // A record or ServerHello version rustls does not know (SSLv2/v3-era servers).
        Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            TlsFailure::VersionMismatch
        }
        // rustls refuses a handshake message over 0xFFFF bytes (MAX_HANDSHAKE_SIZE): our limit,
        // not the server's fault (TLS allows 2^24 - 1).
        Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge) => {
            TlsFailure::HandshakeTooLarge
        }
        Error::InvalidMessage(_) => TlsFailure::InvalidMessage,
        Error::PeerMisbehaved(_)
        | Error::InappropriateMessage { .. }
        | Error::InappropriateHandshakeMessage { .. } => TlsFailure::Misbehaved,
        Error::AlertReceived(_) => TlsFailure::AlertReceived,
        Error::NoCertificatesPresented => TlsFailure::NoCertificate,
        _ => TlsFailure::Other,
    }
}

/// A duplicate handle on a socket, so its kernel statistics can be read after the stream was
/// moved into a TLS connector (and even after that future was dropped on a time-out).
#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, Error, InvalidMessage, PeerIncompatible, PeerMisbehaved};

    #[test]
    fn failures_come_from_the_rustls_error() {
        let cases = [
            (
                Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
                TlsFailure::VersionMismatch,
            ),
            (
                Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion),
                TlsFailure::VersionMismatch,
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                TlsFailure::NoCommonCipher,
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NullCompressionRequired),
                TlsFailure::Incompatible,
            ),
            (
                Error::PeerMisbehaved(PeerMisbehaved::SelectedUnofferedCipherSuite),
                TlsFailure::Misbehaved,
            ),
            (
                Error::InvalidMessage(InvalidMessage::MessageTooShort),
                TlsFailure::InvalidMessage,
            ),
            (
                Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge),
                TlsFailure::HandshakeTooLarge,
            ),
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                TlsFailure::AlertReceived,
            ),
            (Error::NoCertificatesPresented, TlsFailure::NoCertificate),
            (Error::DecryptError, TlsFailure::Other),
        ];
        for (e, want) in cases {
            assert_eq!(failure_of(&e), want, "{e}");
        }
    }
}
