//! The MCS step (when the negotiated protocol needs no credentials: TLS, or Standard RDP
//! Security): an MCS Connect Initial with a GCC Conference Create Request as mstsc sends it,
//! then what the server answers — its core data (RDP version), security data (encryption) and
//! network data, or a Disconnect Provider Ultimatum (the server denying the connection).
//! Then a polite disconnect.

use super::net::{self, ReadEnd};
use crate::facts::{McsFact, McsOutcome, SecurityLayer};
use rdp_doctor_wire::mcs::{self, ClientConnectInitial, DisconnectReason, DomainPdu};
use rdp_doctor_wire::nego::Protocols;
use rdp_doctor_wire::{tpkt, x224};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The client name our Connect Initial carries (visible in the server's logs).
pub const CLIENT_NAME: &str = "rdp-doctor";

pub fn empty(over: SecurityLayer) -> McsFact {
    McsFact {
        outcome: McsOutcome::Skipped,
        duration_ms: 0.0,
        over,
        skipped_reason: None,
        result: None,
        disconnect_reason: None,
        server_version: None,
        rdp_version: None,
        client_requested_protocols: None,
        early_capability_flags: None,
        encryption_method: None,
        encryption_method_name: None,
        encryption_level: None,
        encryption_level_name: None,
        io_channel: None,
        channels: Vec::new(),
        message_channel: None,
        error: None,
    }
}

pub fn skipped(over: SecurityLayer, reason: String) -> McsFact {
    McsFact {
        skipped_reason: Some(reason),
        ..empty(over)
    }
}

fn frame(mcs_pdu: &[u8]) -> Option<Vec<u8>> {
    tpkt::encode(&x224::encode_data(mcs_pdu)).ok()
}

/// Runs the exchange over `s` (TLS or the plain TCP stream) for `selected` protocol, then
/// leaves politely.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    selected: Protocols,
    over: SecurityLayer,
    timeout: Duration,
) -> McsFact {
    let (fact, _) = exchange(s, selected, over, timeout).await;
    if fact.outcome == McsOutcome::Connected {
        // Leave politely: MCS Disconnect Provider Ultimatum (rn-user-requested).
        if let Some(bye) =
            mcs::encode_disconnect_provider_ultimatum(DisconnectReason::USER_REQUESTED)
                .ok()
                .and_then(|p| frame(&p))
        {
            let _ = tokio::time::timeout(Duration::from_millis(200), s.write_all(&bye)).await;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
    fact
}

/// The Connect Initial / Connect Response exchange alone; the stream stays open (for
/// `check --full`). Returns the decoded response when the server accepted.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    selected: Protocols,
    over: SecurityLayer,
    timeout: Duration,
) -> (
    McsFact,
    Option<Box<rdp_doctor_wire::mcs::ServerConnectResponse>>,
) {
    let start = Instant::now();
    let mut fact = empty(over);
    let Some(req) = ClientConnectInitial::for_probe(selected.bits(), CLIENT_NAME)
        .encode()
        .ok()
        .and_then(|p| frame(&p))
    else {
        fact.outcome = McsOutcome::Malformed;
        fact.error = Some("internal: the Connect Initial does not encode".into());
        return (fact, None);
    };
    let sent = async {
        s.write_all(&req).await?;
        s.flush().await
    };
    if let Err(e) = tokio::time::timeout(timeout, sent)
        .await
        .unwrap_or(Err(std::io::ErrorKind::TimedOut.into()))
    {
        fact.outcome = match net::io_end(&e) {
            ReadEnd::Reset => McsOutcome::Reset,
            ReadEnd::Eof => McsOutcome::Closed,
            _ => McsOutcome::Timeout,
        };
        fact.duration_ms = net::ms(start.elapsed());
        return (fact, None);
    }
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, 64 * 1024, timeout, net::tpkt_progress).await;
    fact.duration_ms = net::ms(start.elapsed());
    classify(&end, &buf, &mut fact);
    let response = match (&fact.outcome, &end) {
        (McsOutcome::Connected, ReadEnd::Frame { len }) => {
            match x224::decode(buf.get(tpkt::HEADER_LEN..*len).unwrap_or(&[])) {
                Ok(x224::Tpdu::Data(d)) => match mcs::decode_domain_pdu(d) {
                    Ok(DomainPdu::ConnectResponse(r)) => Some(r),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    (fact, response)
}

/// Fills `fact` from what arrived. Pure.
pub fn classify(end: &ReadEnd, buf: &[u8], fact: &mut McsFact) {
    let len = match end {
        ReadEnd::Frame { len } => *len,
        ReadEnd::Timeout => {
            fact.outcome = McsOutcome::Timeout;
            return;
        }
        ReadEnd::Eof => {
            fact.outcome = McsOutcome::Closed;
            return;
        }
        ReadEnd::Reset | ReadEnd::Error(_) => {
            fact.outcome = McsOutcome::Reset;
            return;
        }
        ReadEnd::Invalid => {
            fact.outcome = McsOutcome::Malformed;
            fact.error = Some(format!(
                "not a TPKT frame: {}",
                crate::sanitize::hex(buf, 16)
            ));
            return;
        }
    };
    let payload = buf.get(tpkt::HEADER_LEN..len).unwrap_or(&[]);
    let pdu = match x224::decode(payload) {
        Ok(x224::Tpdu::Data(d)) => d,
        Ok(x224::Tpdu::DisconnectRequest { reason }) => {
            fact.outcome = McsOutcome::Denied;
            fact.disconnect_reason = Some(format!("X.224 Disconnect Request, reason {reason}"));
            return;
        }
        Ok(other) => {
            fact.outcome = McsOutcome::Malformed;
            fact.error = Some(format!("unexpected X.224 TPDU: {other:?}"));
            return;
        }
        Err(e) => {
            fact.outcome = McsOutcome::Malformed;
            fact.error = Some(e.to_string());
            return;
        }
    };
    match mcs::decode_domain_pdu(pdu) {
        Ok(DomainPdu::ConnectResponse(r)) => {
            fact.result = Some(r.result);
            if r.result != 0 {
                fact.outcome = McsOutcome::Rejected;
                fact.disconnect_reason = mcs::connect_result_name(r.result).map(String::from);
                return;
            }
            fact.outcome = McsOutcome::Connected;
            if let Some(core) = &r.gcc.core {
                fact.server_version = Some(core.version);
                fact.rdp_version = Some(
                    mcs::rdp_version_name(core.version)
                        .map(String::from)
                        .unwrap_or_else(|| format!("unknown RDP version 0x{:08X}", core.version)),
                );
                fact.client_requested_protocols = core.client_requested_protocols.map(Protocols);
                fact.early_capability_flags = core.early_capability_flags;
            }
            if let Some(sec) = &r.gcc.security {
                fact.encryption_method = Some(sec.encryption_method);
                fact.encryption_method_name =
                    Some(mcs::encryption_method_names(sec.encryption_method).join("|"));
                fact.encryption_level = Some(sec.encryption_level);
                fact.encryption_level_name = Some(
                    mcs::encryption_level_name(sec.encryption_level)
                        .map(String::from)
                        .unwrap_or_else(|| format!("unknown level {}", sec.encryption_level)),
                );
            }
            if let Some(net) = &r.gcc.network {
                fact.io_channel = Some(net.io_channel);
                fact.channels = net.channel_ids.clone();
            }
            fact.message_channel = r.gcc.message_channel;
        }
        Ok(DomainPdu::DisconnectProviderUltimatum { reason }) => {
            fact.outcome = McsOutcome::Denied;
            fact.disconnect_reason = Some(format!("MCS Disconnect Provider Ultimatum, {reason}"));
        }
        Ok(other) => {
            fact.outcome = McsOutcome::Malformed;
            fact.error = Some(
                format!("expected a Connect Response, got {other:?}")
                    .chars()
                    .take(200)
                    .collect(),
            );
        }
        Err(e) => {
            fact.outcome = McsOutcome::Malformed;
            fact.error = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../wire/tests/captures")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn run(bytes: &[u8]) -> McsFact {
        let mut f = empty(SecurityLayer::Tls);
        let end = match net::tpkt_progress(bytes) {
            net::FrameProgress::Complete(len) => ReadEnd::Frame { len },
            _ => ReadEnd::Invalid,
        };
        classify(&end, bytes, &mut f);
        f
    }

    #[test]
    fn reads_xrdp_and_freerdp_connect_responses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wire/tests/captures");
        let mut seen = 0;
        for e in std::fs::read_dir(&dir).expect("captures").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.ends_with(".bin") || !name.contains("connect-response") {
                continue;
            }
            // The captures are MCS PDUs; frame them as they arrive (TPKT + X.224 Data).
            let f = run(&frame(&captured(&name)).expect("frames"));
            assert_eq!(f.outcome, McsOutcome::Connected, "{name}: {f:?}");
            assert!(f.rdp_version.is_some(), "{name}");
            seen += 1;
        }
        assert!(seen >= 2, "connect-response captures found: {seen}");
    }

    #[test]
    fn dpum_is_a_denial() {
        // xrdp's answer to a request for RDSAAD: X.224 Data, DPUm rn-user-requested.
        let f = run(&[3, 0, 0, 9, 2, 0xF0, 0x80, 0x21, 0x80]);
        assert_eq!(f.outcome, McsOutcome::Denied);
        assert!(f.disconnect_reason.expect("reason").contains("user"));
    }
}
