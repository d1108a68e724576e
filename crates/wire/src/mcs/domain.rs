//! T.125 domain PDUs (DomainMCSPDU, [T.125] 7 part 10, ALIGNED PER) that follow the connect
//! exchange, plus the dispatcher that also recognises the BER connect PDUs.
//!
//! The first byte holds the CHOICE index in its upper 6 bits. Small fields that follow (an
//! OPTIONAL-present bit, a 3-bit Reason, a 4-bit Result, DataPriority and Segmentation) are
//! packed into the remaining bits as PER bit-fields; 16-bit ids are octet-aligned.
//!
//! Note on `Result` in AttachUserConfirm / ChannelJoinConfirm: PER puts the 4-bit value across
//! the first two bytes (bit 0 of byte 0, bits 7-5 of byte 1). FreeRDP and IronRDP read byte 1
//! as the whole result instead; both readings agree for rt-successful, the only value seen
//! from real servers. This module follows PER.

use super::connect::{ClientConnectInitial, ServerConnectResponse};
use super::per::{self, BitWriter, Bits};
use crate::cursor::Cursor;
use crate::DecodeError;

/// UserId / DynamicChannelId lower bound ([T.125] `UserId ::= DynamicChannelId (1001..65535)`).
pub const BASE_CHANNEL_ID: u16 = 1001;
/// The MCS server channel id servers use as initiator ([MS-RDPBCGR] 3.3.5.1).
pub const SERVER_CHANNEL_ID: u16 = 1002;
/// The I/O channel id Windows and xrdp assign (TS_UD_SC_NET MCSChannelId).
pub const IO_CHANNEL_ID: u16 = 1003;

/// DomainMCSPDU CHOICE indices ([T.125] 7 part 10).
pub mod choice {
    pub const PLUMB_DOMAIN_INDICATION: u8 = 0;
    pub const ERECT_DOMAIN_REQUEST: u8 = 1;
    pub const DISCONNECT_PROVIDER_ULTIMATUM: u8 = 8;
    pub const REJECT_MCS_PDU_ULTIMATUM: u8 = 9;
    pub const ATTACH_USER_REQUEST: u8 = 10;
    pub const ATTACH_USER_CONFIRM: u8 = 11;
    pub const DETACH_USER_REQUEST: u8 = 12;
    pub const DETACH_USER_INDICATION: u8 = 13;
    pub const CHANNEL_JOIN_REQUEST: u8 = 14;
    pub const CHANNEL_JOIN_CONFIRM: u8 = 15;
    pub const SEND_DATA_REQUEST: u8 = 25;
    pub const SEND_DATA_INDICATION: u8 = 26;
}

/// DisconnectProviderUltimatum `reason` ([T.125] Reason ENUMERATED). Open: the 3-bit field
/// can carry 5..7, which T.125 does not define; they are kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DisconnectReason(pub u8);

impl DisconnectReason {
    pub const DOMAIN_DISCONNECTED: DisconnectReason = DisconnectReason(0);
    pub const PROVIDER_INITIATED: DisconnectReason = DisconnectReason(1);
    pub const TOKEN_PURGED: DisconnectReason = DisconnectReason(2);
    pub const USER_REQUESTED: DisconnectReason = DisconnectReason(3);
    pub const CHANNEL_PURGED: DisconnectReason = DisconnectReason(4);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "rn-domain-disconnected",
            1 => "rn-provider-initiated",
            2 => "rn-token-purged",
            3 => "rn-user-requested",
            4 => "rn-channel-purged",
            _ => return None,
        })
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{} (unknown reason)", self.0),
        }
    }
}

/// DataPriority ([T.125]): top 0, high 1, medium 2, low 3. RDP sends high.
pub const PRIORITY_HIGH: u8 = 1;
/// Segmentation bits: begin (0b10) | end (0b01). RDP always sends both.
pub const SEGMENTATION_BEGIN_END: u8 = 0b11;

