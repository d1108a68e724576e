//! `check --user ... --full`: after CredSSP (or TLS for a server without NLA), the rest of the
//! connection up to the server's first Demand Active PDU ([MS-RDPBCGR] 1.3.1.1): MCS Connect
//! Initial/Response, Erect Domain, Attach User, Channel Join (user and I/O channels), the Client
//! Info PDU, licensing, then the Demand Active PDU (the server accepted the connection) or the
//! server's reason for stopping: a Set Error Info PDU, a Disconnect Provider Ultimatum, a
//! licensing error, or a closed connection. No session is activated: rdp-doctor leaves with a
//! Disconnect Provider Ultimatum as soon as the Demand Active PDU arrives.

use super::mcs as mcs_step;
use super::net::{self, ReadEnd};
use crate::facts::{
    ActivationFact, ActivationOutcome, ActivationStep, McsFact, McsOutcome, SecurityLayer,
};
use rdp_doctor_wire::activation::{self, license, ClientInfo, ServerPdu};
use rdp_doctor_wire::mcs::{self, DisconnectReason, DomainPdu, BASE_CHANNEL_ID};
use rdp_doctor_wire::nego::Protocols;
use rdp_doctor_wire::{tpkt, x224};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

/// At most this many PDUs are read while waiting for the Demand Active PDU.
pub const MAX_PDUS: usize = 64;

/// What the Client Info PDU carries.
pub struct ClientInfoCreds<'a> {
    pub domain: &'a str,
    pub user: &'a str,
    /// Sent (with INFO_AUTOLOGON) only for a server that ran no CredSSP: with NLA the server
    /// already holds the delegated credentials.
    pub password: Option<&'a str>,
}

pub fn empty(stopped_at: ActivationStep) -> ActivationFact {
    ActivationFact {
        outcome: ActivationOutcome::Skipped,
        duration_ms: 0.0,
        stopped_at,
        user_channel: None,
        channels_joined: Vec::new(),
        client_info_autologon: false,
        licensing: None,
        share_id: None,
        capabilities: Vec::new(),
        desktop: None,
        error_info: Vec::new(),
        error_info_names: Vec::new(),
        disconnect_reason: None,
        detail: None,
    }
}

/// The ERRINFO name from the explain tables (`kb/codes/errinfo.toml`).
pub fn errinfo_name(code: u32) -> String {
    crate::kb::codes::codebook()
        .table("errinfo")
        .and_then(|t| t.entries.iter().find(|e| e.code == code))
        .map(|e| e.name.clone())
        .unwrap_or_else(|| format!("unknown ERRINFO 0x{code:08X}"))
}

fn frame(mcs_pdu: &[u8]) -> Option<Vec<u8>> {
    tpkt::encode(&x224::encode_data(mcs_pdu)).ok()
}

/// TPKT + X.224 Data + MCS Send Data Request (initiator `user`, `channel`) around `data`, built
/// in one buffer of its final size (zeroized on drop): the Client Info PDU may hold a password,
/// and the generic encoders would leave copies in reallocated memory.
pub fn send_data_request_frame(user: u16, channel: u16, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if data.len() > 0x3FFF {
        return None;
    }
    let per_len = if data.len() < 0x80 { 1 } else { 2 };
    let total = tpkt::HEADER_LEN + 3 + 6 + per_len + data.len();
    let total16 = u16::try_from(total).ok()?;
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&total16.to_be_bytes());
    out.extend_from_slice(&[0x02, 0xF0, 0x80]); // X.224 Data TPDU
    out.push(mcs::choice::SEND_DATA_REQUEST << 2);
    out.extend_from_slice(&user.checked_sub(BASE_CHANNEL_ID)?.to_be_bytes());
    out.extend_from_slice(&channel.to_be_bytes());
    out.push(0x70); // priority high, segmentation begin|end
    if per_len == 1 {
        out.push(data.len() as u8);
    } else {
        out.push(0x80 | (data.len() >> 8) as u8);
        out.push((data.len() & 0xFF) as u8);
    }
    out.extend_from_slice(data);
    Some(out)
}

async fn write<S: AsyncWrite + Unpin>(s: &mut S, b: &[u8], timeout: Duration) -> bool {
    let w = async {
        s.write_all(b).await?;
        s.flush().await
    };
    matches!(tokio::time::timeout(timeout, w).await, Ok(Ok(())))
}

/// One MCS PDU from the server, or how the stream ended.
enum Next {
    Pdu(DomainPdu),
    X224Disconnect(u8),
    End(ReadEnd),
    Bad(String),
}

