//! What the `kdc` phase observed: the realm and where it came from, how KDCs were found (DNS
//! SRV or `--kdc`), whether each answered over TCP and UDP and how fast, the KDC's clock, and
//! with credentials each AS/TGS exchange with its answer (a ticket, or a KRB-ERROR by code).

use serde::{Deserialize, Serialize};

/// Where the realm came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RealmSource {
    /// `--realm`.
    Option,
    /// The user name's suffix (`user@corp.example`, `CORP.EXAMPLE\user`).
    User,
    /// The DNS domain in the server's NTLM CHALLENGE (a domain member).
    NtlmChallenge,
}

/// How KDC addresses were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscoveryMethod {
    /// `--kdc`.
    Option,
    /// DNS SRV `_kerberos._tcp` / `_kerberos._udp` (RFC 4120 7.2.3.2).
    DnsSrv,
    /// A special-use name that never resolves (RFC 6761 6.4 `.invalid`, 6.3 `.localhost`): not
    /// looked up.
    SpecialUseName,
}

/// How one SRV query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsOutcome {
    /// NOERROR with SRV records.
    Records,
    /// NOERROR without SRV records (NODATA).
    NoRecords,
    /// The name does not exist.
    Nxdomain,
    /// SERVFAIL, REFUSED or another RCODE.
    ServerError,
    Timeout,
    /// The answer did not decode, or the socket failed.
    Error,
    /// No DNS server known (no `--dns-server`, no /etc/resolv.conf).
    NoServer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrvRecordFact {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrvQueryFact {
    pub name: String,
    /// The DNS server asked (`address:port`).
    pub server: String,
    pub outcome: DnsOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    pub records: Vec<SrvRecordFact>,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryFact {
    pub method: DiscoveryMethod,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub queries: Vec<SrvQueryFact>,
    pub duration_ms: f64,
}

/// How one transport to one KDC ended for the probe request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum KdcReach {
    /// A Kerberos message came back.
    Answered {
        /// TCP connect time (none for UDP).
        #[serde(skip_serializing_if = "Option::is_none")]
        connect_ms: Option<f64>,
        /// From sending the request to the whole answer.
        answer_ms: f64,
        bytes: usize,
    },
    /// RST to the SYN, or ICMP port unreachable for UDP.
    Refused {
        duration_ms: f64,
    },
    /// No answer to the SYN.
    Filtered {
        timeout_ms: f64,
    },
    /// ICMP host/network unreachable.
    Unreachable {
        duration_ms: f64,
        error: String,
    },
    /// Connected (TCP) or sent (UDP), then nothing before the time-out.
    Silent {
        timeout_ms: f64,
    },
    /// Closed or reset before a whole answer.
    Closed {
        duration_ms: f64,
        bytes: usize,
    },
    /// Bytes that are not a Kerberos message (or an oversized length).
    Malformed {
        error: String,
    },
    Error {
        error: String,
    },
    NotTried,
}

impl KdcReach {
    pub fn answered(&self) -> bool {
        matches!(self, KdcReach::Answered { .. })
    }

    /// One phrase for reports.
    pub fn describe(&self) -> String {
        use crate::sanitize::escape;
        match self {
            KdcReach::Answered {
                connect_ms: Some(c),
                answer_ms,
                ..
            } => format!("answered (connect {c:.1} ms, answer {answer_ms:.1} ms)"),
            KdcReach::Answered { answer_ms, .. } => format!("answered in {answer_ms:.1} ms"),
            KdcReach::Refused { .. } => "refused".into(),
            KdcReach::Filtered { timeout_ms } => {
                format!("no answer to the connection attempt ({timeout_ms:.0} ms)")
            }
            KdcReach::Unreachable { error, .. } => format!("unreachable ({})", escape(error)),
            KdcReach::Silent { timeout_ms } => {
                format!("no answer within {timeout_ms:.0} ms")
            }
            KdcReach::Closed { bytes, .. } => format!("closed after {bytes} bytes"),
            KdcReach::Malformed { error } => format!("not Kerberos ({})", escape(error)),
            KdcReach::Error { error } => escape(error),
            KdcReach::NotTried => "not tried".into(),
        }
    }
}

/// One KDC, as discovered, with its reachability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdcEndpoint {
    pub host: String,
    pub port: u16,
    /// The address used, when the host resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `option`, `srv-tcp`, `srv-udp` (or both, `srv`).
    pub source: String,
    pub tcp: KdcReach,
    pub udp: KdcReach,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<String>,
}

