//! Kerberos V5 messages (RFC 4120 5): what a client sends (AS-REQ, TGS-REQ, AP-REQ and the
//! Authenticator, PA-ENC-TIMESTAMP) and what a KDC or server answers (AS-REP / TGS-REP and
//! their encrypted parts, KRB-ERROR with its e-data, AP-REP). Both directions are encoded and
//! decoded, so tests and fuzz oracles can round-trip every message.
//!
//! A Ticket is kept as its DER bytes: the client only forwards it (its realm, name and
//! encryption type are read for the report).

use super::der::{self, Fields};
use crate::DecodeError;
use zeroize::Zeroizing;

/// Message types (RFC 4120 5.10 / 7.5.7).
pub mod msg_type {
    pub const AS_REQ: i64 = 10;
    pub const AS_REP: i64 = 11;
    pub const TGS_REQ: i64 = 12;
    pub const TGS_REP: i64 = 13;
    pub const AP_REQ: i64 = 14;
    pub const AP_REP: i64 = 15;
    pub const KRB_ERROR: i64 = 30;
}

/// PA-DATA types (RFC 4120 7.5.2, RFC 6113, [MS-KILE] 2.2).
pub mod pa_type {
    pub const TGS_REQ: i32 = 1;
    pub const ENC_TIMESTAMP: i32 = 2;
    pub const PW_SALT: i32 = 3;
    pub const ETYPE_INFO: i32 = 11;
    pub const ETYPE_INFO2: i32 = 19;
    pub const PAC_REQUEST: i32 = 128;
    pub const FX_COOKIE: i32 = 133;
    pub const FX_FAST: i32 = 136;
    pub const ENCRYPTED_CHALLENGE: i32 = 138;

    pub fn name(t: i32) -> Option<&'static str> {
        Some(match t {
            1 => "PA-TGS-REQ",
            2 => "PA-ENC-TIMESTAMP",
            3 => "PA-PW-SALT",
            11 => "PA-ETYPE-INFO",
            16 => "PA-PK-AS-REQ",
            17 => "PA-PK-AS-REP",
            19 => "PA-ETYPE-INFO2",
            128 => "PA-PAC-REQUEST",
            133 => "PA-FX-COOKIE",
            136 => "PA-FX-FAST",
            138 => "PA-ENCRYPTED-CHALLENGE",
            149 => "PA-REQ-ENC-PA-REP",
            150 => "PA-AS-FRESHNESS",
            151 => "PA-SPAKE",
            _ => return None,
        })
    }
}

/// Principal name types (RFC 4120 6.2).
pub mod name_type {
    pub const PRINCIPAL: i32 = 1;
    pub const SRV_INST: i32 = 2;
    pub const SRV_HST: i32 = 3;
}

/// KDC options (RFC 4120 5.4.1), bit 0 = most significant.
pub mod kdc_options {
    pub const FORWARDABLE: u32 = 0x4000_0000;
    pub const RENEWABLE: u32 = 0x0080_0000;
    pub const CANONICALIZE: u32 = 0x0001_0000;
    pub const RENEWABLE_OK: u32 = 0x0000_0010;
    /// What Windows sends in an AS-REQ (MS-EV 4768, "most common values").
    pub const AS_DEFAULT: u32 = FORWARDABLE | RENEWABLE | CANONICALIZE | RENEWABLE_OK;
    /// forwardable, renewable, canonicalize: a TGS-REQ.
    pub const TGS_DEFAULT: u32 = FORWARDABLE | RENEWABLE | CANONICALIZE;
}

/// AP options (RFC 4120 5.5.1).
pub const AP_OPTION_MUTUAL_REQUIRED: u32 = 0x2000_0000;

/// `PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalName {
    pub name_type: i32,
    pub components: Vec<String>,
}

