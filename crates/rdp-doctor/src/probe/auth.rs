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
//! early authorization result, or how the connection ended. Packages: NTLM ([`run`]) and
//! Kerberos ([`run_kerberos`], with the service ticket the `kdc` step obtained); both end in
//! the same [`finish`] over the [`credssp::Seal`] of their package. The codecs are ours (`rdp_doctor_wire::{credssp, ntlm}`); IronRDP/sspi-rs
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
    /// `--auth`: Kerberos when it can be used (negotiate, as mstsc), only Kerberos, only NTLM.
    pub mode: super::kdc::AuthMode,
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
        auth_mode: None,
        kerberos_unavailable: None,
        kerberos: None,
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
    let req = TsRequest::with_token(
        credssp::VERSION_CURRENT,
        std::mem::take(&mut out.authenticate),
    );
    af.round = AuthRound::Authenticate;
    let ok = finish(
        s,
        &mut out.session,
        req,
        Finish {
            server_version,
            version,
            nonce,
            spki: &spki,
            creds,
            selected,
            timeout,
            sent: "our NTLM AUTHENTICATE",
        },
        &mut af,
        |af| af.ntlm_response_sent = true,
    )
    .await;
    done(cf, af, ok)
}

/// What the end of CredSSP needs, whatever the package.
pub(crate) struct Finish<'a> {
    pub server_version: u32,
    pub version: u32,
    pub nonce: [u8; credssp::NONCE_LEN],
    pub spki: &'a [u8],
    pub creds: &'a Credentials,
    pub selected: Protocols,
    pub timeout: Duration,
    /// What `req` carries, for the report ("our NTLM AUTHENTICATE").
    pub sent: &'static str,
}

