//! Observations: typed facts each source records, failures included. A failure is data: every
//! outcome enum has a variant for each distinct way a step can end, so the rules can tell them
//! apart and the report can show the evidence.

use rdp_doctor_wire::nego::Protocols;
use serde::{Deserialize, Serialize};

pub mod gateway;
pub mod kerberos;
pub use crate::sys::UnreachableKind;

pub mod local;
pub mod logs;
pub mod rdp_file;

/// A closed set of values that the JSON spells as fixed strings: one string per variant, used
/// for serde (both ways), `as_str` and `Display`, so the three cannot disagree.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the JSON writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// How the name lookup ended.
    pub enum ResolveOutcome {
        /// The resolver returned at least one address.
        Ok = "ok",
        /// An IP address was typed: no lookup.
        Literal = "literal",
        /// The name does not exist (NXDOMAIN, or no A/AAAA record).
        NotFound = "not-found",
        /// The resolver could not be reached or asked to try again.
        TemporaryFailure = "temporary-failure",
        /// No answer within the time-out.
        Timeout = "timeout",
        Error = "error",
    }
}

named_enum! {
    /// One security protocol of the X.224 negotiation ([MS-RDPBCGR] 2.2.1.1.1), by the short
    /// name reports use.
    pub enum SecurityProtocol {
        /// Standard RDP Security (value 0).
        Rdp = "rdp",
        /// PROTOCOL_SSL.
        Tls = "tls",
        Hybrid = "hybrid",
        HybridEx = "hybrid_ex",
        Rdstls = "rdstls",
        Rdsaad = "rdsaad",
    }
}

impl SecurityProtocol {
    /// The protocol's value in `requestedProtocols` / `selectedProtocol`.
    pub fn bits(self) -> Protocols {
        match self {
            SecurityProtocol::Rdp => Protocols::RDP,
            SecurityProtocol::Tls => Protocols::SSL,
            SecurityProtocol::Hybrid => Protocols::HYBRID,
            SecurityProtocol::HybridEx => Protocols::HYBRID_EX,
            SecurityProtocol::Rdstls => Protocols::RDSTLS,
            SecurityProtocol::Rdsaad => Protocols::RDSAAD,
        }
    }

    /// The protocol a single-protocol value stands for; `None` for a combination or an unknown
    /// bit.
    pub fn of(p: Protocols) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL
            .iter()
            .copied()
            .find(|s| s.bits() == p)
    }

    /// The protocols of a `requestedProtocols` mask, in the order a report lists them
    /// ([`Protocols::ALL`]); Standard RDP Security alone when no bit is set. Unknown bits are
    /// left out.
    pub fn in_mask(mask: Protocols) -> Vec<SecurityProtocol> {
        let named: Vec<SecurityProtocol> = Protocols::ALL
            .iter()
            .filter(|p| p.0 != 0 && mask.contains(**p))
            .filter_map(|p| SecurityProtocol::of(*p))
            .collect();
        if named.is_empty() {
            vec![SecurityProtocol::Rdp]
        } else {
            named
        }
    }

    /// `a, b, c` with `sep` between the names.
    pub fn join(list: &[SecurityProtocol], sep: &str) -> String {
        list.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(sep)
    }
}

named_enum! {
    /// How the server answered a request for exactly one protocol.
    pub enum ProbeStatus {
        /// It selected that protocol.
        Accepted = "accepted",
        /// A failure code, or another protocol selected.
        Refused = "refused",
        /// No usable answer (no connection, no Connection Confirm).
        Error = "error",
    }
}

named_enum! {
    /// What the enumeration says of NLA (CredSSP) or TLS.
    pub enum Support {
        /// Accepted, and every weaker choice refused.
        Required = "required",
        /// Accepted, weaker choices too.
        Supported = "supported",
        /// Refused.
        NotOffered = "not-offered",
        /// The probes did not get an answer that tells.
        Unknown = "unknown",
    }
}

named_enum! {
    /// What the enumeration says of Standard RDP Security.
    pub enum Allowance {
        Allowed = "allowed",
        Refused = "refused",
        Unknown = "unknown",
    }
}

named_enum! {
    /// The security the MCS exchange ran over.
    pub enum SecurityLayer {
        /// Inside the TLS connection (SSL, HYBRID, HYBRID_EX).
        Tls = "tls",
        /// Standard RDP Security: MCS in the clear, RC4 negotiated in it.
        Rdp = "rdp",
    }
}

named_enum! {
    /// Which side sent a TLS alert.
    pub enum AlertDirection {
        /// From the server.
        Received = "received",
        /// By us.
        Sent = "sent",
    }
}

named_enum! {
    /// The last step of the credentialed CredSSP exchange that was reached.
    pub enum AuthRound {
        /// NTLM NEGOTIATE -> CHALLENGE.
        Negotiate = "negotiate",
        /// NTLM AUTHENTICATE + pubKeyAuth.
        Authenticate = "authenticate",
        /// The delegated credentials (TSCredentials).
        AuthInfo = "auth-info",
        /// The Early User Authorization Result (HYBRID_EX).
        EarlyUserAuthorization = "early-user-authorization",
        /// Kerberos: the AS and TGS exchanges at the KDC (nothing reached the server).
        Kdc = "kdc",
        /// Kerberos: our SPNEGO AP-REQ to the server.
        ApReq = "ap-req",
        /// Kerberos: our pubKeyAuth, sealed with the Kerberos context key.
        PubKeyAuth = "pub-key-auth",
    }
}

