//! SPNEGO (RFC 4178 4.2, [MS-SPNG]) as CredSSP carries it in negoTokens:
//!
//! ```text
//! InitialToken = 60 len 1.3.6.1.5.5.2 [0] NegTokenInit
//! NegTokenInit  ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1] OPT,
//!                              mechToken [2] OCTET STRING OPT, mechListMIC [3] OPT }
//! NegTokenResp  ::= [1] SEQUENCE { negState [0] ENUMERATED OPT, supportedMech [1] OID OPT,
//!                                  responseToken [2] OCTET STRING OPT, mechListMIC [3] OPT }
//! ```

use super::der::{self, Fields};
use crate::DecodeError;

/// 1.3.6.1.5.5.2 (RFC 4178 3).
pub const OID_SPNEGO: [u8; 8] = [0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x02];

/// negState (RFC 4178 4.2.2).
pub mod neg_state {
    pub const ACCEPT_COMPLETED: u8 = 0;
    pub const ACCEPT_INCOMPLETE: u8 = 1;
    pub const REJECT: u8 = 2;
    pub const REQUEST_MIC: u8 = 3;

    pub fn name(v: u8) -> &'static str {
        match v {
            0 => "accept-completed",
            1 => "accept-incomplete",
            2 => "reject",
            3 => "request-mic",
            _ => "unknown",
        }
    }
}

/// `MechTypeList ::= SEQUENCE OF MechType`: the DER the mechListMIC covers (RFC 4178 5).
pub fn mech_type_list(mechs: &[&[u8]]) -> Vec<u8> {
    der::seq(mechs)
}

/// The client's first token: `60 len SPNEGO-OID [0] NegTokenInit{mechTypes, mechToken}`.
pub fn neg_token_init(mechs: &[&[u8]], mech_token: Option<&[u8]>) -> Vec<u8> {
    let mut fields = vec![der::ctx(0, &mech_type_list(mechs))];
    if let Some(t) = mech_token {
        fields.push(der::ctx(2, &der::octets(t)));
    }
    let init = der::ctx(0, &der::seq_of(&fields));
    der::tlv(der::TAG_GSS_INITIAL, &[&OID_SPNEGO, &init])
}

/// A decoded NegTokenInit (the lab and the fuzz round trip read them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit {
    /// Each mechanism OID's complete DER.
    pub mech_types: Vec<Vec<u8>>,
    pub mech_token: Option<Vec<u8>>,
}

impl NegTokenInit {
    pub fn decode(data: &[u8]) -> Result<NegTokenInit, DecodeError> {
        let (oid, rest) = super::gss::split_initial(data)?;
        if oid != OID_SPNEGO {
            return Err(DecodeError::Invalid {
                what: "SPNEGO OID",
                value: oid.len() as u64,
            });
        }
        let inner = der::whole(rest, crate::asn1::context(0), "NegotiationToken")?;
        let f = Fields::of_sequence(inner, "NegTokenInit")?;
        let mut mech_types = Vec::new();
        for m in der::items(f.req(0)?, "NegTokenInit mechTypes")? {
            if m.first() != Some(&der::TAG_OID) {
                return Err(DecodeError::Invalid {
                    what: "NegTokenInit mechType",
                    value: u64::from(m.first().copied().unwrap_or(0)),
                });
            }
            mech_types.push(m.to_vec());
        }
        Ok(NegTokenInit {
            mech_types,
            mech_token: f
                .opt_octets(2, "NegTokenInit mechToken")?
                .map(<[u8]>::to_vec),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mechs: Vec<&[u8]> = self.mech_types.iter().map(Vec::as_slice).collect();
        neg_token_init(&mechs, self.mech_token.as_deref())
    }
}

/// The server's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegTokenResp {
    pub neg_state: Option<u8>,
    /// The chosen mechanism's OID (complete DER).
    pub supported_mech: Option<Vec<u8>>,
    pub response_token: Option<Vec<u8>>,
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenResp {
    pub fn decode(data: &[u8]) -> Result<NegTokenResp, DecodeError> {
        let inner = der::whole(data, crate::asn1::context(1), "NegTokenResp")?;
        let f = Fields::of_sequence(inner, "NegTokenResp")?;
        let neg_state = match f.get(0) {
            None => None,
            Some(e) => {
                let v = der::whole(e, der::TAG_ENUMERATED, "NegTokenResp negState")?;
                let n = crate::asn1::integer_value(v, "NegTokenResp negState")?;
                Some(u8::try_from(n).map_err(|_| DecodeError::Invalid {
                    what: "NegTokenResp negState",
                    value: n as u64,
                })?)
            }
        };
        let supported_mech = match f.get(1) {
            None => None,
            Some(o) => {
                der::whole(o, der::TAG_OID, "NegTokenResp supportedMech")?;
                Some(o.to_vec())
            }
        };
        Ok(NegTokenResp {
            neg_state,
            supported_mech,
            response_token: f
                .opt_octets(2, "NegTokenResp responseToken")?
                .map(<[u8]>::to_vec),
            mech_list_mic: f
                .opt_octets(3, "NegTokenResp mechListMIC")?
                .map(<[u8]>::to_vec),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut fields = Vec::new();
        if let Some(s) = self.neg_state {
            fields.push(der::ctx(0, &der::enumerated(s)));
        }
        if let Some(m) = &self.supported_mech {
            fields.push(der::ctx(1, m));
        }
        if let Some(t) = &self.response_token {
            fields.push(der::ctx(2, &der::octets(t)));
        }
        if let Some(m) = &self.mech_list_mic {
            fields.push(der::ctx(3, &der::octets(m)));
        }
        der::ctx(1, &der::seq_of(&fields))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::gss::{OID_KRB5, OID_MS_KRB5};
    use super::*;

    #[test]
    fn neg_token_init_starts_like_mstscs() {
        let t = neg_token_init(&[&OID_MS_KRB5, &OID_KRB5], Some(&[0x60, 0x00]));
        assert_eq!(&t[2..10], &OID_SPNEGO);
        assert_eq!(t[10], 0xA0);
        let d = NegTokenInit::decode(&t).unwrap();
        assert_eq!(d.mech_types, vec![OID_MS_KRB5.to_vec(), OID_KRB5.to_vec()]);
        assert_eq!(d.mech_token.as_deref(), Some(&[0x60, 0x00][..]));
        assert_eq!(d.encode(), t);
    }

    #[test]
    fn reads_freerdps_accept_completed() {
        // freerdp-shadow-cli3 3.10.3's answer shape: negState accept-completed, supportedMech
        // krb5, responseToken (an AP-REP token), no mechListMIC.
        let r = NegTokenResp {
            neg_state: Some(neg_state::ACCEPT_COMPLETED),
            supported_mech: Some(OID_KRB5.to_vec()),
            response_token: Some(vec![0x60, 0x03, 0x06, 0x01, 0x00]),
            mech_list_mic: None,
        };
        let b = r.encode();
        assert_eq!(&b[..1], &[0xA1]);
        assert_eq!(NegTokenResp::decode(&b).unwrap(), r);
        assert!(NegTokenResp::decode(&[0u8; 32]).is_err());
        assert_eq!(neg_state::name(2), "reject");
    }
}
