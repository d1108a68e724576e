//! The credentialed CredSSP exchange (`check --user`), on the main connection after TLS:
//!
//! 1. NEGOTIATE -> CHALLENGE, reported exactly as the unauthenticated probe does
//!    ([`super::credssp::classify`]: version, errorCode, target info, clock);
//! 2. the credential gate ([`crate::credentials::gate`]): nothing derived from the password is
//!    computed for a server that fails it;
//! 3. AUTHENTICATE + pubKeyAuth ([MS-CSSP] 3.1.5), then the server's pubKeyAuth, checked
//!    against the TLS key we saw;
//! 4. authInfo (the delegated TSCredentials, [MS-CSSP] 2.2.1.2) and, under HYBRID_EX, the
//!    Early User Authorization Result ([MS-RDPBCGR] 2.2.10.2).
//!
//! The server's verdict is read from what arrives at each step: a TSRequest errorCode, the
//! early authorization result, or how the connection ended. Package: NTLM (Kerberos is not
//! implemented). The codecs are ours (`rdp_doctor_wire::{credssp, ntlm}`); IronRDP/sspi-rs
//! are not used: sspi's CredSSP client turns the server's errorCode into an error value
//! after the fact and would add its build weight for codes our codecs already expose.

use super::credssp::{classify, progress};
use super::net::{self, ReadEnd};
use crate::credentials::{gate, Credentials};
use crate::facts::{
    AuthFact, AuthOutcome, AuthPackage, AuthRound, CertFact, CredsspFact, CredsspOutcome,
};
use rdp_doctor_wire::credssp::{self, EarlyUserAuthResult, ErrorCode, TsPasswordCreds, TsRequest};
use rdp_doctor_wire::nego::Protocols;
use rdp_doctor_wire::ntlm::{self, ClientAuthInput, Key16, Negotiate, Version};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What `check --user` needs besides the target.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    pub credentials: Arc<Credentials>,
    /// Where the password came from, for the report.
    pub password_source: &'static str,
    /// `--trust-fingerprint`, normalised (uppercase hex).
    pub pinned_sha256: Option<String>,
    /// `--insecure-send-credentials`.
    pub insecure: bool,
    /// `--full`: continue through MCS and licensing to the Demand Active PDU.
    pub full: bool,
}

/// The NTLM workstation name we announce: it shows in the server's Security 4624/4625 events.
pub const WORKSTATION: &str = "RDP-DOCTOR";

/// The name of a TSRequest errorCode: the wire table, then the explain tables (NTSTATUS and
/// SEC_E), so an unknown code is still named when the knowledge base knows it.
pub fn error_name(code: u32) -> Option<String> {
    if let Some(n) = ErrorCode(code).name() {
        return Some(n.to_string());
    }
    let book = crate::kb::codes::codebook();
    ["ntstatus", "sec-e"].iter().find_map(|t| {
        book.table(t)?
            .entries
            .iter()
            .find(|e| e.code == code && e.provider.is_none())
            .map(|e| e.name.clone())
    })
}

/// A fact for a run that did not get to use the credentials.
pub fn fact(opts: &AuthOptions, outcome: AuthOutcome, round: AuthRound) -> AuthFact {
    AuthFact {
        outcome,
        duration_ms: 0.0,
        user: opts.credentials.display_name(),
        password_source: opts.password_source.to_string(),
        package: AuthPackage::Ntlm,
        round,
        trust_basis: None,
        refused_because: Vec::new(),
        ntlm_response_sent: false,
        credentials_delegated: false,
        server_version: None,
        version_used: None,
        error_code: None,
        error_name: None,
        early_user_auth: None,
        early_user_auth_name: None,
        selected_protocol: None,
        clock_skew_seconds: None,
        error: None,
    }
}

/// The subjectPublicKey (BIT STRING contents) of a DER certificate: what pubKeyAuth binds.
pub fn subject_public_key(leaf: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(leaf).ok()?;
    Some(c.public_key().subject_public_key.data.to_vec())
}

fn ts_end(end: &ReadEnd, what: &str) -> (AuthOutcome, String) {
    match end {
        ReadEnd::Timeout => (AuthOutcome::Timeout, format!("no answer to {what}")),
        ReadEnd::Eof => (AuthOutcome::Dropped, format!("closed (FIN) after {what}")),
        ReadEnd::Reset => (AuthOutcome::Dropped, format!("reset (RST) after {what}")),
        ReadEnd::Error(e) => (
            AuthOutcome::Dropped,
            format!(
                "connection error after {what}: {}",
                crate::sanitize::escape(e)
            ),
        ),
        ReadEnd::Invalid => (
            AuthOutcome::Malformed,
            format!("not a TSRequest after {what}"),
        ),
        ReadEnd::Frame { .. } => (AuthOutcome::Malformed, String::new()),
    }
}