/// Reads the next TPKT frame; `buf` keeps what arrived after it (a server may send several PDUs
/// in one TLS record).
async fn next<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>, timeout: Duration) -> Next {
    let end = net::read_frame(s, buf, 128 * 1024, timeout, net::tpkt_progress).await;
    let len = match end {
        ReadEnd::Frame { len } => len,
        other => return Next::End(other),
    };
    let frame: Vec<u8> = buf.drain(..len).collect();
    match x224::decode(frame.get(tpkt::HEADER_LEN..).unwrap_or(&[])) {
        Ok(x224::Tpdu::Data(d)) => match mcs::decode_domain_pdu(d) {
            Ok(p) => Next::Pdu(p),
            Err(e) => Next::Bad(format!("an MCS PDU that does not decode: {e}")),
        },
        Ok(x224::Tpdu::DisconnectRequest { reason }) => Next::X224Disconnect(reason),
        Ok(other) => Next::Bad(format!("an unexpected X.224 TPDU: {other:?}")),
        Err(e) => Next::Bad(e.to_string()),
    }
}

/// Runs MCS and the rest over `s` (`selected` is the X.224 protocol). Returns the MCS fact of
/// this connection and the activation fact. Leaves with a Disconnect Provider Ultimatum.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    selected: Protocols,
    creds: &ClientInfoCreds<'_>,
    timeout: Duration,
) -> (McsFact, ActivationFact) {
    let start = Instant::now();
    let (mf, response) = mcs_step::exchange(s, selected, SecurityLayer::Tls, timeout).await;
    let mut af = empty(ActivationStep::McsConnect);
    let finish = |mut af: ActivationFact| {
        af.duration_ms = net::ms(start.elapsed());
        af
    };
    if mf.outcome != McsOutcome::Connected {
        af.detail = Some("the MCS Connect Initial was not accepted (see the mcs phase)".into());
        return (mf, finish(af));
    }
    let io = response
        .and_then(|r| r.gcc.network.map(|n| n.io_channel))
        .unwrap_or(mcs::IO_CHANNEL_ID);
    run_domain(s, io, creds, timeout, &mut af).await;
    if let Some(bye) = mcs::encode_disconnect_provider_ultimatum(DisconnectReason::USER_REQUESTED)
        .ok()
        .and_then(|p| frame(&p))
    {
        let _ = write(s, &bye, Duration::from_millis(200)).await;
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
    (mf, finish(af))
}

async fn run_domain<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    io: u16,
    creds: &ClientInfoCreds<'_>,
    timeout: Duration,
    af: &mut ActivationFact,
) {
    let fail = |af: &mut ActivationFact, outcome: ActivationOutcome, detail: String| {
        af.outcome = outcome;
        af.detail = Some(detail);
    };
    let mut buf = Vec::new();
    // Erect Domain + Attach User
    af.stopped_at = ActivationStep::AttachUser;
    let (Some(erect), Some(attach)) = (
        frame(&mcs::encode_erect_domain_request()),
        frame(&mcs::encode_attach_user_request()),
    ) else {
        return fail(
            af,
            ActivationOutcome::ProtocolError,
            "internal: cannot frame the domain PDUs".into(),
        );
    };
    let mut both = erect;
    both.extend_from_slice(&attach);
    if !write(s, &both, timeout).await {
        return fail(
            af,
            ActivationOutcome::Closed,
            "the server closed the connection after the MCS Connect Response".into(),
        );
    }
    let user = match next(s, &mut buf, timeout).await {
        Next::Pdu(DomainPdu::AttachUserConfirm {
            result: 0,
            initiator: Some(u),
        }) => u,
        other => return ended(af, other, "our Attach User Request"),
    };
    af.user_channel = Some(user);
    // Channel Join: user channel, then the I/O channel
    af.stopped_at = ActivationStep::ChannelJoin;
    for ch in [user, io] {
        let Some(req) = mcs::encode_channel_join_request(user, ch)
            .ok()
            .and_then(|p| frame(&p))
        else {
            return fail(
                af,
                ActivationOutcome::ProtocolError,
                "internal: cannot encode a Channel Join Request".into(),
            );
        };
        if !write(s, &req, timeout).await {
            return fail(
                af,
                ActivationOutcome::Closed,
                "the server closed the connection during channel join".into(),
            );
        }
        match next(s, &mut buf, timeout).await {
            Next::Pdu(DomainPdu::ChannelJoinConfirm { result: 0, .. }) => {
                af.channels_joined.push(ch)
            }
            Next::Pdu(DomainPdu::ChannelJoinConfirm { result, .. }) => {
                return fail(
                    af,
                    ActivationOutcome::ProtocolError,
                    format!(
                        "Channel Join Confirm for channel {ch} has result {result} ({})",
                        mcs::connect_result_name(result).unwrap_or("unknown")
                    ),
                );
            }
            other => {
                return ended(
                    af,
                    other,
                    &format!("our Channel Join Request for channel {ch}"),
                )
            }
        }
    }
    // Client Info
    af.stopped_at = ActivationStep::ClientInfo;
    let info = ClientInfo::for_probe(creds.domain, creds.user, creds.password);
    af.client_info_autologon = creds.password.is_some();
    let sent = match info.encode_pdu() {
        Ok(pdu) => match send_data_request_frame(user, io, &pdu) {
            Some(f) => write(s, &f, timeout).await,
            None => false,
        },
        Err(e) => {
            return fail(
                af,
                ActivationOutcome::ProtocolError,
                format!("the Client Info PDU cannot be encoded: {e}"),
            );
        }
    };
    drop(info);
    if !sent {
        return fail(
            af,
            ActivationOutcome::Closed,
            "the server closed the connection before our Client Info PDU".into(),
        );
    }
    // licensing, then capabilities
    af.stopped_at = ActivationStep::Licensing;
    let mut licensing = true;
    for _ in 0..MAX_PDUS {
        let pdu = match next(s, &mut buf, timeout).await {
            Next::Pdu(DomainPdu::SendDataIndication(sd)) => sd,
            Next::Pdu(DomainPdu::DisconnectProviderUltimatum { reason }) => {
                af.disconnect_reason = Some(format!("MCS Disconnect Provider Ultimatum, {reason}"));
                af.outcome = if af.error_info.is_empty() {
                    ActivationOutcome::Denied
                } else {
                    ActivationOutcome::ErrorInfo
                };
                return;
            }
            Next::Pdu(other) => {
                af.detail = Some(format!(
                    "ignored an unexpected MCS PDU (choice {:?})",
                    other.choice()
                ));
                continue;
            }
            other => {
                return ended(
                    af,
                    other,
                    if licensing {
                        "our Client Info PDU"
                    } else {
                        "the licensing exchange"
                    },
                )
            }
        };
        match activation::classify_server_pdu(&pdu.data, licensing) {
            Ok(ServerPdu::License(l)) => {
                let what = match l.error {
                    Some(e) => format!(
                        "{} {} ({})",
                        license::msg_type_name(l.msg_type).unwrap_or("?"),
                        license::error_code_name(e.error_code)
                            .map(String::from)
                            .unwrap_or_else(|| format!("0x{:08X}", e.error_code)),
                        match e.state_transition {
                            license::ST_TOTAL_ABORT => "ST_TOTAL_ABORT",
                            license::ST_NO_TRANSITION => "ST_NO_TRANSITION",
                            license::ST_RESET_PHASE_TO_START => "ST_RESET_PHASE_TO_START",
                            license::ST_RESEND_LAST_MESSAGE => "ST_RESEND_LAST_MESSAGE",
                            _ => "unknown transition",
                        }
                    ),
                    None => license::msg_type_name(l.msg_type)
                        .map(String::from)
                        .unwrap_or_else(|| format!("licensing message 0x{:02X}", l.msg_type)),
                };
                af.licensing = Some(what.clone());
                if l.completes_licensing() {
                    licensing = false;
                    af.stopped_at = ActivationStep::Capabilities;
                } else if l.error.is_some() {
                    return fail(
                        af,
                        ActivationOutcome::LicensingFailed,
                        format!("the server's licensing answer: {what}"),
                    );
                } else {
                    return fail(af, ActivationOutcome::Unsupported, format!("the server started the RD licensing protocol ({what}); rdp-doctor does not implement client licensing ([MS-RDPELE]) and stops here — the server accepted the connection up to licensing"));
                }
            }
            Ok(ServerPdu::DemandActive(d)) => {
                af.outcome = ActivationOutcome::DemandActive;
                af.stopped_at = ActivationStep::Capabilities;
                af.share_id = Some(d.share_id);
                af.capabilities = d
                    .capabilities
                    .iter()
                    .map(|c| {
                        activation::cap::name(c.kind)
                            .map(String::from)
                            .unwrap_or_else(|| format!("0x{:04X}", c.kind))
                    })
                    .collect();
                af.desktop = d.desktop_size().map(|(w, h)| format!("{w}x{h}"));
                return;
            }
            Ok(ServerPdu::SetErrorInfo(0)) => {} // ERRINFO_NONE: "SHOULD be ignored"
            Ok(ServerPdu::SetErrorInfo(code)) => {
                af.error_info.push(code);
                af.error_info_names.push(errinfo_name(code));
                af.outcome = ActivationOutcome::ErrorInfo;
            }
            Ok(ServerPdu::Redirect) => {
                return fail(af, ActivationOutcome::Unsupported, "the server sent a Server Redirection PDU (a connection broker sends the client to another host); rdp-doctor does not follow redirections".into());
            }
            Ok(
                ServerPdu::Security { .. }
                | ServerPdu::Data { .. }
                | ServerPdu::DeactivateAll
                | ServerPdu::Other { .. },
            ) => {}
            Err(e) => {
                return fail(
                    af,
                    ActivationOutcome::ProtocolError,
                    format!("a PDU on channel {} does not decode: {e}", pdu.channel_id),
                );
            }
        }
    }
    fail(
        af,
        ActivationOutcome::ProtocolError,
        format!("no Demand Active PDU among the first {MAX_PDUS} PDUs"),
    )
}

