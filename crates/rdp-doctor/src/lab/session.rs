//! The lab's CredSSP and MCS answers (after the X.224/TLS steps in `conn`).

use super::conn::{hold, log};
use super::faults::{Credssp, Mcs};
use super::Shared;
use crate::probe::net::{self, ReadEnd};
use rdp_doctor_wire::credssp::{self, EarlyUserAuthResult, TsCredentials, TsRequest};
use rdp_doctor_wire::mcs::{
    self, CertificateKind, DisconnectReason, DomainPdu, ProprietaryCertificate, ServerCertificate,
    ServerConnectResponse, ServerSecurityData,
};
use rdp_doctor_wire::nego::Protocols;
use rdp_doctor_wire::ntlm::{self, Negotiate, TargetNames, Version};
use rdp_doctor_wire::{tpkt, x224};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const CLIENT_WAIT: Duration = Duration::from_secs(10);

/// The NTSTATUS a Windows server returns in TSRequest.errorCode for a bad user or password.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

/// The names the lab announces in its NTLM CHALLENGE (an obviously fake host).
pub fn lab_names() -> TargetNames {
    TargetNames {
        nb_computer: Some("RDPLAB".into()),
        nb_domain: Some("RDPLAB".into()),
        dns_computer: Some("rdplab.lab.invalid".into()),
        dns_domain: Some("lab.invalid".into()),
        dns_tree: Some("lab.invalid".into()),
    }
}

/// The names of an NTLM CHALLENGE: the lab's, or `computer` for every name (the
/// `hostile-strings` fault).
pub fn names_for(computer: Option<&str>) -> TargetNames {
    match computer {
        None => lab_names(),
        Some(c) => TargetNames {
            nb_computer: Some(c.into()),
            nb_domain: Some(c.into()),
            dns_computer: Some(c.into()),
            dns_domain: Some(c.into()),
            dns_tree: Some(c.into()),
        },
    }
}

/// Windows Server 2022 in the NTLM VERSION structure.
pub const LAB_VERSION: Version = Version {
    major: 10,
    minor: 0,
    build: 20348,
    revision: Version::NTLMSSP_REVISION_W2K3,
};

/// Standard RDP Security: the client's next message is the MCS Connect Initial, in the clear.
/// The answer carries a server random and a proprietary certificate for a fresh 512-bit key
/// (the key size of Windows' classic proprietary certificates). Its signature is not the
/// Terminal Services key's: clients that verify it (FreeRDP) refuse to go further.
pub(crate) async fn standard_rdp<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    peer: SocketAddr,
    shared: &Shared,
    requested: u32,
) {
    use rsa::traits::PublicKeyParts;
    let key = match rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 512) {
        Ok(k) => k,
        Err(_) => return,
    };
    let cert = ServerCertificate {
        temporary: false,
        kind: CertificateKind::Proprietary(ProprietaryCertificate::new(
            &key.n().to_bytes_le(),
            65537,
            vec![0u8; 72],
        )),
    };
    let Ok(cert) = cert.encode() else { return };
    let random: [u8; 32] = rand::random();
    // 128-bit RC4, level "client compatible" (Windows' default MinEncryptionLevel 2).
    let security = ServerSecurityData::standard(0x02, 2, random.to_vec(), cert);
    answer_mcs(s, peer, shared, requested, security, Vec::new()).await;
}

/// TLS (with or without CredSSP before): the client's next message is the MCS Connect Initial.
/// `buf` holds bytes that already arrived after CredSSP (a client may send its Connect
/// Initial in the same TLS record as its last TSRequest).
pub(crate) async fn mcs_over_tls<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    peer: SocketAddr,
    shared: &Shared,
    requested: u32,
    buf: Vec<u8>,
) {
    answer_mcs(
        s,
        peer,
        shared,
        requested,
        ServerSecurityData::external(),
        buf,
    )
    .await;
}

