//! Slow-path share headers ([MS-RDPBCGR] 2.2.8.1.1.1.1 TS_SHARECONTROLHEADER, 2.2.8.1.1.1.2
//! TS_SHAREDATAHEADER) and the Set Error Info PDU (2.2.5.1.1, pduType2 0x2F) that a server
//! sends before it disconnects a client that set RNS_UD_CS_SUPPORT_ERRINFO_PDU.
//!
//! These sit in the userData of a Send Data Indication. With Enhanced RDP Security (TLS,
//! CredSSP) there is no security header in front ([MS-RDPBCGR] 3.3.5.1); with Standard RDP
//! Security the PDU would be encrypted and is not decoded here.

use super::domain::{BASE_CHANNEL_ID, SERVER_CHANNEL_ID};
use crate::cursor::Cursor;
use crate::DecodeError;

/// pduType (low 4 bits of TS_SHARECONTROLHEADER.pduType).
pub mod pdu_type {
    pub const DEMAND_ACTIVE: u16 = 0x1;
    pub const CONFIRM_ACTIVE: u16 = 0x3;
    pub const DEACTIVATE_ALL: u16 = 0x6;
    pub const DATA: u16 = 0x7;
    pub const SERVER_REDIRECT: u16 = 0xA;
}
/// TS_PROTOCOL_VERSION in the upper bits of pduType.
pub const TS_PROTOCOL_VERSION: u16 = 0x0010;
/// PDUTYPE2_SET_ERROR_INFO_PDU.
pub const PDUTYPE2_SET_ERROR_INFO_PDU: u8 = 0x2F;
pub const STREAM_LOW: u8 = 0x01;

const CONTROL_LEN: usize = 6;
const DATA_HEADER_LEN: usize = 12;

/// TS_SHARECONTROLHEADER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareControlHeader {
    pub total_length: u16,
    /// The raw pduType field (type in bits 0-3, version in bits 4-15).
    pub pdu_type: u16,
    pub pdu_source: u16,
}

impl ShareControlHeader {
    /// The PDU type without the version bits.
    pub fn kind(&self) -> u16 {
        self.pdu_type & 0x000F
    }
}

/// TS_SHAREDATAHEADER after its share control header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareDataHeader {
    pub share_id: u32,
    pub stream_id: u8,
    pub uncompressed_length: u16,
    pub pdu_type2: u8,
    pub compressed_type: u8,
    pub compressed_length: u16,
}

/// Decodes a share control header and returns it with its body (bounded by totalLength).
pub fn decode_share_control(data: &[u8]) -> Result<(ShareControlHeader, &[u8]), DecodeError> {
    let mut c = Cursor::new(data);
    let total_length = c.u16_le("TS_SHARECONTROLHEADER totalLength")?;
    let pdu_type = c.u16_le("TS_SHARECONTROLHEADER pduType")?;
    let pdu_source = c.u16_le("TS_SHARECONTROLHEADER pduSource")?;
    let total = usize::from(total_length);
    if total < CONTROL_LEN {
        return Err(DecodeError::Invalid {
            what: "TS_SHARECONTROLHEADER totalLength",
            value: u64::from(total_length),
        });
    }
    let body = c.take(total - CONTROL_LEN, "share control PDU body")?;
    Ok((
        ShareControlHeader {
            total_length,
            pdu_type,
            pdu_source,
        },
        body,
    ))
}

/// Decodes a Data PDU: control header, data header, and the PDU contents.
pub fn decode_share_data(
    data: &[u8],
) -> Result<(ShareControlHeader, ShareDataHeader, &[u8]), DecodeError> {
    let (control, body) = decode_share_control(data)?;
    if control.kind() != pdu_type::DATA {
        return Err(DecodeError::Invalid {
            what: "TS_SHARECONTROLHEADER pduType (expected PDUTYPE_DATAPDU)",
            value: u64::from(control.pdu_type),
        });
    }
    let mut c = Cursor::new(body);
    let share_id = c.u32_le("TS_SHAREDATAHEADER shareId")?;
    let _pad1 = c.u8("TS_SHAREDATAHEADER pad1")?;
    let stream_id = c.u8("TS_SHAREDATAHEADER streamId")?;
    let uncompressed_length = c.u16_le("TS_SHAREDATAHEADER uncompressedLength")?;
    let pdu_type2 = c.u8("TS_SHAREDATAHEADER pduType2")?;
    let compressed_type = c.u8("TS_SHAREDATAHEADER compressedType")?;
    let compressed_length = c.u16_le("TS_SHAREDATAHEADER compressedLength")?;
    Ok((
        control,
        ShareDataHeader {
            share_id,
            stream_id,
            uncompressed_length,
            pdu_type2,
            compressed_type,
            compressed_length,
        },
        c.rest(),
    ))
}

