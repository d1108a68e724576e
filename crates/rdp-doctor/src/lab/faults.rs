//! The lab's faults, one table row each: the name (the stable id tests and docs use, and in
//! most rows the finding `check` must report), one line on what the endpoint does, how it
//! behaves at each step of the connection, and what `check` must conclude.
//!
//! A new fault is one row in [`Fault::ALL`]. Only a behaviour no row has yet needs code: a
//! variant or field in [`Behaviour`] and the lines that act on it in the step's file
//! (`conn.rs`, `certs.rs`, `session.rs`, `activation.rs`, `udp.rs`).

use crate::model::Verdict::{self, Degraded, Failing, Healthy};

/// One lab fault: a row of [`Fault::ALL`]. Two faults are the same fault when their names are.
#[derive(Clone, Copy)]
pub struct Fault {
    name: &'static str,
    description: &'static str,
    behaviour: Behaviour,
    expect: Expectation,
}

impl Fault {
    pub fn name(self) -> &'static str {
        self.name
    }

    /// One line on what the endpoint does.
    pub fn describe(self) -> &'static str {
        self.description
    }

    pub fn expectation(self) -> Expectation {
        self.expect
    }

    /// How the endpoint behaves at each step.
    pub(crate) fn behaviour(self) -> Behaviour {
        self.behaviour
    }

    /// The fault named `name`.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.iter().find(|f| f.name == name).copied()
    }

    /// Every fault, in the order `lab --list`, `lab --fault all` and the demo use.
    pub const ALL: &'static [Fault] = &[
        Fault {
            name: "healthy",
            description: "Windows defaults: NLA required (TLS-only and RDP-only requests get HYBRID_REQUIRED_BY_SERVER), a valid certificate for the listen name, UDP answered",
            behaviour: WINDOWS,
            expect: Expectation::NOTHING,
        },
        Fault {
            name: "cert-expired",
            description: "like healthy, with a certificate that expired 35 days ago",
            behaviour: Behaviour {
                cert: Cert {
                    valid_days: (-400, -35),
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-expired", Failing),
        },
        Fault {
            name: "cert-not-yet-valid",
            description: "like healthy, with a certificate valid only from 30 days from now",
            behaviour: Behaviour {
                cert: Cert {
                    valid_days: (30, 400),
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-not-yet-valid", Failing),
        },
        Fault {
            name: "cert-self-signed",
            description: "like healthy, with a self-signed certificate",
            behaviour: Behaviour {
                cert: Cert {
                    issued_by: IssuedBy::Itself,
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-self-signed", Degraded),
        },
        Fault {
            name: "cert-name-mismatch",
            description: "like healthy, with a certificate for wrong.example.invalid",
            behaviour: Behaviour {
                cert: Cert {
                    only_name: Some("wrong.example.invalid"),
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-name-mismatch", Degraded),
        },
        Fault {
            name: "cert-weak-key",
            description: "like healthy, with an RSA-1024 certificate",
            behaviour: Behaviour {
                cert: Cert {
                    key: Key::Rsa1024,
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-weak-key", Degraded),
        },
        Fault {
            name: "cert-expiring-soon",
            description: "like healthy, with a certificate that expires in 10 days",
            behaviour: Behaviour {
                cert: Cert {
                    valid_days: (-355, 10),
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-expiring-soon", Degraded),
        },
        Fault {
            name: "cert-wrong-usage",
            description: "like healthy, with a certificate whose EKU is clientAuth only",
            behaviour: Behaviour {
                cert: Cert {
                    eku: Eku::ClientAuthOnly,
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-wrong-usage", Degraded),
        },
        Fault {
            name: "tls-handshake-failed",
            description: "selects CredSSP, then resets the connection after the ClientHello (a server that cannot read its private key)",
            behaviour: Behaviour {
                tls: Tls::ResetAfterClientHello,
                ..WINDOWS
            },
            expect: Expectation::first("tls-handshake-failed", Failing),
        },
        Fault {
            name: "tls-version-mismatch",
            description: "selects CredSSP, then answers the ClientHello with a protocol_version alert",
            behaviour: Behaviour {
                tls: Tls::ProtocolVersionAlert,
                ..WINDOWS
            },
            expect: Expectation::first("tls-version-mismatch", Failing),
        },
        Fault {
            name: "tls-stalled",
            description: "selects CredSSP, sends the first part of its TLS flight, then nothing (an MTU black hole)",
            behaviour: Behaviour {
                tls: Tls::Stall,
                ..WINDOWS
            },
            expect: Expectation::first("tls-stalled", Failing),
        },
        Fault {
            name: "server-requires-nla",
            description: "NLA required; reproduce with a client that has CredSSP off (check --sec tls)",
            behaviour: WINDOWS,
            expect: Expectation::first("server-requires-nla", Failing).with_client("tls"),
        },
        Fault {
            name: "server-requires-tls",
            description: "TLS only, no CredSSP (as xrdp with security_layer=tls): RDP-only requests and CredSSP requests without TLS get SSL_REQUIRED_BY_SERVER (check --sec rdp)",
            behaviour: Behaviour {
                nego: Nego::TlsRequired,
                ..WINDOWS
            },
            expect: Expectation::first("server-requires-tls", Failing).with_client("rdp"),
        },
        Fault {
            name: "server-forbids-tls",
            description: "Standard RDP Security only: any request for TLS or CredSSP gets SSL_NOT_ALLOWED_BY_SERVER (mstsc and FreeRDP fall back to Standard RDP Security)",
            behaviour: Behaviour {
                nego: Nego::TlsForbidden,
                ..WINDOWS
            },
            // a warning: mstsc and FreeRDP fall back to Standard RDP Security (issue 16 §5)
            expect: Expectation::first("server-forbids-tls", Degraded),
        },
        Fault {
            name: "server-has-no-certificate",
            description: "every request gets SSL_CERT_NOT_ON_SERVER",
            behaviour: Behaviour {
                nego: Nego::NoCertificate,
                ..WINDOWS
            },
            expect: Expectation::first("server-has-no-certificate", Failing),
        },
        Fault {
            name: "standard-rdp-security-only",
            description: "selects Standard RDP Security whatever the client asks",
            behaviour: Behaviour {
                nego: Nego::StandardRdpOnly,
                ..WINDOWS
            },
            expect: Expectation::first("standard-rdp-security-only", Degraded),
        },
        Fault {
            name: "credssp-outdated-server",
            description: "answers CredSSP with TSRequest version 3 (no CVE-2018-0886 fix)",
            behaviour: Behaviour {
                tsrequest_version: 3,
                ..WINDOWS
            },
            expect: Expectation::first("credssp-outdated-server", Failing),
        },
        Fault {
            name: "credssp-failed",
            description: "resets the connection after the client's first TSRequest",
            behaviour: Behaviour {
                credssp: Credssp::ResetAfterNegotiate,
                ..WINDOWS
            },
            expect: Expectation::first("credssp-failed", Failing),
        },
        Fault {
            name: "clock-skew",
            description: "NTLM CHALLENGE timestamp 4 hours ahead",
            behaviour: Behaviour {
                clock_ahead_secs: 4 * 3600,
                ..WINDOWS
            },
            expect: Expectation::first("clock-skew", Degraded),
        },
        Fault {
            name: "x224-no-response",
            description: "accepts TCP, reads the Connection Request, never answers",
            behaviour: Behaviour {
                x224: X224::Silence,
                ..WINDOWS
            },
            expect: Expectation::first("x224-no-response", Failing),
        },
        Fault {
            name: "x224-reset",
            description: "accepts TCP, reads the Connection Request, resets",
            behaviour: Behaviour {
                x224: X224::Reset,
                ..WINDOWS
            },
            expect: Expectation::first("x224-reset", Failing),
        },
        Fault {
            name: "not-rdp",
            description: "answers like an HTTP server",
            behaviour: Behaviour {
                x224: X224::Http,
                ..WINDOWS
            },
            expect: Expectation::first("not-rdp", Failing),
        },
        Fault {
            name: "server-denied-connection",
            description: "TLS without NLA; answers the MCS Connect Initial with a Disconnect Provider Ultimatum",
            behaviour: Behaviour {
                nego: Nego::TlsRequired,
                mcs: Mcs::Denied,
                ..WINDOWS
            },
            expect: Expectation::first("server-denied-connection", Failing),
        },
        Fault {
            name: "mcs-malformed-response",
            description: "TLS without NLA; answers the MCS Connect Initial with an X.224 Data TPDU that holds no MCS PDU",
            behaviour: Behaviour {
                nego: Nego::TlsRequired,
                mcs: Mcs::Garbage,
                ..WINDOWS
            },
            expect: Expectation::first("mcs-malformed-response", Failing),
        },
        Fault {
            name: "tls-chain-too-large",
            description: "like healthy, with a certificate chain of about 76 KB (the leaf and the lab CA padded with copies of it): more than rustls takes in one handshake message",
            behaviour: Behaviour {
                cert: Cert {
                    chain_bytes: 76 * 1024,
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("tls-chain-too-large", Failing),
        },
        Fault {
            name: "cert-hostile-subject",
            description: "like cert-self-signed, with C1 and bidi controls in the subject (O=\"lab\\u{9b}31m\\u{202e}gnp.exe\"): every output shows them escaped",
            behaviour: Behaviour {
                cert: Cert {
                    issued_by: IssuedBy::Itself,
                    organization: HOSTILE_ORGANIZATION,
                    ..Cert::LAB
                },
                ..WINDOWS
            },
            expect: Expectation::first("cert-self-signed", Degraded),
        },
        Fault {
            name: "slow-drip",
            description: "like healthy, but writes one byte per second",
            behaviour: Behaviour {
                x224: X224::ConfirmOneBytePerSecond,
                ..WINDOWS
            },
            expect: Expectation::first("slow-drip", Failing),
        },
        Fault {
            name: "hostile-strings",
            description: "like healthy, but the certificate's subject and the NTLM names hold HTML markup (a script element, an img with onerror) and a right-to-left override: reports must show them as text",
            behaviour: Behaviour {
                cert: Cert {
                    only_name: Some(HOSTILE),
                    ..Cert::LAB
                },
                ntlm_computer: Some(HOSTILE),
                ..WINDOWS
            },
            // the name is not one the client typed (and not a valid DNS name)
            expect: Expectation::first("cert-name-mismatch", Degraded),
        },
        Fault {
            name: "udp-blocked",
            description: "like healthy, but never answers on UDP",
            behaviour: Behaviour {
                udp: false,
                ..WINDOWS
            },
            expect: Expectation::first("udp-blocked", Healthy),
        },
        // Credentialed faults (check --user; the last two need --full).
        Fault {
            name: "logon-failure",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC000006D STATUS_LOGON_FAILURE",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_006D),
                ..WINDOWS
            },
            expect: Expectation::first("logon-failure", Failing).with_user(),
        },
        Fault {
            name: "account-restricted",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC000006E STATUS_ACCOUNT_RESTRICTION",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_006E),
                ..WINDOWS
            },
            expect: Expectation::first("account-restricted", Failing).with_user(),
        },
        Fault {
            name: "password-expired",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC0000071 STATUS_PASSWORD_EXPIRED",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_0071),
                ..WINDOWS
            },
            expect: Expectation::first("password-expired", Failing).with_user(),
        },
        Fault {
            name: "password-must-change",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC0000224 STATUS_PASSWORD_MUST_CHANGE",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_0224),
                ..WINDOWS
            },
            expect: Expectation::first("password-must-change", Failing).with_user(),
        },
        Fault {
            name: "account-disabled",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC0000072 STATUS_ACCOUNT_DISABLED",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_0072),
                ..WINDOWS
            },
            expect: Expectation::first("account-disabled", Failing).with_user(),
        },
        Fault {
            name: "account-locked",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC0000234 STATUS_ACCOUNT_LOCKED_OUT",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_0234),
                ..WINDOWS
            },
            expect: Expectation::first("account-locked", Failing).with_user(),
        },
        Fault {
            name: "no-remote-desktop-right",
            description: "verifies the credentials, then sends the HYBRID_EX Early User Authorization Result AUTHZ_ACCESS_DENIED",
            behaviour: Behaviour {
                credssp: Credssp::AccessDenied,
                ..WINDOWS
            },
            expect: Expectation::first("no-remote-desktop-right", Failing).with_user(),
        },
        // This and the two errinfo faults are named after the server's code: their finding has
        // several causes, which the lab reproduces one by one.
        Fault {
            name: "logon-type-not-granted",
            description: "answers any NTLM AUTHENTICATE with errorCode 0xC000015B STATUS_LOGON_TYPE_NOT_GRANTED",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0xC000_015B),
                ..WINDOWS
            },
            expect: Expectation::first("no-remote-desktop-right", Failing).with_user(),
        },
        Fault {
            name: "credssp-version-mismatch",
            description: "answers any NTLM AUTHENTICATE with errorCode 0x80090302 SEC_E_UNSUPPORTED_FUNCTION (encryption oracle remediation)",
            behaviour: Behaviour {
                credssp: Credssp::ErrorCode(0x8009_0302),
                ..WINDOWS
            },
            expect: Expectation::first("credssp-version-mismatch", Failing).with_user(),
        },
        Fault {
            name: "credentials-rejected-silently",
            description: "closes the connection after the NTLM AUTHENTICATE without an errorCode (as FreeRDP servers answer a wrong password)",
            behaviour: Behaviour {
                credssp: Credssp::CloseAfterAuthenticate,
                ..WINDOWS
            },
            // no code, but the password proof was what the server refused (issue 16 §4)
            expect: Expectation::first("logon-failure", Failing).with_user(),
        },
        Fault {
            name: "credssp-dropped",
            description: "verifies the credentials and answers pubKeyAuth, then closes after the client's authInfo",
            behaviour: Behaviour {
                credssp: Credssp::CloseAfterAuthInfo,
                ..WINDOWS
            },
            expect: Expectation::first("credssp-dropped", Failing).with_user(),
        },
        Fault {
            name: "errinfo-denied",
            description: "completes CredSSP and MCS, then answers the Client Info PDU with Set Error Info ERRINFO_SERVER_DENIED_CONNECTION (0x7)",
            behaviour: Behaviour {
                error_info: Some(0x0000_0007),
                ..WINDOWS
            },
            expect: Expectation::first("server-denied-connection", Failing)
                .with_user()
                .with_full(),
        },
        Fault {
            name: "errinfo-license",
            description: "completes CredSSP and MCS, then answers the Client Info PDU with Set Error Info ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS (0x10A)",
            behaviour: Behaviour {
                error_info: Some(0x0000_010A),
                ..WINDOWS
            },
            expect: Expectation::first("server-error-info", Failing)
                .with_user()
                .with_full(),
        },
    ];
}

/// The `hostile-strings` fault's name for itself: markup that would run or inject an element
/// if a report put it into a page unescaped, and U+202E (RIGHT-TO-LEFT OVERRIDE), which turns
/// the rest of a line around on screen.
pub const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\u{202e}lab";

/// The subject organization of the `cert-hostile-subject` fault: a C1 CSI (U+009B, `ESC [` to
/// some terminals) and a right-to-left override (U+202E).
pub const HOSTILE_ORGANIZATION: &str = "lab\u{9b}31m\u{202e}gnp.exe";

/// What `check` must conclude about a fault (the demo and the tests use this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    /// The first finding's id, or None for no finding at all.
    pub first_finding: Option<&'static str>,
    pub verdict: Verdict,
    /// The client profile (`--sec`) that reproduces the failure, when it is not mstsc's.
    pub client: &'static str,
    /// `check --user labuser` (password [`super::DEFAULT_PASSWORD`] through the environment).
    pub user: bool,
    /// `check --full` as well.
    pub full: bool,
}

impl Expectation {
    /// No finding at all, verdict healthy.
    const NOTHING: Expectation = Expectation {
        first_finding: None,
        verdict: Healthy,
        client: "mstsc",
        user: false,
        full: false,
    };

    /// `id` first, with this verdict, for mstsc without credentials.
    const fn first(id: &'static str, verdict: Verdict) -> Expectation {
        Expectation {
            first_finding: Some(id),
            verdict,
            ..Expectation::NOTHING
        }
    }

    const fn with_client(self, client: &'static str) -> Expectation {
        Expectation { client, ..self }
    }

    const fn with_user(self) -> Expectation {
        Expectation { user: true, ..self }
    }

    const fn with_full(self) -> Expectation {
        Expectation { full: true, ..self }
    }

    /// The check options this fault needs besides the target, as typed.
    pub fn options(&self) -> String {
        let mut o = Vec::new();
        if self.client != "mstsc" {
            o.push(format!("--sec {}", self.client));
        }
        if self.user {
            o.push(format!("--user {}", super::DEFAULT_USER));
        }
        if self.full {
            o.push("--full".into());
        }
        o.join(" ")
    }
}

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
    /// `session.rs`: the computer and domain names the NTLM CHALLENGE announces, instead of
    /// the lab's.
    pub ntlm_computer: Option<&'static str>,
    /// `session.rs`: the answer to the MCS Connect Initial.
    pub mcs: Mcs,
    /// `activation.rs`: the Set Error Info code that answers the Client Info PDU.
    pub error_info: Option<u32>,
    /// `udp.rs`: the RDP-UDP SYN is answered with a SYN+ACK.
    pub udp: bool,
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
    /// TLS only, no CredSSP (xrdp security_layer=tls, a FreeRDP server without NLA): SSL; a
    /// request without it gets SSL_REQUIRED_BY_SERVER.
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

/// The answer to the MCS Connect Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mcs {
    /// A Connect Response with result rt-successful.
    Complete,
    /// A Disconnect Provider Ultimatum.
    Denied,
    /// An X.224 Data TPDU whose payload is not an MCS PDU (BER garbage).
    Garbage,
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
    /// The subject's organization (O).
    pub organization: &'static str,
    /// The chain sent is padded with copies of the lab CA to at least this many bytes (0: the
    /// leaf and the CA only).
    pub chain_bytes: usize,
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
        organization: "rdp-doctor lab",
        chain_bytes: 0,
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
    ntlm_computer: None,
    mcs: Mcs::Complete,
    error_info: None,
    udp: true,
};

impl PartialEq for Fault {
    fn eq(&self, other: &Fault) -> bool {
        self.name == other.name
    }
}

impl Eq for Fault {}

impl std::hash::Hash for Fault {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h);
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Fault").field(&self.name).finish()
    }
}

/// `lab --list`: one line per fault, the names in a column as wide as the longest plus two
/// spaces, then the description.
pub fn write_list(w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let width = Fault::ALL.iter().map(|f| f.name.len()).max().unwrap_or(0) + 2;
    for f in Fault::ALL {
        writeln!(w, "{:<width$}{}", f.name, f.description)?;
    }
    let gateway = super::gateway::FAULTS;
    let width = gateway.iter().map(|f| f.name.len()).max().unwrap_or(0) + 2;
    writeln!(w)?;
    writeln!(w, "gateway faults (lab --gateway-fault):")?;
    for f in gateway {
        writeln!(w, "{:<width$}{}", f.name, f.describe)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is a fault's id: one row each, in the kebab-case of the finding ids.
    #[test]
    fn names_are_unique_ids() {
        let mut seen = std::collections::HashSet::new();
        for f in Fault::ALL {
            assert!(seen.insert(f.name), "{} is in the table twice", f.name);
            assert!(
                !f.name.is_empty()
                    && f.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{:?} is not a kebab-case id",
                f.name
            );
        }
    }

    /// Each fault's expected first finding is a catalogue id; a fault is named after it, except
    /// where one finding has several causes the lab reproduces separately (named after the
    /// server's code).
    #[test]
    fn every_fault_is_a_finding_id_or_healthy() {
        let cat = crate::kb::catalogue();
        let named_after_the_code = [
            "logon-type-not-granted",
            "credentials-rejected-silently",
            "errinfo-denied",
            "errinfo-license",
            // not named after a finding: it tests the reports' escaping
            "hostile-strings",
            // named after what it carries (a hostile subject), not a finding
            "cert-hostile-subject",
        ];
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name), Some(*f));
            let Some(first) = f.expect.first_finding else {
                assert_eq!(f.name, "healthy");
                continue;
            };
            assert!(cat.get(first).is_some(), "{first} is not a finding id");
            if !named_after_the_code.contains(&f.name) {
                assert_eq!(first, f.name);
            }
        }
    }

    #[test]
    fn the_list_starts_every_description_two_spaces_after_the_longest_name() {
        let mut out = Vec::new();
        write_list(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let column = Fault::ALL.iter().map(|f| f.name.len()).max().unwrap_or(0) + 2;
        // The RDP faults, then a blank line and the gateway's faults.
        let (rdp, gateway) = text.split_once("\n\n").expect("two sections");
        assert_eq!(rdp.lines().count(), Fault::ALL.len());
        assert_eq!(
            gateway.lines().count(),
            1 + super::super::gateway::FAULTS.len(),
            "a heading, one line per gateway fault"
        );
        for (line, f) in rdp.lines().zip(Fault::ALL) {
            assert_eq!(line.get(..column).map(str::trim_end), Some(f.name));
            assert_eq!(line.get(column..), Some(f.description), "{}", f.name);
        }
        assert!(text.contains("credentials-rejected-silently  closes the connection"));
    }

    /// A fault that breaks only after the client authenticated is checked with --user, one
    /// that breaks only after the Client Info PDU with --full as well, and no other.
    #[test]
    fn credentials_and_full_follow_the_behaviour() {
        for f in Fault::ALL {
            let b = f.behaviour;
            let after_authentication = matches!(
                b.credssp,
                Credssp::ErrorCode(_)
                    | Credssp::CloseAfterAuthenticate
                    | Credssp::CloseAfterAuthInfo
                    | Credssp::AccessDenied
            ) || b.error_info.is_some();
            assert_eq!(f.expect.user, after_authentication, "{}: --user", f.name);
            assert_eq!(f.expect.full, b.error_info.is_some(), "{}: --full", f.name);
        }
    }
}