named_enum! {
    /// The security package of the credentialed exchange.
    pub enum AuthPackage {
        Ntlm = "NTLM",
        /// Kerberos in SPNEGO ([MS-KILE]).
        Kerberos = "Kerberos",
    }
}

named_enum! {
    /// Why the server was allowed to receive credentials.
    pub enum TrustBasis {
        /// The chain is trusted, in its validity period, and names the host.
        TrustedCertificate = "trusted-certificate",
        /// The leaf's SHA-256 equals `--trust-fingerprint`.
        PinnedFingerprint = "pinned-fingerprint",
        /// `--insecure-send-credentials`.
        InsecureOverride = "insecure-override",
    }
}

named_enum! {
    /// The last step of the `--full` run that was reached.
    pub enum ActivationStep {
        McsConnect = "mcs-connect",
        AttachUser = "attach-user",
        ChannelJoin = "channel-join",
        ClientInfo = "client-info",
        Licensing = "licensing",
        /// Licensing completed; waiting for the Demand Active PDU.
        Capabilities = "capabilities",
    }
}

named_enum! {
    /// Why a TLS handshake failed, from the TLS library's own error (not its message text).
    /// Not part of the JSON document: the `error` text next to it is.
    pub enum TlsFailure {
        /// No TLS version in common (the server offers only SSLv3/TLS 1.0/1.1, or a version
        /// we do not know).
        VersionMismatch = "version-mismatch",
        /// No cipher suite, key-exchange group or signature scheme in common.
        NoCommonCipher = "no-common-cipher",
        /// Another incompatibility (a required extension missing).
        Incompatible = "incompatible",
        /// The server broke the protocol: an unexpected or invalid message.
        Misbehaved = "misbehaved",
        /// A message that does not decode.
        InvalidMessage = "invalid-message",
        /// A handshake message larger than the TLS library accepts (rustls: 64 KiB): a limit
        /// of ours, in practice met by a huge certificate chain.
        HandshakeTooLarge = "handshake-too-large",
        /// The server sent a fatal alert.
        AlertReceived = "alert-received",
        /// The server sent no certificate.
        NoCertificate = "no-certificate",
        /// The answer to the ClientHello is not TLS at all.
        NotTls = "not-tls",
        /// The connection failed under the handshake (reset, closed, another socket error).
        Connection = "connection",
        /// Anything else (a local error, a failed decryption ...).
        Other = "other",
    }
}

/// Everything measured or read for one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub client: ClientProfile,
    /// The RD Gateway path (`check --gateway`); the target's facts below were measured
    /// through its tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<gateway::GatewayFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve: Option<ResolveFact>,
    /// One entry per resolved address, with its TCP outcome.
    pub addresses: Vec<AddressFact>,
    /// The address the RDP phases ran against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negotiation: Option<NegotiationFact>,
    /// What the listener is, when the X.224 request got silence or no TPKT frame: the
    /// identification probes' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identify: Option<IdentifyFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocols: Option<ProtocolsFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credssp: Option<CredsspFact>,
    /// Kerberos: the realm's KDCs, their clock, and with credentials the AS/TGS exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdc: Option<kerberos::KdcFact>,
    /// The credentialed CredSSP exchange (`check --user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcs: Option<McsFact>,
    /// What followed the MCS Connect Response (`check --user ... --full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathFact>,
    /// What the server itself reports (`check --local`, Windows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<local::LocalFacts>,
    /// Why `--local` could not read the server's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_error: Option<String>,
    /// The client's .rdp file (`check --rdp-file`, `rdpfile`); its own document shows it.
    #[serde(skip)]
    pub rdp_file: Option<rdp_file::RdpFile>,
    /// Event-log observations (`check --evidence`, `logs`); summarised in the findings.
    #[serde(skip)]
    pub logs: Option<logs::LogFacts>,
}

/// The client whose connection the check models (default: mstsc with its default settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientProfile {
    /// `mstsc`, `tls`, `rdp`, `nla`, `ext`, or `rdp-file`.
    pub name: String,
    /// requestedProtocols of the X.224 Connection Request.
    pub requested_protocols: Protocols,
    pub requested_names: Vec<SecurityProtocol>,
    /// The `Cookie: mstshash=` value, if any (a user name hint, never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

impl Default for ClientProfile {
    fn default() -> Self {
        ClientProfile::mstsc()
    }
}

impl ClientProfile {
    /// mstsc's defaults: TLS | CredSSP | CredSSP with Early User Authorization.
    pub fn mstsc() -> Self {
        ClientProfile::with("mstsc", 0x0B)
    }

    pub fn with(name: &str, protocols: u32) -> Self {
        let protocols = Protocols(protocols);
        ClientProfile {
            name: name.to_string(),
            requested_protocols: protocols,
            requested_names: SecurityProtocol::in_mask(protocols),
            cookie: None,
        }
    }

    pub fn offers_tls(&self) -> bool {
        self.requested_protocols.contains(Protocols::SSL)
    }