/// The end of CredSSP, the same for NTLM and Kerberos ([MS-CSSP] 3.1.5): `req` goes out with
/// pubKeyAuth and clientNonce added, the server's pubKeyAuth must bind the TLS key we saw,
/// then authInfo (the delegated TSCredentials) and, under HYBRID_EX, the Early User
/// Authorization Result. `on_sent` marks the fact once `req` left. Returns whether the stream
/// is ready for what follows CredSSP.
pub(crate) async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    session: &mut impl credssp::Seal,
    mut req: TsRequest,
    f: Finish<'_>,
    af: &mut AuthFact,
    on_sent: impl FnOnce(&mut AuthFact),
) -> bool {
    req.pub_key_auth = Some(credssp::client_pub_key_auth(
        session, f.version, &f.nonce, f.spki,
    ));
    req.client_nonce = Some(f.nonce);
    if let Err(end) = send(
        s,
        &req.adapted_to_peer(f.server_version).encode(),
        f.timeout,
    )
    .await
    {
        let (o, e) = ts_end(&end, f.sent);
        af.outcome = o;
        af.error = Some(e);
        return false;
    }
    on_sent(af);
    let answer = match read_ts(s, f.timeout).await {
        Ok(t) => t,
        Err((end, detail)) => {
            let (o, e) = ts_end(&end, f.sent);
            af.outcome = o;
            af.error = Some(detail.map(|d| format!("{e}: {d}")).unwrap_or(e));
            return false;
        }
    };
    if let Some(code) = answer.error_code {
        af.outcome = AuthOutcome::ServerError;
        af.error_code = Some(code);
        af.error_name = error_name(code);
        return false;
    }
    let Some(pka) = answer.pub_key_auth.as_deref() else {
        af.outcome = AuthOutcome::Malformed;
        af.error = Some(format!(
            "the server's answer to {} has neither pubKeyAuth nor errorCode",
            f.sent.trim_start_matches("our ")
        ));
        return false;
    };
    if let Err(e) = credssp::verify_server_pub_key_auth(session, f.version, &f.nonce, f.spki, pka) {
        af.outcome = AuthOutcome::PubKeyMismatch;
        af.error = Some(format!(
            "the server's pubKeyAuth (TSRequest version {}) does not verify for version {}: {e}",
            answer.version, f.version
        ));
        return false;
    }

    // authInfo, then (HYBRID_EX) the early user authorization result
    let pw = TsPasswordCreds {
        domain: &f.creds.domain,
        user: &f.creds.user,
        password: f.creds.password.expose(),
    };
    let mut info = TsRequest::with_token(credssp::VERSION_CURRENT, Vec::new());
    info.nego_tokens.clear();
    info.auth_info = Some(credssp::client_auth_info(session, &pw));
    af.round = AuthRound::AuthInfo;
    if let Err(end) = send(
        s,
        &info.adapted_to_peer(f.server_version).encode(),
        f.timeout,
    )
    .await
    {
        let (o, e) = ts_end(&end, "our authInfo");
        af.outcome = o;
        af.error = Some(e);
        return false;
    }
    af.credentials_delegated = true;
    if f.selected.contains(Protocols::HYBRID_EX) {
        af.round = AuthRound::EarlyUserAuthorization;
        let mut b = [0u8; EarlyUserAuthResult::LEN];
        match tokio::time::timeout(f.timeout, s.read_exact(&mut b)).await {
            Err(_) => {
                af.outcome = AuthOutcome::Timeout;
                af.error = Some("no Early User Authorization Result after authInfo".into());
                return false;
            }
            Ok(Err(e)) => {
                let (o, msg) = ts_end(&net::io_end(&e), "our authInfo");
                af.outcome = o;
                af.error = Some(msg);
                return false;
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
            return false;
        }
    }
    af.outcome = AuthOutcome::Success;
    true
}

/// The name of a SPNEGO mechanism OID for reports.
fn mech_name(oid: &[u8]) -> String {
    use rdp_doctor_wire::kerberos::gss::{OID_KRB5, OID_MS_KRB5, OID_NTLM};
    if oid == OID_KRB5 {
        "kerberos".into()
    } else if oid == OID_MS_KRB5 {
        "ms-kerberos".into()
    } else if oid == OID_NTLM {
        "ntlm".into()
    } else {
        crate::sanitize::hex(oid, 16)
    }
}

/// The mechanisms our SPNEGO token offers, as mstsc orders them: Microsoft's Kerberos OID,
/// then the standard one ([MS-KILE] 3.1.1.7); the token inside is a krb5 token either way.
const OUR_MECHS: [&[u8]; 2] = [
    &rdp_doctor_wire::kerberos::gss::OID_MS_KRB5,
    &rdp_doctor_wire::kerberos::gss::OID_KRB5,
];

/// CredSSP with Kerberos ([MS-CSSP] 3.1.5 with [MS-KILE] 3.4.5): our SPNEGO negTokenInit with
/// the AP-REQ for the service ticket (mutual authentication required), the server's AP-REP,
/// then pubKeyAuth and authInfo sealed with the context key (RFC 4121 Wrap, EC 0, RRC 28).
/// Nothing is sent before the credential gate passes; the NTLM-free probe fills the credssp
/// phase in that case.
#[allow(clippy::too_many_arguments)]
pub async fn run_kerberos<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    opts: &AuthOptions,
    selected: Protocols,
    cert: Option<&CertFact>,
    leaf: Option<&[u8]>,
    timeout: Duration,
    now_unix: i64,
    ticket: &super::kdc::ServiceTicket,
) -> (CredsspFact, AuthFact, bool) {
    use crate::facts::kerberos::KerberosCredsspFact;
    use rdp_doctor_wire::kerberos::crypto::Key;
    use rdp_doctor_wire::kerberos::gss::{self, Krb5Token};
    use rdp_doctor_wire::kerberos::messages::KrbError;
    use rdp_doctor_wire::kerberos::{self, spnego, ClientTime};

    let start = Instant::now();
    let mut af = fact(opts, AuthOutcome::NotReached, AuthRound::ApReq);
    af.package = crate::facts::AuthPackage::Kerberos;
    af.auth_mode = Some(opts.mode.as_str().into());
    af.selected_protocol = selected.short_name().map(str::to_uppercase);
    let mut kf = KerberosCredsspFact {
        spn: ticket.spn.clone(),
        ticket_etype: rdp_doctor_wire::kerberos::messages::TicketInfo::decode(&ticket.cred.ticket)
            .ok()
            .map(|t| t.etype),
        ..KerberosCredsspFact::default()
    };
    let mut cf = CredsspFact::empty();
    let done = |mut cf: CredsspFact, mut af: AuthFact, kf: KerberosCredsspFact, ok: bool| {
        af.duration_ms = net::ms(start.elapsed());
        af.kerberos = Some(kf);
        if cf.duration_ms == 0.0 {
            cf.duration_ms = af.duration_ms;
        }
        (cf, af, ok)
    };

    // The gate, before the ticket leaves this machine.
    match gate(cert, opts.pinned_sha256.as_deref(), opts.insecure) {
        Ok(basis) => af.trust_basis = Some(basis),
        Err(why) => {
            af.outcome = AuthOutcome::NotSent;
            af.refused_because = why;
            let cf = super::credssp::probe(s, timeout, now_unix).await;
            af.server_version = cf.server_version;
            return done(cf, af, kf, false);
        }
    }
    let Some(spki) = leaf.and_then(subject_public_key) else {
        af.outcome = AuthOutcome::ClientError;
        af.error =
            Some("the server's certificate has no readable public key to bind CredSSP to".into());
        return done(cf, af, kf, false);
    };

    // 1. SPNEGO(AP-REQ) -> SPNEGO(AP-REP)
    let etype = ticket.cred.session_key.etype();
    let sub_bytes = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
    let Ok(subkey) = Key::new(
        etype,
        sub_bytes
            .get(..rdp_doctor_wire::kerberos::crypto::key_len(etype).unwrap_or(32))
            .unwrap_or(&sub_bytes[..]),
    ) else {
        af.outcome = AuthOutcome::ClientError;
        af.error = Some("cannot make a subkey for the session key's type".into());
        return done(cf, af, kf, false);
    };
    let seq: u32 = rand::random::<u32>() & 0x3FFF_FFFF;
    let us = crate::clock::now_unix_us();
    let who = ClientTime {
        user: &ticket.cname,
        realm: &ticket.realm,
        unix: us.div_euclid(1_000_000),
        usec: us.rem_euclid(1_000_000) as u32,
    };
    let token = kerberos::ap_req_token(
        &ticket.cred,
        who,
        &subkey,
        seq,
        gss::ctx_flags::CREDSSP,
        &rand::random(),
    );
    kf.ap_req_bytes = token.len();
    let init = spnego::neg_token_init(&OUR_MECHS, Some(&token));
    let first = TsRequest::with_token(credssp::VERSION_CURRENT, init);
    if let Err(end) = send(s, &first.encode(), timeout).await {
        let (o, e) = ts_end(&end, "our Kerberos AP-REQ");
        cf.outcome = match o {
            AuthOutcome::Timeout => CredsspOutcome::Timeout,
            _ => CredsspOutcome::Reset,
        };
        af.outcome = o;
        af.error = Some(e);
        return done(cf, af, kf, false);
    }
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, credssp::MAX_TS_REQUEST_LEN, timeout, progress).await;
    cf.duration_ms = net::ms(start.elapsed());
    cf.server_bytes = buf.len();
    let answer = match &end {
        ReadEnd::Frame { len } => match TsRequest::decode(buf.get(..*len).unwrap_or(&[])) {
            Ok(t) => t,
            Err(e) => {
                cf.outcome = CredsspOutcome::Malformed;
                cf.error = Some(e.to_string());
                af.outcome = AuthOutcome::Malformed;
                af.error = Some(format!("not a TSRequest after our Kerberos AP-REQ: {e}"));
                return done(cf, af, kf, false);
            }
        },
        other => {
            let (o, e) = ts_end(other, "our Kerberos AP-REQ");
            cf.outcome = match other {
                ReadEnd::Timeout => CredsspOutcome::Timeout,
                ReadEnd::Eof => CredsspOutcome::Closed,
                ReadEnd::Invalid => CredsspOutcome::Malformed,
                _ => CredsspOutcome::Reset,
            };
            af.outcome = o;
            af.error = Some(e);
            return done(cf, af, kf, false);
        }
    };
    cf.outcome = CredsspOutcome::Spnego;
    cf.server_version = Some(answer.version);
    cf.error_code = answer.error_code;
    af.server_version = Some(answer.version);
    let server_version = answer.version;
    let version = server_version.min(credssp::VERSION_CURRENT);
    af.version_used = Some(version);
    if let Some(code) = answer.error_code {
        af.outcome = AuthOutcome::ServerError;
        af.error_code = Some(code);
        af.error_name = error_name(code);
        return done(cf, af, kf, false);
    }
    let Some(tok) = answer.first_token() else {
        af.outcome = AuthOutcome::Malformed;
        af.error = Some("the server's answer to our AP-REQ carries no negoToken".into());
        return done(cf, af, kf, false);
    };
    if !tok.is_empty() && tok.iter().all(|b| *b == 0) {
        kf.zero_token_bytes = Some(tok.len());
        af.outcome = AuthOutcome::KerberosRefused;
        af.error = Some(format!(
            "the server answered our AP-REQ with a negoToken of {} zero bytes instead of an AP-REP",
            tok.len()
        ));
        return done(cf, af, kf, false);
    }
    // SPNEGO, or a bare krb5 token from a server that answers in kind.
    let (resp, inner) = match spnego::NegTokenResp::decode(tok) {
        Ok(r) => {
            let inner = r.response_token.clone();
            (Some(r), inner)
        }
        Err(_) => (None, Some(tok.to_vec())),
    };
    if let Some(r) = &resp {
        kf.neg_state = r.neg_state.map(|n| spnego::neg_state::name(n).to_string());
        kf.supported_mech = r.supported_mech.as_deref().map(mech_name);
        if r.supported_mech.as_deref() == Some(&gss::OID_NTLM[..]) {
            af.outcome = AuthOutcome::KerberosRefused;
            af.error = Some("the server chose NTLM over our Kerberos token".into());
            return done(cf, af, kf, false);
        }
    }
    let ap_rep = match inner.as_deref().map(gss::parse_krb5_token) {
        Some(Ok(Krb5Token::ApRep(b))) => b.to_vec(),
        Some(Ok(Krb5Token::Error(b))) => {
            match KrbError::decode(b) {
                Ok(e) => {
                    kf.server_error_code = Some(e.error_code);
                    kf.server_error_name = kerberos::error_name(e.error_code).map(String::from);
                    kf.server_error_text = e.e_text.as_deref().map(crate::sanitize::escape);
                    let local = crate::clock::now_unix_us();
                    kf.server_clock_skew_seconds =
                        Some(((e.server_time_us() - local) as f64 / 1e4).round() / 100.0);
                    af.error = Some(format!(
                        "the server answered our AP-REQ with KRB-ERROR {} ({})",
                        e.error_code,
                        kf.server_error_name.as_deref().unwrap_or("?")
                    ));
                }
                Err(e) => af.error = Some(format!("a KRB-ERROR token that does not decode: {e}")),
            }
            af.outcome = AuthOutcome::KerberosRefused;
            return done(cf, af, kf, false);
        }
        Some(Ok(Krb5Token::ApReq(_) | Krb5Token::Other { .. })) | Some(Err(_)) => {
            af.outcome = AuthOutcome::Malformed;
            af.error = Some("the server's answer to our AP-REQ is not an AP-REP".into());
            return done(cf, af, kf, false);
        }
        None => {
            af.outcome = AuthOutcome::KerberosRefused;
            af.error = Some(match kf.neg_state.as_deref() {
                Some("reject") => {
                    "the server rejected our Kerberos token (SPNEGO negState reject)".into()
                }
                Some(st) => {
                    format!("SPNEGO negState {st} without an AP-REP: no mutual authentication")
                }
                None => "no AP-REP: no mutual authentication".into(),
            });
            return done(cf, af, kf, false);
        }
    };
    let rep = match kerberos::open_ap_rep(&ap_rep, &ticket.cred.session_key, who) {
        Ok(r) => r,
        Err(e) => {
            af.outcome = AuthOutcome::KerberosRefused;
            af.error = Some(format!("the server's AP-REP does not verify: {e}"));
            return done(cf, af, kf, false);
        }
    };
    kf.mutual_authentication = true;
    let (key, acceptor) = match rep
        .subkey
        .as_ref()
        .and_then(|k| Key::new(k.keytype, &k.keyvalue).ok())
    {
        Some(k) => (k, true),
        None => (subkey, false),
    };
    kf.acceptor_subkey = acceptor;
    let mut ctx =
        gss::InitiatorContext::new(key, acceptor, seq, Box::new(rand::random::<[u8; 16]>));

    // 2. pubKeyAuth (with our mechListMIC when the server sent one), authInfo.
    let mut req = TsRequest::with_token(credssp::VERSION_CURRENT, Vec::new());
    req.nego_tokens.clear();
    if let Some(mic) = resp.as_ref().and_then(|r| r.mech_list_mic.as_deref()) {
        let list = spnego::mech_type_list(&OUR_MECHS);
        if let Err(e) = ctx.verify_acceptor_mic(&list, mic) {
            af.outcome = AuthOutcome::Malformed;
            af.error = Some(format!(
                "the server's SPNEGO mechListMIC does not verify: {e}"
            ));
            return done(cf, af, kf, false);
        }
        kf.mech_list_mic = true;
        let ours = spnego::NegTokenResp {
            mech_list_mic: Some(ctx.mic(&list)),
            ..spnego::NegTokenResp::default()
        };
        req.nego_tokens.push(ours.encode());
    }
    af.round = AuthRound::PubKeyAuth;
    let ok = finish(
        s,
        &mut ctx,
        req,
        Finish {
            server_version,
            version,
            nonce: rand::random(),
            spki: &spki,
            creds: &opts.credentials,
            selected,
            timeout,
            sent: "our Kerberos pubKeyAuth",
        },
        &mut af,
        |_| {},
    )
    .await;
    done(cf, af, kf, ok)
}