async fn send<S: AsyncWrite + Unpin>(
    s: &mut S,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), ReadEnd> {
    let w = async {
        s.write_all(bytes).await?;
        s.flush().await
    };
    match tokio::time::timeout(timeout, w).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(net::io_end(&e)),
        Err(_) => Err(ReadEnd::Timeout),
    }
}

async fn read_ts<S: AsyncRead + Unpin>(
    s: &mut S,
    timeout: Duration,
) -> Result<TsRequest, (ReadEnd, Option<String>)> {
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, credssp::MAX_TS_REQUEST_LEN, timeout, progress).await;
    match end {
        ReadEnd::Frame { len } => TsRequest::decode(buf.get(..len).unwrap_or(&[]))
            .map_err(|e| (ReadEnd::Invalid, Some(e.to_string()))),
        other => Err((other, None)),
    }
}

/// Runs the exchange. Returns the unauthenticated facts (as the plain probe reports them), the
/// auth fact, and whether the stream is ready for what follows CredSSP (MCS).
#[allow(clippy::too_many_arguments)]
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    opts: &AuthOptions,
    selected: Protocols,
    host: &str,
    cert: Option<&CertFact>,
    leaf: Option<&[u8]>,
    timeout: Duration,
    now_unix: i64,
) -> (CredsspFact, AuthFact, bool) {
    let start = Instant::now();
    let mut af = fact(opts, AuthOutcome::NotReached, AuthRound::Negotiate);
    af.selected_protocol = selected.short_name().map(str::to_uppercase);
    let mut cf = CredsspFact::empty();
    let done = |mut cf: CredsspFact, mut af: AuthFact, ok: bool| {
        af.duration_ms = net::ms(start.elapsed());
        if cf.duration_ms == 0.0 {
            cf.duration_ms = af.duration_ms;
        }
        (cf, af, ok)
    };

    // 1. NEGOTIATE -> CHALLENGE
    let negotiate = Negotiate::modern_client().encode();
    let first = TsRequest::with_token(credssp::VERSION_CURRENT, negotiate.clone());
    if let Err(end) = send(s, &first.encode(), timeout).await {
        let (o, e) = ts_end(&end, "our first TSRequest");
        cf.outcome = match o {
            AuthOutcome::Timeout => CredsspOutcome::Timeout,
            _ => CredsspOutcome::Reset,
        };
        af.error = Some(e);
        return done(cf, af, false);
    }
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, credssp::MAX_TS_REQUEST_LEN, timeout, progress).await;
    cf.duration_ms = net::ms(start.elapsed());
    cf.server_bytes = buf.len();
    classify(&end, &buf, now_unix, &mut cf);
    af.server_version = cf.server_version;
    af.clock_skew_seconds = cf.ntlm.as_ref().and_then(|n| n.clock_skew_seconds);
    match cf.outcome {
        CredsspOutcome::Challenge => {}
        CredsspOutcome::ServerError => {
            af.outcome = AuthOutcome::ServerError;
            af.error_code = cf.error_code;
            af.error_name = cf.error_code.and_then(error_name);
            return done(cf, af, false);
        }
        _ => {
            // The unauthenticated facts already say how the first round failed.
            af.error =
                Some("CredSSP failed before credentials were used (see the credssp phase)".into());
            return done(cf, af, false);
        }
    }
    let Some(len) = (match end {
        ReadEnd::Frame { len } => Some(len),
        _ => None,
    }) else {
        return done(cf, af, false);
    };
    let challenge = match TsRequest::decode(buf.get(..len).unwrap_or(&[]))
        .ok()
        .and_then(|t| t.first_token().map(<[u8]>::to_vec))
    {
        Some(c) => c,
        None => return done(cf, af, false),
    };
    let server_version = cf.server_version.unwrap_or(2);
    let version = server_version.min(credssp::VERSION_CURRENT);
    af.version_used = Some(version);

    // 2. the gate, before anything is derived from the password
    match gate(cert, opts.pinned_sha256.as_deref(), opts.insecure) {
        Ok(basis) => af.trust_basis = Some(basis),
        Err(why) => {
            af.outcome = AuthOutcome::NotSent;
            af.refused_because = why;
            return done(cf, af, false);
        }
    }
    let Some(spki) = leaf.and_then(subject_public_key) else {
        af.outcome = AuthOutcome::ClientError;
        af.error =
            Some("the server's certificate has no readable public key to bind CredSSP to".into());
        return done(cf, af, false);
    };

    // 3. AUTHENTICATE + pubKeyAuth
    let creds = &opts.credentials;
    let nt = ntlm::nt_hash(creds.password.expose());
    let session_key = Key16::from_bytes(rand::random());
    let spn = format!("TERMSRV/{host}");
    let input = ClientAuthInput {
        negotiate: &negotiate,
        challenge: &challenge,
        user: &creds.user,
        domain: &creds.domain,
        workstation: WORKSTATION,
        nt_hash: &nt,
        client_challenge: rand::random(),
        timestamp: ntlm::unix_seconds_to_filetime(now_unix),
        exported_session_key: &session_key,
        target_spn: Some(&spn),
        channel_bindings: None,
        version: Some(Version::WINDOWS_10),
    };
    let mut out = match ntlm::compute_authenticate(&input) {
        Ok(o) => o,
        Err(e) => {
            af.outcome = AuthOutcome::ClientError;
            af.round = AuthRound::Authenticate;
            af.error = Some(format!("cannot answer the server's CHALLENGE: {e}"));
            return done(cf, af, false);
        }
    };
    drop(nt);
    let nonce: [u8; credssp::NONCE_LEN] = rand::random();
    let mut req = TsRequest::with_token(
        credssp::VERSION_CURRENT,
        std::mem::take(&mut out.authenticate),
    );
    req.pub_key_auth = Some(credssp::client_pub_key_auth(
        &mut out.session,
        version,
        &nonce,
        &spki,
    ));
    req.client_nonce = Some(nonce);
    af.round = AuthRound::Authenticate;
    if let Err(end) = send(s, &req.adapted_to_peer(server_version).encode(), timeout).await {
        let (o, e) = ts_end(&end, "our NTLM AUTHENTICATE");
        af.outcome = o;
        af.error = Some(e);
        return done(cf, af, false);
    }
    af.ntlm_response_sent = true;
    let answer = match read_ts(s, timeout).await {
        Ok(t) => t,
        Err((end, detail)) => {
            let (o, e) = ts_end(&end, "our NTLM AUTHENTICATE");
            af.outcome = o;
            af.error = Some(detail.map(|d| format!("{e}: {d}")).unwrap_or(e));
            return done(cf, af, false);
        }
    };
    if let Some(code) = answer.error_code {
        af.outcome = AuthOutcome::ServerError;
        af.error_code = Some(code);
        af.error_name = error_name(code);
        return done(cf, af, false);
    }
    let Some(pka) = answer.pub_key_auth.as_deref() else {
        af.outcome = AuthOutcome::Malformed;
        af.error =
            Some("the server's answer to AUTHENTICATE has neither pubKeyAuth nor errorCode".into());
        return done(cf, af, false);
    };
    if let Err(e) =
        credssp::verify_server_pub_key_auth(&mut out.session, version, &nonce, &spki, pka)
    {
        af.outcome = AuthOutcome::PubKeyMismatch;
        af.error = Some(format!("the server's pubKeyAuth (TSRequest version {}) does not verify for version {version}: {e}", answer.version));
        return done(cf, af, false);
    }

    // 4. authInfo, then (HYBRID_EX) the early user authorization result
    let pw = TsPasswordCreds {
        domain: &creds.domain,
        user: &creds.user,
        password: creds.password.expose(),
    };
    let mut info = TsRequest::with_token(credssp::VERSION_CURRENT, Vec::new());
    info.nego_tokens.clear();
    info.auth_info = Some(credssp::client_auth_info(&mut out.session, &pw));
    af.round = AuthRound::AuthInfo;
    if let Err(end) = send(s, &info.adapted_to_peer(server_version).encode(), timeout).await {
        let (o, e) = ts_end(&end, "our authInfo");
        af.outcome = o;
        af.error = Some(e);
        return done(cf, af, false);
    }
    af.credentials_delegated = true;
    if selected.contains(Protocols::HYBRID_EX) {
        af.round = AuthRound::EarlyUserAuthorization;
        let mut b = [0u8; EarlyUserAuthResult::LEN];
        match tokio::time::timeout(timeout, s.read_exact(&mut b)).await {
            Err(_) => {
                af.outcome = AuthOutcome::Timeout;
                af.error = Some("no Early User Authorization Result after authInfo".into());
                return done(cf, af, false);
            }
            Ok(Err(e)) => {
                let (o, msg) = ts_end(&net::io_end(&e), "our authInfo");
                af.outcome = o;
                af.error = Some(msg);
                return done(cf, af, false);
            }
            Ok(Ok(_)) => {}
        }
        let r = EarlyUserAuthResult(u32::from_le_bytes(b));
        af.early_user_auth = Some(r.0);
        af.early_user_auth_name = Some(
            r.name()
                .map(String::from)
                .unwrap_or_else(|| format!("unknown 0x{:08X}", r.0)),
        );
        if r != EarlyUserAuthResult::AUTHZ_SUCCESS {
            af.outcome = AuthOutcome::AccessDenied;
            return done(cf, af, false);
        }
    }
    af.outcome = AuthOutcome::Success;
    done(cf, af, true)
}
