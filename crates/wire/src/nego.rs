//! RDP negotiation structures carried in the X.224 Connection Request/Confirm:
//! RDP_NEG_REQ ([MS-RDPBCGR] 2.2.1.1.1), RDP_NEG_RSP (2.2.1.2.1), RDP_NEG_FAILURE (2.2.1.2.2).
//! All multi-byte fields are little-endian.

use crate::cursor::Cursor;
use crate::DecodeError;
use std::fmt;

pub const TYPE_RDP_NEG_REQ: u8 = 0x01;
pub const TYPE_RDP_NEG_RSP: u8 = 0x02;
pub const TYPE_RDP_NEG_FAILURE: u8 = 0x03;
pub const TYPE_RDP_CORRELATION_INFO: u8 = 0x06;

/// A set of security protocols (`requestedProtocols` / `selectedProtocol`,
/// [MS-RDPBCGR] 2.2.1.1.1). Unknown bits are kept. With the `serde` feature it (de)serializes
/// as the bare integer, exactly as a `u32` field would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Protocols(pub u32);

impl Protocols {
    /// Standard RDP Security (RC4 and the server's proprietary certificate). Value 0: it is
    /// what a server selects when nothing else was requested or allowed.
    pub const RDP: Protocols = Protocols(0x0000_0000);
    pub const SSL: Protocols = Protocols(0x0000_0001);
    pub const HYBRID: Protocols = Protocols(0x0000_0002);
    pub const RDSTLS: Protocols = Protocols(0x0000_0004);
    pub const HYBRID_EX: Protocols = Protocols(0x0000_0008);
    pub const RDSAAD: Protocols = Protocols(0x0000_0010);

    /// The single protocols, in the order a report lists them.
    pub const ALL: [Protocols; 6] = [
        Protocols::RDP,
        Protocols::SSL,
        Protocols::HYBRID,
        Protocols::HYBRID_EX,
        Protocols::RDSTLS,
        Protocols::RDSAAD,
    ];

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, other: Protocols) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Protocols) -> Protocols {
        Protocols(self.0 | other.0)
    }

    /// Whether this selection needs a TLS handshake next (SSL, HYBRID, HYBRID_EX, RDSTLS, RDSAAD
    /// all start with TLS).
    pub fn needs_tls(self) -> bool {
        self.0 != 0
    }

    /// Whether this selection runs CredSSP after TLS.
    pub fn needs_credssp(self) -> bool {
        self.0 & (Protocols::HYBRID.0 | Protocols::HYBRID_EX.0) != 0
    }

    /// The spec name of a single protocol value (`PROTOCOL_SSL` ...), if it is one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "PROTOCOL_RDP",
            0x01 => "PROTOCOL_SSL",
            0x02 => "PROTOCOL_HYBRID",
            0x04 => "PROTOCOL_RDSTLS",
            0x08 => "PROTOCOL_HYBRID_EX",
            0x10 => "PROTOCOL_RDSAAD",
            _ => return None,
        })
    }

    /// A short lowercase name as used in reports and JSON (`rdp`, `tls`, `hybrid`, ...).
    pub fn short_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "rdp",
            0x01 => "tls",
            0x02 => "hybrid",
            0x04 => "rdstls",
            0x08 => "hybrid_ex",
            0x10 => "rdsaad",
            _ => return None,
        })
    }
}

impl fmt::Display for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            return f.write_str(n);
        }
        let mut first = true;
        for bit in 0..32 {
            let p = Protocols(1 << bit);
            if self.contains(p) {
                if !first {
                    f.write_str("|")?;
                }
                first = false;
                match p.name() {
                    Some(n) => f.write_str(n)?,
                    None => write!(f, "0x{:X}", p.0)?,
                }
            }
        }
        Ok(())
    }
}

/// RDP_NEG_FAILURE `failureCode` ([MS-RDPBCGR] 2.2.1.2.2). Open: unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailureCode(pub u32);

impl FailureCode {
    pub const SSL_REQUIRED_BY_SERVER: FailureCode = FailureCode(1);
    pub const SSL_NOT_ALLOWED_BY_SERVER: FailureCode = FailureCode(2);
    pub const SSL_CERT_NOT_ON_SERVER: FailureCode = FailureCode(3);
    pub const INCONSISTENT_FLAGS: FailureCode = FailureCode(4);
    pub const HYBRID_REQUIRED_BY_SERVER: FailureCode = FailureCode(5);
    pub const SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER: FailureCode = FailureCode(6);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "SSL_REQUIRED_BY_SERVER",
            2 => "SSL_NOT_ALLOWED_BY_SERVER",
            3 => "SSL_CERT_NOT_ON_SERVER",
            4 => "INCONSISTENT_FLAGS",
            5 => "HYBRID_REQUIRED_BY_SERVER",
            6 => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
            _ => return None,
        })
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{} (unknown code)", self.0),
        }
    }
}

/// RDP_NEG_REQ flags ([MS-RDPBCGR] 2.2.1.1.1).
pub mod req_flags {
    pub const RESTRICTED_ADMIN_MODE_REQUIRED: u8 = 0x01;
    pub const REDIRECTED_AUTHENTICATION_MODE_REQUIRED: u8 = 0x02;
    pub const CORRELATION_INFO_PRESENT: u8 = 0x08;
}