    pub fn offers_credssp(&self) -> bool {
        self.requested_protocols.needs_credssp()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolveFact {
    pub duration_ms: f64,
    pub outcome: ResolveOutcome,
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressFact {
    pub address: String,
    pub tcp: TcpOutcome,
}

/// How a TCP connect ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum TcpOutcome {
    Connected {
        duration_ms: f64,
        /// SYNs the kernel had to send again before the server's SYN+ACK arrived (a lost SYN
        /// or SYN+ACK); `None` where the OS does not say (only Linux reports it here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        syn_retransmits: Option<u32>,
    },
    /// RST (or ICMP port unreachable): nothing listens, or a firewall rejects.
    Refused {
        duration_ms: f64,
    },
    /// No answer at all within the timeout: a firewall drops the SYN, or the host is down.
    Filtered {
        timeout_ms: f64,
    },
    /// The server completed the handshake, then reset the connection (RST) before connect()
    /// returned: the listener accepted and at once refused the session (an IPS, a firewall that
    /// kills unwanted sources after the handshake, a service at its connection limit). The
    /// same reset a moment later lands on the X.224 step instead (`X224Outcome::Reset`); the
    /// rules read both as one cause.
    Reset {
        duration_ms: f64,
    },
    /// ICMP host/network unreachable or administratively prohibited.
    Unreachable {
        duration_ms: f64,
        /// `host`, `network`, or `admin-prohibited` (a firewall on the path rejects with
        /// ICMP "administratively prohibited"; Linux says so only for IPv6, as EACCES; the IPv4
        /// code arrives as "host unreachable").
        kind: UnreachableKind,
        error: String,
    },
    Error {
        duration_ms: f64,
        error: String,
    },
    /// Not tried (deadline reached first).
    NotTried,
}

impl TcpOutcome {
    pub fn is_connected(&self) -> bool {
        matches!(self, TcpOutcome::Connected { .. })
    }
}

/// The identification probes the runner makes, each on a connection of its own, when the X.224
/// request got silence or an answer that is not a TPKT frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifyProbeKind {
    /// Connect and send nothing: does the server speak first (SSH, VNC, SMTP, FTP)?
    Banner,
    /// Send a TLS ClientHello: an HTTPS server or an RD Gateway answers with a ServerHello.
    Tls,
    /// Send `GET / HTTP/1.0`: a web server answers with a status line.
    Http,
    /// Not a probe of its own: the answer the X.224 Connection Request got (a web server that
    /// answers 400 to it, say).
    X224,
}

/// What a listener turned out to speak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "kebab-case")]
pub enum Speaks {
    /// An HTTP status line (and the `Server` field when it came).
    Http {
        status: u16,
        status_line: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    /// A TLS record to a ClientHello: a ServerHello (`version` set) or an alert.
    Tls {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert: Option<String>,
    },
    /// An SSH identification line.
    Ssh { banner: String },
    /// A VNC (RFB) protocol version.
    Vnc { version: String },
    /// A `220` greeting: SMTP or FTP.
    Greeting220 { banner: String },
    /// `+OK` (POP3) or `* OK` (IMAP).
    MailOk { banner: String },
}

impl Speaks {
    /// The protocol in a word or two, for the phase summary.
    pub fn short(&self) -> &'static str {
        match self {
            Speaks::Http { .. } => "HTTP",
            Speaks::Tls { .. } => "TLS first (HTTPS or an RD Gateway)",
            Speaks::Ssh { .. } => "SSH",
            Speaks::Vnc { .. } => "VNC (RFB)",
            Speaks::Greeting220 { .. } => "SMTP or FTP",
            Speaks::MailOk { .. } => "POP3 or IMAP",
        }
    }
}

/// How one identification probe ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum IdentifyAnswer {
    /// The probe's connection did not connect.
    NotConnected {
        tcp: TcpOutcome,
    },
    /// Nothing arrived within the wait.
    Silent {
        wait_ms: f64,
    },
    /// Closed (FIN) without a byte.
    Closed,
    /// Reset (RST) without a byte.
    Reset,
    /// Bytes arrived; `speaks` when they were recognised.
    Answered {
        bytes: usize,
        first_bytes_hex: String,
        /// Printable preview (escaped before display).
        preview: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speaks: Option<Speaks>,
    },
    Error {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifyProbe {
    pub probe: IdentifyProbeKind,
    pub duration_ms: f64,
    pub answer: IdentifyAnswer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentifyFact {
    pub duration_ms: f64,
    pub probes: Vec<IdentifyProbe>,
    /// The first recognised answer, in the order banner, TLS, HTTP, X.224 (a server that speaks
    /// first says so before any request; a TLS server may answer an HTTP request with an
    /// alert, and a web server a ClientHello with 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaks: Option<Speaks>,
    /// Which probe recognised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<IdentifyProbeKind>,
}

/// How the server answered one X.224 Connection Request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum X224Outcome {
    /// RDP_NEG_RSP.
    Selected {
        protocol: Protocols,
        protocol_name: String,
        flags: u8,
        flag_names: Vec<String>,
    },
    /// RDP_NEG_FAILURE.
    Failure {
        code: u32,
        name: Option<String>,
    },
    /// A Connection Confirm without negotiation data (pre-RDP 5.2 server): Standard RDP Security.
    Legacy,
    /// The bytes that came back are not a TPKT frame.
    NotRdp {
        first_bytes_hex: String,
        /// Printable preview (escaped before display).
        preview: String,
    },
    /// A TPKT frame that is not a Connection Confirm (e.g. a Disconnect Request, or an MCS
    /// Disconnect Provider Ultimatum as xrdp sends for RDSAAD).
    UnexpectedPdu {
        description: String,
    },
    /// A TPKT frame we could not decode.
    Malformed {
        error: String,
    },
    /// Nothing at all arrived before the timeout.
    NoResponse {
        timeout_ms: f64,
    },
    /// Some bytes, but not a whole answer, before the timeout (a trickling server).
    Partial {
        bytes: usize,
        needed: usize,
        timeout_ms: f64,
    },
    /// The server reset the connection (RST).
    Reset {
        bytes_before: usize,
    },
    /// The server closed the connection (FIN) without answering.
    Closed {
        bytes_before: usize,
    },
    Error {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NegotiationFact {
    pub requested_protocols: Protocols,
    pub requested: String,
    pub cookie_sent: bool,
    pub duration_ms: f64,
    pub response: X224Outcome,
    /// The raw Connection Confirm (hex), when one arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_hex: Option<String>,
}

impl NegotiationFact {
    pub fn selected(&self) -> Option<Protocols> {
        match &self.response {
            X224Outcome::Selected { protocol, .. } => Some(*protocol),
            X224Outcome::Legacy => Some(Protocols::RDP),
            _ => None,
        }
    }
}

/// What the server answered for one protocol: to a request for exactly that protocol, or to
/// one request for several that settles it (`requested` is then their sum: a Negotiation
/// Failure to it refuses each, see `probe::protocols::ASKED_TOGETHER`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolProbe {
    pub protocol: SecurityProtocol,
    /// The requestedProtocols of the request that answered.
    pub requested: Protocols,
    pub status: ProbeStatus,
    pub duration_ms: f64,
    pub response: X224Outcome,
    /// No connection of its own: the main connection's negotiation already answered for this
    /// protocol (it selected it, or requested exactly it); `response` and `duration_ms` are
    /// the main connection's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_main: bool,
    /// Connects abandoned and started again because the server did not answer the SYN in
    /// time (a full accept queue drops SYNs, as xrdp's backlog of 2 does under a burst). The
    /// server's backlog, not the path: these count in no path statistic.
    #[serde(default)]
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolsFact {
    pub probes: Vec<ProtocolProbe>,
    pub accepted: Vec<SecurityProtocol>,
    pub nla: Support,
    /// `required`: TLS or better only.
    pub tls: Support,
    pub standard_rdp: Allowance,
    /// The one request for the rarely accepted protocols the main answer left open
    /// (`probe::protocols::ASKED_TOGETHER`), whatever it settled: the probes it settled carry
    /// its `requested`; each protocol it did not settle was then asked alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub together: Option<TogetherRequest>,
}

/// One request for several protocols at once, and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TogetherRequest {
    pub requested: Protocols,
    pub duration_ms: f64,
    pub response: X224Outcome,
}

impl ProtocolProbe {
    /// The request that answered, as evidence names it: "hybrid_ex only", or
    /// "hybrid_ex, rdstls and rdsaad together".
    pub fn asked(&self) -> String {
        if self.requested == self.protocol.bits() || self.from_main {
            return format!("{} only", self.protocol);
        }
        let names: Vec<&str> = SecurityProtocol::ALL
            .iter()
            .filter(|p| p.bits().0 != 0 && self.requested.contains(p.bits()))
            .map(|p| p.as_str())
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("{} and {last} together", rest.join(", "))
            }
            _ => format!("{}", self.requested),
        }
    }
}

impl ProtocolsFact {
    /// The probe for `p`, when it ran.
    pub fn probe(&self, p: SecurityProtocol) -> Option<&ProtocolProbe> {
        self.probes.iter().find(|x| x.protocol == p)
    }

