//! MCS Connect-Initial and Connect-Response ([T.125] 11.1 / 11.2, BER) carrying the GCC
//! Conference Create Request / Response ([MS-RDPBCGR] 2.2.1.3 / 2.2.1.4).

use super::ber;
use super::gcc::{
    self, ClientClusterData, ClientCoreData, ClientGccData, ClientNetworkData, ClientSecurityData,
    ConferenceCreateResponse, ServerCoreData, ServerGccData, ServerNetworkData, ServerSecurityData,
};
use crate::cursor::Cursor;
use crate::DecodeError;

/// APPLICATION 101: Connect-Initial.
pub const TAG_CONNECT_INITIAL: u8 = 101;
/// APPLICATION 102: Connect-Response.
pub const TAG_CONNECT_RESPONSE: u8 = 102;
/// The longest domain selector we accept (RDP clients send one byte, `01`).
pub const MAX_SELECTOR: usize = 64;
/// GCC user data larger than this is refused on decode, so that a decoded value can always be
/// re-encoded in a non-fragmented PER connectPDU.
pub const MAX_USER_DATA: usize = super::per::MAX_LENGTH - 64;
/// The largest connect PDU accepted.
pub const MAX_PDU: usize = 64 * 1024;

/// DomainParameters ([T.125] 7 part 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainParameters {
    pub max_channel_ids: u32,
    pub max_user_ids: u32,
    pub max_token_ids: u32,
    pub num_priorities: u32,
    pub min_throughput: u32,
    pub max_height: u32,
    pub max_mcs_pdu_size: u32,
    pub protocol_version: u32,
}

impl DomainParameters {
    /// targetParameters as mstsc sends them.
    pub const CLIENT_TARGET: DomainParameters = DomainParameters {
        max_channel_ids: 34,
        max_user_ids: 2,
        max_token_ids: 0,
        num_priorities: 1,
        min_throughput: 0,
        max_height: 1,
        max_mcs_pdu_size: 65535,
        protocol_version: 2,
    };
    /// minimumParameters as mstsc sends them.
    pub const CLIENT_MINIMUM: DomainParameters = DomainParameters {
        max_channel_ids: 1,
        max_user_ids: 1,
        max_token_ids: 1,
        num_priorities: 1,
        min_throughput: 0,
        max_height: 1,
        max_mcs_pdu_size: 1056,
        protocol_version: 2,
    };
    /// maximumParameters as mstsc sends them.
    pub const CLIENT_MAXIMUM: DomainParameters = DomainParameters {
        max_channel_ids: 65535,
        max_user_ids: 64535,
        max_token_ids: 65535,
        num_priorities: 1,
        min_throughput: 0,
        max_height: 1,
        max_mcs_pdu_size: 65535,
        protocol_version: 2,
    };
    /// The parameters Windows servers answer with (maxMCSPDUsize 65528).
    pub const SERVER_DEFAULT: DomainParameters = DomainParameters {
        max_channel_ids: 34,
        max_user_ids: 3,
        max_token_ids: 0,
        num_priorities: 1,
        min_throughput: 0,
        max_height: 1,
        max_mcs_pdu_size: 65528,
        protocol_version: 2,
    };

    fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(32);
        for v in [
            self.max_channel_ids,
            self.max_user_ids,
            self.max_token_ids,
            self.num_priorities,
            self.min_throughput,
            self.max_height,
            self.max_mcs_pdu_size,
            self.protocol_version,
        ] {
            ber::write_integer(&mut body, v);
        }
        ber::write_tlv(out, &[ber::TAG_SEQUENCE], &body);
    }

    fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let body = ber::read_tlv(c, ber::TAG_SEQUENCE, "DomainParameters")?;
        let mut c = Cursor::new(body);
        Ok(DomainParameters {
            max_channel_ids: ber::read_integer(&mut c, "maxChannelIds")?,
            max_user_ids: ber::read_integer(&mut c, "maxUserIds")?,
            max_token_ids: ber::read_integer(&mut c, "maxTokenIds")?,
            num_priorities: ber::read_integer(&mut c, "numPriorities")?,
            min_throughput: ber::read_integer(&mut c, "minThroughput")?,
            max_height: ber::read_integer(&mut c, "maxHeight")?,
            max_mcs_pdu_size: ber::read_integer(&mut c, "maxMCSPDUsize")?,
            protocol_version: ber::read_integer(&mut c, "protocolVersion")?,
        })
    }
}