impl PrincipalName {
    pub fn new(name_type: i32, components: &[&str]) -> PrincipalName {
        PrincipalName {
            name_type,
            components: components.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `user` as an NT-PRINCIPAL.
    pub fn user(name: &str) -> PrincipalName {
        PrincipalName::new(name_type::PRINCIPAL, &[name])
    }

    /// `krbtgt/REALM`.
    pub fn krbtgt(realm: &str) -> PrincipalName {
        PrincipalName::new(name_type::SRV_INST, &["krbtgt", realm])
    }

    /// `service/host` (NT-SRV-INST, which MIT and AD both accept).
    pub fn service(service: &str, host: &str) -> PrincipalName {
        PrincipalName::new(name_type::SRV_INST, &[service, host])
    }

    pub fn encode(&self) -> Vec<u8> {
        let comps: Vec<Vec<u8>> = self.components.iter().map(|c| der::kstring(c)).collect();
        der::seq(&[
            &der::ctx(0, &der::int(i64::from(self.name_type))),
            &der::ctx(1, &der::seq_of(&comps)),
        ])
    }

    pub fn decode(data: &[u8]) -> Result<PrincipalName, DecodeError> {
        let f = Fields::of_sequence(data, "PrincipalName")?;
        let name_type = der::i32_of(f.req(0)?, "PrincipalName name-type")?;
        let mut components = Vec::new();
        for item in der::items(f.req(1)?, "PrincipalName name-string")? {
            components.push(der::string_of(item, "PrincipalName component")?);
        }
        Ok(PrincipalName {
            name_type,
            components,
        })
    }
}

impl std::fmt::Display for PrincipalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

/// `EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedData {
    pub etype: i32,
    pub kvno: Option<u32>,
    pub cipher: Vec<u8>,
}

impl EncryptedData {
    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![der::ctx(0, &der::int(i64::from(self.etype)))];
        if let Some(k) = self.kvno {
            parts.push(der::ctx(1, &der::int(i64::from(k))));
        }
        parts.push(der::ctx(2, &der::octets(&self.cipher)));
        der::seq_of(&parts)
    }

    pub fn decode(data: &[u8]) -> Result<EncryptedData, DecodeError> {
        let f = Fields::of_sequence(data, "EncryptedData")?;
        Ok(EncryptedData {
            etype: der::i32_of(f.req(0)?, "EncryptedData etype")?,
            kvno: f
                .get(1)
                .map(|k| der::u32_of(k, "EncryptedData kvno"))
                .transpose()?,
            cipher: f.octets(2, "EncryptedData cipher")?.to_vec(),
        })
    }
}

/// `EncryptionKey ::= SEQUENCE { keytype [0] Int32, keyvalue [1] OCTET STRING }`; the value is
/// zeroized on drop and not printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    pub keytype: i32,
    pub keyvalue: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey(type {}, <redacted>)", self.keytype)
    }
}

impl EncryptionKey {
    pub fn encode(&self) -> Vec<u8> {
        der::seq(&[
            &der::ctx(0, &der::int(i64::from(self.keytype))),
            &der::ctx(1, &der::octets(&self.keyvalue)),
        ])
    }

    pub fn decode(data: &[u8]) -> Result<EncryptionKey, DecodeError> {
        let f = Fields::of_sequence(data, "EncryptionKey")?;
        Ok(EncryptionKey {
            keytype: der::i32_of(f.req(0)?, "EncryptionKey keytype")?,
            keyvalue: Zeroizing::new(f.octets(1, "EncryptionKey keyvalue")?.to_vec()),
        })
    }
}

/// `PA-DATA ::= SEQUENCE { padata-type [1] Int32, padata-value [2] OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaData {
    pub pa_type: i32,
    pub value: Vec<u8>,
}

impl PaData {
    pub fn encode(&self) -> Vec<u8> {
        der::seq(&[
            &der::ctx(1, &der::int(i64::from(self.pa_type))),
            &der::ctx(2, &der::octets(&self.value)),
        ])
    }

    pub fn decode(data: &[u8]) -> Result<PaData, DecodeError> {
        let f = Fields::of_sequence(data, "PA-DATA")?;
        Ok(PaData {
            pa_type: der::i32_of(f.req(1)?, "PA-DATA type")?,
            value: f.octets(2, "PA-DATA value")?.to_vec(),
        })
    }

    /// `METHOD-DATA ::= SEQUENCE OF PA-DATA` (also the padata field of requests and replies).
    pub fn decode_list(data: &[u8]) -> Result<Vec<PaData>, DecodeError> {
        der::items(data, "METHOD-DATA")?
            .into_iter()
            .map(PaData::decode)
            .collect()
    }

    pub fn encode_list(list: &[PaData]) -> Vec<u8> {
        let items: Vec<Vec<u8>> = list.iter().map(PaData::encode).collect();
        der::seq_of(&items)
    }

    /// `KERB-PA-PAC-REQUEST ::= SEQUENCE { include-pac [0] BOOLEAN }` ([MS-KILE] 2.2.3).
    pub fn pac_request(include: bool) -> PaData {
        PaData {
            pa_type: pa_type::PAC_REQUEST,
            value: der::seq(&[&der::ctx(0, &der::boolean(include))]),
        }
    }
}

/// `ETYPE-INFO2-ENTRY ::= SEQUENCE { etype [0] Int32, salt [1] KerberosString OPTIONAL,
/// s2kparams [2] OCTET STRING OPTIONAL }` (RFC 4120 5.2.7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtypeInfo2Entry {
    pub etype: i32,
    pub salt: Option<String>,
    pub s2kparams: Option<Vec<u8>>,
}

