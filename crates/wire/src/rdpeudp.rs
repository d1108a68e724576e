//! The first datagram of an RDP-UDP connection ([MS-RDPEUDP] 3.1.5.1.1 SYN, 3.1.5.1.3
//! SYN+ACK; 2.2.2.1 RDPUDP_FEC_HEADER, 2.2.2.5 RDPUDP_SYNDATA_PAYLOAD, 2.2.2.9
//! RDPUDP_CORRELATION_ID_PAYLOAD, 2.2.2.12 RDPUDP_SYNDATAEX_PAYLOAD).
//!
//! MS-RDPEUDP version 1/2 headers are **big-endian** (network order).

use crate::cursor::Cursor;
use crate::DecodeError;

pub mod flags {
    pub const SYN: u16 = 0x0001;
    pub const FIN: u16 = 0x0002;
    pub const ACK: u16 = 0x0004;
    pub const DATA: u16 = 0x0008;
    pub const FEC: u16 = 0x0010;
    pub const CN: u16 = 0x0020;
    pub const CWR: u16 = 0x0040;
    pub const SACK_OPTION: u16 = 0x0080;
    pub const ACK_OF_ACKS: u16 = 0x0100;
    pub const SYNLOSSY: u16 = 0x0200;
    pub const ACKDELAYED: u16 = 0x0400;
    pub const CORRELATION_ID: u16 = 0x0800;
    pub const SYNEX: u16 = 0x1000;
}

pub const VERSION_1: u16 = 0x0001;
pub const VERSION_2: u16 = 0x0002;
pub const VERSION_3: u16 = 0x0101;
pub const SYNEX_VERSION_INFO_VALID: u16 = 0x0001;

/// The MTU range both sides MUST use ([MS-RDPEUDP] 2.2.2.5).
pub const MIN_MTU: u16 = 1132;
pub const MAX_MTU: u16 = 1232;

/// A SYN or SYN+ACK datagram's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syn {
    pub sn_source_ack: u32,
    pub receive_window: u16,
    pub flags: u16,
    pub initial_sequence_number: u32,
    pub upstream_mtu: u16,
    pub downstream_mtu: u16,
    pub correlation_id: Option<[u8; 16]>,
    /// (uSynExFlags, uUdpVer) when RDPUDP_FLAG_SYNEX is set.
    pub synex: Option<(u16, u16)>,
}

impl Syn {
    /// A client SYN as a reachability probe sends it: no cookie, version 2, padded to the MTU.
    pub fn probe(isn: u32) -> Syn {
        Syn {
            sn_source_ack: 0xFFFF_FFFF,
            receive_window: 64,
            flags: flags::SYN | flags::SYNEX,
            initial_sequence_number: isn,
            upstream_mtu: MAX_MTU,
            downstream_mtu: MAX_MTU,
            correlation_id: None,
            synex: Some((SYNEX_VERSION_INFO_VALID, VERSION_2)),
        }
    }

    /// Whether this datagram is a SYN+ACK answering a SYN whose ISN was `isn`.
    pub fn acknowledges(&self, isn: u32) -> bool {
        self.flags & (flags::SYN | flags::ACK) == (flags::SYN | flags::ACK)
            && self.sn_source_ack == isn
    }

    /// The RDP-UDP version the peer announced (version 1 when it sent no SYNEX payload).
    pub fn version(&self) -> u16 {
        self.synex.map(|(_, v)| v).unwrap_or(VERSION_1)
    }

