//! Rules for the credentialed check (`check --user`) and for `--full`: what the server said
//! about these credentials, and why it stopped the connection after them.

use super::{ms, Context};
use crate::facts::{ActivationOutcome, ActivationStep, AuthOutcome, AuthRound, Facts};
use crate::kb::Hit;
use crate::model::Severity;
use crate::sanitize::escape;

/// SEC_E_UNSUPPORTED_FUNCTION: the code behind "CredSSP encryption oracle remediation".
const SEC_E_UNSUPPORTED_FUNCTION: u32 = 0x8009_0302;

/// The finding for a TSRequest errorCode (NTSTATUS or SEC_E, rdp-knowledge.md B5).
pub fn finding_for_error_code(code: u32) -> &'static str {
    match code {
        // STATUS_LOGON_FAILURE, STATUS_WRONG_PASSWORD, STATUS_NO_SUCH_USER, SEC_E_LOGON_DENIED
        0xC000_006D | 0xC000_006A | 0xC000_0064 | 0x8009_030C => "logon-failure",
        // STATUS_ACCOUNT_RESTRICTION, STATUS_INVALID_LOGON_HOURS, STATUS_INVALID_WORKSTATION
        0xC000_006E..=0xC000_0070 => "account-restricted",
        0xC000_0071 => "password-expired",
        0xC000_0224 => "password-must-change",
        // STATUS_ACCOUNT_DISABLED, STATUS_ACCOUNT_EXPIRED
        0xC000_0072 | 0xC000_0193 => "account-disabled",
        0xC000_0234 => "account-locked",
        0xC000_015B => "no-remote-desktop-right",
        // SEC_E_TIME_SKEW, STATUS_TIME_DIFFERENCE_AT_DC
        0x8009_0324 | 0xC000_0133 => "clock-skew",
        SEC_E_UNSUPPORTED_FUNCTION => "credssp-version-mismatch",
        _ => "auth-failed",
    }
}

fn code_text(code: u32, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("0x{code:08X} ({})", escape(n)),
        None => format!("0x{code:08X}"),
    }
}

/// The AllowEncryptionOracle matrix (rdp-knowledge.md B5) for a server of `version`.
fn oracle_evidence(version: u32) -> String {
    if version < 5 {
        format!(
            "the server's TSRequest version is {version} (below 5: no CVE-2018-0886 fix), rdp-doctor's is 6: a patched client refuses this server under AllowEncryptionOracle 0 (Force Updated Clients) and 1 (Mitigated, the default since May 2018) and allows it only under 2 (Vulnerable) — the server must be patched"
        )
    } else {
        format!(
            "the server's TSRequest version is {version} (5 or later: patched); a patched server refuses clients below version 5 only when it is set to AllowEncryptionOracle 0 (Force Updated Clients) — rdp-doctor speaks version 6, so the refusal comes from other CredSSP hardening or policy on the server"
        )
    }
}

pub fn auth(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(a) = &f.auth else { return };
    let first = hits.len();
    auth_hits(f, a, ctx, hits);
    // The fix steps name the account and the server (shared with the event-log findings,
    // whose placeholders are the event's fields).
    let (domain, name) = match a.user.split_once('\\') {
        Some((d, u)) => (d.to_string(), u.to_string()),
        None => match a.user.split_once('@') {
            Some((u, d)) => (d.to_string(), u.to_string()),
            None => (ctx.target.host.clone(), a.user.clone()),
        },
    };
    for h in hits.iter_mut().skip(first) {
        h.vars.push(("computer".into(), ctx.target.host.clone()));
        h.vars.push(("AccountDomain".into(), domain.clone()));
        h.vars.push(("AccountName".into(), name.clone()));
    }
}

