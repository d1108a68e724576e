//! NegotiateFlags ([MS-NLMP] 2.2.2.5). An open newtype: unknown bits survive decoding.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegotiateFlags(pub u32);

impl NegotiateFlags {
    /// A: NTLMSSP_NEGOTIATE_UNICODE.
    pub const UNICODE: NegotiateFlags = NegotiateFlags(0x0000_0001);
    /// B: NTLM_NEGOTIATE_OEM.
    pub const OEM: NegotiateFlags = NegotiateFlags(0x0000_0002);
    /// C: NTLMSSP_REQUEST_TARGET.
    pub const REQUEST_TARGET: NegotiateFlags = NegotiateFlags(0x0000_0004);
    /// D: NTLMSSP_NEGOTIATE_SIGN.
    pub const SIGN: NegotiateFlags = NegotiateFlags(0x0000_0010);
    /// E: NTLMSSP_NEGOTIATE_SEAL.
    pub const SEAL: NegotiateFlags = NegotiateFlags(0x0000_0020);
    /// F: NTLMSSP_NEGOTIATE_DATAGRAM.
    pub const DATAGRAM: NegotiateFlags = NegotiateFlags(0x0000_0040);
    /// G: NTLMSSP_NEGOTIATE_LM_KEY.
    pub const LM_KEY: NegotiateFlags = NegotiateFlags(0x0000_0080);
    /// H: NTLMSSP_NEGOTIATE_NTLM.
    pub const NTLM: NegotiateFlags = NegotiateFlags(0x0000_0200);
    /// J: anonymous connection.
    pub const ANONYMOUS: NegotiateFlags = NegotiateFlags(0x0000_0800);
    /// K: NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED.
    pub const OEM_DOMAIN_SUPPLIED: NegotiateFlags = NegotiateFlags(0x0000_1000);
    /// L: NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED.
    pub const OEM_WORKSTATION_SUPPLIED: NegotiateFlags = NegotiateFlags(0x0000_2000);
    /// M: NTLMSSP_NEGOTIATE_ALWAYS_SIGN.
    pub const ALWAYS_SIGN: NegotiateFlags = NegotiateFlags(0x0000_8000);
    /// N: NTLMSSP_TARGET_TYPE_DOMAIN.
    pub const TARGET_TYPE_DOMAIN: NegotiateFlags = NegotiateFlags(0x0001_0000);
    /// O: NTLMSSP_TARGET_TYPE_SERVER.
    pub const TARGET_TYPE_SERVER: NegotiateFlags = NegotiateFlags(0x0002_0000);
    /// P: NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY.
    pub const EXTENDED_SESSIONSECURITY: NegotiateFlags = NegotiateFlags(0x0008_0000);
    /// Q: NTLMSSP_NEGOTIATE_IDENTIFY.
    pub const IDENTIFY: NegotiateFlags = NegotiateFlags(0x0010_0000);
    /// R: NTLMSSP_REQUEST_NON_NT_SESSION_KEY.
    pub const REQUEST_NON_NT_SESSION_KEY: NegotiateFlags = NegotiateFlags(0x0040_0000);
    /// S: NTLMSSP_NEGOTIATE_TARGET_INFO.
    pub const TARGET_INFO: NegotiateFlags = NegotiateFlags(0x0080_0000);
    /// T: NTLMSSP_NEGOTIATE_VERSION.
    pub const VERSION: NegotiateFlags = NegotiateFlags(0x0200_0000);
    /// U: NTLMSSP_NEGOTIATE_128.
    pub const NEGOTIATE_128: NegotiateFlags = NegotiateFlags(0x2000_0000);
    /// V: NTLMSSP_NEGOTIATE_KEY_EXCH.
    pub const KEY_EXCH: NegotiateFlags = NegotiateFlags(0x4000_0000);
    /// W: NTLMSSP_NEGOTIATE_56.
    pub const NEGOTIATE_56: NegotiateFlags = NegotiateFlags(0x8000_0000);

    const NAMES: [(NegotiateFlags, &'static str); 23] = [
        (Self::UNICODE, "UNICODE"),
        (Self::OEM, "OEM"),
        (Self::REQUEST_TARGET, "REQUEST_TARGET"),
        (Self::SIGN, "SIGN"),
        (Self::SEAL, "SEAL"),
        (Self::DATAGRAM, "DATAGRAM"),
        (Self::LM_KEY, "LM_KEY"),
        (Self::NTLM, "NTLM"),
        (Self::ANONYMOUS, "ANONYMOUS"),
        (Self::OEM_DOMAIN_SUPPLIED, "OEM_DOMAIN_SUPPLIED"),
        (Self::OEM_WORKSTATION_SUPPLIED, "OEM_WORKSTATION_SUPPLIED"),
        (Self::ALWAYS_SIGN, "ALWAYS_SIGN"),
        (Self::TARGET_TYPE_DOMAIN, "TARGET_TYPE_DOMAIN"),
        (Self::TARGET_TYPE_SERVER, "TARGET_TYPE_SERVER"),
        (Self::EXTENDED_SESSIONSECURITY, "EXTENDED_SESSIONSECURITY"),
        (Self::IDENTIFY, "IDENTIFY"),
        (
            Self::REQUEST_NON_NT_SESSION_KEY,
            "REQUEST_NON_NT_SESSION_KEY",
        ),
        (Self::TARGET_INFO, "TARGET_INFO"),
        (Self::VERSION, "VERSION"),
        (Self::NEGOTIATE_128, "128"),
        (Self::KEY_EXCH, "KEY_EXCH"),
        (Self::NEGOTIATE_56, "56"),
        (Self(0), ""),
    ];

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, other: NegotiateFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: NegotiateFlags) -> NegotiateFlags {
        NegotiateFlags(self.0 | other.0)
    }

    pub fn intersection(self, other: NegotiateFlags) -> NegotiateFlags {
        NegotiateFlags(self.0 & other.0)
    }

    /// Names of the set bits (without the NTLMSSP_NEGOTIATE_ prefix); unknown bits as hex.
    pub fn names(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut known = 0u32;
        for (f, n) in Self::NAMES {
            if f.0 != 0 && self.contains(f) {
                out.push(n.to_string());
            }
            known |= f.0;
        }
        let unknown = self.0 & !known;
        for bit in 0..32 {
            if unknown & (1 << bit) != 0 {
                out.push(format!("0x{:08X}", 1u32 << bit));
            }
        }
        out
    }
}

impl fmt::Debug for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NegotiateFlags(0x{:08X} {})",
            self.0,
            self.names().join("|")
        )
    }
}

impl fmt::Display for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}
