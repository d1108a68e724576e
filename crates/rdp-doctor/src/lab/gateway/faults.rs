//! The lab gateway's faults: one table row each (name, what the gateway does, its behaviour
//! as parameters, what `check --gateway` must conclude). The connection code acts on the
//! behaviour, never on the fault's name.

use crate::model::Verdict;
use rdp_doctor_wire::gateway::hresult::codes::*;

/// How the gateway's TLS listener behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// A certificate from the lab CA for the lab's names.
    Lab,
    /// The certificate of the lab's certificate fault of this name (`cert-expired`, ...).
    Cert(&'static str),
    /// Reset after the ClientHello.
    Reset,
    /// Read the ClientHello, never answer.
    Stall,
}

/// What the gateway answers to an RD Gateway request before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// An RD Gateway.
    Serve,
    /// Bytes that are not HTTP.
    NotHttp,
    /// Close the connection after the request, without an answer.
    NoAnswer,
    /// This status (with a plausible body and headers) to every RDG request, then close.
    Status(u16),
    /// 404 on the RDG resource, 401 on the RPC-over-HTTP proxy (a gateway with only the
    /// RPC transport).
    RpcOnly,
}

/// HTTP authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// NTLM (scheme `NTLM`, or raw NTLMSSP under `Negotiate`) against the lab users.
    Ntlm,
    /// Offers only `SMARTCARD`: no scheme a password client can use.
    OnlySmartcard,
    /// 401 again after every AUTHENTICATE.
    RejectAll,
    /// Sends the NTLM challenge with `Connection: close` and closes (a proxy that breaks
    /// the connection-oriented NTLM exchange).
    CloseAfterChallenge,
    /// Offers only `Basic` (RFC 7617: user and password in the header, over TLS), checked
    /// against the lab users.
    OnlyBasic,
}

/// The WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    Serve,
    /// 400 Bad Request to an upgrade request (legacy HTTP still works).
    Refuse,
    /// Ignores the upgrade headers and serves the legacy transport (a proxy strips them).
    Strip,
    /// 101 with a wrong Sec-WebSocket-Accept.
    BadAccept,
}

/// Garbage where a PDU belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garbage {
    Random,
    /// packetLength 4 (shorter than the header).
    ShortLength,
    /// packetLength 0x7FFFFFFF.
    Oversized,
    /// A well-formed PDU of packet type 0x00EE.
    UnknownType,
    /// Half a HANDSHAKE_RESPONSE, then close.
    Truncated,
    /// A masked frame from the server (RFC 6455 5.1 forbids it).
    MaskedFrame,
    /// The HANDSHAKE_RESPONSE in a text frame.
    TextFrame,
}

/// One PDU step of the tunnel setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Serve,
    /// Never answer.
    Stall,
    Garbage(Garbage),
    /// Answer with this status (HRESULT form).
    Code(u32),
}

/// Everything a fault changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    pub tls: Tls,
    pub http: Http,
    pub auth: Auth,
    pub upgrade: Upgrade,
    /// Refuse the legacy IN channel (404), as a load balancer that sends it to another node.
    pub refuse_in: bool,
    pub handshake: Step,
    pub tunnel: Step,
    pub tunnel_auth: Step,
    pub channel: Step,
    /// CLOSE_CHANNEL with this status right after the channel opened.
    pub close_after_open: Option<u32>,
    /// A consent message in TUNNEL_RESPONSE.
    pub consent: bool,
}

pub const HEALTHY: Behaviour = Behaviour {
    tls: Tls::Lab,
    http: Http::Serve,
    auth: Auth::Ntlm,
    upgrade: Upgrade::Serve,
    refuse_in: false,
    handshake: Step::Serve,
    tunnel: Step::Serve,
    tunnel_auth: Step::Serve,
    channel: Step::Serve,
    close_after_open: None,
    consent: false,
};

/// What a check through the gateway needs besides the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: the fault shows before authentication.
    Nothing,
    /// Gateway credentials (`--gateway-user labuser`).
    User,
    /// The access token (`--gateway-token`, PAA).
    Token,
}