/// An ETYPE-INFO2 entry as the report shows it (the salt is the account's, not a secret, but
/// only whether it was given is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtypeInfo {
    pub etype: i32,
    pub name: String,
    pub salt_given: bool,
}

/// A KDC's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum KdcReply {
    /// A ticket (AS-REP or TGS-REP) that decrypted with our key.
    Ticket {
        /// The session key's encryption type.
        session_etype: i32,
        /// The ticket's own encryption type and key version (the service's key).
        ticket_etype: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        ticket_kvno: Option<u32>,
        /// `krbtgt/REALM@REALM` or `TERMSRV/host@REALM`.
        server: String,
        /// When the password expires (AS-REP key-expiration), RFC 3339.
        #[serde(skip_serializing_if = "Option::is_none")]
        password_expires: Option<String>,
    },
    /// A KRB-ERROR.
    Error {
        code: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        e_text: Option<String>,
        /// [MS-KILE] KERB-EXT-ERROR status (NTSTATUS), when the KDC sent one.
        #[serde(skip_serializing_if = "Option::is_none")]
        extended_status: Option<u32>,
        /// The KDC's clock (stime/susec), RFC 3339.
        kdc_time: String,
        /// PA-DATA types in e-data (METHOD-DATA).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        padata_types: Vec<i32>,
        /// ETYPE-INFO2 entries: the account's key types (and that a salt came with them).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        etype_info: Vec<EtypeInfo>,
    },
    /// No KDC answered (the reachability is in the endpoints).
    NoAnswer { detail: String },
    /// A reply that does not decode or decrypt.
    Malformed { error: String },
    /// We could not build or finish the request (an encryption type we do not speak ...).
    ClientError { error: String },
}

/// Which request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KdcStep {
    /// AS-REQ without pre-authentication (no password involved): the KDC's clock, whether the
    /// principal exists, its key types.
    Probe,
    /// AS-REQ with PA-ENC-TIMESTAMP: the password.
    As,
    /// TGS-REQ for the target's SPN.
    Tgs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdcExchange {
    pub step: KdcStep,
    /// `user@REALM for krbtgt/REALM`, `TERMSRV/host`.
    pub request: String,
    /// `address:port` of the KDC that answered (or was tried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdc: Option<String>,
    /// `tcp` or `udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    pub duration_ms: f64,
    pub reply: KdcReply,
}

