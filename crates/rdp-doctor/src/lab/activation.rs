//! The lab server after its MCS Connect Response (Enhanced RDP Security only): Erect Domain,
//! Attach User, Channel Join, the Client Info PDU, the "valid client" licensing answer, the
//! Demand Active PDU, and the server's half of the finalization (Synchronize, Control
//! Cooperate, Control Granted Control, Font Map, [MS-RDPBCGR] 2.2.1.19-2.2.1.22) once the
//! client sent its Font List — enough for `xfreerdp +auth-only` to reach the active state and
//! for `check --full` to see a Demand Active PDU. The ERRINFO faults answer the Client Info PDU
//! with a Set Error Info PDU and a Disconnect Provider Ultimatum instead.

use super::conn::{log, send_mcs};
use super::Shared;
use crate::probe::net::{self, ReadEnd};
use rdp_doctor_wire::activation::{self, ctrl, license, pdu_type2, ActivePdu, ClientInfo};
use rdp_doctor_wire::mcs::{
    self, decode_share_control, decode_share_data, pdu_type, DisconnectReason, DomainPdu,
    IO_CHANNEL_ID, SERVER_CHANNEL_ID,
};
use rdp_doctor_wire::{tpkt, x224};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const CLIENT_WAIT: Duration = Duration::from_secs(10);
/// The user channel the lab assigns (as Windows and xrdp do for the first user).
pub const USER_CHANNEL: u16 = 1007;
/// shareId: 0x10000 + the server channel, as Windows builds it.
pub const SHARE_ID: u32 = 0x0001_0000 + SERVER_CHANNEL_ID as u32;
/// The most PDUs one connection may send the lab.
const MAX_PDUS: usize = 512;

async fn indication<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8]) -> bool {
    match mcs::encode_send_data_indication(IO_CHANNEL_ID, data) {
        Ok(p) => send_mcs(s, &p).await.is_ok(),
        Err(_) => false,
    }
}

async fn deny<S: AsyncWrite + Unpin>(s: &mut S, code: u32) {
    let _ = send_mcs(s, &mcs::set_error_info_pdu(code, SHARE_ID, IO_CHANNEL_ID)).await;
    if let Ok(p) = mcs::encode_disconnect_provider_ultimatum(DisconnectReason::PROVIDER_INITIATED) {
        let _ = send_mcs(s, &p).await;
    }
    let _ = s.shutdown().await;
}