/// SendDataRequest / SendDataIndication ([T.125] 11.32 / 11.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendData {
    pub initiator: u16,
    pub channel_id: u16,
    /// dataPriority, 2 bits.
    pub priority: u8,
    /// segmentation, 2 bits (begin, end).
    pub segmentation: u8,
    pub data: Vec<u8>,
}

impl SendData {
    /// A single-segment, high-priority send as RDP uses it.
    pub fn new(initiator: u16, channel_id: u16, data: Vec<u8>) -> Self {
        SendData {
            initiator,
            channel_id,
            priority: PRIORITY_HIGH,
            segmentation: SEGMENTATION_BEGIN_END,
            data,
        }
    }
}

/// One MCS PDU as found in an X.224 Data TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPdu {
    /// BER Connect-Initial (`7F 65`).
    ConnectInitial(Box<ClientConnectInitial>),
    /// BER Connect-Response (`7F 66`).
    ConnectResponse(Box<ServerConnectResponse>),
    ErectDomainRequest {
        sub_height: u32,
        sub_interval: u32,
    },
    /// The server (or client) tears the MCS domain down: "denying the connection".
    DisconnectProviderUltimatum {
        reason: DisconnectReason,
    },
    AttachUserRequest,
    AttachUserConfirm {
        result: u8,
        initiator: Option<u16>,
    },
    ChannelJoinRequest {
        initiator: u16,
        channel_id: u16,
    },
    ChannelJoinConfirm {
        result: u8,
        initiator: u16,
        requested: u16,
        channel_id: Option<u16>,
    },
    SendDataRequest(SendData),
    SendDataIndication(SendData),
    /// Another DomainMCSPDU CHOICE (index 0..=63), not decoded further.
    Other {
        choice: u8,
    },
}

/// The largest MCS PDU accepted (a TPKT frame carries at most 65 531 payload bytes).
pub const MAX_PDU: usize = 64 * 1024;