impl EtypeInfo2Entry {
    pub fn decode_list(data: &[u8]) -> Result<Vec<EtypeInfo2Entry>, DecodeError> {
        der::items(data, "ETYPE-INFO2")?
            .into_iter()
            .map(|item| {
                let f = Fields::of_sequence(item, "ETYPE-INFO2-ENTRY")?;
                Ok(EtypeInfo2Entry {
                    etype: der::i32_of(f.req(0)?, "ETYPE-INFO2 etype")?,
                    salt: f.opt_string(1, "ETYPE-INFO2 salt")?,
                    s2kparams: f
                        .opt_octets(2, "ETYPE-INFO2 s2kparams")?
                        .map(<[u8]>::to_vec),
                })
            })
            .collect()
    }

    pub fn encode_list(list: &[EtypeInfo2Entry]) -> Vec<u8> {
        let items: Vec<Vec<u8>> = list
            .iter()
            .map(|e| {
                let mut parts = vec![der::ctx(0, &der::int(i64::from(e.etype)))];
                if let Some(s) = &e.salt {
                    parts.push(der::ctx(1, &der::kstring(s)));
                }
                if let Some(p) = &e.s2kparams {
                    parts.push(der::ctx(2, &der::octets(p)));
                }
                der::seq_of(&parts)
            })
            .collect();
        der::seq_of(&items)
    }
}

/// `KDC-REQ-BODY` (RFC 4120 5.4.1), the fields a client fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcReqBody {
    pub kdc_options: u32,
    /// AS-REQ only.
    pub cname: Option<PrincipalName>,
    pub realm: String,
    pub sname: PrincipalName,
    pub till: i64,
    pub nonce: u32,
    pub etypes: Vec<i32>,
}

impl KdcReqBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![der::ctx(0, &der::flags32(self.kdc_options))];
        if let Some(c) = &self.cname {
            parts.push(der::ctx(1, &c.encode()));
        }
        parts.push(der::ctx(2, &der::kstring(&self.realm)));
        parts.push(der::ctx(3, &self.sname.encode()));
        parts.push(der::ctx(5, &der::time(self.till)));
        parts.push(der::ctx(7, &der::int(i64::from(self.nonce))));
        let et: Vec<Vec<u8>> = self
            .etypes
            .iter()
            .map(|e| der::int(i64::from(*e)))
            .collect();
        parts.push(der::ctx(8, &der::seq_of(&et)));
        der::seq_of(&parts)
    }

    pub fn decode(data: &[u8]) -> Result<KdcReqBody, DecodeError> {
        let f = Fields::of_sequence(data, "KDC-REQ-BODY")?;
        let mut etypes = Vec::new();
        for e in der::items(f.req(8)?, "KDC-REQ-BODY etype")? {
            etypes.push(der::i32_of(e, "KDC-REQ-BODY etype")?);
        }
        Ok(KdcReqBody {
            kdc_options: der::flags32_of(f.req(0)?, "KDC-REQ-BODY kdc-options")?,
            cname: f.get(1).map(PrincipalName::decode).transpose()?,
            realm: f.string(2, "KDC-REQ-BODY realm")?,
            sname: PrincipalName::decode(f.req(3)?)?,
            till: f.time(5, "KDC-REQ-BODY till")?,
            nonce: der::u32_of(f.req(7)?, "KDC-REQ-BODY nonce")?,
            etypes,
        })
    }
}

/// `AS-REQ ::= [APPLICATION 10] KDC-REQ`, `TGS-REQ ::= [APPLICATION 12] KDC-REQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcReq {
    /// [`msg_type::AS_REQ`] or [`msg_type::TGS_REQ`].
    pub msg_type: i64,
    pub padata: Vec<PaData>,
    pub body: KdcReqBody,
}

impl KdcReq {
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_body(&self.body.encode())
    }

    /// With the body already encoded (the TGS-REQ checksum covers exactly these bytes).
    pub fn encode_with_body(&self, body: &[u8]) -> Vec<u8> {
        let mut parts = vec![
            der::ctx(1, &der::int(5)),
            der::ctx(2, &der::int(self.msg_type)),
        ];
        if !self.padata.is_empty() {
            parts.push(der::ctx(3, &PaData::encode_list(&self.padata)));
        }
        parts.push(der::ctx(4, body));
        let app = if self.msg_type == msg_type::TGS_REQ {
            12
        } else {
            10
        };
        der::app(app, &der::seq_of(&parts))
    }

    pub fn decode(data: &[u8]) -> Result<KdcReq, DecodeError> {
        let (tag, inner) = app_contents(data)?;
        if tag != 10 && tag != 12 {
            return Err(DecodeError::Invalid {
                what: "KDC-REQ application tag",
                value: u64::from(tag),
            });
        }
        let f = Fields::of_sequence(inner, "KDC-REQ")?;
        Ok(KdcReq {
            msg_type: f.int(2, "KDC-REQ msg-type")?,
            padata: f
                .get(3)
                .map(PaData::decode_list)
                .transpose()?
                .unwrap_or_default(),
            body: KdcReqBody::decode(f.req(4)?)?,
        })
    }
}