impl KdcExchange {
    /// The KRB-ERROR code, if the reply was one.
    pub fn error_code(&self) -> Option<i32> {
        match &self.reply {
            KdcReply::Error { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Why the credentialed check did not use Kerberos (negotiate then used NTLM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KerberosUnavailable {
    /// The target was typed as an IP address: there is no SPN to ask a ticket for.
    TargetIsIp,
    /// No KDC found for the realm (no SRV records, no `--kdc`).
    KdcNotFound,
    /// No KDC answered.
    KdcUnreachable,
    /// The KDC knows no account with the SPN `TERMSRV/host` (KDC_ERR_S_PRINCIPAL_UNKNOWN).
    SpnUnknown,
    /// No common encryption type (KDC_ERR_ETYPE_NOSUPP, or no usable ETYPE-INFO2 entry).
    EtypeNotSupported,
}

impl KerberosUnavailable {
    pub fn finding(self) -> &'static str {
        match self {
            KerberosUnavailable::TargetIsIp => "kerberos-target-is-ip",
            KerberosUnavailable::KdcNotFound => "kdc-not-found",
            KerberosUnavailable::KdcUnreachable => "kdc-unreachable",
            KerberosUnavailable::SpnUnknown => "spn-unknown",
            KerberosUnavailable::EtypeNotSupported => "etype-not-supported",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            KerberosUnavailable::TargetIsIp => "the target is an IP address (no SPN)",
            KerberosUnavailable::KdcNotFound => "no KDC was found for the realm",
            KerberosUnavailable::KdcUnreachable => "no KDC answered",
            KerberosUnavailable::SpnUnknown => "the KDC knows no account with the SPN",
            KerberosUnavailable::EtypeNotSupported => "no common encryption type",
        }
    }
}

/// The `kdc` phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdcFact {
    pub realm: String,
    pub realm_source: RealmSource,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryFact>,
    pub kdcs: Vec<KdcEndpoint>,
    /// KDC clock minus ours (seconds), from the first KRB-ERROR's stime/susec, measured at the
    /// middle of the exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<f64>,
    /// The requests, in order: the credential-less probe, then (with credentials) AS and TGS.
    pub exchanges: Vec<KdcExchange>,
    /// The SPN the TGS-REQ asks for (`TERMSRV/host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spn: Option<String>,
    /// The target was typed as an IP address.
    pub target_is_ip: bool,
    /// With credentials under `--auth negotiate`: why Kerberos was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<KerberosUnavailable>,
    /// Whether credentials were involved (`--user` with `--auth negotiate|kerberos`).
    pub with_credentials: bool,
}

impl KdcFact {
    /// The first KDC exchange that ended in a KRB-ERROR other than PREAUTH_REQUIRED.
    pub fn first_error(&self) -> Option<&KdcExchange> {
        self.exchanges
            .iter()
            .find(|e| e.error_code().is_some_and(|c| c != 25) || is_etype_failure(e))
    }

    /// Whether any KDC answered.
    pub fn any_answer(&self) -> bool {
        self.kdcs
            .iter()
            .any(|k| k.tcp.answered() || k.udp.answered())
            || self
                .exchanges
                .iter()
                .any(|e| !matches!(e.reply, KdcReply::NoAnswer { .. }))
    }
}

/// A PREAUTH_REQUIRED answer whose ETYPE-INFO2 names no type we offered (MIT: none at all when
/// the account has no key of the offered types).
pub fn is_etype_failure(e: &KdcExchange) -> bool {
    match &e.reply {
        KdcReply::Error {
            code: 25,
            etype_info,
            ..
        } => !etype_info
            .iter()
            .any(|i| rdp_doctor_wire::kerberos::crypto::is_supported(i.etype)),
        KdcReply::Error { code: 14, .. } => true,
        _ => false,
    }
}

/// Kerberos inside CredSSP: what the server made of our AP-REQ.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KerberosCredsspFact {
    /// The SPN of the service ticket (`TERMSRV/host`).
    pub spn: String,
    /// The service ticket's encryption type (the target account's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_etype: Option<i32>,
    /// Bytes of our GSS token (AP-REQ).
    pub ap_req_bytes: usize,
    /// SPNEGO negState of the server's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neg_state: Option<String>,
    /// The mechanism the server chose: `kerberos`, `ms-kerberos`, `ntlm`, or the OID in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_mech: Option<String>,
    /// The server's AP-REP decrypted and echoed our authenticator's time (RFC 4120 3.2.5).
    pub mutual_authentication: bool,
    /// The AP-REP carried an acceptor subkey (then it keys pubKeyAuth and authInfo).
    pub acceptor_subkey: bool,
    /// The server sent a SPNEGO mechListMIC (and it verified).
    pub mech_list_mic: bool,
    /// A KRB-ERROR the server returned in place of an AP-REP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error_text: Option<String>,
    /// The server's clock from that KRB-ERROR, minus ours (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_clock_skew_seconds: Option<f64>,
    /// A negoToken of only zero bytes (FreeRDP 3 answers a ticket it cannot decrypt that way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_token_bytes: Option<usize>,
}