/// One fault.
#[derive(Debug, Clone, Copy)]
pub struct GwFault {
    pub name: &'static str,
    pub describe: &'static str,
    pub behaviour: Behaviour,
    /// The first finding `check --gateway` must report (None: no finding).
    pub first_finding: Option<&'static str>,
    pub verdict: Verdict,
    pub needs: Needs,
}

const fn f(
    name: &'static str,
    describe: &'static str,
    behaviour: Behaviour,
    first: &'static str,
    verdict: Verdict,
    needs: Needs,
) -> GwFault {
    GwFault {
        name,
        describe,
        behaviour,
        first_finding: Some(first),
        verdict,
        needs,
    }
}

use Needs::{Nothing, Token, User};
use Verdict::{Degraded, Failing, Healthy};

/// Every gateway fault.
pub const FAULTS: &[GwFault] = &[
    GwFault {
        name: "healthy",
        describe: "an RD Gateway: TLS with a lab certificate, NTLM for the lab users, WebSocket and legacy HTTP, CAP = the lab users, RAP = loopback targets (and --gateway-allow), relays to the target",
        behaviour: HEALTHY,
        first_finding: None,
        verdict: Healthy,
        needs: User,
    },
    f("gateway-cert-expired", "a gateway certificate that expired 35 days ago", Behaviour { tls: Tls::Cert("cert-expired"), ..HEALTHY }, "gateway-cert-expired", Failing, Nothing),
    f("gateway-cert-not-yet-valid", "a gateway certificate valid only from 30 days from now", Behaviour { tls: Tls::Cert("cert-not-yet-valid"), ..HEALTHY }, "gateway-cert-not-yet-valid", Failing, Nothing),
    f("gateway-cert-self-signed", "a self-signed gateway certificate", Behaviour { tls: Tls::Cert("cert-self-signed"), ..HEALTHY }, "gateway-cert-untrusted", Failing, Nothing),
    f("gateway-cert-name-mismatch", "a gateway certificate for wrong.example.invalid", Behaviour { tls: Tls::Cert("cert-name-mismatch"), ..HEALTHY }, "gateway-cert-name-mismatch", Failing, Nothing),
    f("gateway-cert-weak-key", "an RSA-1024 gateway certificate", Behaviour { tls: Tls::Cert("cert-weak-key"), ..HEALTHY }, "gateway-cert-weak-key", Degraded, Nothing),
    f("gateway-cert-expiring-soon", "a gateway certificate that expires in 10 days", Behaviour { tls: Tls::Cert("cert-expiring-soon"), ..HEALTHY }, "gateway-cert-expiring-soon", Degraded, Nothing),
    f("gateway-cert-wrong-usage", "a gateway certificate whose EKU is clientAuth only", Behaviour { tls: Tls::Cert("cert-wrong-usage"), ..HEALTHY }, "gateway-cert-wrong-usage", Failing, Nothing),
    f("gateway-tls-failed", "resets the connection after the ClientHello", Behaviour { tls: Tls::Reset, ..HEALTHY }, "gateway-tls-failed", Failing, Nothing),
    f("gateway-tls-stalled", "reads the ClientHello and never answers", Behaviour { tls: Tls::Stall, ..HEALTHY }, "gateway-tls-stalled", Failing, Nothing),
    f("gateway-not-http", "answers the HTTP request with an SSH banner", Behaviour { http: Http::NotHttp, ..HEALTHY }, "gateway-not-http", Failing, Nothing),
    f("gateway-no-answer", "closes the TLS connection after the request without an HTTP answer (what an unhappy http.sys does)", Behaviour { http: Http::NoAnswer, ..HEALTHY }, "gateway-no-answer", Failing, Nothing),
    f("gateway-site-not-found", "404 Not Found to the RD Gateway resource (another web site on the address)", Behaviour { http: Http::Status(404), ..HEALTHY }, "gateway-site-not-found", Failing, Nothing),
    f("gateway-methods-blocked", "405 Method Not Allowed with Allow: GET, POST (a proxy or request filtering blocks RDG_OUT_DATA)", Behaviour { http: Http::Status(405), ..HEALTHY }, "gateway-methods-blocked", Failing, Nothing),
    f("gateway-service-unavailable", "503 Service Unavailable (the gateway service is stopped behind IIS / a load balancer)", Behaviour { http: Http::Status(503), ..HEALTHY }, "gateway-service-unavailable", Failing, Nothing),
    f("gateway-redirected", "302 to a login page (a pre-authentication proxy)", Behaviour { http: Http::Status(302), ..HEALTHY }, "gateway-redirected", Failing, Nothing),
    f("gateway-http-transport-unavailable", "404 on the RD Gateway resource, 401 from the RPC-over-HTTP proxy (only the RPC transport is published)", Behaviour { http: Http::RpcOnly, ..HEALTHY }, "gateway-http-transport-unavailable", Failing, Nothing),
    f("gateway-no-usable-auth-scheme", "401 offering only SMARTCARD", Behaviour { auth: Auth::OnlySmartcard, ..HEALTHY }, "gateway-no-usable-auth-scheme", Failing, Nothing),
    GwFault {
        name: "gateway-basic-only",
        describe: "401 offering only Basic (a gateway behind a proxy that allows only Basic); the lab users' passwords pass",
        behaviour: Behaviour { auth: Auth::OnlyBasic, ..HEALTHY },
        first_finding: None,
        verdict: Healthy,
        needs: User,
    },
    f("gateway-auth-rejected", "401 again after every NTLM AUTHENTICATE (a wrong password, or an account the gateway refuses)", Behaviour { auth: Auth::RejectAll, ..HEALTHY }, "gateway-auth-rejected", Failing, User),
    f("gateway-auth-connection-closed", "sends the NTLM challenge with Connection: close and closes (a proxy without keep-alive)", Behaviour { auth: Auth::CloseAfterChallenge, ..HEALTHY }, "gateway-auth-connection-closed", Failing, User),
    f("gateway-websocket-refused", "400 Bad Request to the WebSocket upgrade; the legacy HTTP transport works", Behaviour { upgrade: Upgrade::Refuse, ..HEALTHY }, "gateway-websocket-refused", Degraded, User),
    f("gateway-websocket-stripped", "ignores the upgrade headers and serves the legacy transport (a proxy strips them)", Behaviour { upgrade: Upgrade::Strip, ..HEALTHY }, "gateway-websocket-stripped", Degraded, User),
    f("gateway-websocket-bad-accept", "101 with a wrong Sec-WebSocket-Accept", Behaviour { upgrade: Upgrade::BadAccept, ..HEALTHY }, "gateway-websocket-refused", Degraded, User),
    f("gateway-in-channel-refused", "404 to the legacy IN channel (a load balancer without affinity)", Behaviour { refuse_in: true, ..HEALTHY }, "gateway-in-channel-refused", Degraded, User),
    f("gateway-internal-error", "HANDSHAKE_RESPONSE E_PROXY_INTERNALERROR", Behaviour { handshake: Step::Code(E_PROXY_INTERNALERROR), ..HEALTHY }, "gateway-internal-error", Failing, User),
    f("gateway-capability-mismatch", "TUNNEL_RESPONSE E_PROXY_CAPABILITYMISMATCH", Behaviour { tunnel: Step::Code(E_PROXY_CAPABILITYMISMATCH), ..HEALTHY }, "gateway-capability-mismatch", Failing, User),
    f("gateway-no-certificate", "TUNNEL_RESPONSE E_PROXY_NOCERTAVAILABLE", Behaviour { tunnel: Step::Code(E_PROXY_NOCERTAVAILABLE), ..HEALTHY }, "gateway-no-certificate", Failing, User),
    f("gateway-token-rejected", "TUNNEL_RESPONSE E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED (the access token is refused)", Behaviour { tunnel: Step::Code(E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED), ..HEALTHY }, "gateway-token-rejected", Failing, Token),
    f("gateway-token-required", "TUNNEL_RESPONSE E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD (the gateway wants an access token)", Behaviour { tunnel: Step::Code(E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD), ..HEALTHY }, "gateway-token-required", Failing, User),
    f("gateway-cap-denied", "TUNNEL_AUTH_RESPONSE E_PROXY_NAP_ACCESSDENIED (no Connection Authorization Policy admits the user)", Behaviour { tunnel_auth: Step::Code(E_PROXY_NAP_ACCESSDENIED), ..HEALTHY }, "gateway-cap-denied", Failing, User),
    f("gateway-quarantine-denied", "TUNNEL_AUTH_RESPONSE E_PROXY_QUARANTINE_ACCESSDENIED", Behaviour { tunnel_auth: Step::Code(E_PROXY_QUARANTINE_ACCESSDENIED), ..HEALTHY }, "gateway-quarantine-denied", Failing, User),
    f("gateway-connection-limit", "TUNNEL_AUTH_RESPONSE E_PROXY_MAXCONNECTIONSREACHED", Behaviour { tunnel_auth: Step::Code(E_PROXY_MAXCONNECTIONSREACHED), ..HEALTHY }, "gateway-connection-limit", Failing, User),
    f("gateway-rap-denied", "CHANNEL_RESPONSE E_PROXY_RAP_ACCESSDENIED (no Resource Authorization Policy admits the target)", Behaviour { channel: Step::Code(E_PROXY_RAP_ACCESSDENIED), ..HEALTHY }, "gateway-rap-denied", Failing, User),
    f("gateway-target-unreachable", "CHANNEL_RESPONSE E_PROXY_TS_CONNECTFAILED (the gateway cannot connect to the target)", Behaviour { channel: Step::Code(E_PROXY_TS_CONNECTFAILED), ..HEALTHY }, "gateway-target-unreachable", Failing, User),
    f("gateway-channel-closed", "opens the channel, then sends CLOSE_CHANNEL E_PROXY_SESSIONTIMEOUT", Behaviour { close_after_open: Some(E_PROXY_SESSIONTIMEOUT), ..HEALTHY }, "gateway-channel-closed", Failing, User),
    f("gateway-consent-message", "a consent message in TUNNEL_RESPONSE (the user must accept it)", Behaviour { consent: true, ..HEALTHY }, "gateway-consent-message", Healthy, User),
    f("gateway-stall-after-upgrade", "101 (or 200) after authentication, then silence", Behaviour { handshake: Step::Stall, ..HEALTHY }, "gateway-stalled", Failing, User),
    f("gateway-stall-at-tunnel", "answers the handshake, never the TUNNEL_CREATE", Behaviour { tunnel: Step::Stall, ..HEALTHY }, "gateway-stalled", Failing, User),
    f("gateway-garbage-random", "answers the HANDSHAKE_REQUEST with 32 random bytes", Behaviour { handshake: Step::Garbage(Garbage::Random), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-short-length", "a PDU whose packetLength (4) is shorter than its header", Behaviour { handshake: Step::Garbage(Garbage::ShortLength), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-oversized", "a PDU whose packetLength is 0x7FFFFFFF", Behaviour { handshake: Step::Garbage(Garbage::Oversized), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-unknown-type", "a well-formed PDU of unknown type 0x00EE instead of the HANDSHAKE_RESPONSE", Behaviour { handshake: Step::Garbage(Garbage::UnknownType), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-truncated", "half a HANDSHAKE_RESPONSE, then close", Behaviour { handshake: Step::Garbage(Garbage::Truncated), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-masked-frame", "the HANDSHAKE_RESPONSE in a masked WebSocket frame (servers must not mask)", Behaviour { handshake: Step::Garbage(Garbage::MaskedFrame), ..HEALTHY }, "gateway-protocol-error", Failing, User),
    f("gateway-garbage-text-frame", "the HANDSHAKE_RESPONSE in a WebSocket text frame", Behaviour { handshake: Step::Garbage(Garbage::TextFrame), ..HEALTHY }, "gateway-protocol-error", Failing, User),
];

/// A fault by name.
pub fn parse(name: &str) -> Option<&'static GwFault> {
    FAULTS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_name_is_in_the_table_once() {
        for f in FAULTS {
            assert_eq!(
                FAULTS.iter().filter(|g| g.name == f.name).count(),
                1,
                "{}",
                f.name
            );
            assert!(parse(f.name).is_some());
        }
    }

    /// A gateway certificate fault borrows the certificate of a lab fault by name: each name
    /// must be one, or the lab would refuse to start.
    #[test]
    fn certificate_faults_name_lab_faults() {
        for f in FAULTS {
            if let Tls::Cert(name) = f.behaviour.tls {
                assert!(
                    crate::lab::Fault::parse(name).is_some(),
                    "{}: {name}",
                    f.name
                );
            }
        }
    }
}
