//! Facts of the RD Gateway path (`check --gateway`): the gateway's own resolve, TCP, TLS and
//! certificate, then what its HTTP endpoint, its authentication, its transport and its tunnel
//! did. Each step's outcome enum has a variant per way the step can end.

use super::{AddressFact, CertFact, NtlmInfo, ResolveFact, TlsFact};
use serde::{Deserialize, Serialize};

/// Everything measured about the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayFacts {
    /// The gateway as given (`--gateway` or the .rdp file's `gatewayhostname`).
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve: Option<ResolveFact>,
    pub addresses: Vec<AddressFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<GwHttpFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<GwAuthFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<GwTransportFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<GwTunnelFact>,
}

impl GatewayFacts {
    pub fn new(host: &str, port: u16) -> GatewayFacts {
        GatewayFacts {
            host: host.to_string(),
            port,
            resolve: None,
            addresses: Vec::new(),
            address_used: None,
            tls: None,
            certificate: None,
            http: None,
            auth: None,
            transport: None,
            tunnel: None,
        }
    }
}

/// How the gateway answered an unauthenticated `RDG_OUT_DATA /remoteDesktopGateway/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GwHttpOutcome {
    /// 401 with authentication schemes: an RD Gateway (or a proxy) asking who we are.
    AuthRequired,
    /// 101 or 200 without authentication (an anonymous or token-only gateway).
    Open,
    NotFound,
    /// 403, 405 or 501: a proxy, a WAF or IIS request filtering blocks the RDG methods.
    MethodBlocked,
    ServiceUnavailable,
    /// 3xx: a pre-authentication proxy sends clients to a login page.
    Redirect,
    /// Another status.
    OtherStatus,
    /// Bytes that are not an HTTP response.
    NotHttp,
    /// The connection closed without an answer.
    NoAnswer,
    Reset,
    /// No answer within the time-out.
    Stalled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GwHttpFact {
    pub outcome: GwHttpOutcome,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `WWW-Authenticate` schemes offered, in order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub schemes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// The first bytes of an answer that is not HTTP (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bytes_hex: Option<String>,
    /// How the RPC-over-HTTP proxy (`RPC_IN_DATA /rpc/rpcproxy.dll`) answered, when the RD
    /// Gateway resource did not: its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_status: Option<u16>,
}

/// How HTTP authentication to the gateway ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GwAuthOutcome {
    /// The gateway accepted the credentials (or the token) and answered the upgrade.
    Accepted,
    /// 401 again after the NTLM AUTHENTICATE.
    Rejected,
    /// No scheme rdp-doctor can use with a password was offered.
    NoUsableScheme,
    /// The 401 to the NTLM NEGOTIATE carried no challenge.
    ChallengeMissing,
    /// The gateway closed the connection between the NTLM legs (keep-alive broken).
    ConnectionClosed,
    /// The credential gate refused to answer an untrusted gateway.
    NotSent,
    /// Another status or no answer; the detail says which.
    Failed,
    /// No credentials and no token: not attempted.
    NoCredentials,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GwAuthFact {
    pub outcome: GwAuthOutcome,
    pub duration_ms: f64,
    /// `NTLM`, `Negotiate` (raw NTLMSSP) or `PAA` (access token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The status that ended the exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The gateway's NTLM CHALLENGE: names, OS version, clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<NtlmInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub refused_because: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What the WebSocket upgrade came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GwTransportOutcome {
    /// 101 with the right Sec-WebSocket-Accept.
    WebSocket,
    /// 200: the upgrade headers were ignored or stripped; the legacy HTTP transport answered.
    UpgradeStripped,
    /// 101 with a wrong Sec-WebSocket-Accept.
    BadAccept,
    /// A 4xx/5xx to the upgrade after authentication.
    UpgradeRefused,
    /// Not reached.
    NotTried,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GwTransportFact {
    pub outcome: GwTransportOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The client setting that selects what works (mstsc: automatic; FreeRDP `/gt:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_setting: Option<String>,
}

/// How the MS-TSGU tunnel setup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GwTunnelOutcome {
    /// CHANNEL_RESPONSE with success: the gateway connected to the target.
    Open,
    /// A response PDU with a failure HRESULT.
    Refused,
    /// CLOSE_CHANNEL from the gateway.
    Closed,
    /// A PDU that does not belong here, or bytes that do not decode.
    ProtocolError,
    /// The connection ended without an answer.
    Dropped,
    /// No answer within the time-out.
    Stalled,
    NotReached,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GwTunnelFact {
    pub outcome: GwTunnelOutcome,
    pub duration_ms: f64,
    /// The last step: `handshake`, `tunnel-create`, `tunnel-auth`, `channel-create`, `open`.
    pub step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hresult: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hresult_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_auth: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redir_flags: Option<Vec<String>>,
    /// Minutes (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<u32>,
    /// The target as sent in CHANNEL_CREATE.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl GwTunnelFact {
    pub fn new(target: String) -> GwTunnelFact {
        GwTunnelFact {
            outcome: GwTunnelOutcome::NotReached,
            duration_ms: 0.0,
            step: "handshake".into(),
            hresult: None,
            hresult_name: None,
            extended_auth: None,
            caps: None,
            tunnel_id: None,
            consent_message: None,
            redir_flags: None,
            idle_timeout: None,
            channel_id: None,
            target,
            detail: None,
        }
    }
}