fn auth_hits(f: &Facts, a: &crate::facts::AuthFact, ctx: &Context, hits: &mut Vec<Hit>) {
    if a.package == crate::facts::AuthPackage::Kerberos {
        kerberos_hits(f, a, ctx, hits);
        return;
    }
    // The user name was typed by the user and refused with control characters (parse_user).
    let who = a.user.clone();
    let round = match a.round {
        AuthRound::Negotiate => "our NTLM NEGOTIATE",
        AuthRound::Authenticate => "our NTLM AUTHENTICATE",
        AuthRound::AuthInfo => "our delegated credentials (authInfo)",
        AuthRound::EarlyUserAuthorization => {
            "our delegated credentials, before the Early User Authorization Result"
        }
        // Kerberos rounds are kerberos_hits' (above); named here for completeness.
        AuthRound::Kdc => "our Kerberos requests to the KDC",
        AuthRound::ApReq => "our Kerberos AP-REQ",
        AuthRound::PubKeyAuth => "our pubKeyAuth",
    };
    let version = a.server_version.unwrap_or(6);
    match a.outcome {
        AuthOutcome::Success => {
            if version < 5 {
                hits.push(
                    Hit::new("credssp-version-mismatch")
                        .evidence(format!("the credentials for {who} were accepted over NTLM, but only because rdp-doctor completes old CredSSP versions"))
                        .evidence(oracle_evidence(version)),
                );
            }
        }
        AuthOutcome::ServerError => {
            let code = a.error_code.unwrap_or(0);
            let mut id = finding_for_error_code(code);
            // What the server refused is the signal, not the code (issue 16 §4): a refusal of
            // the AUTHENTICATE (the password proof) with a code that names no logon problem
            // (FreeRDP 3's shadow server answers every NTLM failure with 0xC00700EA) is still
            // a refused logon. A code that names the reason (locked, expired, ...) keeps its
            // own, more specific finding.
            let unrelated = a.round == AuthRound::Authenticate && id == "auth-failed";
            if unrelated {
                id = "logon-failure";
            }
            let mut h = Hit::new(id).evidence(format!(
                "the server answered {round} for {who} with TSRequest errorCode {} (see: rdp-doctor explain 0x{code:08X})",
                code_text(code, a.error_name.as_deref())
            ));
            if unrelated {
                h = h.evidence(format!(
                    "0x{code:08X} is not a logon status, but what the server refused is our NTLM AUTHENTICATE, the proof of the password: the credentials were refused (FreeRDP 3 servers answer every NTLM failure with 0xC00700EA); the server's Security 4625 or its own log has the reason"
                ));
            }
            match id {
                "clock-skew" => {
                    h = h.severity(Severity::Error);
                    if let Some(s) = a.clock_skew_seconds {
                        h = h.evidence(format!(
                            "the server's NTLM timestamp is {s:+} s from this machine's clock; Kerberos tolerates {} minutes",
                            ctx.clock_skew_threshold_s / 60
                        ));
                    }
                }
                "credssp-version-mismatch" => h = h.evidence(oracle_evidence(version)),
                "logon-failure" if code == 0xC000_006D => {
                    h = h.evidence("STATUS_LOGON_FAILURE does not say whether the user or the password is wrong; the server's Security 4625 SubStatus does".to_string());
                }
                _ => {}
            }
            hits.push(h);
        }
        AuthOutcome::AccessDenied => hits.push(
            Hit::new("no-remote-desktop-right")
                .evidence(format!(
                    "the server verified the credentials for {who}, then sent the Early User Authorization Result {} under PROTOCOL_HYBRID_EX",
                    match a.early_user_auth {
                        Some(v) => format!("0x{v:08X} ({})", escape(a.early_user_auth_name.as_deref().unwrap_or("?"))),
                        None => "?".into(),
                    }
                )),
        ),
        AuthOutcome::Dropped | AuthOutcome::Timeout => {
            let how = escape(a.error.as_deref().unwrap_or("the connection ended"));
            match a.round {
                AuthRound::Negotiate => {} // the credssp rule reports the first round
                // A drop right after the AUTHENTICATE is the server's answer to the password
                // proof, without a code (FreeRDP 2 servers answer a wrong password this way):
                // a refused logon, with "no code" as its evidence (issue 16 §4).
                AuthRound::Authenticate if a.outcome == AuthOutcome::Dropped => hits.push(
                    Hit::new("logon-failure")
                        .evidence(format!("the server {how} right after our NTLM AUTHENTICATE (user {who}), {} into CredSSP, with no TSRequest errorCode: it refused the password proof without saying why", ms(a.duration_ms)))
                        .evidence("a server that accepts the credentials answers with its pubKeyAuth; Windows answers a refusal with an errorCode, FreeRDP 2 servers just close — so rdp-doctor cannot tell a wrong password from a locked or disabled account here; the server's log can".to_string()),
                ),
                AuthRound::Authenticate => hits.push(Hit::new("auth-failed").evidence(format!(
                    "{how}: the server did not answer {round} for {who} within {}",
                    ms(a.duration_ms)
                ))),
                _ => hits.push(
                    Hit::new("credssp-dropped")
                        .evidence(format!("the server accepted the NTLM response for {who} (its pubKeyAuth verified), then: {how}")),
                ),
            }
        }
        AuthOutcome::PubKeyMismatch => hits.push(
            Hit::new("credssp-version-mismatch")
                .evidence(format!(
                    "the server accepted the NTLM response for {who}, but {}",
                    escape(a.error.as_deref().unwrap_or("its pubKeyAuth does not verify"))
                ))
                .evidence("either the server computes the public-key binding of another CredSSP version, or a TLS-inspecting proxy sits between us and the server (the binding covers the key of the certificate we were shown)".to_string())
                .evidence(oracle_evidence(version)),
        ),
        AuthOutcome::Malformed | AuthOutcome::ClientError => hits.push(Hit::new("auth-failed").evidence(format!(
            "after {round} for {who}: {}",
            escape(a.error.as_deref().unwrap_or("an answer that does not decode"))
        ))),
        AuthOutcome::NotSent => {
            let mut h = Hit::new("credentials-not-sent").evidence(format!(
                "no NTLM response was computed for {who}: the server's certificate did not pass the credential check"
            ));
            for r in &a.refused_because {
                h = h.evidence(r.clone());
            }
            if let Some(c) = &f.certificate {
                h = h.evidence(format!("the certificate's SHA-256 is {} (for --trust-fingerprint, after comparing it with the server's)", c.sha256));
            }
            hits.push(h);
        }
        AuthOutcome::NoCredssp => {
            let selected = a.selected_protocol.as_deref().unwrap_or("?");
            let mut h = Hit::new("credentials-not-checked").evidence(format!(
                "the server selected {selected}, not CredSSP: the credentials for {who} are checked only at its logon screen"
            ));
            if let Some(act) = &f.activation {
                if act.outcome == ActivationOutcome::DemandActive {
                    h = h.evidence(if act.client_info_autologon {
                        "the server accepted the Client Info PDU with the credentials and sent its Demand Active PDU; the logon itself happens after activation"
                    } else {
                        "the server sent its Demand Active PDU; the Client Info PDU carried no password (see the credential check)"
                    }.to_string());
                }
            }
            if !a.refused_because.is_empty() {
                h = h.evidence(format!(
                    "the password was not put in the Client Info PDU: {}",
                    a.refused_because.join("; ")
                ));
            }
            hits.push(h);
        }
        // Kerberos outcomes: `kerberos_hits` and the kdc rules.
        AuthOutcome::NotReached | AuthOutcome::KerberosRefused | AuthOutcome::KdcRefused => {}
    }
}