/// The application tag number and contents of an `[APPLICATION n]` element filling `data`.
pub fn app_contents(data: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let mut c = crate::cursor::Cursor::new(data);
    let t = crate::asn1::read_tlv(&mut c)?;
    if t.tag & 0xE0 != 0x60 || !c.is_empty() {
        return Err(DecodeError::Invalid {
            what: "Kerberos message tag",
            value: u64::from(t.tag),
        });
    }
    Ok((t.tag & 0x1F, t.contents))
}

/// What a Ticket (`[APPLICATION 1]`) says about itself: kept raw, these fields for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInfo {
    pub realm: String,
    pub sname: PrincipalName,
    pub etype: i32,
    pub kvno: Option<u32>,
}

impl TicketInfo {
    pub fn decode(ticket: &[u8]) -> Result<TicketInfo, DecodeError> {
        let f = Fields::of_application(ticket, 1, "Ticket")?;
        let enc = EncryptedData::decode(f.req(3)?)?;
        Ok(TicketInfo {
            realm: f.string(1, "Ticket realm")?,
            sname: PrincipalName::decode(f.req(2)?)?,
            etype: enc.etype,
            kvno: enc.kvno,
        })
    }

    /// A Ticket's DER (tests and the fuzz round trip).
    pub fn encode(realm: &str, sname: &PrincipalName, enc_part: &EncryptedData) -> Vec<u8> {
        der::app(
            1,
            &der::seq(&[
                &der::ctx(0, &der::int(5)),
                &der::ctx(1, &der::kstring(realm)),
                &der::ctx(2, &sname.encode()),
                &der::ctx(3, &enc_part.encode()),
            ]),
        )
    }
}

/// `AS-REP ::= [APPLICATION 11] KDC-REP`, `TGS-REP ::= [APPLICATION 13] KDC-REP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcRep {
    pub msg_type: i64,
    pub padata: Vec<PaData>,
    pub crealm: String,
    pub cname: PrincipalName,
    /// The Ticket's complete DER.
    pub ticket: Vec<u8>,
    pub enc_part: EncryptedData,
}

impl KdcRep {
    pub fn decode(data: &[u8]) -> Result<KdcRep, DecodeError> {
        let (tag, inner) = app_contents(data)?;
        if tag != 11 && tag != 13 {
            return Err(DecodeError::Invalid {
                what: "KDC-REP application tag",
                value: u64::from(tag),
            });
        }
        let f = Fields::of_sequence(inner, "KDC-REP")?;
        let ticket = f.req(5)?;
        // The ticket must at least be an [APPLICATION 1] element.
        app_contents(ticket)?;
        Ok(KdcRep {
            msg_type: f.int(1, "KDC-REP msg-type")?,
            padata: f
                .get(2)
                .map(PaData::decode_list)
                .transpose()?
                .unwrap_or_default(),
            crealm: f.string(3, "KDC-REP crealm")?,
            cname: PrincipalName::decode(f.req(4)?)?,
            ticket: ticket.to_vec(),
            enc_part: EncryptedData::decode(f.req(6)?)?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![
            der::ctx(0, &der::int(5)),
            der::ctx(1, &der::int(self.msg_type)),
        ];
        if !self.padata.is_empty() {
            parts.push(der::ctx(2, &PaData::encode_list(&self.padata)));
        }
        parts.push(der::ctx(3, &der::kstring(&self.crealm)));
        parts.push(der::ctx(4, &self.cname.encode()));
        parts.push(der::ctx(5, &self.ticket));
        parts.push(der::ctx(6, &self.enc_part.encode()));
        let app = if self.msg_type == msg_type::TGS_REP {
            13
        } else {
            11
        };
        der::app(app, &der::seq_of(&parts))
    }
}

/// `EncKDCRepPart` (RFC 4120 5.4.2) inside `[APPLICATION 25]` (AS) or `[APPLICATION 26]`
/// (TGS); either tag is accepted for either reply (RFC 4120 5.4.2 compatibility note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncKdcRepPart {
    pub key: EncryptionKey,
    pub nonce: u32,
    /// When the password expires (AS replies).
    pub key_expiration: Option<i64>,
    pub flags: u32,
    pub authtime: i64,
    pub starttime: Option<i64>,
    pub endtime: i64,
    pub renew_till: Option<i64>,
    pub srealm: String,
    pub sname: PrincipalName,
}

impl EncKdcRepPart {
    pub fn decode(data: &[u8]) -> Result<EncKdcRepPart, DecodeError> {
        let (tag, inner) = app_contents(data)?;
        if tag != 25 && tag != 26 {
            return Err(DecodeError::Invalid {
                what: "EncKDCRepPart application tag",
                value: u64::from(tag),
            });
        }
        let f = Fields::of_sequence(inner, "EncKDCRepPart")?;
        Ok(EncKdcRepPart {
            key: EncryptionKey::decode(f.req(0)?)?,
            nonce: der::u32_of(f.req(2)?, "EncKDCRepPart nonce")?,
            key_expiration: f.opt_time(3, "EncKDCRepPart key-expiration")?,
            flags: der::flags32_of(f.req(4)?, "EncKDCRepPart flags")?,
            authtime: f.time(5, "EncKDCRepPart authtime")?,
            starttime: f.opt_time(6, "EncKDCRepPart starttime")?,
            endtime: f.time(7, "EncKDCRepPart endtime")?,
            renew_till: f.opt_time(8, "EncKDCRepPart renew-till")?,
            srealm: f.string(9, "EncKDCRepPart srealm")?,
            sname: PrincipalName::decode(f.req(10)?)?,
        })
    }