/// Records how the stream ended (or what came instead) after `what`.
fn ended(af: &mut ActivationFact, n: Next, what: &str) {
    let had_info = !af.error_info.is_empty();
    let (outcome, detail) = match n {
        Next::Pdu(DomainPdu::DisconnectProviderUltimatum { reason }) => {
            af.disconnect_reason = Some(format!("MCS Disconnect Provider Ultimatum, {reason}"));
            (
                ActivationOutcome::Denied,
                format!("the server answered {what} with a Disconnect Provider Ultimatum"),
            )
        }
        Next::Pdu(DomainPdu::AttachUserConfirm { result, .. }) => (
            ActivationOutcome::ProtocolError,
            format!(
                "the Attach User Confirm has result {result} ({})",
                mcs::connect_result_name(result).unwrap_or("unknown")
            ),
        ),
        Next::Pdu(p) => (
            ActivationOutcome::ProtocolError,
            format!(
                "an unexpected MCS PDU after {what} (choice {:?})",
                p.choice()
            ),
        ),
        Next::X224Disconnect(r) => {
            af.disconnect_reason = Some(format!("X.224 Disconnect Request, reason {r}"));
            (
                ActivationOutcome::Denied,
                format!("the server disconnected (X.224) after {what}"),
            )
        }
        Next::End(ReadEnd::Timeout) => (ActivationOutcome::Timeout, format!("no answer to {what}")),
        Next::End(ReadEnd::Eof) => (
            ActivationOutcome::Closed,
            format!("the server closed the connection (FIN) after {what}"),
        ),
        Next::End(ReadEnd::Reset | ReadEnd::Error(_)) => (
            ActivationOutcome::Closed,
            format!("the server reset the connection after {what}"),
        ),
        Next::End(ReadEnd::Invalid) => (
            ActivationOutcome::ProtocolError,
            format!("the answer to {what} is not a TPKT frame"),
        ),
        Next::End(ReadEnd::Frame { .. }) => (ActivationOutcome::ProtocolError, String::new()),
        Next::Bad(e) => (
            ActivationOutcome::ProtocolError,
            format!("after {what}: {}", crate::sanitize::escape(&e)),
        ),
    };
    af.outcome = if had_info && !matches!(outcome, ActivationOutcome::ProtocolError) {
        ActivationOutcome::ErrorInfo
    } else {
        outcome
    };
    af.detail = Some(detail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdp_doctor_wire::mcs::SendData;

    /// The hand-built frame equals the generic encoders' output, for short and long data.
    #[test]
    fn send_data_request_frame_matches_the_generic_encoder() {
        for n in [0usize, 5, 0x7F, 0x80, 300, 0x3FFF] {
            let data = vec![0xA5; n];
            let generic = DomainPdu::SendDataRequest(SendData::new(1007, 1003, data.clone()))
                .encode()
                .ok()
                .and_then(|p| frame(&p))
                .expect("encodes");
            let ours = send_data_request_frame(1007, 1003, &data).expect("fits");
            assert_eq!(ours.as_slice(), generic.as_slice(), "len {n}");
        }
        assert!(send_data_request_frame(1007, 1003, &[0; 0x4000]).is_none());
        assert!(send_data_request_frame(5, 1003, &[]).is_none());
    }

    #[test]
    fn errinfo_names_come_from_the_tables() {
        assert_eq!(errinfo_name(7), "ERRINFO_SERVER_DENIED_CONNECTION");
        assert_eq!(errinfo_name(0x10A), "ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS");
        assert!(errinfo_name(0xDEAD_0000).contains("unknown"));
    }
}