/// Decodes one MCS PDU (the user data of an X.224 Data TPDU). Bytes after the PDU are ignored.
pub fn decode_domain_pdu(data: &[u8]) -> Result<DomainPdu, DecodeError> {
    if data.len() > MAX_PDU {
        return Err(DecodeError::TooLarge {
            what: "MCS PDU",
            len: data.len(),
            max: MAX_PDU,
        });
    }
    let first = *data.first().ok_or(DecodeError::Truncated {
        what: "MCS PDU",
        needed: 1,
        available: 0,
    })?;
    // BER connect PDUs start with the APPLICATION high-tag byte; as PER this would be CHOICE
    // 31 (tokenInhibitRequest), which RDP never uses.
    if first == super::ber::APPLICATION_HIGH_TAG {
        return match data.get(1) {
            Some(&super::connect::TAG_CONNECT_INITIAL) => Ok(DomainPdu::ConnectInitial(Box::new(
                ClientConnectInitial::decode(data)?,
            ))),
            Some(&super::connect::TAG_CONNECT_RESPONSE) => Ok(DomainPdu::ConnectResponse(
                Box::new(ServerConnectResponse::decode(data)?),
            )),
            Some(&other) => Err(DecodeError::Invalid {
                what: "MCS connect PDU tag",
                value: u64::from(other),
            }),
            None => Err(DecodeError::Truncated {
                what: "MCS connect PDU tag",
                needed: 2,
                available: 1,
            }),
        };
    }
    let second = data.get(1).copied().unwrap_or(0);
    let mut bits = Bits::new(first, second);
    let index = bits.take(6);
    let need = |n: usize, what: &'static str| -> Result<(), DecodeError> {
        if data.len() < n {
            Err(DecodeError::Truncated {
                what,
                needed: n,
                available: data.len(),
            })
        } else {
            Ok(())
        }
    };
    match index {
        choice::ERECT_DOMAIN_REQUEST => {
            let mut c = Cursor::new(data.get(1..).unwrap_or(&[]));
            let sub_height = per::read_integer(&mut c, "ErectDomainRequest subHeight")?;
            let sub_interval = per::read_integer(&mut c, "ErectDomainRequest subInterval")?;
            Ok(DomainPdu::ErectDomainRequest {
                sub_height,
                sub_interval,
            })
        }
        choice::DISCONNECT_PROVIDER_ULTIMATUM => {
            need(2, "DisconnectProviderUltimatum")?;
            Ok(DomainPdu::DisconnectProviderUltimatum {
                reason: DisconnectReason(bits.take(3)),
            })
        }
        choice::ATTACH_USER_REQUEST => Ok(DomainPdu::AttachUserRequest),
        choice::ATTACH_USER_CONFIRM => {
            need(2, "AttachUserConfirm")?;
            let present = bits.take(1) == 1;
            let result = bits.take(4);
            let mut c = Cursor::new(data.get(bits.bytes_used()..).unwrap_or(&[]));
            let initiator = if present {
                Some(per::read_u16_min(
                    &mut c,
                    BASE_CHANNEL_ID,
                    "AttachUserConfirm initiator",
                )?)
            } else {
                None
            };
            Ok(DomainPdu::AttachUserConfirm { result, initiator })
        }
        choice::CHANNEL_JOIN_REQUEST => {
            let mut c = Cursor::new(data.get(1..).unwrap_or(&[]));
            let initiator =
                per::read_u16_min(&mut c, BASE_CHANNEL_ID, "ChannelJoinRequest initiator")?;
            let channel_id = c.u16_be("ChannelJoinRequest channelId")?;
            Ok(DomainPdu::ChannelJoinRequest {
                initiator,
                channel_id,
            })
        }
        choice::CHANNEL_JOIN_CONFIRM => {
            need(2, "ChannelJoinConfirm")?;
            let present = bits.take(1) == 1;
            let result = bits.take(4);
            let mut c = Cursor::new(data.get(bits.bytes_used()..).unwrap_or(&[]));
            let initiator =
                per::read_u16_min(&mut c, BASE_CHANNEL_ID, "ChannelJoinConfirm initiator")?;
            let requested = c.u16_be("ChannelJoinConfirm requested")?;
            let channel_id = if present {
                Some(c.u16_be("ChannelJoinConfirm channelId")?)
            } else {
                None
            };
            Ok(DomainPdu::ChannelJoinConfirm {
                result,
                initiator,
                requested,
                channel_id,
            })
        }
        choice::SEND_DATA_REQUEST | choice::SEND_DATA_INDICATION => {
            let mut c = Cursor::new(data.get(1..).unwrap_or(&[]));
            let initiator = per::read_u16_min(&mut c, BASE_CHANNEL_ID, "SendData initiator")?;
            let channel_id = c.u16_be("SendData channelId")?;
            let flags = c.u8("SendData dataPriority/segmentation")?;
            let mut b = Bits::new(flags, 0);
            let priority = b.take(2);
            let segmentation = b.take(2);
            let data = per::read_octets(&mut c, "SendData userData")?.to_vec();
            let sd = SendData {
                initiator,
                channel_id,
                priority,
                segmentation,
                data,
            };
            Ok(if index == choice::SEND_DATA_REQUEST {
                DomainPdu::SendDataRequest(sd)
            } else {
                DomainPdu::SendDataIndication(sd)
            })
        }
        other => Ok(DomainPdu::Other { choice: other }),
    }
}

impl DomainPdu {
    /// The DomainMCSPDU CHOICE index, or `None` for the BER connect PDUs.
    pub fn choice(&self) -> Option<u8> {
        Some(match self {
            DomainPdu::ConnectInitial(_) | DomainPdu::ConnectResponse(_) => return None,
            DomainPdu::ErectDomainRequest { .. } => choice::ERECT_DOMAIN_REQUEST,
            DomainPdu::DisconnectProviderUltimatum { .. } => choice::DISCONNECT_PROVIDER_ULTIMATUM,
            DomainPdu::AttachUserRequest => choice::ATTACH_USER_REQUEST,
            DomainPdu::AttachUserConfirm { .. } => choice::ATTACH_USER_CONFIRM,
            DomainPdu::ChannelJoinRequest { .. } => choice::CHANNEL_JOIN_REQUEST,
            DomainPdu::ChannelJoinConfirm { .. } => choice::CHANNEL_JOIN_CONFIRM,
            DomainPdu::SendDataRequest(_) => choice::SEND_DATA_REQUEST,
            DomainPdu::SendDataIndication(_) => choice::SEND_DATA_INDICATION,
            DomainPdu::Other { choice } => *choice,
        })
    }