    /// `app` = 25 (EncASRepPart) or 26 (EncTGSRepPart).
    pub fn encode(&self, app: u8) -> Vec<u8> {
        // LastReq ::= SEQUENCE OF SEQUENCE { lr-type [0] Int32, lr-value [1] KerberosTime }
        let last_req = der::seq(&[&der::seq(&[
            &der::ctx(0, &der::int(0)),
            &der::ctx(1, &der::time(self.authtime)),
        ])]);
        let mut parts = vec![
            der::ctx(0, &self.key.encode()),
            der::ctx(1, &last_req),
            der::ctx(2, &der::int(i64::from(self.nonce))),
        ];
        if let Some(t) = self.key_expiration {
            parts.push(der::ctx(3, &der::time(t)));
        }
        parts.push(der::ctx(4, &der::flags32(self.flags)));
        parts.push(der::ctx(5, &der::time(self.authtime)));
        if let Some(t) = self.starttime {
            parts.push(der::ctx(6, &der::time(t)));
        }
        parts.push(der::ctx(7, &der::time(self.endtime)));
        if let Some(t) = self.renew_till {
            parts.push(der::ctx(8, &der::time(t)));
        }
        parts.push(der::ctx(9, &der::kstring(&self.srealm)));
        parts.push(der::ctx(10, &self.sname.encode()));
        der::app(app, &der::seq_of(&parts))
    }
}

/// `KRB-ERROR ::= [APPLICATION 30] SEQUENCE { ... }` (RFC 4120 5.9.1). `stime`/`susec` are the
/// KDC's (or server's) clock: the skew measurement needs nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrbError {
    pub ctime: Option<i64>,
    pub cusec: Option<u32>,
    pub stime: i64,
    pub susec: u32,
    pub error_code: i32,
    pub crealm: Option<String>,
    pub cname: Option<PrincipalName>,
    pub realm: String,
    pub sname: PrincipalName,
    pub e_text: Option<String>,
    pub e_data: Option<Vec<u8>>,
}