/// Encodes an uncompressed Data PDU (control header + data header + `payload`).
/// uncompressedLength counts from pduType2 on (payload + 4), as in the spec's examples.
pub fn encode_share_data(
    share_id: u32,
    pdu_source: u16,
    pdu_type2: u8,
    payload: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    let total = CONTROL_LEN + DATA_HEADER_LEN + payload.len();
    let total16 = u16::try_from(total).map_err(|_| DecodeError::TooLarge {
        what: "TS_SHARECONTROLHEADER totalLength",
        len: total,
        max: usize::from(u16::MAX),
    })?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&total16.to_le_bytes());
    out.extend_from_slice(&(pdu_type::DATA | TS_PROTOCOL_VERSION).to_le_bytes());
    out.extend_from_slice(&pdu_source.to_le_bytes());
    out.extend_from_slice(&share_id.to_le_bytes());
    out.push(0); // pad1
    out.push(STREAM_LOW);
    out.extend_from_slice(&((payload.len() + 4) as u16).to_le_bytes());
    out.push(pdu_type2);
    out.push(0); // compressedType
    out.extend_from_slice(&0u16.to_le_bytes()); // compressedLength
    out.extend_from_slice(payload);
    Ok(out)
}

/// The MCS Send Data Indication carrying a Set Error Info PDU (TS_SET_ERROR_INFO_PDU,
/// [MS-RDPBCGR] 2.2.5.1.1) on `channel` (the I/O channel), from the server channel 1002
/// ([MS-RDPBCGR] 3.3.5.1). 29 bytes; no security header (Enhanced RDP Security).
pub fn set_error_info_pdu(error_info: u32, share_id: u32, channel: u16) -> Vec<u8> {
    const SHARE_LEN: u8 = (CONTROL_LEN + DATA_HEADER_LEN + 4) as u8;
    let mut out = Vec::with_capacity(7 + usize::from(SHARE_LEN));
    // Send Data Indication: CHOICE 26, initiator 1002 (offset from 1001), channelId,
    // priority high + begin|end segmentation, one-byte PER length.
    out.push(super::domain::choice::SEND_DATA_INDICATION << 2);
    out.extend_from_slice(&(SERVER_CHANNEL_ID - BASE_CHANNEL_ID).to_be_bytes());
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&[0x70, SHARE_LEN]);
    // TS_SHARECONTROLHEADER + TS_SHAREDATAHEADER + errorInfo
    out.extend_from_slice(&u16::from(SHARE_LEN).to_le_bytes());
    out.extend_from_slice(&(pdu_type::DATA | TS_PROTOCOL_VERSION).to_le_bytes());
    out.extend_from_slice(&SERVER_CHANNEL_ID.to_le_bytes());
    out.extend_from_slice(&share_id.to_le_bytes());
    out.extend_from_slice(&[0, STREAM_LOW]);
    out.extend_from_slice(&8u16.to_le_bytes()); // uncompressedLength: 4 + payload
    out.extend_from_slice(&[PDUTYPE2_SET_ERROR_INFO_PDU, 0, 0, 0]);
    out.extend_from_slice(&error_info.to_le_bytes());
    out
}

