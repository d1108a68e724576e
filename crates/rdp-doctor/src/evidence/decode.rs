//! Small code tables the event rules need to turn raw numbers into words: NTSTATUS (Security
//! 4625), logon types, TLS alerts (Schannel 36887/36888), SSPI/HRESULT codes (Schannel 36870,
//! RdpCoreTS 226), the client's disconnect reason (RDPClient 1026) and the extended disconnect
//! reason (LocalSessionManager 40).
//!
//! Values are from docs/rdp-knowledge.md §B1, §B2, §B5 (the full tables in kb/codes cite the
//! primary source of each code). The disconnect-reason tables are a deliberately small local copy: the `explain`
//! module keeps the full tables, and [`disconnect_reason`] / [`extended_reason`] are the two
//! seams to point at them once both are merged.

/// Parses `0xC000006E`, `0xc000006e`, `3221225582` or `-1073741714` (PowerShell prints NTSTATUS
/// as a signed Int32) into the 32-bit value.
pub fn parse_code(s: &str) -> Option<u32> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if let Ok(v) = t.parse::<u32>() {
        return Some(v);
    }
    // Signed 32-bit as PowerShell prints an Int32 NTSTATUS/HRESULT: reinterpret the bits.
    t.parse::<i32>().ok().map(|v| v as u32)
}

/// NTSTATUS values of Security 4625 Status/SubStatus: name and meaning from the shared code
/// tables (`kb/codes/ntstatus.toml`, rdp-knowledge.md B5).
pub fn ntstatus(code: u32) -> Option<String> {
    shared_code("ntstatus", code)
}

/// Logon types of Security 4624/4625 (`kb/codes/logon-types.toml`).
pub fn logon_type(t: u32) -> Option<String> {
    shared_name("logon-type", t)
}

/// TLS alert descriptions, as Schannel 36887/36888 log them (`kb/codes/tls-alerts.toml`).
pub fn tls_alert(code: u32) -> Option<String> {
    shared_name("tls-alert", code)
}

/// SSPI SEC_E_* and the HRESULTs seen in RDP events (`kb/codes/sec-e.toml`).
pub fn hresult(code: u32) -> Option<String> {
    shared_name("sec-e", code)
}

/// The client's disconnect reason (IMsTscAxEvents::OnDisconnected discReason, rdp-knowledge.md
/// B1), as RDPClient/Operational 1026 logs it: name and meaning from the shared code tables
/// that `explain` uses (`kb/codes/disconnect-reasons.toml`).
pub fn disconnect_reason(code: u32) -> Option<String> {
    shared_code("disconnect-reason", code)
}

/// The extended disconnect reason (ExtendedDisconnectReasonCode, B2; also LocalSessionManager
/// 40's reason code), from `kb/codes/extended-reasons.toml`.
pub fn extended_reason(code: u32) -> Option<String> {
    shared_code("extended-reason", code)
}

/// The entry's name only (for codes whose name says it all: alerts, logon types, HRESULTs).
fn shared_name(table: &str, code: u32) -> Option<String> {
    let t = crate::kb::codes::codebook().table(table)?;
    let e = t
        .entries
        .iter()
        .find(|e| e.code == code && !e.undocumented)?;
    Some(e.name.clone())
}

/// "NAME: meaning".
fn shared_code(table: &str, code: u32) -> Option<String> {
    let t = crate::kb::codes::codebook().table(table)?;
    let e = t
        .entries
        .iter()
        .find(|e| e.code == code && !e.undocumented)?;
    Some(format!(
        "{}: {}",
        e.name,
        e.meaning.trim().trim_end_matches('.')
    ))
}