    /// Encodes the datagram, zero-padded to the smaller MTU (clamped to 1132..=1232) as
    /// [MS-RDPEUDP] 3.1.5.1.1 requires — which also keeps a probe's amplification factor at 1.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::from(MAX_MTU));
        out.extend_from_slice(&self.sn_source_ack.to_be_bytes());
        out.extend_from_slice(&self.receive_window.to_be_bytes());
        let mut fl = self.flags;
        if self.correlation_id.is_some() {
            fl |= flags::CORRELATION_ID;
        }
        if self.synex.is_some() {
            fl |= flags::SYNEX;
        }
        out.extend_from_slice(&fl.to_be_bytes());
        out.extend_from_slice(&self.initial_sequence_number.to_be_bytes());
        out.extend_from_slice(&self.upstream_mtu.to_be_bytes());
        out.extend_from_slice(&self.downstream_mtu.to_be_bytes());
        if let Some(id) = &self.correlation_id {
            out.extend_from_slice(id);
            out.extend_from_slice(&[0u8; 16]);
        }
        if let Some((f, v)) = self.synex {
            out.extend_from_slice(&f.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        let pad_to = usize::from(
            self.upstream_mtu
                .min(self.downstream_mtu)
                .clamp(MIN_MTU, MAX_MTU),
        );
        if out.len() < pad_to {
            out.resize(pad_to, 0);
        }
        out
    }

    /// Decodes a SYN or SYN+ACK (trailing padding and a v3 cookie hash are ignored).
    pub fn decode(bytes: &[u8]) -> Result<Syn, DecodeError> {
        let mut c = Cursor::new(bytes);
        let sn_source_ack = c.u32_be("snSourceAck")?;
        let receive_window = c.u16_be("uReceiveWindowSize")?;
        let fl = c.u16_be("uFlags")?;
        if fl & flags::SYN == 0 {
            return Err(DecodeError::Invalid {
                what: "RDPUDP uFlags (no SYN)",
                value: u64::from(fl),
            });
        }
        let initial_sequence_number = c.u32_be("snInitialSequenceNumber")?;
        let upstream_mtu = c.u16_be("uUpStreamMtu")?;
        let downstream_mtu = c.u16_be("uDownStreamMtu")?;
        let correlation_id = if fl & flags::CORRELATION_ID != 0 {
            let id = c.array::<16>("uCorrelationId")?;
            c.skip(16, "correlation reserved")?;
            Some(id)
        } else {
            None
        };
        let synex = if fl & flags::SYNEX != 0 {
            Some((c.u16_be("uSynExFlags")?, c.u16_be("uUdpVer")?))
        } else {
            None
        };
        Ok(Syn {
            sn_source_ack,
            receive_window,
            flags: fl,
            initial_sequence_number,
            upstream_mtu,
            downstream_mtu,
            correlation_id,
            synex,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_padded_and_big_endian() {
        let b = Syn::probe(0x7014_C0FB).encode();
        assert_eq!(b.len(), 1232);
        // snSourceAck -1 | window 64 | flags SYN|SYNEX | ISN | MTUs 1232 | SYNEX valid, v2
        assert_eq!(
            b.get(..20),
            Some(
                &[
                    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x40, 0x10, 0x01, 0x70, 0x14, 0xC0, 0xFB, 0x04,
                    0xD0, 0x04, 0xD0, 0x00, 0x01, 0x00, 0x02
                ][..]
            )
        );
        assert!(b.iter().skip(20).all(|&x| x == 0));
    }

    /// The SYN+ACK prefix of a Windows server quoted in rdp-knowledge.md B8:
    /// `64 7a 02 bc | 00 40 | 10 05 | 61 f7 b6 e3 | 04 d0 | 04 d0 | 00 01 | 01 01`.
    #[test]
    fn decodes_windows_syn_ack() {
        let b = [
            0x64, 0x7a, 0x02, 0xbc, 0x00, 0x40, 0x10, 0x05, 0x61, 0xf7, 0xb6, 0xe3, 0x04, 0xd0,
            0x04, 0xd0, 0x00, 0x01, 0x01, 0x01,
        ];
        let s = Syn::decode(&b).expect("decodes");
        assert!(s.acknowledges(0x647a_02bc));
        assert!(!s.acknowledges(1));
        assert_eq!(s.version(), VERSION_3);
        assert_eq!(s.upstream_mtu, 1232);
    }

    #[test]
    fn rejects_non_syn() {
        assert!(Syn::decode(&[0; 20]).is_err());
        assert!(Syn::decode(&[0xff; 5]).is_err());
    }
}