/// Reads the errorInfo code (raw, unknown codes included) from the userData of a Send Data
/// Indication holding a Set Error Info PDU. Any other PDU is an error naming what it was.
pub fn decode_set_error_info(user_data: &[u8]) -> Result<u32, DecodeError> {
    let (_, header, payload) = decode_share_data(user_data)?;
    if header.pdu_type2 != PDUTYPE2_SET_ERROR_INFO_PDU {
        return Err(DecodeError::Invalid {
            what: "TS_SHAREDATAHEADER pduType2 (expected PDUTYPE2_SET_ERROR_INFO_PDU)",
            value: u64::from(header.pdu_type2),
        });
    }
    Cursor::new(payload).u32_le("TS_SET_ERROR_INFO_PDU errorInfo")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcs::domain::{decode_domain_pdu, DomainPdu, SendData, IO_CHANNEL_ID};

    /// ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES (0x9) as a server sends it on the I/O channel:
    /// `68 00 01 03 EB 70 16` SDin initiator 1002, channel 1003, 22 bytes |
    /// `16 00 17 00 EA 03` totalLength 22, PDUTYPE_DATAPDU|v1, pduSource 1002 |
    /// `EA 03 01 00 00 01 08 00 2F 00 00 00` shareId 0x103EA, STREAM_LOW, len 8, 0x2F |
    /// `09 00 00 00` errorInfo.
    #[test]
    fn set_error_info_layout_and_round_trip() {
        let pdu = set_error_info_pdu(0x9, 0x103EA, IO_CHANNEL_ID);
        assert_eq!(
            pdu,
            [
                0x68, 0x00, 0x01, 0x03, 0xEB, 0x70, 0x16, //
                0x16, 0x00, 0x17, 0x00, 0xEA, 0x03, //
                0xEA, 0x03, 0x01, 0x00, 0x00, 0x01, 0x08, 0x00, 0x2F, 0x00, 0x00, 0x00, //
                0x09, 0x00, 0x00, 0x00,
            ]
        );
        let DomainPdu::SendDataIndication(sd) = decode_domain_pdu(&pdu).expect("decodes") else {
            panic!("not a Send Data Indication");
        };
        assert_eq!((sd.initiator, sd.channel_id), (1002, 1003));
        // the hand-built bytes equal the generic encoders' output
        let generic = DomainPdu::SendDataIndication(SendData::new(
            SERVER_CHANNEL_ID,
            IO_CHANNEL_ID,
            encode_share_data(
                0x103EA,
                SERVER_CHANNEL_ID,
                PDUTYPE2_SET_ERROR_INFO_PDU,
                &[9, 0, 0, 0],
            )
            .expect("fits"),
        ))
        .encode()
        .expect("encodes");
        assert_eq!(generic, pdu);
        assert_eq!(decode_set_error_info(&sd.data), Ok(9));
        // an unknown code survives
        let pdu = set_error_info_pdu(0xDEAD_BEEF, 0, IO_CHANNEL_ID);
        let DomainPdu::SendDataIndication(sd) = decode_domain_pdu(&pdu).expect("decodes") else {
            panic!("not a Send Data Indication");
        };
        assert_eq!(decode_set_error_info(&sd.data), Ok(0xDEAD_BEEF));
        for n in 0..sd.data.len() {
            assert!(decode_set_error_info(&sd.data[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn other_share_pdus_are_named_not_misread() {
        let sync = encode_share_data(1, 1002, 0x1F, &[1, 0, 0xEA, 0x03]).expect("fits");
        assert!(matches!(
            decode_set_error_info(&sync),
            Err(DecodeError::Invalid { value: 0x1F, .. })
        ));
        let (ctl, data, payload) = decode_share_data(&sync).expect("decodes");
        assert_eq!(ctl.kind(), pdu_type::DATA);
        assert_eq!(data.uncompressed_length, 8);
        assert_eq!(payload, [1, 0, 0xEA, 0x03]);
        // a Deactivate All (type 6) is not a Data PDU
        let deactivate = [0x0A, 0x00, 0x16, 0x00, 0xEA, 0x03, 0, 0, 0, 0];
        assert!(decode_share_data(&deactivate).is_err());
        assert_eq!(
            decode_share_control(&deactivate).map(|(h, _)| h.kind()),
            Ok(pdu_type::DEACTIVATE_ALL)
        );
        assert!(decode_share_control(&[0x05, 0x00, 0x17, 0x00, 0, 0]).is_err());
    }
}