    pub fn accepts(&self, p: SecurityProtocol) -> bool {
        self.accepted.contains(&p)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsOutcome {
    Ok,
    /// The server sent a TLS alert.
    Alert,
    /// RST during the handshake.
    Reset,
    /// FIN during the handshake.
    Closed,
    /// The handshake did not complete before the timeout.
    Stalled,
    /// rustls refused the server's messages (protocol version, no common cipher, malformed).
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsFact {
    pub outcome: TlsOutcome,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// Bytes the server sent during the handshake (all of its flight, or as much as arrived).
    pub server_bytes: usize,
    /// Bytes of complete TLS records among them.
    pub server_complete_record_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<TlsAlertFact>,
    /// The version the ServerHello chose, even if rustls then refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_hello_version: Option<String>,
    pub chain_length: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the handshake failed, classified from the TLS library's error; `None` when it
    /// completed or stalled. Not in the JSON (`error` has the text).
    #[serde(skip)]
    pub failure: Option<TlsFailure>,
    /// The MSS the connection used, when it was set (path-MTU retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<u32>,
}

impl TlsFact {
    /// A handshake that ended with `outcome` after `duration_ms`, nothing else known yet.
    pub fn new(outcome: TlsOutcome, duration_ms: f64) -> TlsFact {
        TlsFact {
            outcome,
            duration_ms,
            version: None,
            cipher_suite: None,
            server_bytes: 0,
            server_complete_record_bytes: 0,
            alert: None,
            server_hello_version: None,
            chain_length: 0,
            error: None,
            failure: None,
            mss: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsAlertFact {
    pub level: u8,
    pub description: u8,
    pub name: String,
    pub direction: AlertDirection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainCert {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub sha256: String,
    pub der_base64: String,
}

/// What the server's certificate says, judged against now and what the user typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertFact {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// Whole days from now to notAfter (negative when expired).
    pub days_left: i64,
    pub expired: bool,
    pub not_yet_valid: bool,
    pub self_signed: bool,
    pub trusted: bool,
    /// Why the chain is not trusted (`unknown issuer`, `expired` ...), when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_error: Option<String>,
    /// `system` or the `--ca` file.
    pub trust_store: String,
    /// The name checked (what the user typed).
    pub name_checked: String,
    pub name_matches: bool,
    pub common_name: Option<String>,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    /// `RSA`, `EC`, `Ed25519` or the algorithm OID.
    pub key_type: String,
    pub key_bits: u32,
    pub signature_algorithm: String,
    /// `sha1`, `sha256` ...; `md5`/`sha1` are weak.
    pub signature_hash: String,
    pub eku: Vec<String>,
    /// Whether the EKU allows server authentication (serverAuth, the Remote Desktop
    /// Authentication OID, or no EKU extension at all).
    pub eku_ok: bool,
    /// Uppercase hex without separators, as Windows shows it and as `SSLCertificateSHA1Hash`
    /// holds it.
    pub sha1: String,
    pub sha256: String,
    pub chain: Vec<ChainCert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredsspOutcome {
    /// The server answered our NTLM NEGOTIATE with a CHALLENGE.
    Challenge,
    /// The server answered our SPNEGO token with a Kerberos AP-REQ inside (the credentialed
    /// check with Kerberos; the `auth` phase says what it answered).
    Spnego,
    /// The server answered with a TSRequest carrying errorCode.
    ServerError,
    Reset,
    Closed,
    Timeout,
    /// The answer could not be decoded.
    Malformed,
    /// TLS failed or was not reached.
    NotReached,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredsspFact {
    pub outcome: CredsspOutcome,
    pub duration_ms: f64,
    /// TSRequest.version of the server's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u32>,
    /// TSRequest.errorCode (an NTSTATUS), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<NtlmInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes of the server's answer received (for a partial/malformed answer).
    pub server_bytes: usize,
}

impl CredsspFact {
    /// Nothing learned yet (the runner fills in what arrives).
    pub fn empty() -> CredsspFact {
        CredsspFact {
            outcome: CredsspOutcome::Malformed,
            duration_ms: 0.0,
            server_version: None,
            error_code: None,
            ntlm: None,
            error: None,
            server_bytes: 0,
        }
    }
}

/// The NTLM CHALLENGE's target information ([MS-NLMP] 2.2.1.2, 2.2.2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NtlmInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netbios_computer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netbios_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_computer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_tree: Option<String>,
    /// `major.minor.build` from the VERSION structure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The server's clock (MsvAvTimestamp), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_time: Option<String>,
    /// Server clock minus ours, in seconds (positive: the server is ahead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<i64>,
    pub negotiate_flags: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McsOutcome {
    /// MCS Connect Response with result rt-successful.
    Connected,
    /// Connect Response with a non-zero result.
    Rejected,
    /// Disconnect Provider Ultimatum.
    Denied,
    Reset,
    Closed,
    Timeout,
    Malformed,
    /// Not attempted: the reason is in `skipped_reason`.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McsFact {
    pub outcome: McsOutcome,
    pub duration_ms: f64,
    /// The security the MCS exchange ran over.
    pub over: SecurityLayer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    /// TS_UD_SC_CORE version, e.g. `0x0008000C` ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u32>,
    /// ... and what it means (`RDP 10.7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdp_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_requested_protocols: Option<Protocols>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_capability_flags: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_method: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_method_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_level: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_level_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_channel: Option<u16>,
    pub channels: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_channel: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdpOutcome {
    /// SYN+ACK acknowledging our SYN: RDP-UDP is reachable.
    SynAck,
    /// ICMP port unreachable: nothing listens on UDP, or a firewall rejects.
    PortUnreachable,
    /// No answer: UDP dropped by a firewall, disabled on the server, or the listener not bound.
    Silent,
    /// An answer that is not a SYN+ACK for our SYN.
    Unexpected,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpFact {
    pub outcome: UdpOutcome,
    pub duration_ms: f64,
    pub attempts: u32,
    pub datagram_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Network-path measurements (RTT, loss, MSS); see `probe::path_fact_from`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathFact {
    /// Round-trip samples: the times of the TCP connects that needed no retransmission (ms).
    /// A connect whose SYN had to be sent again measures the retransmission time-out, not the
    /// path; it is in `lossy_connects_ms` instead.
    pub rtt_samples_ms: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_median_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
    /// Standard deviation of `rtt_samples_ms` (ms). The samples come from concurrent as well
    /// as sequential connections, so a spread is more meaningful than consecutive differences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    /// Times of the connects whose SYN (or the server's SYN+ACK) was lost and retransmitted,
    /// as the kernel counted it (Linux TCP_INFO), or, where it cannot tell, that took 1 s or
    /// more (the initial retransmission time-out, RFC 6298 2.1).
    #[serde(default)]
    pub lossy_connects_ms: Vec<f64>,
    /// How many connects lost a SYN or SYN+ACK (`lossy_connects_ms.len()`).
    pub slow_connects: u32,
    /// `--samples` connects that got no answer within the time-out, to an address that had
    /// just accepted a connection (every SYN lost).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_connects: u32,
    /// Retransmissions counted as loss (`loss.syns.lost + loss.segments.lost`): SYNs and data
    /// segments the kernel sent again (Linux TCP_INFO), minus those the server reported as
    /// duplicates (D-SACK): a retransmission of data the server already had was a late ACK,
    /// not a loss. `None` where the OS does not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u32>,
    /// The loss rate measured from the client's own transmissions, with its confidence
    /// interval; `None` when nothing was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossFact>,
    /// The path-MTU retry after a TLS stall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss_retry: Option<MssRetry>,
}

impl PathFact {
    /// All TCP connects the statistics saw (clean, lossy and failed).
    pub fn connects(&self) -> usize {
        self.rtt_samples_ms.len() + self.lossy_connects_ms.len() + self.failed_connects as usize
    }

    /// Connects that lost a SYN, including those that never got an answer.
    pub fn lossy_connects(&self) -> usize {
        self.lossy_connects_ms.len() + self.failed_connects as usize
    }
}

/// Transmissions that needed an answer and how many got none: `lost` of them were sent again
/// after a retransmission time-out (or never answered). A retransmission is itself a
/// transmission, so `sent` counts it too and `lost / sent` estimates the chance that one
/// transmission, or its answer, is lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub sent: u32,
    pub lost: u32,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.sent = self.sent.saturating_add(other.sent);
        self.lost = self.lost.saturating_add(other.lost);
    }
}

named_enum! {
    /// Where the loss counts came from.
    pub enum LossMethod {
        /// The kernel's per-connection counters (Linux TCP_INFO): SYNs and data segments
        /// sent and retransmitted, duplicates the server reported (D-SACK) not counted.
        KernelCounters = "kernel-counters",
        /// No counters from the OS: a connect that took 1 s or more (the initial
        /// retransmission time-out, RFC 6298 2.1) lost its SYN; data segments are not counted.
        ConnectTimes = "connect-times",
    }
}

/// Loss measured from the client's own transmissions: each SYN and data segment either got
/// its answer (a SYN+ACK, an ACK) before the retransmission time-out or was sent again. A
/// lost answer counts like a lost transmission, so on a path that loses a fraction `p` each
/// way a SYN is lost with probability `1 - (1 - p)^2`. Counted: the SYNs of the main connect
/// (and its witnesses') and of the `--samples` connects, the data segments of every
/// established connection. Not counted: the SYNs of the protocol enumeration's burst (an
/// accept queue that overflows drops those too, and that is the server, not the path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossFact {
    pub syns: Tally,
    pub segments: Tally,
    /// Established connections whose data segments were counted.
    pub connections: u32,
    /// `lost / sent` over SYNs and data segments together.
    pub rate: f64,
    /// The 95 % confidence interval of `rate` (Wilson score interval): with `n` transmissions
    /// and no loss the upper bound is about `3.8 / n`, so `--samples` narrows it.
    pub rate_low: f64,
    pub rate_high: f64,
    pub method: LossMethod,
}

impl LossFact {
    pub fn total(&self) -> Tally {
        let mut t = self.syns;
        t.add(self.segments);
        t
    }

    /// One line for reports: "9 of 37 transmissions lost: 24 % (95 % confidence 13-40 %)",
    /// or, without loss, how low the rate is known to be.
    pub fn summary(&self) -> String {
        let t = self.total();
        if t.lost == 0 {
            format!(
                "none of {} transmissions lost (95 % confidence: below {})",
                t.sent,
                percent(self.rate_high)
            )
        } else {
            format!(
                "{} of {} transmissions lost: {} (95 % confidence {})",
                t.lost,
                t.sent,
                percent(self.rate),
                self.interval()
            )
        }
    }

    /// The confidence interval as text: "2.5-19 %".
    pub fn interval(&self) -> String {
        format!(
            "{}-{}",
            percent_number(self.rate_low),
            percent(self.rate_high)
        )
    }
}

/// A proportion as a percentage: one decimal below 10 %, whole numbers above.
pub fn percent(v: f64) -> String {
    format!("{} %", percent_number(v))
}

fn percent_number(v: f64) -> String {
    let p = v * 100.0;
    if p > 0.0 && p < 10.0 {
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// After a TLS stall: one fresh connection advertising a small MSS and, at the same time, one
/// at the normal MSS as a control. A path-MTU black hole lets the first through and stalls the
/// second again; a transient stall (loss, a server hiccup) lets both through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MssRetry {
    pub mss: u32,
    /// Whether the TLS handshake completed with the small MSS.
    pub tls_completed: bool,
    pub duration_ms: f64,
    /// How the control connection (normal MSS) ended; `None` when no control ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<RetryEnd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_duration_ms: Option<f64>,
}

/// How one retry connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryEnd {
    /// The TLS handshake completed.
    Completed,
    /// TCP and X.224 worked; the TLS handshake did not complete before the time-out.
    TlsStalled,
    /// It ended another way before TLS completed (no connection, no X.224 answer, a reset):
    /// says nothing about packet sizes.
    Failed,
}

/// How the credentialed CredSSP exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthOutcome {
    /// The server verified the NTLM response, proved its TLS key (pubKeyAuth), took the
    /// delegated credentials and, under HYBRID_EX, answered AUTHZ_SUCCESS.
    Success,
    /// A TSRequest with errorCode (NTSTATUS or SEC_E).
    ServerError,
    /// HYBRID_EX Early User Authorization Result AUTHZ_ACCESS_DENIED.
    AccessDenied,
    /// The server closed or reset the connection without an errorCode.
    Dropped,
    /// No answer within the time-out.
    Timeout,
    /// The server's pubKeyAuth does not bind the TLS key we saw.
    PubKeyMismatch,
    /// An answer that does not decode.
    Malformed,
    /// The credential gate refused the server (nothing derived from the password was sent).
    NotSent,
    /// The server did not select CredSSP: credentials are checked only at its logon screen.
    NoCredssp,
    /// TLS or the CredSSP start failed before credentials could be used.
    NotReached,
    /// The NTLM exchange could not be computed (e.g. the CHALLENGE lacks extended session security).
    ClientError,
    /// The server refused our Kerberos AP-REQ (a KRB-ERROR token, SPNEGO reject, another
    /// mechanism, or a token of zeros).
    KerberosRefused,
    /// Kerberos failed at the KDC (the `kdc` phase says how): nothing was sent to the server.
    KdcRefused,
}

impl AuthOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::ServerError => "server-error",
            AuthOutcome::AccessDenied => "access-denied",
            AuthOutcome::Dropped => "dropped",
            AuthOutcome::Timeout => "timeout",
            AuthOutcome::PubKeyMismatch => "pub-key-mismatch",
            AuthOutcome::Malformed => "malformed",
            AuthOutcome::NotSent => "not-sent",
            AuthOutcome::NoCredssp => "no-credssp",
            AuthOutcome::NotReached => "not-reached",
            AuthOutcome::ClientError => "client-error",
            AuthOutcome::KerberosRefused => "kerberos-refused",
            AuthOutcome::KdcRefused => "kdc-refused",
        }
    }
}

/// The credentialed CredSSP exchange. Never holds the password or anything derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthFact {
    pub outcome: AuthOutcome,
    pub duration_ms: f64,
    /// `DOMAIN\user`, `user@domain` or `user` as given.
    pub user: String,
    /// Where the password came from (`RDP_DOCTOR_PASSWORD`, `password file`, `prompt`).
    pub password_source: String,
    /// The security package used.
    pub package: AuthPackage,
    /// The last step reached.
    pub round: AuthRound,
    /// Why the server was trusted with credentials, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_basis: Option<TrustBasis>,
    /// Why the gate refused the server, when it did.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub refused_because: Vec<String>,
    /// Whether an NTLM AUTHENTICATE left this machine.
    pub ntlm_response_sent: bool,
    /// Whether the password itself was delegated (TSCredentials in authInfo).
    pub credentials_delegated: bool,
    /// The server's TSRequest version and the version both sides used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_used: Option<u32>,
    /// TSRequest.errorCode and its name (NTSTATUS or SEC_E).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_name: Option<String>,
    /// The Early User Authorization Result (HYBRID_EX), raw and named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_user_auth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_user_auth_name: Option<String>,
    /// The protocol the server selected (`HYBRID`, `HYBRID_EX` ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_protocol: Option<String>,
    /// Server clock minus ours from the CHALLENGE (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `--auth` when Kerberos was considered (`negotiate`, `kerberos`); absent for a plain
    /// NTLM run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
    /// Under `--auth negotiate`: why NTLM was used instead of Kerberos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kerberos_unavailable: Option<kerberos::KerberosUnavailable>,
    /// Kerberos inside CredSSP: the server's answer to our AP-REQ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kerberos: Option<kerberos::KerberosCredsspFact>,
}

/// How the `--full` run after CredSSP (or TLS) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationOutcome {
    /// The server sent its Demand Active PDU: it accepted the connection.
    DemandActive,
    /// A Set Error Info PDU (then usually a disconnect).
    ErrorInfo,
    /// A Disconnect Provider Ultimatum (or X.224 Disconnect Request) without error info.
    Denied,
    /// The server closed or reset the connection without a reason.
    Closed,
    Timeout,
    /// A licensing error alert that does not complete licensing.
    LicensingFailed,
    /// The server stopped where rdp-doctor does not follow (the RD licensing protocol, a
    /// redirection, Standard RDP Security).
    Unsupported,
    /// An MCS step was refused (attach user, channel join) or a PDU did not decode.
    ProtocolError,
    /// Not attempted (the reason is in `stopped_at`).
    Skipped,
}

impl ActivationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationOutcome::DemandActive => "demand-active",
            ActivationOutcome::ErrorInfo => "error-info",
            ActivationOutcome::Denied => "denied",
            ActivationOutcome::Closed => "closed",
            ActivationOutcome::Timeout => "timeout",
            ActivationOutcome::LicensingFailed => "licensing-failed",
            ActivationOutcome::Unsupported => "unsupported",
            ActivationOutcome::ProtocolError => "protocol-error",
            ActivationOutcome::Skipped => "skipped",
        }
    }
}