/// Kerberos inside CredSSP: the server's answer to our AP-REQ, pubKeyAuth and authInfo. KDC
/// failures are the `kdc` phase's rules (nothing reached the server then).
fn kerberos_hits(f: &Facts, a: &crate::facts::AuthFact, ctx: &Context, hits: &mut Vec<Hit>) {
    let who = a.user.clone();
    let k = a.kerberos.clone().unwrap_or_default();
    let spn = escape(&k.spn);
    let round = match a.round {
        AuthRound::ApReq => "our Kerberos AP-REQ",
        AuthRound::PubKeyAuth => "our pubKeyAuth (sealed with the Kerberos context key)",
        AuthRound::AuthInfo => "our delegated credentials (authInfo)",
        _ => "our delegated credentials, before the Early User Authorization Result",
    };
    match a.outcome {
        AuthOutcome::KerberosRefused => {
            let stale = matches!(k.server_error_code, Some(31 | 41 | 44));
            let id = match k.server_error_code {
                Some(37 | 33) => "clock-skew",
                _ if stale => "kerberos-server-key-stale",
                _ => "kerberos-refused-by-server",
            };
            let mut h = Hit::new(id).evidence(format!(
                "the KDC issued a ticket for {spn} to {who}, and the server refused it: {}",
                escape(a.error.as_deref().unwrap_or("?"))
            ));
            if let Some(n) = k.zero_token_bytes {
                h = h.evidence(format!("a negoToken of {n} zero bytes is how FreeRDP 3 answers a ticket it cannot decrypt (a keytab without this key version, or no keytab)"));
            }
            if let (Some(s), "clock-skew") = (k.server_clock_skew_seconds, id) {
                h = h.severity(Severity::Error).evidence(format!(
                    "the server's clock (its KRB-ERROR stime) is {s:+.1} s from this machine's; Kerberos tolerates {} minutes",
                    ctx.clock_skew_threshold_s / 60
                ));
            }
            if let Some(e) = k.ticket_etype {
                h = h.evidence(format!(
                    "the ticket is encrypted with {} (the key the KDC holds for {spn})",
                    rdp_doctor_wire::kerberos::crypto::etype_label(e)
                ));
            }
            hits.push(h.var("spn", k.spn.clone()));
        }
        AuthOutcome::ServerError => {
            let code = a.error_code.unwrap_or(0);
            let id = match finding_for_error_code(code) {
                "auth-failed" => "kerberos-refused-by-server",
                other => other,
            };
            let mut h = Hit::new(id).evidence(format!(
                "the server answered {round} for {who} with TSRequest errorCode {} (see: rdp-doctor explain 0x{code:08X})",
                code_text(code, a.error_name.as_deref())
            ));
            if id == "clock-skew" {
                h = h.severity(Severity::Error);
            }
            hits.push(h.var("spn", k.spn.clone()));
        }
        AuthOutcome::Dropped | AuthOutcome::Timeout | AuthOutcome::Malformed => {
            let how = escape(a.error.as_deref().unwrap_or("the connection ended"));
            let id = if a.round == AuthRound::ApReq || !k.mutual_authentication {
                "kerberos-refused-by-server"
            } else if a.outcome == AuthOutcome::Dropped {
                "credssp-dropped"
            } else {
                "auth-failed"
            };
            hits.push(
                Hit::new(id)
                    .evidence(format!("after {round} for {who} ({spn}): {how}"))
                    .var("spn", k.spn.clone()),
            );
        }
        AuthOutcome::PubKeyMismatch => hits.push(
            Hit::new("credssp-version-mismatch")
                .evidence(format!(
                    "the server accepted the Kerberos ticket for {who} (its AP-REP verified), but {}",
                    escape(a.error.as_deref().unwrap_or("its pubKeyAuth does not verify"))
                ))
                .evidence("either the server computes the public-key binding of another CredSSP version, or a TLS-inspecting proxy sits between us and the server".to_string()),
        ),
        AuthOutcome::NotSent => {
            let mut h = Hit::new("credentials-not-sent").evidence(format!(
                "no Kerberos AP-REQ was sent for {who}: the server's certificate did not pass the credential check (the KDC exchanges had run: the ticket stayed on this machine)"
            ));
            for r in &a.refused_because {
                h = h.evidence(r.clone());
            }
            if let Some(c) = &f.certificate {
                h = h.evidence(format!("the certificate's SHA-256 is {} (for --trust-fingerprint, after comparing it with the server's)", c.sha256));
            }
            hits.push(h);
        }
        AuthOutcome::AccessDenied => hits.push(Hit::new("no-remote-desktop-right").evidence(format!(
            "the server accepted the Kerberos ticket for {who}, then sent the Early User Authorization Result {} under PROTOCOL_HYBRID_EX",
            escape(a.early_user_auth_name.as_deref().unwrap_or("?"))
        ))),
        AuthOutcome::ClientError => hits.push(Hit::new("kdc-error").evidence(escape(
            a.error.as_deref().unwrap_or("Kerberos could not be used"),
        ))),
        AuthOutcome::Success => {
            let version = a.server_version.unwrap_or(6);
            if version < 5 {
                hits.push(
                    Hit::new("credssp-version-mismatch")
                        .evidence(format!("the Kerberos logon for {who} was accepted, but only because rdp-doctor completes old CredSSP versions"))
                        .evidence(oracle_evidence(version)),
                );
            }
        }
        AuthOutcome::KdcRefused | AuthOutcome::NotReached | AuthOutcome::NoCredssp => {}
    }
}