/// Serves the domain PDUs until the client leaves.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    shared: &Shared,
    mut buf: Vec<u8>,
) {
    let mut info_seen = false;
    // One buffer for the connection: a client may send several PDUs in one write.
    for _ in 0..MAX_PDUS {
        let len = match net::read_frame(
            &mut s,
            &mut buf,
            128 * 1024,
            CLIENT_WAIT,
            net::tpkt_progress,
        )
        .await
        {
            ReadEnd::Frame { len } => len,
            other => {
                log(
                    shared,
                    peer,
                    &format!("activation: client gone ({other:?})"),
                );
                return;
            }
        };
        let frame: Vec<u8> = buf.drain(..len).collect();
        let pdu = match x224::decode(frame.get(tpkt::HEADER_LEN..).unwrap_or(&[])) {
            Ok(x224::Tpdu::Data(d)) => mcs::decode_domain_pdu(d),
            _ => {
                log(shared, peer, "activation: not an X.224 Data TPDU; closing");
                return;
            }
        };
        let answer = match pdu {
            Ok(DomainPdu::ErectDomainRequest { .. }) => None,
            Ok(DomainPdu::AttachUserRequest) => Some(DomainPdu::AttachUserConfirm {
                result: 0,
                initiator: Some(USER_CHANNEL),
            }),
            Ok(DomainPdu::ChannelJoinRequest {
                initiator,
                channel_id,
            }) => Some(DomainPdu::ChannelJoinConfirm {
                result: 0,
                initiator,
                requested: channel_id,
                channel_id: Some(channel_id),
            }),
            Ok(DomainPdu::DisconnectProviderUltimatum { reason }) => {
                log(shared, peer, &format!("activation: client left ({reason})"));
                return;
            }
            Ok(DomainPdu::SendDataRequest(sd)) => {
                if !info_seen {
                    info_seen = true;
                    match ClientInfo::decode_pdu(&sd.data) {
                        Ok(ci) => {
                            log(
                                shared,
                                peer,
                                &format!(
                                "activation: Client Info for {}\\{} (autologon {}, password {})",
                                crate::sanitize::escape(&ci.domain),
                                crate::sanitize::escape(&ci.user),
                                ci.flags & activation::info_flags::AUTOLOGON != 0,
                                if ci.password.is_empty() { "absent" } else { "present" }
                            ),
                            )
                        }
                        Err(e) => {
                            log(
                                shared,
                                peer,
                                &format!("activation: not a Client Info PDU ({e}); closing"),
                            );
                            return;
                        }
                    }
                    if let Some(code) = shared.behaviour.error_info {
                        log(shared, peer, &format!("activation: Set Error Info 0x{code:08X}, then a Disconnect Provider Ultimatum"));
                        deny(&mut s, code).await;
                        return;
                    }
                    let demand = ActivePdu {
                        pdu_source: SERVER_CHANNEL_ID,
                        share_id: SHARE_ID,
                        originator_id: None,
                        source_descriptor: b"RDP\0".to_vec(),
                        capabilities: activation::server_capabilities(1024, 768),
                        session_id: Some(0),
                    };
                    let Ok(demand) = demand.encode() else { return };
                    if !indication(&mut s, &license::encode_valid_client_pdu()).await
                        || !indication(&mut s, &demand).await
                    {
                        return;
                    }
                    log(
                        shared,
                        peer,
                        "activation: licence STATUS_VALID_CLIENT and Demand Active sent",
                    );
                    continue;
                }
                client_pdu(&mut s, peer, shared, &sd.data).await;
                None
            }
            Ok(other) => {
                log(
                    shared,
                    peer,
                    &format!("activation: ignoring {:?}", other.choice()),
                );
                None
            }
            Err(e) => {
                log(
                    shared,
                    peer,
                    &format!("activation: undecodable MCS PDU ({e}); closing"),
                );
                return;
            }
        };
        if let Some(a) = answer {
            match a.encode() {
                Ok(p) => {
                    if send_mcs(&mut s, &p).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// A share PDU from the client after the Demand Active: Confirm Active, then the client's
/// finalization; the Font List (the last of them) triggers the server's finalization PDUs.
async fn client_pdu<S: AsyncWrite + Unpin>(
    s: &mut S,
    peer: SocketAddr,
    shared: &Shared,
    data: &[u8],
) {
    let Ok((header, _)) = decode_share_control(data) else {
        return;
    };
    match header.kind() {
        pdu_type::CONFIRM_ACTIVE => {
            let n = ActivePdu::decode(data)
                .map(|c| c.capabilities.len())
                .unwrap_or(0);
            log(
                shared,
                peer,
                &format!("activation: Confirm Active ({n} capability sets)"),
            );
        }
        pdu_type::DATA => {
            let Ok((_, dh, _)) = decode_share_data(data) else {
                return;
            };
            if dh.pdu_type2 == pdu_type2::FONTLIST {
                let pdus = [
                    activation::synchronize_pdu(SHARE_ID, SERVER_CHANNEL_ID, USER_CHANNEL),
                    activation::control_pdu(SHARE_ID, SERVER_CHANNEL_ID, ctrl::COOPERATE, 0, 0),
                    activation::control_pdu(
                        SHARE_ID,
                        SERVER_CHANNEL_ID,
                        ctrl::GRANTED_CONTROL,
                        USER_CHANNEL,
                        u32::from(SERVER_CHANNEL_ID),
                    ),
                    activation::font_pdu(SHARE_ID, SERVER_CHANNEL_ID, true),
                ];
                for p in pdus.into_iter().flatten() {
                    if !indication(s, &p).await {
                        return;
                    }
                }
                log(
                    shared,
                    peer,
                    "activation: finalization sent; the session is active",
                );
            }
        }
        _ => {}
    }
}