fn check_pdu_size(data: &[u8]) -> Result<(), DecodeError> {
    if data.len() > MAX_PDU {
        return Err(DecodeError::TooLarge {
            what: "MCS connect PDU",
            len: data.len(),
            max: MAX_PDU,
        });
    }
    Ok(())
}

fn check_user_data(blocks: &[u8]) -> Result<(), DecodeError> {
    if blocks.len() > MAX_USER_DATA {
        return Err(DecodeError::TooLarge {
            what: "GCC user data",
            len: blocks.len(),
            max: MAX_USER_DATA,
        });
    }
    Ok(())
}

/// Client MCS Connect Initial PDU with GCC Conference Create Request ([MS-RDPBCGR] 2.2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConnectInitial {
    pub calling_domain_selector: Vec<u8>,
    pub called_domain_selector: Vec<u8>,
    pub upward_flag: bool,
    pub target_parameters: DomainParameters,
    pub minimum_parameters: DomainParameters,
    pub maximum_parameters: DomainParameters,
    /// The client data blocks (core, security, network, cluster, ...).
    pub gcc: ClientGccData,
}

impl ClientConnectInitial {
    /// Modelled on what mstsc sends, for a probe that stops after the Connect Response:
    /// core data (RDP 10.7, 1024x768, 24-bit colour, keyboard 0x409, error-info PDUs wanted,
    /// serverSelectedProtocol = `selected_protocol`), security data offering 40/56/128-bit and
    /// FIPS when Standard RDP Security was negotiated (`selected_protocol == 0`) and nothing
    /// otherwise, network data without channels, and cluster data (redirection supported,
    /// version 4).
    pub fn for_probe(selected_protocol: u32, client_name: &str) -> Self {
        let encryption_methods = if selected_protocol == 0 {
            gcc::encryption_method::ALL
        } else {
            0
        };
        ClientConnectInitial {
            calling_domain_selector: vec![0x01],
            called_domain_selector: vec![0x01],
            upward_flag: true,
            target_parameters: DomainParameters::CLIENT_TARGET,
            minimum_parameters: DomainParameters::CLIENT_MINIMUM,
            maximum_parameters: DomainParameters::CLIENT_MAXIMUM,
            gcc: ClientGccData {
                core: Some(ClientCoreData::for_probe(selected_protocol, client_name)),
                security: Some(ClientSecurityData {
                    encryption_methods,
                    ext_encryption_methods: 0,
                }),
                network: Some(ClientNetworkData::default()),
                cluster: Some(ClientClusterData {
                    flags: gcc::cluster::REDIRECTION_SUPPORTED
                        | (gcc::cluster::REDIRECTION_VERSION4 << 2),
                    redirected_session_id: 0,
                }),
                message_channel_flags: None,
                multitransport_flags: None,
                unknown_blocks: Vec::new(),
            },
        }
    }

    /// Adds static virtual channels (name, options) to the network data.
    pub fn with_channels(mut self, channels: &[(&str, u32)]) -> Self {
        let net = self.gcc.network.get_or_insert_with(Default::default);
        net.channels
            .extend(channels.iter().map(|(name, options)| gcc::ChannelDef {
                name: (*name).to_owned(),
                options: *options,
            }));
        self
    }

