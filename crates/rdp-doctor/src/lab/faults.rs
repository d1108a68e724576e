//! How a lab endpoint behaves at each step of the connection, as data: the step files
//! (`conn.rs`, `certs.rs`, `session.rs`, `activation.rs`, `udp.rs`) act on these parameters and
//! never ask which fault they serve.

/// How an endpoint behaves at each step. [`WINDOWS`] is a healthy Windows server; a fault
/// changes the one or two steps it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Behaviour {
    /// `conn.rs`: the answer to the X.224 Connection Request.
    pub x224: X224,
    /// `conn.rs`: which security protocol the Connection Confirm selects or refuses.
    pub nego: Nego,
    /// `certs.rs`: the certificate the TLS handshake presents.
    pub cert: Cert,
    /// `conn.rs`: the server side of the TLS handshake.
    pub tls: Tls,
    /// `session.rs`: the TSRequest version the server speaks (below 5: no CVE-2018-0886 fix).
    pub tsrequest_version: u32,
    /// `session.rs`: how far ahead of real time the NTLM CHALLENGE's timestamp is, in seconds.
    pub clock_ahead_secs: i64,
    /// `session.rs`: how the CredSSP exchange ends.
    pub credssp: Credssp,
    /// `session.rs`: the MCS Connect Initial is answered with a Disconnect Provider Ultimatum.
    pub mcs_denied: bool,
    /// `activation.rs`: the Set Error Info code that answers the Client Info PDU.
    pub error_info: Option<u32>,
    /// `udp.rs`: the RDP-UDP SYN is answered with a SYN+ACK.
    pub udp: bool,
}

impl Behaviour {
    /// Breaks only after the client authenticated: `check` sees it with `--user`.
    pub fn after_authentication(&self) -> bool {
        matches!(
            self.credssp,
            Credssp::ErrorCode(_)
                | Credssp::CloseAfterAuthenticate
                | Credssp::CloseAfterAuthInfo
                | Credssp::AccessDenied
        ) || self.error_info.is_some()
    }
}

/// What follows the client's Connection Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum X224 {
    /// A Connection Confirm as [`Nego`] says, then the next step.
    Confirm,
    /// The same Connection Confirm, one byte per second.
    ConfirmOneBytePerSecond,
    /// An HTTP 400 answer, then close.
    Http,
    /// Nothing; the connection is held open.
    Silence,
    /// A TCP reset.
    Reset,
}

/// The security-protocol policy of the Connection Confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nego {
    /// Windows defaults (NLA required): HYBRID_EX or HYBRID; a request without either gets
    /// HYBRID_REQUIRED_BY_SERVER.
    NlaRequired,
    /// TLS required, NLA off (SecurityLayer=2, UserAuthentication=0): SSL; a request without
    /// it gets SSL_REQUIRED_BY_SERVER.
    TlsRequired,
    /// Standard RDP Security only (SecurityLayer=0): a request for any TLS-based protocol gets
    /// SSL_NOT_ALLOWED_BY_SERVER.
    TlsForbidden,
    /// Standard RDP Security (response flags 0) whatever the client asks.
    StandardRdpOnly,
    /// SSL_CERT_NOT_ON_SERVER to every request.
    NoCertificate,
}

/// The server side of the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tls {
    Complete,
    /// Reads the ClientHello, then resets (a server that cannot use its private key).
    ResetAfterClientHello,
    /// Answers the ClientHello with a fatal protocol_version alert.
    ProtocolVersionAlert,
    /// Sends the first part of its flight, then nothing (an MTU black hole).
    Stall,
}

/// How the CredSSP exchange ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credssp {
    /// Verifies the lab account, answers pubKeyAuth, takes the authInfo, goes on to MCS.
    Complete,
    /// Drops the connection after the client's first TSRequest.
    ResetAfterNegotiate,
    /// Answers any NTLM AUTHENTICATE with this TSRequest errorCode.
    ErrorCode(u32),
    /// Closes after the NTLM AUTHENTICATE without an errorCode.
    CloseAfterAuthenticate,
    /// Verifies the account and answers pubKeyAuth, then closes after the client's authInfo.
    CloseAfterAuthInfo,
    /// Verifies the account, then (HYBRID_EX) an Early User Authorization Result
    /// AUTHZ_ACCESS_DENIED, and closes.
    AccessDenied,
}

/// The certificate an endpoint presents. Endpoints with [`Cert::LAB`] share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cert {
    /// Not before and not after, in days from now.
    pub valid_days: (i64, i64),
    /// The only name in the certificate, instead of the lab's names.
    pub only_name: Option<&'static str>,
    pub issued_by: IssuedBy,
    pub key: Key,
    pub eku: Eku,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssuedBy {
    LabCa,
    Itself,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    EcdsaP256,
    /// Below ring's minimum: the lab signs with it itself (`weakkey.rs`); issued by the lab CA.
    Rsa1024,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eku {
    ServerAuth,
    ClientAuthOnly,
}

impl Cert {
    /// A certificate for the lab's names from the lab CA, valid for a year.
    pub const LAB: Cert = Cert {
        valid_days: (-1, 365),
        only_name: None,
        issued_by: IssuedBy::LabCa,
        key: Key::EcdsaP256,
        eku: Eku::ServerAuth,
    };
}

/// A healthy Windows server: NLA required, a valid certificate, CredSSP that verifies the
/// lab account, MCS and activation completed, UDP answered.
pub(crate) const WINDOWS: Behaviour = Behaviour {
    x224: X224::Confirm,
    nego: Nego::NlaRequired,
    cert: Cert::LAB,
    tls: Tls::Complete,
    tsrequest_version: rdp_doctor_wire::credssp::VERSION_CURRENT,
    clock_ahead_secs: 0,
    credssp: Credssp::Complete,
    mcs_denied: false,
    error_info: None,
    udp: true,
};
