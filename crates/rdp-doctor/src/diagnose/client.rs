//! The client's .rdp file: its settings on their own (`rdpfile`), and whether the client using
//! it fails against what the probe saw (`check --rdp-file`). Pure: `.rdp` facts -> hits.

use super::Context;
use crate::facts::rdp_file::RdpFile;
use crate::facts::{Facts, ProbeStatus, SecurityProtocol, Support};
use crate::kb::Hit;
use crate::model::Severity;
use crate::rdpfile::{client_profile, is_secret_key};

/// The .rdp rules: the file's settings, and the client against the probe when a probe ran.
pub fn rules(facts: &Facts, ctx: &Context, out: &mut Vec<Hit>) {
    let Some(rdp) = &facts.rdp_file else {
        return;
    };
    settings(rdp, out);
    if facts.resolve.is_some() {
        client_vs_probe(rdp, facts, ctx, out);
    }
}

/// A hit for catalogue entry `id` with the evidence and `{name}` placeholder values.
fn catalogue_finding(id: &str, evidence: Vec<String>, vars: &[(&str, String)]) -> Hit {
    let mut h = Hit::new(id);
    h.evidence = evidence;
    h.vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    h
}

fn ev_setting(rdp: &RdpFile, key: &str) -> String {
    match rdp.get(key) {
        Some(s) => format!(
            "line {}: {}:{}:{}",
            s.line,
            crate::sanitize::escape(&s.key),
            s.kind,
            s.display_value()
        ),
        None => format!("{key}: not set (default)"),
    }
}