/// The connection after the MCS Connect Response: channels, Client Info, licensing, and the
/// Demand Active PDU or the server's reason for stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationFact {
    pub outcome: ActivationOutcome,
    pub duration_ms: f64,
    /// The last step reached.
    pub stopped_at: ActivationStep,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_channel: Option<u16>,
    /// Channels joined (user, I/O).
    pub channels_joined: Vec<u16>,
    /// Whether the Client Info PDU carried a password (INFO_AUTOLOGON).
    pub client_info_autologon: bool,
    /// The licensing answer, e.g. `ERROR_ALERT STATUS_VALID_CLIENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licensing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_id: Option<u32>,
    /// Capability sets of the Demand Active PDU, by name.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desktop: Option<String>,
    /// Set Error Info PDU codes received, in order, with their names.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub error_info: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub error_info_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Start offset and duration of each phase, in ms from the start of the check.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub entries: Vec<(crate::model::Phase, f64, f64)>,
}

impl Timeline {
    pub fn add(&mut self, phase: crate::model::Phase, start_ms: f64, duration_ms: f64) {
        self.entries.push((phase, start_ms, duration_ms));
    }

    pub fn get(&self, phase: crate::model::Phase) -> Option<(f64, f64)> {
        self.entries
            .iter()
            .find(|(p, _, _)| *p == phase)
            .map(|(_, s, d)| (*s, *d))
    }
}