impl KrbError {
    pub fn decode(data: &[u8]) -> Result<KrbError, DecodeError> {
        let f = Fields::of_application(data, 30, "KRB-ERROR")?;
        let mt = f.int(1, "KRB-ERROR msg-type")?;
        if mt != msg_type::KRB_ERROR {
            return Err(DecodeError::Invalid {
                what: "KRB-ERROR msg-type",
                value: mt as u64,
            });
        }
        Ok(KrbError {
            ctime: f.opt_time(2, "KRB-ERROR ctime")?,
            cusec: f
                .get(3)
                .map(|v| der::u32_of(v, "KRB-ERROR cusec"))
                .transpose()?,
            stime: f.time(4, "KRB-ERROR stime")?,
            susec: micro(der::u32_of(f.req(5)?, "KRB-ERROR susec")?)?,
            error_code: der::i32_of(f.req(6)?, "KRB-ERROR error-code")?,
            crealm: f.opt_string(7, "KRB-ERROR crealm")?,
            cname: f.get(8).map(PrincipalName::decode).transpose()?,
            realm: f.string(9, "KRB-ERROR realm")?,
            sname: PrincipalName::decode(f.req(10)?)?,
            e_text: f.opt_string(11, "KRB-ERROR e-text")?,
            e_data: f.opt_octets(12, "KRB-ERROR e-data")?.map(<[u8]>::to_vec),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![
            der::ctx(0, &der::int(5)),
            der::ctx(1, &der::int(msg_type::KRB_ERROR)),
        ];
        if let Some(t) = self.ctime {
            parts.push(der::ctx(2, &der::time(t)));
        }
        if let Some(u) = self.cusec {
            parts.push(der::ctx(3, &der::int(i64::from(u))));
        }
        parts.push(der::ctx(4, &der::time(self.stime)));
        parts.push(der::ctx(5, &der::int(i64::from(self.susec))));
        parts.push(der::ctx(6, &der::int(i64::from(self.error_code))));
        if let Some(r) = &self.crealm {
            parts.push(der::ctx(7, &der::kstring(r)));
        }
        if let Some(c) = &self.cname {
            parts.push(der::ctx(8, &c.encode()));
        }
        parts.push(der::ctx(9, &der::kstring(&self.realm)));
        parts.push(der::ctx(10, &self.sname.encode()));
        if let Some(t) = &self.e_text {
            parts.push(der::ctx(11, &der::kstring(t)));
        }
        if let Some(d) = &self.e_data {
            parts.push(der::ctx(12, &der::octets(d)));
        }
        der::app(30, &der::seq_of(&parts))
    }

    /// The server's clock in microseconds since the Unix epoch.
    pub fn server_time_us(&self) -> i64 {
        self.stime
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(self.susec))
    }

    /// e-data as METHOD-DATA (the PREAUTH_REQUIRED answer: ETYPE-INFO2, FX-COOKIE ...), when it
    /// decodes as such.
    pub fn method_data(&self) -> Option<Vec<PaData>> {
        PaData::decode_list(self.e_data.as_deref()?).ok()
    }

    /// The PA-ETYPE-INFO2 entries in e-data, when present.
    pub fn etype_info2(&self) -> Option<Vec<EtypeInfo2Entry>> {
        let md = self.method_data()?;
        let pa = md.iter().find(|p| p.pa_type == pa_type::ETYPE_INFO2)?;
        EtypeInfo2Entry::decode_list(&pa.value).ok()
    }

    /// [MS-KILE] 2.2.2 KERB-ERROR-DATA with data-type 3 (KERB_ERR_TYPE_EXTENDED): the NTSTATUS
    /// of [MS-KILE] 2.2.1 KERB-EXT-ERROR (`status`, `reserved`, `flags`, little-endian).
    pub fn extended_status(&self) -> Option<u32> {
        let f = Fields::of_sequence(self.e_data.as_deref()?, "KERB-ERROR-DATA").ok()?;
        if der::int_of(f.get(1)?, "KERB-ERROR-DATA data-type").ok()? != 3 {
            return None;
        }
        let v = f.opt_octets(2, "KERB-ERROR-DATA data-value").ok()??;
        let mut c = crate::cursor::Cursor::new(v);
        let status = c.u32_le("KERB-EXT-ERROR status").ok()?;
        let _reserved = c.u32_le("KERB-EXT-ERROR reserved").ok()?;
        let flags = c.u32_le("KERB-EXT-ERROR flags").ok()?;
        (flags == 1).then_some(status)
    }
}

fn micro(v: u32) -> Result<u32, DecodeError> {
    if v > 999_999 {
        return Err(DecodeError::Invalid {
            what: "Microseconds",
            value: u64::from(v),
        });
    }
    Ok(v)
}

/// `PA-ENC-TS-ENC ::= SEQUENCE { patimestamp [0] KerberosTime, pausec [1] Microseconds OPTIONAL }`.
pub fn pa_enc_ts_enc(unix: i64, usec: u32) -> Vec<u8> {
    der::seq(&[
        &der::ctx(0, &der::time(unix)),
        &der::ctx(1, &der::int(i64::from(usec))),
    ])
}

/// `Checksum ::= SEQUENCE { cksumtype [0] Int32, checksum [1] OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub cksumtype: i32,
    pub checksum: Vec<u8>,
}

impl Checksum {
    pub fn encode(&self) -> Vec<u8> {
        der::seq(&[
            &der::ctx(0, &der::int(i64::from(self.cksumtype))),
            &der::ctx(1, &der::octets(&self.checksum)),
        ])
    }
}

/// `Authenticator ::= [APPLICATION 2] SEQUENCE { ... }` (RFC 4120 5.5.1), the fields a client
/// sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticator {
    pub crealm: String,
    pub cname: PrincipalName,
    pub cksum: Option<Checksum>,
    pub cusec: u32,
    pub ctime: i64,
    pub subkey: Option<EncryptionKey>,
    pub seq_number: Option<u32>,
}