    /// Encodes the MCS PDU (wrap it with `x224::encode_data` and `tpkt::encode`).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        for sel in [&self.calling_domain_selector, &self.called_domain_selector] {
            if sel.len() > MAX_SELECTOR {
                return Err(DecodeError::TooLarge {
                    what: "domain selector",
                    len: sel.len(),
                    max: MAX_SELECTOR,
                });
            }
        }
        let blocks = self.gcc.encode_blocks()?;
        let user_data = gcc::encode_conference_create_request(&blocks)?;
        let mut body = Vec::with_capacity(user_data.len() + 110);
        ber::write_tlv(
            &mut body,
            &[ber::TAG_OCTET_STRING],
            &self.calling_domain_selector,
        );
        ber::write_tlv(
            &mut body,
            &[ber::TAG_OCTET_STRING],
            &self.called_domain_selector,
        );
        ber::write_boolean(&mut body, self.upward_flag);
        self.target_parameters.encode(&mut body);
        self.minimum_parameters.encode(&mut body);
        self.maximum_parameters.encode(&mut body);
        ber::write_tlv(&mut body, &[ber::TAG_OCTET_STRING], &user_data);
        let mut out = Vec::with_capacity(body.len() + 6);
        ber::write_tlv(
            &mut out,
            &[ber::APPLICATION_HIGH_TAG, TAG_CONNECT_INITIAL],
            &body,
        );
        if out.len() > MAX_PDU {
            return Err(DecodeError::TooLarge {
                what: "MCS Connect Initial",
                len: out.len(),
                max: MAX_PDU,
            });
        }
        Ok(out)
    }

    /// Decodes a Connect-Initial (for the lab server). Unknown user data blocks are skipped
    /// and listed in `gcc.unknown_blocks`; bytes after the PDU are ignored.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_pdu_size(data)?;
        let mut outer = Cursor::new(data);
        let body = ber::read_application(&mut outer, TAG_CONNECT_INITIAL, "Connect-Initial")?;
        let mut c = Cursor::new(body);
        let calling = ber::read_tlv(&mut c, ber::TAG_OCTET_STRING, "callingDomainSelector")?;
        let called = ber::read_tlv(&mut c, ber::TAG_OCTET_STRING, "calledDomainSelector")?;
        for sel in [calling, called] {
            if sel.len() > MAX_SELECTOR {
                return Err(DecodeError::TooLarge {
                    what: "domain selector",
                    len: sel.len(),
                    max: MAX_SELECTOR,
                });
            }
        }
        let upward_flag = ber::read_boolean(&mut c, "upwardFlag")?;
        let target_parameters = DomainParameters::decode(&mut c)?;
        let minimum_parameters = DomainParameters::decode(&mut c)?;
        let maximum_parameters = DomainParameters::decode(&mut c)?;
        let user_data = ber::read_tlv(&mut c, ber::TAG_OCTET_STRING, "Connect-Initial userData")?;
        let blocks = gcc::decode_conference_create_request(user_data)?;
        check_user_data(blocks)?;
        Ok(ClientConnectInitial {
            calling_domain_selector: calling.to_vec(),
            called_domain_selector: called.to_vec(),
            upward_flag,
            target_parameters,
            minimum_parameters,
            maximum_parameters,
            gcc: ClientGccData::decode_blocks(blocks)?,
        })
    }
}

/// Server MCS Connect Response PDU with GCC Conference Create Response ([MS-RDPBCGR] 2.2.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConnectResponse {
    /// T.125 Result (0 = rt-successful; see [`super::connect_result_name`]).
    pub result: u8,
    pub called_connect_id: u32,
    pub domain_parameters: DomainParameters,
    /// The GCC Conference Create Response fields; `None` when userData was empty (then `gcc`
    /// is empty too).
    pub conference: Option<ConferenceCreateResponse>,
    pub gcc: ServerGccData,
}