fn range_check(rdp: &RdpFile, key: &str, allowed: &[i64], out: &mut Vec<Hit>) {
    if let Some(v) = rdp.int(key) {
        if !allowed.contains(&v) {
            out.push(catalogue_finding(
                "rdpfile-invalid-value",
                vec![
                    ev_setting(rdp, key),
                    format!(
                        "allowed: {}",
                        allowed
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ],
                &[
                    ("key", key.to_string()),
                    ("value", v.to_string()),
                    ("line", rdp.line_of(key).to_string()),
                ],
            ));
        }
    }
}

/// Findings about the file on its own: settings that cause or mask failures.
pub fn settings(rdp: &RdpFile, out: &mut Vec<Hit>) {
    let fa = rdp.full_address();
    match &fa {
        None => out.push(catalogue_finding(
            "rdpfile-no-full-address",
            vec![ev_setting(rdp, "full address")],
            &[],
        )),
        Some((host, Some(p))) => {
            if let Some(sp) = rdp.int("server port") {
                if sp != i64::from(*p) {
                    out.push(catalogue_finding(
                        "rdpfile-port-conflict",
                        vec![
                            ev_setting(rdp, "full address"),
                            ev_setting(rdp, "server port"),
                            format!("the client connects to port {p}"),
                        ],
                        &[
                            ("host", host.clone()),
                            ("port", p.to_string()),
                            (
                                "value",
                                rdp.string("full address").unwrap_or("").to_string(),
                            ),
                        ],
                    ));
                }
            }
        }
        Some(_) => {}
    }
    if let Some(sp) = rdp.int("server port") {
        if !(1..=65535).contains(&sp) {
            range_check(rdp, "server port", &[3389], out);
        }
    }
    let line = |k: &str| ("line", rdp.line_of(k).to_string());
    if !rdp.credssp_enabled() {
        out.push(catalogue_finding(
            "rdpfile-credssp-disabled",
            vec![ev_setting(rdp, "enablecredsspsupport")],
            &[line("enablecredsspsupport")],
        ));
    }
    range_check(rdp, "enablecredsspsupport", &[0, 1], out);
    match rdp.int("authentication level") {
        Some(0) => out.push(catalogue_finding(
            "rdpfile-auth-level-none",
            vec![ev_setting(rdp, "authentication level")],
            &[line("authentication level")],
        )),
        Some(1) => out.push(catalogue_finding(
            "rdpfile-auth-level-strict",
            vec![ev_setting(rdp, "authentication level")],
            &[line("authentication level")],
        )),
        _ => range_check(rdp, "authentication level", &[0, 1, 2, 3], out),
    }
    if !rdp.negotiates_security_layer() {
        out.push(catalogue_finding(
            "rdpfile-negotiate-disabled",
            vec![ev_setting(rdp, "negotiate security layer")],
            &[line("negotiate security layer")],
        ));
    }
    range_check(rdp, "negotiate security layer", &[0, 1], out);

    // Gateway.
    let usage = rdp.gateway_usage();
    range_check(rdp, "gatewayusagemethod", &[0, 1, 2, 3, 4], out);
    range_check(rdp, "gatewaycredentialssource", &[0, 1, 2, 3, 4, 5], out);
    range_check(rdp, "gatewayprofileusagemethod", &[0, 1], out);
    let gw_evidence = || {
        vec![
            ev_setting(rdp, "gatewayhostname"),
            ev_setting(rdp, "gatewayusagemethod"),
            ev_setting(rdp, "gatewayprofileusagemethod"),
        ]
    };
    match rdp.gateway_hostname() {
        None if matches!(usage, 1 | 2) => out.push(catalogue_finding(
            "rdpfile-gateway-missing-host",
            gw_evidence(),
            &[("value", usage.to_string())],
        )),
        None => {}
        Some(gw) => {
            if matches!(usage, 0 | 4) || rdp.int("gatewayprofileusagemethod") == Some(0) {
                out.push(catalogue_finding(
                    "rdpfile-gateway-ignored",
                    gw_evidence(),
                    &[("value", gw.to_string())],
                ));
            } else if usage == 1 {
                let host = fa.as_ref().map(|(h, _)| h.clone()).unwrap_or_default();
                out.push(catalogue_finding(
                    "rdpfile-gateway-always",
                    gw_evidence(),
                    &[("value", gw.to_string()), ("host", host)],
                ));
            }
        }
    }
    if let (Some(alt), Some(full)) = (rdp.alternate_full_address(), rdp.string("full address")) {
        if !alt.eq_ignore_ascii_case(full.trim()) {
            out.push(catalogue_finding(
                "rdpfile-alternate-address",
                vec![
                    ev_setting(rdp, "full address"),
                    ev_setting(rdp, "alternate full address"),
                ],
                &[("value", alt.to_string())],
            ));
        }
    }
    if rdp.use_redirection_server_name() {
        out.push(catalogue_finding(
            "rdpfile-redirection-server-name",
            vec![
                ev_setting(rdp, "use redirection server name"),
                ev_setting(rdp, "loadbalanceinfo"),
            ],
            &[(
                "value",
                rdp.loadbalanceinfo().unwrap_or("(none)").to_string(),
            )],
        ));
    }
    range_check(rdp, "use redirection server name", &[0, 1], out);
    if rdp.has_secret() {
        let lines = rdp
            .settings
            .iter()
            .filter(|s| is_secret_key(&s.key))
            .map(|s| {
                format!(
                    "line {}: {}: present (value not shown)",
                    s.line,
                    crate::sanitize::escape(&s.key)
                )
            })
            .collect();
        out.push(catalogue_finding("rdpfile-saved-password", lines, &[]));
    }
    if rdp.rdsaad() {
        out.push(catalogue_finding(
            "rdpfile-rdsaad",
            vec![ev_setting(rdp, "enablerdsaadauth")],
            &[],
        ));
    }
    range_check(rdp, "enablerdsaadauth", &[0, 1], out);
    if let (Some(user), Some(dom)) = (rdp.username(), rdp.domain()) {
        let user_domain = if let Some((d, _)) = user.split_once('\\') {
            Some(d.to_string())
        } else {
            user.split_once('@').map(|(_, d)| d.to_string())
        };
        if let Some(ud) = user_domain {
            let first = |s: &str| s.split('.').next().unwrap_or("").to_ascii_lowercase();
            if first(&ud) != first(dom) {
                out.push(catalogue_finding(
                    "rdpfile-username-domain-conflict",
                    vec![ev_setting(rdp, "username"), ev_setting(rdp, "domain")],
                    &[("value", user.to_string())],
                ));
            }
        }
    }
    if !rdp.problems.is_empty() {
        let mut ev: Vec<String> = rdp
            .problems
            .iter()
            .take(10)
            .map(|p| format!("line {}: {}", p.line, p.what))
            .collect();
        if rdp.problems.len() > 10 {
            ev.push(format!("... and {} more", rdp.problems.len() - 10));
        }
        let first = rdp.problems.first().map(|p| p.line).unwrap_or(0);
        out.push(catalogue_finding(
            "rdpfile-malformed-lines",
            ev,
            &[("line", first.to_string())],
        ));
    }
}

/// Would the client using this file fail against what the probe saw? Findings name both pieces
/// of evidence: the file's line and the probe's observation.
pub fn client_vs_probe(rdp: &RdpFile, facts: &Facts, ctx: &Context, out: &mut Vec<Hit>) {
    let profile = client_profile(rdp);
    let requested = format!(
        "this client requests {} (requestedProtocols 0x{:02X})",
        SecurityProtocol::join(&profile.requested_names, " | "),
        profile.requested_protocols.bits()
    );
    if let Some(p) = &facts.protocols {
        let accepted = format!(
            "probe: the server accepts {} (nla: {}, tls: {})",
            if p.accepted.is_empty() {
                "nothing".to_string()
            } else {
                SecurityProtocol::join(&p.accepted, ", ")
            },
            p.nla,
            p.tls
        );
        if !profile.offers_credssp() && p.nla == Support::Required {
            let mut f = catalogue_finding(
                "server-requires-nla",
                vec![
                    format!(".rdp file: {}", ev_setting(rdp, "enablecredsspsupport")),
                    requested.clone(),
                    accepted.clone(),
                ],
                &[],
            );
            f.severity = Some(Severity::Error);
            out.push(f);
        }
        let credssp_only = !profile.offers_tls() && profile.offers_credssp();
        if credssp_only && p.nla == Support::NotOffered {
            out.push(catalogue_finding(
                "client-requires-nla-server-does-not",
                vec![
                    format!(".rdp file: {}", ev_setting(rdp, "negotiate security layer")),
                    requested.clone(),
                    accepted.clone(),
                ],
                &[],
            ));
        }
        let tls_only = profile.offers_tls() && !profile.offers_credssp();
        if tls_only && p.tls == Support::NotOffered {
            out.push(catalogue_finding(
                "server-forbids-tls",
                vec![
                    format!(".rdp file: {}", ev_setting(rdp, "enablecredsspsupport")),
                    requested.clone(),
                    accepted.clone(),
                ],
                &[],
            ));
        }
        if rdp.rdsaad() {
            if let Some(pr) = p.probe(SecurityProtocol::Rdsaad) {
                if pr.status != ProbeStatus::Accepted {
                    out.push(catalogue_finding(
                        "client-rdsaad-not-accepted",
                        vec![
                            format!(".rdp file: {}", ev_setting(rdp, "enablerdsaadauth")),
                            format!("probe: request for {}: {}", pr.asked(), pr.status),
                        ],
                        &[],
                    ));
                }
            }
        }
    }
    if let Some(cert) = &facts.certificate {
        let mut problems = Vec::new();
        if cert.expired {
            problems.push(format!(
                "probe: the certificate expired ({})",
                crate::sanitize::escape(&cert.not_after)
            ));
        }
        if cert.not_yet_valid {
            problems.push(format!(
                "probe: the certificate is not valid before {}",
                crate::sanitize::escape(&cert.not_before)
            ));
        }
        if cert.self_signed {
            problems.push("probe: the certificate is self-signed".to_string());
        } else if !cert.trusted {
            problems.push(format!(
                "probe: the certificate is not trusted ({})",
                crate::sanitize::escape(cert.trust_error.as_deref().unwrap_or("unknown issuer"))
            ));
        }
        if !cert.name_matches {
            problems.push(format!(
                "probe: the certificate is not issued for '{}' (CN {}, SAN {})",
                crate::sanitize::escape(&cert.name_checked),
                crate::sanitize::escape(cert.common_name.as_deref().unwrap_or("-")),
                crate::sanitize::escape(&cert.san_dns.join(", "))
            ));
        }
        if !problems.is_empty() {
            let id = match rdp.authentication_level() {
                1 => Some("client-refuses-server-certificate"),
                0 => Some("client-ignores-certificate-errors"),
                _ => None,
            };
            if let Some(id) = id {
                let mut ev = vec![format!(
                    ".rdp file: {}",
                    ev_setting(rdp, "authentication level")
                )];
                ev.extend(problems);
                ev.push(format!(
                    "probe: certificate SHA1 {}",
                    crate::sanitize::escape(&cert.sha1)
                ));
                out.push(catalogue_finding(id, ev, &[]));
            }
        }
    }
    if rdp.uses_gateway() {
        let gw = rdp.gateway_hostname().unwrap_or("").to_string();
        out.push(catalogue_finding(
            "rdpfile-probe-bypassed-gateway",
            vec![
                format!(".rdp file: {}", ev_setting(rdp, "gatewayhostname")),
                format!(".rdp file: {}", ev_setting(rdp, "gatewayusagemethod")),
                format!(
                    "probe: connected directly to {}:{}",
                    crate::sanitize::escape(&ctx.target.host),
                    ctx.target.port
                ),
            ],
            &[("value", gw)],
        ));
    }
}