async fn answer_mcs<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
    requested: u32,
    security: ServerSecurityData,
    mut buf: Vec<u8>,
) {
    let enhanced = security.encryption_method == 0 && security.server_random.is_empty();
    let len =
        match net::read_frame(&mut s, &mut buf, 64 * 1024, CLIENT_WAIT, net::tpkt_progress).await {
            ReadEnd::Frame { len } => len,
            other => {
                log(
                    shared,
                    peer,
                    &format!("MCS: no Connect Initial ({other:?})"),
                );
                return;
            }
        };
    let frame: Vec<u8> = buf.drain(..len).collect();
    let payload = frame.get(tpkt::HEADER_LEN..).unwrap_or(&[]);
    let ci = match x224::decode(payload).map(|t| match t {
        x224::Tpdu::Data(d) => mcs::decode_domain_pdu(d).ok(),
        _ => None,
    }) {
        Ok(Some(DomainPdu::ConnectInitial(ci))) => ci,
        _ => {
            log(shared, peer, "MCS: expected a Connect Initial");
            return;
        }
    };
    match shared.behaviour.mcs {
        Mcs::Complete => {}
        Mcs::Denied => {
            log(
                shared,
                peer,
                "MCS: denying the connection (Disconnect Provider Ultimatum)",
            );
            if let Ok(p) =
                mcs::encode_disconnect_provider_ultimatum(DisconnectReason::PROVIDER_INITIATED)
            {
                let _ = super::conn::send_mcs(&mut s, &p).await;
            }
            let _ = s.shutdown().await;
            return;
        }
        Mcs::Garbage => {
            log(
                shared,
                peer,
                "MCS: answering with an X.224 Data TPDU that holds no MCS PDU",
            );
            // 0x7f 0x66 is a Connect Response's BER tag; the length 0x84 promises four length
            // bytes that are not there.
            let _ = super::conn::send_mcs(&mut s, &[0x7f, 0x66, 0x84, 0xff, 0xde, 0xad]).await;
            let _ = s.shutdown().await;
            return;
        }
    }
    let channels = ci
        .gcc
        .network
        .as_ref()
        .map(|n| n.channels.len())
        .unwrap_or(0)
        .min(31) as u16;
    let resp = ServerConnectResponse::for_lab(mcs::RDP_VERSION_10_7, requested, security, channels);
    match resp.encode() {
        Ok(p) => {
            if super::conn::send_mcs(&mut s, &p).await.is_err() {
                return;
            }
        }
        Err(e) => {
            log(
                shared,
                peer,
                &format!("MCS: cannot encode the Connect Response: {e}"),
            );
            return;
        }
    }
    log(
        shared,
        peer,
        &format!("MCS: Connect Response sent ({channels} channels)"),
    );
    if enhanced {
        super::activation::serve(s, peer, shared, buf).await;
    } else {
        // Standard RDP Security: the Security Exchange PDU that follows is not handled.
        hold(&mut s).await;
    }
}

/// Reads one TSRequest; `buf` keeps the bytes that arrived after it.
async fn read_ts<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<TsRequest, String> {
    match net::read_frame(
        s,
        buf,
        credssp::MAX_TS_REQUEST_LEN,
        CLIENT_WAIT,
        crate::probe::credssp::progress,
    )
    .await
    {
        ReadEnd::Frame { len } => {
            let frame: Vec<u8> = buf.drain(..len).collect();
            TsRequest::decode(&frame).map_err(|e| e.to_string())
        }
        other => Err(format!("{other:?}")),
    }
}

async fn send_ts<S: AsyncWrite + Unpin>(s: &mut S, t: &TsRequest) -> std::io::Result<()> {
    s.write_all(&t.encode()).await?;
    s.flush().await
}