/// Applies a named decoder to a raw field value, for the rule summaries (`{Field|decoder}`).
/// Unknown codes are shown raw and marked, never guessed.
pub fn apply(decoder: &str, raw: &str) -> String {
    let code = parse_code(raw);
    match decoder {
        "ntstatus" => match code {
            Some(0) => "0x0".to_string(),
            Some(c) => match ntstatus(c) {
                Some(n) => format!("0x{c:08X} ({n})"),
                None => format!("0x{c:08X} (undocumented here)"),
            },
            None => raw.to_string(),
        },
        "logon_type" => match code.and_then(logon_type) {
            Some(n) => format!("{raw} ({n})"),
            None => raw.to_string(),
        },
        "tls_alert" => match code.and_then(tls_alert) {
            Some(n) => format!("{raw} ({n})"),
            None => format!("{raw} (unknown alert)"),
        },
        "hresult" => match code {
            Some(c) => match hresult(c) {
                Some(n) => format!("0x{c:08X} ({n})"),
                None => format!("0x{c:08X}"),
            },
            None => raw.to_string(),
        },
        "disc_reason" => match code {
            Some(c) => match disconnect_reason(c) {
                Some(n) => format!("{c} = 0x{c:X} ({n})"),
                None => format!("{c} = 0x{c:X} (undocumented)"),
            },
            None => raw.to_string(),
        },
        "ext_reason" => match code {
            Some(c) => match extended_reason(c) {
                Some(n) => format!("{c} ({n})"),
                None if c >= 0x8000_0000 => match hresult(c) {
                    Some(n) => format!("0x{c:08X} ({n})"),
                    None => format!("0x{c:08X} (HRESULT)"),
                },
                None if (0x1000..=0x7FFF).contains(&c) => {
                    format!("{c} = 0x{c:X} (protocol error range: see the server's event log)")
                }
                None => format!("{c} (undocumented)"),
            },
            None => raw.to_string(),
        },
        // Security 4768/4769/4771 Status: an RFC 4120 error code in hex (`kb/codes/kerberos.toml`).
        "kerberos" => match code {
            Some(c) => match shared_code("kerberos", c) {
                Some(n) => format!("0x{c:X} ({n})"),
                None => format!("0x{c:X} (undocumented here)"),
            },
            None => raw.to_string(),
        },
        // "ip:port" → "ip" (RdpCoreTS 131 ClientIP); IPv6 "[::1]:5000" → "::1".
        "ip" => strip_port(raw).to_string(),
        _ => raw.to_string(),
    }
}

/// The address part of `ip:port` / `[v6]:port`; a bare IPv6 address stays whole.
pub fn strip_port(s: &str) -> &str {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_every_notation() {
        assert_eq!(parse_code("0xc000006e"), Some(0xC000_006E));
        assert_eq!(parse_code("0XC000006E"), Some(0xC000_006E));
        assert_eq!(parse_code("-1073741714"), Some(0xC000_006E));
        assert_eq!(parse_code("3221225582"), Some(0xC000_006E));
        assert_eq!(parse_code("10"), Some(10));
        assert_eq!(parse_code("x"), None);
    }

    #[test]
    fn decoders_name_the_codes_and_mark_unknown_ones() {
        assert!(apply("ntstatus", "0xc000006e").contains("STATUS_ACCOUNT_RESTRICTION"));
        assert!(apply("ntstatus", "0xc0001234").contains("undocumented"));
        assert!(apply("logon_type", "10").starts_with("10 (RemoteInteractive"));
        assert_eq!(
            apply("kerberos", "0x18"),
            "0x18 (KDC_ERR_PREAUTH_FAILED: Pre-authentication information was invalid)"
        );
        assert!(apply("tls_alert", "70").contains("protocol_version"));
        assert!(apply("disc_reason", "2308")
            .starts_with("2308 = 0x904 (disconnectReasonAtClientWinsockFDCLOSE: Socket closed"));
        assert!(apply("ext_reason", "2147942464").contains("ERROR_NETNAME_DELETED"));
        assert!(apply("ext_reason", "5").contains("replaced"));
        assert!(apply("hresult", "0x8009030D").contains("SEC_E_UNKNOWN_CREDENTIALS"));
        assert_eq!(apply("ip", "10.23.123.11:36160"), "10.23.123.11");
        assert_eq!(apply("ip", "[fe80::1]:3389"), "fe80::1");
        assert_eq!(apply("ip", "fe80::1"), "fe80::1");
    }
}