/// `--full`: what followed the MCS Connect Response.
pub fn activation(f: &Facts, _ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(a) = &f.activation else { return };
    let at = format!(
        "after our {}",
        match a.stopped_at {
            ActivationStep::ClientInfo
            | ActivationStep::Licensing
            | ActivationStep::Capabilities => {
                "Client Info PDU"
            }
            ActivationStep::ChannelJoin => "Channel Join Requests",
            ActivationStep::AttachUser => "Attach User Request",
            ActivationStep::McsConnect => "MCS Connect Initial",
        }
    );
    let book = crate::kb::codes::codebook();
    match a.outcome {
        ActivationOutcome::DemandActive | ActivationOutcome::Skipped => {}
        ActivationOutcome::ErrorInfo => {
            for (i, code) in a.error_info.iter().enumerate() {
                let name = a.error_info_names.get(i).cloned().unwrap_or_default();
                let meaning = book
                    .table("errinfo")
                    .and_then(|t| t.entries.iter().find(|e| e.code == *code))
                    .map(|e| e.meaning.clone());
                let id = match code {
                    0x7 => "server-denied-connection",
                    0x9 => "no-remote-desktop-right",
                    _ => "server-error-info",
                };
                let mut h = Hit::new(id).evidence(format!(
                    "{at} the server sent a Set Error Info PDU: {} (0x{code:08X}){}",
                    escape(&name),
                    meaning
                        .map(|m| format!(": {}", escape(&m)))
                        .unwrap_or_default()
                ));
                if let Some(d) = &a.disconnect_reason {
                    h = h.evidence(format!("then: {}", escape(d)));
                }
                hits.push(h.evidence(format!("see: rdp-doctor explain errinfo:0x{code:X}")));
            }
        }
        ActivationOutcome::Denied => {
            hits.push(Hit::new("server-denied-connection").evidence(format!(
                "{at} the server ended the connection without an error code: {}",
                escape(a.disconnect_reason.as_deref().unwrap_or("disconnect"))
            )))
        }
        ActivationOutcome::LicensingFailed => {
            hits.push(Hit::new("licensing-failed").evidence(format!(
            "{at}: {}",
            escape(a.detail.as_deref().unwrap_or(a.licensing.as_deref().unwrap_or("?")))
        )))
        }
        ActivationOutcome::Unsupported => hits.push(
            Hit::new("activation-incomplete")
                .evidence(escape(a.detail.as_deref().unwrap_or("stopped"))),
        ),
        ActivationOutcome::Closed
        | ActivationOutcome::Timeout
        | ActivationOutcome::ProtocolError => hits.push(
            Hit::new("activation-incomplete")
                .severity(Severity::Error)
                .evidence(format!(
                    "{} (step: {}, {} into the full check)",
                    escape(a.detail.as_deref().unwrap_or("stopped")),
                    a.stopped_at,
                    ms(a.duration_ms)
                )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use super::*;
    use crate::facts::*;

    fn af(outcome: AuthOutcome, round: AuthRound, code: Option<u32>) -> Facts {
        Facts {
            auth: Some(AuthFact {
                outcome,
                duration_ms: 12.0,
                user: "LAB\\alice".into(),
                password_source: "RDP_DOCTOR_PASSWORD".into(),
                package: AuthPackage::Ntlm,
                round,
                trust_basis: Some(TrustBasis::TrustedCertificate),
                refused_because: vec!["the certificate is not trusted".into()],
                ntlm_response_sent: true,
                credentials_delegated: false,
                server_version: Some(6),
                version_used: Some(6),
                error_code: code,
                error_name: None,
                early_user_auth: Some(5),
                early_user_auth_name: Some("AUTHZ_ACCESS_DENIED".into()),
                selected_protocol: Some("HYBRID_EX".into()),
                clock_skew_seconds: Some(7200),
                error: Some("closed (FIN) after our NTLM AUTHENTICATE".into()),
                auth_mode: None,
                kerberos_unavailable: None,
                kerberos: None,
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn every_error_code_finding() {
        for (code, id) in [
            (0xC000_006D, "logon-failure"),
            (0xC000_006A, "logon-failure"),
            (0xC000_0064, "logon-failure"),
            (0xC000_006E, "account-restricted"),
            (0xC000_0071, "password-expired"),
            (0xC000_0224, "password-must-change"),
            (0xC000_0072, "account-disabled"),
            (0xC000_0234, "account-locked"),
            (0xC000_015B, "no-remote-desktop-right"),
            (0x8009_0324, "clock-skew"),
            (0x8009_0302, "credssp-version-mismatch"),
            // a code that names no logon problem, in answer to the AUTHENTICATE: still the
            // logon that was refused (issue 16 §4)
            (0xC000_005E, "logon-failure"),
            (0xC007_00EA, "logon-failure"),
        ] {
            let got = ids(
                &af(
                    AuthOutcome::ServerError,
                    AuthRound::Authenticate,
                    Some(code),
                ),
                "s",
            );
            assert_eq!(got, [id], "0x{code:08X}");
        }
        // the clock-skew error comes with the measured skew, as an error
        let f = af(
            AuthOutcome::ServerError,
            AuthRound::Authenticate,
            Some(0x8009_0324),
        );
        let found = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(found[0].severity, Severity::Error);
        assert!(found[0].evidence.iter().any(|e| e.contains("+7200 s")));
    }

    #[test]
    fn outcomes_without_a_code() {
        assert!(ids(
            &af(
                AuthOutcome::Success,
                AuthRound::EarlyUserAuthorization,
                None
            ),
            "s"
        )
        .is_empty());
        assert_eq!(
            ids(
                &af(
                    AuthOutcome::AccessDenied,
                    AuthRound::EarlyUserAuthorization,
                    None
                ),
                "s"
            ),
            ["no-remote-desktop-right"]
        );
        assert_eq!(
            ids(
                &af(AuthOutcome::Dropped, AuthRound::Authenticate, None),
                "s"
            ),
            ["logon-failure"]
        );
        assert_eq!(
            ids(&af(AuthOutcome::Dropped, AuthRound::AuthInfo, None), "s"),
            ["credssp-dropped"]
        );
        assert_eq!(
            ids(
                &af(AuthOutcome::Timeout, AuthRound::Authenticate, None),
                "s"
            ),
            ["auth-failed"]
        );
        assert!(ids(&af(AuthOutcome::Dropped, AuthRound::Negotiate, None), "s").is_empty());
        assert_eq!(
            ids(
                &af(AuthOutcome::PubKeyMismatch, AuthRound::Authenticate, None),
                "s"
            ),
            ["credssp-version-mismatch"]
        );
        assert_eq!(
            ids(&af(AuthOutcome::NotSent, AuthRound::Negotiate, None), "s"),
            ["credentials-not-sent"]
        );
        assert_eq!(
            ids(&af(AuthOutcome::NoCredssp, AuthRound::Negotiate, None), "s"),
            ["credentials-not-checked"]
        );
        assert_eq!(
            ids(
                &af(AuthOutcome::Malformed, AuthRound::Authenticate, None),
                "s"
            ),
            ["auth-failed"]
        );
        // an old server that accepted: still a version mismatch for patched clients
        let mut f = af(AuthOutcome::Success, AuthRound::AuthInfo, None);
        if let Some(a) = f.auth.as_mut() {
            a.server_version = Some(3);
        }
        assert_eq!(ids(&f, "s"), ["credssp-version-mismatch"]);
    }

    /// Issue 16 §4: both FreeRDP shadow servers refuse a wrong password their own way, and
    /// both are a refused logon with the server's answer as evidence.
    /// * FreeRDP 3 answers the AUTHENTICATE with a TSRequest version 6 whose errorCode is
    ///   0xC00700EA (HRESULT_FROM_WIN32(ERROR_MORE_DATA), whatever the NTLM failure was):
    ///   `30 0d a0 03 02 01 06 a4 06 02 04 c0 07 00 ea`, a negative INTEGER on the wire as in
    ///   crates/wire/tests/credssp_captures.rs.
    /// * FreeRDP 2 sends nothing and closes (FIN) right after the AUTHENTICATE (the capture in
    ///   crates/wire/tests/captures/freerdp-2.11-shadow-nla and tests/credentials.rs).
    #[test]
    fn both_shadow_servers_refusals_are_logon_failures() {
        let freerdp3 = [
            0x30, 0x0d, 0xa0, 0x03, 0x02, 0x01, 0x06, 0xa4, 0x06, 0x02, 0x04, 0xc0, 0x07, 0x00,
            0xea,
        ];
        let ts = rdp_doctor_wire::credssp::TsRequest::decode(&freerdp3).unwrap();
        assert_eq!((ts.version, ts.error_code), (6, Some(0xC007_00EA)));
        let f = af(
            AuthOutcome::ServerError,
            AuthRound::Authenticate,
            ts.error_code,
        );
        let found = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(found[0].id, "logon-failure");
        let ev = found[0].evidence.join(" ");
        assert!(ev.contains("errorCode 0xC00700EA"), "{ev}");
        assert!(ev.contains("not a logon status"), "{ev}");

        // FreeRDP 2: the connection ends with no TSRequest at all.
        let mut f = af(AuthOutcome::Dropped, AuthRound::Authenticate, None);
        if let Some(a) = f.auth.as_mut() {
            a.error = Some("closed (FIN) after our NTLM AUTHENTICATE".into());
        }
        let found = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        assert_eq!(found[0].id, "logon-failure");
        let ev = found[0].evidence.join(" ");
        assert!(
            ev.contains("closed (FIN) after our NTLM AUTHENTICATE"),
            "{ev}"
        );
        assert!(ev.contains("no TSRequest errorCode"), "{ev}");

        // Windows' own answer keeps its specific reading; an unknown code before the
        // AUTHENTICATE (no password proof sent yet) is not a refused logon.
        let f = af(
            AuthOutcome::ServerError,
            AuthRound::Authenticate,
            Some(0xC000_0234),
        );
        assert_eq!(ids(&f, "s"), ["account-locked"]);
        let f = af(
            AuthOutcome::ServerError,
            AuthRound::Negotiate,
            Some(0xC007_00EA),
        );
        assert_eq!(ids(&f, "s"), ["auth-failed"]);
    }

    fn act(outcome: ActivationOutcome, codes: &[u32]) -> Facts {
        let mut a = crate::probe::activation::empty(ActivationStep::Capabilities);
        a.outcome = outcome;
        a.error_info = codes.to_vec();
        a.error_info_names = codes
            .iter()
            .map(|c| crate::probe::activation::errinfo_name(*c))
            .collect();
        a.detail = Some("detail".into());
        Facts {
            activation: Some(a),
            ..Facts::default()
        }
    }

    #[test]
    fn activation_rules() {
        assert!(ids(&act(ActivationOutcome::DemandActive, &[]), "s").is_empty());
        assert_eq!(
            ids(&act(ActivationOutcome::ErrorInfo, &[7]), "s"),
            ["server-denied-connection"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::ErrorInfo, &[0x10A]), "s"),
            ["server-error-info"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::ErrorInfo, &[9]), "s"),
            ["no-remote-desktop-right"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::Denied, &[]), "s"),
            ["server-denied-connection"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::LicensingFailed, &[]), "s"),
            ["licensing-failed"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::Unsupported, &[]), "s"),
            ["activation-incomplete"]
        );
        assert_eq!(
            ids(&act(ActivationOutcome::Closed, &[]), "s"),
            ["activation-incomplete"]
        );
        // the decoded name and meaning come from the explain tables
        let f = act(ActivationOutcome::ErrorInfo, &[0x10A]);
        let found = super::super::diagnose(&f, &super::super::testutil::ctx("s"));
        let ev = found[0].evidence.join(" ");
        assert!(ev.contains("ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS"), "{ev}");
        assert!(
            ev.contains("not licensed to accept remote connections"),
            "{ev}"
        );
    }
}