/// CredSSP server side. Returns the stream (and any bytes already read past the last
/// TSRequest) when the client authenticated (for what follows),
/// `None` when the exchange ended (fault, failure, or a probe that only wanted the CHALLENGE).
pub(crate) async fn credssp<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
    selected: Protocols,
) -> Option<(S, Vec<u8>)> {
    let mut buf = Vec::new();
    // 1. NEGOTIATE
    let first = match read_ts(&mut s, &mut buf).await {
        Ok(t) => t,
        Err(e) => {
            log(shared, peer, &format!("CredSSP: no TSRequest ({e})"));
            return None;
        }
    };
    if shared.behaviour.credssp == Credssp::ResetAfterNegotiate {
        log(
            shared,
            peer,
            "CredSSP: dropping the connection after the client's first TSRequest",
        );
        return None; // dropping the TLS stream without close_notify; `conn` resets the socket
    }
    let Some(neg_bytes) = first.first_token().map(<[u8]>::to_vec) else {
        log(shared, peer, "CredSSP: TSRequest without a token");
        return None;
    };
    let Ok(neg) = Negotiate::decode(&neg_bytes) else {
        log(shared, peer, "CredSSP: the token is not an NTLM NEGOTIATE");
        return None;
    };
    // 2. CHALLENGE, with the server's clock (4 h ahead for the clock-skew fault)
    let now = crate::clock::now_unix() + shared.behaviour.clock_ahead_secs;
    let chal = ntlm::server_challenge(
        &neg,
        rand::random(),
        &names_for(shared.behaviour.ntlm_computer),
        Some(ntlm::unix_seconds_to_filetime(now)),
        Some(LAB_VERSION),
    );
    let chal_bytes = chal.encode();
    let version = shared.behaviour.tsrequest_version;
    let answer = TsRequest::with_token(version, chal_bytes.clone());
    if send_ts(&mut s, &answer).await.is_err() {
        return None;
    }
    log(
        shared,
        peer,
        &format!("CredSSP: CHALLENGE sent (TSRequest version {version})"),
    );
    // 3. AUTHENTICATE + pubKeyAuth
    let second = match read_ts(&mut s, &mut buf).await {
        Ok(t) => t,
        Err(_) => {
            log(shared, peer, "CredSSP: client left after the CHALLENGE");
            return None;
        }
    };
    if let Credssp::ErrorCode(code) = shared.behaviour.credssp {
        log(
            shared,
            peer,
            &format!("CredSSP: answering the AUTHENTICATE with errorCode 0x{code:08X}"),
        );
        let mut t = TsRequest::with_token(version, Vec::new());
        t.nego_tokens.clear();
        t.error_code = Some(code);
        let _ = send_ts(&mut s, &t.adapted_to_peer(second.version)).await;
        return None;
    }
    if shared.behaviour.credssp == Credssp::CloseAfterAuthenticate {
        log(
            shared,
            peer,
            "CredSSP: closing after the AUTHENTICATE without an errorCode",
        );
        let _ = s.shutdown().await;
        return None;
    }
    let auth_bytes = second.first_token().map(<[u8]>::to_vec).unwrap_or_default();
    let users = &shared.users;
    let verified =
        ntlm::verify_authenticate(&neg_bytes, &chal_bytes, &auth_bytes, |user, domain| {
            users
                .iter()
                .find(|u| {
                    u.user.eq_ignore_ascii_case(user)
                        && (u.domain.is_empty()
                            || domain.is_empty()
                            || u.domain.eq_ignore_ascii_case(domain))
                })
                .map(|u| u.nt_hash.clone())
        });
    let mut out = match verified {
        Ok(o) => o,
        Err(e) => {
            log(
                shared,
                peer,
                &format!("CredSSP: authentication failed ({e:?}); answering STATUS_LOGON_FAILURE"),
            );
            let mut t = TsRequest::with_token(version, Vec::new());
            t.nego_tokens.clear();
            t.error_code = Some(STATUS_LOGON_FAILURE);
            let _ = send_ts(&mut s, &t.adapted_to_peer(second.version)).await;
            return None;
        }
    };
    let peer_version = second.version.min(version);
    let nonce = second.client_nonce;
    let Some(pka) = second.pub_key_auth.as_deref() else {
        log(shared, peer, "CredSSP: AUTHENTICATE without pubKeyAuth");
        return None;
    };
    if let Err(e) = credssp::verify_client_pub_key_auth(
        &mut out.session,
        peer_version,
        nonce.as_ref(),
        &shared.spki,
        pka,
    ) {
        log(
            shared,
            peer,
            &format!("CredSSP: pubKeyAuth does not verify ({e})"),
        );
        return None;
    }
    let mut reply = TsRequest::with_token(version, Vec::new());
    reply.nego_tokens.clear();
    reply.pub_key_auth = Some(credssp::server_pub_key_auth(
        &mut out.session,
        peer_version,
        nonce.as_ref(),
        &shared.spki,
    ));
    if send_ts(&mut s, &reply).await.is_err() {
        return None;
    }
    // 4. authInfo (the delegated credentials)
    let third = read_ts(&mut s, &mut buf).await.ok()?;
    let creds =
        credssp::server_read_auth_info(&mut out.session, third.auth_info.as_deref().unwrap_or(&[]))
            .ok()?;
    let who = match &creds {
        TsCredentials::Password(p) => format!("{}\\{}", p.domain, p.user),
        TsCredentials::Other { cred_type, .. } => format!("credential type {cred_type}"),
    };
    log(
        shared,
        peer,
        &format!(
            "CredSSP: {}\\{} authenticated, delegated {who}",
            out.domain, out.user
        ),
    );
    if shared.behaviour.credssp == Credssp::CloseAfterAuthInfo {
        log(shared, peer, "CredSSP: closing after the client's authInfo");
        let _ = s.shutdown().await;
        return None;
    }
    if shared.behaviour.credssp == Credssp::AccessDenied {
        if selected.contains(Protocols::HYBRID_EX) {
            log(
                shared,
                peer,
                "CredSSP: Early User Authorization Result AUTHZ_ACCESS_DENIED",
            );
            let _ = s
                .write_all(&EarlyUserAuthResult::AUTHZ_ACCESS_DENIED.encode())
                .await;
        }
        let _ = s.shutdown().await;
        return None;
    }
    if selected.contains(Protocols::HYBRID_EX) {
        if s.write_all(&EarlyUserAuthResult::AUTHZ_SUCCESS.encode())
            .await
            .is_err()
        {
            return None;
        }
        let _ = s.flush().await;
    }
    Some((s, buf))
}

/// A lab account: user name, domain (empty = any) and NT hash.
#[derive(Clone)]
pub struct LabUser {
    pub user: String,
    pub domain: String,
    pub nt_hash: ntlm::Key16,
}

impl LabUser {
    pub fn new(user: &str, domain: &str, password: &str) -> LabUser {
        LabUser {
            user: user.into(),
            domain: domain.into(),
            nt_hash: ntlm::nt_hash(password),
        }
    }
}