    /// Encodes the PDU. `Other` cannot be encoded (its body is unknown).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let small = |v: u8, bits: u8, what: &'static str| -> Result<u8, DecodeError> {
            if u16::from(v) >= 1u16 << bits {
                Err(DecodeError::Invalid {
                    what,
                    value: u64::from(v),
                })
            } else {
                Ok(v)
            }
        };
        let mut w = BitWriter::default();
        match self {
            DomainPdu::ConnectInitial(ci) => ci.encode(),
            DomainPdu::ConnectResponse(cr) => cr.encode(),
            DomainPdu::ErectDomainRequest {
                sub_height,
                sub_interval,
            } => {
                let mut out = vec![choice::ERECT_DOMAIN_REQUEST << 2];
                per::write_integer(&mut out, *sub_height);
                per::write_integer(&mut out, *sub_interval);
                Ok(out)
            }
            DomainPdu::DisconnectProviderUltimatum { reason } => {
                w.put(choice::DISCONNECT_PROVIDER_ULTIMATUM, 6);
                w.put(small(reason.0, 3, "DisconnectProviderUltimatum reason")?, 3);
                Ok(w.finish())
            }
            DomainPdu::AttachUserRequest => Ok(vec![choice::ATTACH_USER_REQUEST << 2]),
            DomainPdu::AttachUserConfirm { result, initiator } => {
                w.put(choice::ATTACH_USER_CONFIRM, 6);
                w.put(u8::from(initiator.is_some()), 1);
                w.put(small(*result, 4, "AttachUserConfirm result")?, 4);
                let mut out = w.finish();
                if let Some(id) = initiator {
                    per::write_u16_min(&mut out, *id, BASE_CHANNEL_ID, "initiator")?;
                }
                Ok(out)
            }
            DomainPdu::ChannelJoinRequest {
                initiator,
                channel_id,
            } => {
                let mut out = vec![choice::CHANNEL_JOIN_REQUEST << 2];
                per::write_u16_min(&mut out, *initiator, BASE_CHANNEL_ID, "initiator")?;
                out.extend_from_slice(&channel_id.to_be_bytes());
                Ok(out)
            }
            DomainPdu::ChannelJoinConfirm {
                result,
                initiator,
                requested,
                channel_id,
            } => {
                w.put(choice::CHANNEL_JOIN_CONFIRM, 6);
                w.put(u8::from(channel_id.is_some()), 1);
                w.put(small(*result, 4, "ChannelJoinConfirm result")?, 4);
                let mut out = w.finish();
                per::write_u16_min(&mut out, *initiator, BASE_CHANNEL_ID, "initiator")?;
                out.extend_from_slice(&requested.to_be_bytes());
                if let Some(id) = channel_id {
                    out.extend_from_slice(&id.to_be_bytes());
                }
                Ok(out)
            }
            DomainPdu::SendDataRequest(sd) | DomainPdu::SendDataIndication(sd) => {
                let index = if matches!(self, DomainPdu::SendDataRequest(_)) {
                    choice::SEND_DATA_REQUEST
                } else {
                    choice::SEND_DATA_INDICATION
                };
                let mut out = vec![index << 2];
                per::write_u16_min(&mut out, sd.initiator, BASE_CHANNEL_ID, "initiator")?;
                out.extend_from_slice(&sd.channel_id.to_be_bytes());
                let mut f = BitWriter::default();
                f.put(small(sd.priority, 2, "SendData dataPriority")?, 2);
                f.put(small(sd.segmentation, 2, "SendData segmentation")?, 2);
                out.extend_from_slice(&f.finish());
                per::write_length(&mut out, sd.data.len(), "SendData userData")?;
                out.extend_from_slice(&sd.data);
                Ok(out)
            }
            DomainPdu::Other { choice } => Err(DecodeError::Invalid {
                what: "DomainMCSPDU choice (cannot encode)",
                value: u64::from(*choice),
            }),
        }
    }
}