/// RDP_NEG_RSP flags ([MS-RDPBCGR] 2.2.1.2.1).
pub mod rsp_flags {
    pub const EXTENDED_CLIENT_DATA_SUPPORTED: u8 = 0x01;
    pub const DYNVC_GFX_PROTOCOL_SUPPORTED: u8 = 0x02;
    pub const NEGRSP_FLAG_RESERVED: u8 = 0x04;
    pub const RESTRICTED_ADMIN_MODE_SUPPORTED: u8 = 0x08;
    pub const REDIRECTED_AUTHENTICATION_MODE_SUPPORTED: u8 = 0x10;

    /// Names of the set flags, for reports.
    pub fn names(flags: u8) -> Vec<&'static str> {
        let all = [
            (
                EXTENDED_CLIENT_DATA_SUPPORTED,
                "EXTENDED_CLIENT_DATA_SUPPORTED",
            ),
            (DYNVC_GFX_PROTOCOL_SUPPORTED, "DYNVC_GFX_PROTOCOL_SUPPORTED"),
            (NEGRSP_FLAG_RESERVED, "NEGRSP_FLAG_RESERVED"),
            (
                RESTRICTED_ADMIN_MODE_SUPPORTED,
                "RESTRICTED_ADMIN_MODE_SUPPORTED",
            ),
            (
                REDIRECTED_AUTHENTICATION_MODE_SUPPORTED,
                "REDIRECTED_AUTHENTICATION_MODE_SUPPORTED",
            ),
        ];
        all.iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// RDP_NEG_REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegRequest {
    pub flags: u8,
    pub protocols: Protocols,
}

/// What a server put after the X.224 Connection Confirm header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegOutcome {
    /// RDP_NEG_RSP: the server selected `selected`.
    Response { flags: u8, selected: Protocols },
    /// RDP_NEG_FAILURE: the server refused the request.
    Failure { code: FailureCode },
    /// No negotiation data at all: a server from before RDP 5.2 negotiation (Windows XP/2003),
    /// or one that ignores it. Implies Standard RDP Security.
    Absent,
}

pub const NEG_LEN: usize = 8;

impl NegRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(TYPE_RDP_NEG_REQ);
        out.push(self.flags);
        out.extend_from_slice(&(NEG_LEN as u16).to_le_bytes());
        out.extend_from_slice(&self.protocols.0.to_le_bytes());
    }

    pub fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let ty = c.u8("RDP_NEG_REQ type")?;
        if ty != TYPE_RDP_NEG_REQ {
            return Err(DecodeError::Invalid {
                what: "RDP_NEG_REQ type",
                value: u64::from(ty),
            });
        }
        let flags = c.u8("RDP_NEG_REQ flags")?;
        let len = c.u16_le("RDP_NEG_REQ length")?;
        if usize::from(len) != NEG_LEN {
            return Err(DecodeError::Invalid {
                what: "RDP_NEG_REQ length",
                value: u64::from(len),
            });
        }
        let protocols = Protocols(c.u32_le("RDP_NEG_REQ requestedProtocols")?);
        Ok(NegRequest { flags, protocols })
    }
}

impl NegOutcome {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            NegOutcome::Response { flags, selected } => {
                out.push(TYPE_RDP_NEG_RSP);
                out.push(flags);
                out.extend_from_slice(&(NEG_LEN as u16).to_le_bytes());
                out.extend_from_slice(&selected.0.to_le_bytes());
            }
            NegOutcome::Failure { code } => {
                out.push(TYPE_RDP_NEG_FAILURE);
                out.push(0);
                out.extend_from_slice(&(NEG_LEN as u16).to_le_bytes());
                out.extend_from_slice(&code.0.to_le_bytes());
            }
            NegOutcome::Absent => {}
        }
    }

    /// Decodes the variable part of a Connection Confirm (possibly empty).
    pub fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        if c.is_empty() {
            return Ok(NegOutcome::Absent);
        }
        let ty = c.u8("RDP_NEG type")?;
        let flags = c.u8("RDP_NEG flags")?;
        let len = c.u16_le("RDP_NEG length")?;
        if usize::from(len) != NEG_LEN {
            return Err(DecodeError::Invalid {
                what: "RDP_NEG length",
                value: u64::from(len),
            });
        }
        let value = c.u32_le("RDP_NEG value")?;
        match ty {
            TYPE_RDP_NEG_RSP => Ok(NegOutcome::Response {
                flags,
                selected: Protocols(value),
            }),
            TYPE_RDP_NEG_FAILURE => Ok(NegOutcome::Failure {
                code: FailureCode(value),
            }),
            other => Err(DecodeError::Invalid {
                what: "RDP_NEG type",
                value: u64::from(other),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        assert_eq!(Protocols::RDP.to_string(), "PROTOCOL_RDP");
        assert_eq!(
            Protocols(0x0B).to_string(),
            "PROTOCOL_SSL|PROTOCOL_HYBRID|PROTOCOL_HYBRID_EX"
        );
        assert_eq!(Protocols(0x100).to_string(), "0x100");
        assert!(Protocols(0x0B).needs_credssp());
        assert!(!Protocols::SSL.needs_credssp());
        assert!(!Protocols::RDP.needs_tls());
    }

    #[test]
    fn unknown_failure_code_survives() {
        let bytes = [0x03, 0x00, 0x08, 0x00, 0x99, 0x00, 0x00, 0x00];
        let got = NegOutcome::decode(&mut Cursor::new(&bytes)).expect("valid layout");
        assert_eq!(
            got,
            NegOutcome::Failure {
                code: FailureCode(0x99)
            }
        );
        assert_eq!(FailureCode(0x99).to_string(), "153 (unknown code)");
        assert_eq!(FailureCode(5).to_string(), "5 (HYBRID_REQUIRED_BY_SERVER)");
    }
}