impl Authenticator {
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut parts = vec![
            der::ctx(0, &der::int(5)),
            der::ctx(1, &der::kstring(&self.crealm)),
            der::ctx(2, &self.cname.encode()),
        ];
        if let Some(c) = &self.cksum {
            parts.push(der::ctx(3, &c.encode()));
        }
        parts.push(der::ctx(4, &der::int(i64::from(self.cusec))));
        parts.push(der::ctx(5, &der::time(self.ctime)));
        if let Some(k) = &self.subkey {
            parts.push(der::ctx(6, &k.encode()));
        }
        if let Some(s) = self.seq_number {
            parts.push(der::ctx(7, &der::int(i64::from(s))));
        }
        let out = Zeroizing::new(der::app(2, &der::seq_of(&parts)));
        for p in parts.iter_mut() {
            zeroize::Zeroize::zeroize(p);
        }
        out
    }
}

/// `AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2], ticket [3],
/// authenticator [4] EncryptedData }`.
pub fn ap_req(ap_options: u32, ticket: &[u8], authenticator: &EncryptedData) -> Vec<u8> {
    der::app(
        14,
        &der::seq(&[
            &der::ctx(0, &der::int(5)),
            &der::ctx(1, &der::int(msg_type::AP_REQ)),
            &der::ctx(2, &der::flags32(ap_options)),
            &der::ctx(3, ticket),
            &der::ctx(4, &authenticator.encode()),
        ]),
    )
}

/// `AP-REP ::= [APPLICATION 15] SEQUENCE { pvno [0], msg-type [1], enc-part [2] }`.
pub fn decode_ap_rep(data: &[u8]) -> Result<EncryptedData, DecodeError> {
    let f = Fields::of_application(data, 15, "AP-REP")?;
    EncryptedData::decode(f.req(2)?)
}

pub fn encode_ap_rep(enc_part: &EncryptedData) -> Vec<u8> {
    der::app(
        15,
        &der::seq(&[
            &der::ctx(0, &der::int(5)),
            &der::ctx(1, &der::int(msg_type::AP_REP)),
            &der::ctx(2, &enc_part.encode()),
        ]),
    )
}

/// `EncAPRepPart ::= [APPLICATION 27] SEQUENCE { ctime [0], cusec [1], subkey [2] OPTIONAL,
/// seq-number [3] OPTIONAL }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncApRepPart {
    pub ctime: i64,
    pub cusec: u32,
    pub subkey: Option<EncryptionKey>,
    pub seq_number: Option<u32>,
}