/// `21 80`-style Disconnect Provider Ultimatum.
pub fn encode_disconnect_provider_ultimatum(
    reason: DisconnectReason,
) -> Result<Vec<u8>, DecodeError> {
    DomainPdu::DisconnectProviderUltimatum { reason }.encode()
}

/// Erect Domain Request with subHeight 0 and subInterval 0, as RDP clients send it
/// ([MS-RDPBCGR] 2.2.1.5).
pub fn encode_erect_domain_request() -> Vec<u8> {
    vec![choice::ERECT_DOMAIN_REQUEST << 2, 0x01, 0x00, 0x01, 0x00]
}

/// Attach User Request ([MS-RDPBCGR] 2.2.1.6): the CHOICE byte alone.
pub fn encode_attach_user_request() -> Vec<u8> {
    vec![choice::ATTACH_USER_REQUEST << 2]
}

/// Channel Join Request ([MS-RDPBCGR] 2.2.1.8).
pub fn encode_channel_join_request(
    initiator: u16,
    channel_id: u16,
) -> Result<Vec<u8>, DecodeError> {
    DomainPdu::ChannelJoinRequest {
        initiator,
        channel_id,
    }
    .encode()
}

/// Send Data Indication from the server (initiator = [`SERVER_CHANNEL_ID`] as servers send).
pub fn encode_send_data_indication(channel_id: u16, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    DomainPdu::SendDataIndication(SendData::new(SERVER_CHANNEL_ID, channel_id, data.to_vec()))
        .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, encoded and decoded back.
    #[test]
    fn every_encoder_round_trips() {
        let pdus = [
            DomainPdu::ErectDomainRequest {
                sub_height: 0,
                sub_interval: 0,
            },
            DomainPdu::ErectDomainRequest {
                sub_height: 0x1234,
                sub_interval: 0x0100_0000,
            },
            DomainPdu::DisconnectProviderUltimatum {
                reason: DisconnectReason::USER_REQUESTED,
            },
            DomainPdu::DisconnectProviderUltimatum {
                reason: DisconnectReason(7),
            },
            DomainPdu::AttachUserRequest,
            DomainPdu::AttachUserConfirm {
                result: 0,
                initiator: Some(1007),
            },
            DomainPdu::AttachUserConfirm {
                result: 13,
                initiator: None,
            },
            DomainPdu::ChannelJoinRequest {
                initiator: 1007,
                channel_id: 1003,
            },
            DomainPdu::ChannelJoinConfirm {
                result: 0,
                initiator: 1007,
                requested: 1003,
                channel_id: Some(1003),
            },
            DomainPdu::ChannelJoinConfirm {
                result: 3,
                initiator: 65535,
                requested: 1010,
                channel_id: None,
            },
            DomainPdu::SendDataRequest(SendData::new(1007, 1003, vec![1, 2, 3])),
            DomainPdu::SendDataIndication(SendData::new(1002, 1003, vec![0x55; 300])),
            DomainPdu::SendDataIndication(SendData {
                initiator: 1001,
                channel_id: 0,
                priority: 3,
                segmentation: 0b10,
                data: vec![],
            }),
        ];
        for pdu in pdus {
            let bytes = pdu.encode().expect("encodes");
            assert_eq!(decode_domain_pdu(&bytes), Ok(pdu.clone()), "{bytes:02X?}");
            for n in 0..bytes.len() {
                if let Ok(p) = decode_domain_pdu(&bytes[..n]) {
                    // only a PDU whose tail is optional may decode from a prefix
                    assert!(
                        matches!(p, DomainPdu::AttachUserRequest),
                        "{pdu:?} prefix {n}"
                    );
                }
            }
        }
    }

    /// The byte patterns RDP stacks use (IronRDP's test vectors; xrdp and FreeRDP send the same
    /// shapes, see tests/mcs_captures.rs): `21 80` DPUm rn-user-requested, `2E 00 00 06`
    /// AttachUserConfirm initiator 1007, `3E 00 00 06 03 EB 03 EB` ChannelJoinConfirm 1003,
    /// `04 01 00 01 00` Erect Domain.
    #[test]
    fn well_known_encodings() {
        assert_eq!(
            encode_disconnect_provider_ultimatum(DisconnectReason::USER_REQUESTED),
            Ok(vec![0x21, 0x80])
        );
        assert_eq!(
            decode_domain_pdu(&[0x21, 0x80]),
            Ok(DomainPdu::DisconnectProviderUltimatum {
                reason: DisconnectReason::USER_REQUESTED
            })
        );
        assert_eq!(
            decode_domain_pdu(&[0x20, 0x80]),
            Ok(DomainPdu::DisconnectProviderUltimatum {
                reason: DisconnectReason::PROVIDER_INITIATED
            })
        );
        assert_eq!(
            DomainPdu::AttachUserConfirm {
                result: 0,
                initiator: Some(1007)
            }
            .encode(),
            Ok(vec![0x2E, 0x00, 0x00, 0x06])
        );
        assert_eq!(
            decode_domain_pdu(&[0x3E, 0x00, 0x00, 0x06, 0x03, 0xEB, 0x03, 0xEB]),
            Ok(DomainPdu::ChannelJoinConfirm {
                result: 0,
                initiator: 1007,
                requested: 1003,
                channel_id: Some(1003)
            })
        );
        assert_eq!(
            encode_channel_join_request(1007, 1003),
            Ok(vec![0x38, 0x00, 0x06, 0x03, 0xEB])
        );
        assert_eq!(
            decode_domain_pdu(&encode_erect_domain_request()),
            Ok(DomainPdu::ErectDomainRequest {
                sub_height: 0,
                sub_interval: 0
            })
        );
        assert_eq!(
            decode_domain_pdu(&encode_attach_user_request()),
            Ok(DomainPdu::AttachUserRequest)
        );
        let sdi = encode_send_data_indication(1003, &[0xAA; 0x192]).expect("fits");
        assert_eq!(&sdi[..7], &[0x68, 0x00, 0x01, 0x03, 0xEB, 0x70, 0x81]);
        assert_eq!(sdi[7], 0x92);
        // AttachUserConfirm rt-too-many-users (13 = 0b1101) straddles the bytes
        assert_eq!(
            DomainPdu::AttachUserConfirm {
                result: 13,
                initiator: Some(1001)
            }
            .encode(),
            Ok(vec![0x2F, 0xA0, 0x00, 0x00])
        );
    }

    #[test]
    fn unknown_and_invalid() {
        assert_eq!(
            decode_domain_pdu(&[0x30]),
            Ok(DomainPdu::Other { choice: 12 })
        );
        assert!(decode_domain_pdu(&[]).is_err());
        assert!(decode_domain_pdu(&[0x7F]).is_err());
        assert!(decode_domain_pdu(&[0x7F, 0x67, 0x00]).is_err());
        assert!(DomainPdu::Other { choice: 12 }.encode().is_err());
        assert!(DomainPdu::DisconnectProviderUltimatum {
            reason: DisconnectReason(8)
        }
        .encode()
        .is_err());
        // initiator below 1001 cannot be encoded
        assert!(encode_channel_join_request(5, 1003).is_err());
        // a fragmented PER length is refused
        assert!(decode_domain_pdu(&[0x68, 0, 1, 3, 0xEB, 0x70, 0xC1, 0]).is_err());
        assert!(decode_domain_pdu(&vec![0x68; MAX_PDU + 1]).is_err());
        assert_eq!(DisconnectReason(3).to_string(), "3 (rn-user-requested)");
        assert_eq!(DisconnectReason(6).to_string(), "6 (unknown reason)");
    }
}