impl X224Outcome {
    /// One line for reports and evidence (server text escaped).
    pub fn describe(&self) -> String {
        use crate::sanitize::escape;
        match self {
            X224Outcome::Selected { protocol_name, .. } => format!("selected {protocol_name}"),
            X224Outcome::Failure { code, name } => format!(
                "RDP_NEG_FAILURE {code} ({})",
                name.as_deref().unwrap_or("undocumented")
            ),
            X224Outcome::Legacy => "Connection Confirm without negotiation data".into(),
            X224Outcome::NotRdp { .. } => "not RDP".into(),
            X224Outcome::UnexpectedPdu { description } => escape(description),
            X224Outcome::Malformed { error } => format!("malformed ({})", escape(error)),
            X224Outcome::NoResponse { .. } => "no answer".into(),
            X224Outcome::Partial { bytes, .. } => format!("only {bytes} bytes before the time-out"),
            X224Outcome::Reset { .. } => "connection reset".into(),
            X224Outcome::Closed { .. } => "connection closed".into(),
            X224Outcome::Error { error } => escape(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Typed facts write the same JSON the strings and integers did (`rdp-doctor/check/v1`).
    #[test]
    fn typed_facts_keep_their_json() {
        assert_eq!(
            serde_json::to_value(ClientProfile::mstsc()).unwrap(),
            json!({
                "name": "mstsc",
                "requested_protocols": 11,
                "requested_names": ["tls", "hybrid", "hybrid_ex"],
            })
        );
        assert_eq!(
            ClientProfile::with("rdp", 0).requested_names,
            [SecurityProtocol::Rdp]
        );
        let probe = ProtocolProbe {
            protocol: SecurityProtocol::HybridEx,
            requested: Protocols::HYBRID_EX,
            status: ProbeStatus::Refused,
            duration_ms: 1.0,
            response: X224Outcome::Selected {
                protocol: Protocols::RDP,
                protocol_name: "PROTOCOL_RDP".into(),
                flags: 0,
                flag_names: vec![],
            },
            from_main: false,
            retries: 0,
        };
        let v = serde_json::to_value(&probe).unwrap();
        assert_eq!(v["protocol"], "hybrid_ex");
        assert_eq!(v["requested"], 8);
        assert_eq!(v["status"], "refused");
        assert_eq!(v["response"]["protocol"], 0);
        assert_eq!(serde_json::from_value::<ProtocolProbe>(v).unwrap(), probe);
        let unreachable = TcpOutcome::Unreachable {
            duration_ms: 1.0,
            kind: UnreachableKind::AdminProhibited,
            error: "Permission denied".into(),
        };
        assert_eq!(
            serde_json::to_value(unreachable).unwrap()["kind"],
            "admin-prohibited"
        );
        for (v, s) in [
            (
                serde_json::to_value(ResolveOutcome::TemporaryFailure),
                "temporary-failure",
            ),
            (serde_json::to_value(Support::NotOffered), "not-offered"),
            (
                serde_json::to_value(AuthRound::EarlyUserAuthorization),
                "early-user-authorization",
            ),
            (serde_json::to_value(AuthPackage::Ntlm), "NTLM"),
            (
                serde_json::to_value(TrustBasis::PinnedFingerprint),
                "pinned-fingerprint",
            ),
            (
                serde_json::to_value(ActivationStep::McsConnect),
                "mcs-connect",
            ),
        ] {
            assert_eq!(v.unwrap(), s);
        }
    }

    /// A TLS failure is not in the document: `error` carries the text as before.
    #[test]
    fn the_tls_failure_stays_out_of_the_json() {
        let t = TlsFact {
            failure: Some(TlsFailure::VersionMismatch),
            error: Some("peer is incompatible: ServerDoesNotSupportTls12Or13".into()),
            ..TlsFact::new(TlsOutcome::Error, 1.0)
        };
        let v = serde_json::to_value(&t).unwrap();
        assert!(v.get("failure").is_none(), "{v}");
    }
}