impl ServerConnectResponse {
    /// A successful response as a Windows server builds it, for the lab: RDP `version`,
    /// clientRequestedProtocols echoed, `security` (see [`ServerSecurityData::external`] and
    /// [`ServerSecurityData::standard`]), I/O channel 1003 and `channel_count` static channel
    /// ids from 1004 on.
    pub fn for_lab(
        version: u32,
        client_requested_protocols: u32,
        security: ServerSecurityData,
        channel_count: u16,
    ) -> Self {
        let io = super::domain::IO_CHANNEL_ID;
        ServerConnectResponse {
            result: 0,
            called_connect_id: 0,
            domain_parameters: DomainParameters::SERVER_DEFAULT,
            conference: Some(ConferenceCreateResponse::default()),
            gcc: ServerGccData {
                core: Some(ServerCoreData {
                    version,
                    client_requested_protocols: Some(client_requested_protocols),
                    early_capability_flags: Some(0),
                }),
                security: Some(security),
                network: Some(ServerNetworkData {
                    io_channel: io,
                    channel_ids: (1..=channel_count).map(|i| io.saturating_add(i)).collect(),
                }),
                message_channel: None,
                multitransport_flags: None,
                unknown_blocks: Vec::new(),
            },
        }
    }

    /// Encodes the MCS PDU. With `conference == None` the userData is empty and `gcc` must be
    /// empty as well.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let user_data = match &self.conference {
            Some(conf) => {
                let blocks = self.gcc.encode_blocks()?;
                gcc::encode_conference_create_response(conf, &blocks)?
            }
            None => {
                if self.gcc != ServerGccData::default() {
                    return Err(DecodeError::Invalid {
                        what: "server GCC data without a Conference Create Response",
                        value: 0,
                    });
                }
                Vec::new()
            }
        };
        let mut body = Vec::with_capacity(user_data.len() + 48);
        ber::write_enumerated(&mut body, self.result);
        ber::write_integer(&mut body, self.called_connect_id);
        self.domain_parameters.encode(&mut body);
        ber::write_tlv(&mut body, &[ber::TAG_OCTET_STRING], &user_data);
        let mut out = Vec::with_capacity(body.len() + 6);
        ber::write_tlv(
            &mut out,
            &[ber::APPLICATION_HIGH_TAG, TAG_CONNECT_RESPONSE],
            &body,
        );
        Ok(out)
    }

    /// Decodes a Connect-Response: T.125 fields, then the GCC Conference Create Response and
    /// the server data blocks (unknown blocks listed, not fatal). Bytes after it are ignored.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_pdu_size(data)?;
        let mut outer = Cursor::new(data);
        let body = ber::read_application(&mut outer, TAG_CONNECT_RESPONSE, "Connect-Response")?;
        let mut c = Cursor::new(body);
        let result = ber::read_enumerated(&mut c, "Connect-Response result")?;
        let called_connect_id = ber::read_integer(&mut c, "calledConnectId")?;
        let domain_parameters = DomainParameters::decode(&mut c)?;
        // A rejecting server may leave userData out or empty.
        let user_data = if c.is_empty() {
            &[][..]
        } else {
            ber::read_tlv(&mut c, ber::TAG_OCTET_STRING, "Connect-Response userData")?
        };
        let (conference, gcc) = if user_data.is_empty() {
            (None, ServerGccData::default())
        } else {
            let (conf, blocks) = gcc::decode_conference_create_response(user_data)?;
            check_user_data(blocks)?;
            (Some(conf), ServerGccData::decode_blocks(blocks)?)
        };
        Ok(ServerConnectResponse {
            result,
            called_connect_id,
            domain_parameters,
            conference,
            gcc,
        })
    }

    /// Only the T.125 result, for when the rest of a response does not decode.
    /// Works on a truncated PDU too: the announced length is not checked.
    pub fn peek_result(data: &[u8]) -> Result<u8, DecodeError> {
        let mut c = Cursor::new(data);
        let tag = c.array::<2>("Connect-Response tag")?;
        if tag != [ber::APPLICATION_HIGH_TAG, TAG_CONNECT_RESPONSE] {
            return Err(DecodeError::Invalid {
                what: "Connect-Response tag",
                value: u64::from(u16::from_be_bytes(tag)),
            });
        }
        let _announced = ber::read_length(&mut c, "Connect-Response length")?;
        ber::read_enumerated(&mut c, "Connect-Response result")
    }
}