impl EncApRepPart {
    pub fn decode(data: &[u8]) -> Result<EncApRepPart, DecodeError> {
        let f = Fields::of_application(data, 27, "EncAPRepPart")?;
        Ok(EncApRepPart {
            ctime: f.time(0, "EncAPRepPart ctime")?,
            cusec: micro(der::u32_of(f.req(1)?, "EncAPRepPart cusec")?)?,
            subkey: f.get(2).map(EncryptionKey::decode).transpose()?,
            seq_number: f
                .get(3)
                .map(|s| der::u32_of(s, "EncAPRepPart seq-number"))
                .transpose()?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut parts = vec![
            der::ctx(0, &der::time(self.ctime)),
            der::ctx(1, &der::int(i64::from(self.cusec))),
        ];
        if let Some(k) = &self.subkey {
            parts.push(der::ctx(2, &k.encode()));
        }
        if let Some(s) = self.seq_number {
            parts.push(der::ctx(3, &der::int(i64::from(s))));
        }
        der::app(27, &der::seq_of(&parts))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn krb_error_round_trips_with_etype_info2() {
        let info = EtypeInfo2Entry::encode_list(&[EtypeInfo2Entry {
            etype: 18,
            salt: Some("RDPDOC.TESTalice".into()),
            s2kparams: None,
        }]);
        let e = KrbError {
            ctime: None,
            cusec: None,
            stime: 1_796_519_959,
            susec: 773_410,
            error_code: 25,
            crealm: None,
            cname: Some(PrincipalName::user("alice")),
            realm: "RDPDOC.TEST".into(),
            sname: PrincipalName::krbtgt("RDPDOC.TEST"),
            e_text: Some("NEEDED_PREAUTH".into()),
            e_data: Some(PaData::encode_list(&[
                PaData {
                    pa_type: pa_type::FX_FAST,
                    value: vec![],
                },
                PaData {
                    pa_type: pa_type::ETYPE_INFO2,
                    value: info,
                },
            ])),
        };
        let d = KrbError::decode(&e.encode()).unwrap();
        assert_eq!(d, e);
        let i = d.etype_info2().unwrap();
        assert_eq!(i[0].salt.as_deref(), Some("RDPDOC.TESTalice"));
        assert_eq!(d.server_time_us(), 1_796_519_959_773_410);
        assert_eq!(d.extended_status(), None);
    }

    #[test]
    fn reads_mit_krb5kdc_principal_unknown() {
        // The shape MIT krb5kdc 1.20.1 answers an AS-REQ for "nobody" in RDPDOC.TEST with
        // error-code 6 KDC_ERR_C_PRINCIPAL_UNKNOWN, no e-data.
        let e = KrbError {
            ctime: None,
            cusec: None,
            stime: 1_796_519_000,
            susec: 12,
            error_code: 6,
            crealm: None,
            cname: Some(PrincipalName::user("nobody")),
            realm: "RDPDOC.TEST".into(),
            sname: PrincipalName::krbtgt("RDPDOC.TEST"),
            e_text: Some("CLIENT_NOT_FOUND".into()),
            e_data: None,
        };
        let bytes = e.encode();
        assert_eq!(bytes[0], 0x7E, "[APPLICATION 30]");
        assert_eq!(KrbError::decode(&bytes).unwrap().error_code, 6);
        // trailing garbage and a truncated copy are refused
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(KrbError::decode(&longer).is_err());
        assert!(KrbError::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn extended_error_carries_an_ntstatus() {
        // [MS-KILE] 2.2.2 KERB-ERROR-DATA { data-type 3, data-value KERB-EXT-ERROR } with
        // STATUS_ACCOUNT_LOCKED_OUT (0xC0000234), reserved 0, flags 1.
        let mut v = 0xC000_0234u32.to_le_bytes().to_vec();
        v.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        let data = der::seq(&[&der::ctx(1, &der::int(3)), &der::ctx(2, &der::octets(&v))]);
        let e = KrbError {
            ctime: None,
            cusec: None,
            stime: 0,
            susec: 0,
            error_code: 18,
            crealm: None,
            cname: None,
            realm: "CORP.EXAMPLE".into(),
            sname: PrincipalName::krbtgt("CORP.EXAMPLE"),
            e_text: None,
            e_data: Some(data),
        };
        assert_eq!(e.extended_status(), Some(0xC000_0234));
    }

    #[test]
    fn as_req_encodes_like_windows() {
        let req = KdcReq {
            msg_type: msg_type::AS_REQ,
            padata: vec![PaData::pac_request(true)],
            body: KdcReqBody {
                kdc_options: kdc_options::AS_DEFAULT,
                cname: Some(PrincipalName::user("alice")),
                realm: "RDPDOC.TEST".into(),
                sname: PrincipalName::krbtgt("RDPDOC.TEST"),
                till: 1_796_606_359,
                nonce: 0x1234_5678,
                etypes: vec![18, 17],
            },
        };
        let b = req.encode();
        assert_eq!(b[0], 0x6A, "[APPLICATION 10]");
        // kdc-options 0x40810010: forwardable, renewable, canonicalize, renewable-ok
        assert!(b.windows(7).any(|w| w == hex("03050040810010")));
        assert_eq!(KdcReq::decode(&b).unwrap(), req);
    }

    #[test]
    fn kdc_rep_and_enc_part_round_trip() {
        let ticket = TicketInfo::encode(
            "RDPDOC.TEST",
            &PrincipalName::krbtgt("RDPDOC.TEST"),
            &EncryptedData {
                etype: 18,
                kvno: Some(1),
                cipher: vec![1, 2, 3],
            },
        );
        let rep = KdcRep {
            msg_type: msg_type::AS_REP,
            padata: vec![],
            crealm: "RDPDOC.TEST".into(),
            cname: PrincipalName::user("alice"),
            ticket: ticket.clone(),
            enc_part: EncryptedData {
                etype: 18,
                kvno: Some(2),
                cipher: vec![9; 40],
            },
        };
        assert_eq!(KdcRep::decode(&rep.encode()).unwrap(), rep);
        let ti = TicketInfo::decode(&ticket).unwrap();
        assert_eq!(ti.sname.to_string(), "krbtgt/RDPDOC.TEST");
        assert_eq!(ti.kvno, Some(1));
        let part = EncKdcRepPart {
            key: EncryptionKey {
                keytype: 18,
                keyvalue: Zeroizing::new(vec![5; 32]),
            },
            nonce: 0xDEAD_BEEF,
            key_expiration: Some(1_800_000_000),
            flags: 0x40E1_0000,
            authtime: 1_796_519_959,
            starttime: None,
            endtime: 1_796_555_959,
            renew_till: None,
            srealm: "RDPDOC.TEST".into(),
            sname: PrincipalName::krbtgt("RDPDOC.TEST"),
        };
        for app in [25, 26] {
            assert_eq!(EncKdcRepPart::decode(&part.encode(app)).unwrap(), part);
        }
        assert!(format!("{:?}", part.key).contains("redacted"));
    }
}
