//! Small code tables the event rules need to turn raw numbers into words: NTSTATUS (Security
//! 4625), logon types, TLS alerts (Schannel 36887/36888), SSPI/HRESULT codes (Schannel 36870,
//! RdpCoreTS 226), the client's disconnect reason (RDPClient 1026) and the extended disconnect
//! reason (LocalSessionManager 40).
//!
//! Values are from ../../shared/reference/rdp-knowledge.md §B1, §B2, §B5 (each table cites its
//! source). The disconnect-reason tables are a deliberately small local copy: the `explain`
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

/// NTSTATUS values seen in Security 4625 Status/SubStatus ([MS-ERREF] 2.3.1; meanings as in
/// rdp-knowledge.md §B5, which also notes that Microsoft's 4625 page mislabels 0xC000006E).
pub fn ntstatus(code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0x0000_0000 => ("STATUS_SUCCESS", "no further detail"),
        0xC000_006D => ("STATUS_LOGON_FAILURE", "bad user name or authentication information"),
        0xC000_006A => ("STATUS_WRONG_PASSWORD", "the user exists, the password is wrong"),
        0xC000_0064 => ("STATUS_NO_SUCH_USER", "the user name does not exist"),
        0xC000_006E => (
            "STATUS_ACCOUNT_RESTRICTION",
            "account restriction (for example a blank password, which Windows refuses for remote logons)",
        ),
        0xC000_006F => ("STATUS_INVALID_LOGON_HOURS", "outside the account's logon hours"),
        0xC000_0070 => ("STATUS_INVALID_WORKSTATION", "not allowed to log on from this workstation"),
        0xC000_0071 => ("STATUS_PASSWORD_EXPIRED", "the password has expired"),
        0xC000_0072 => ("STATUS_ACCOUNT_DISABLED", "the account is disabled"),
        0xC000_015B => (
            "STATUS_LOGON_TYPE_NOT_GRANTED",
            "the user lacks the logon right (Allow log on through Remote Desktop Services)",
        ),
        0xC000_0193 => ("STATUS_ACCOUNT_EXPIRED", "the account has expired"),
        0xC000_0224 => ("STATUS_PASSWORD_MUST_CHANGE", "the password must be changed at next logon"),
        0xC000_0234 => ("STATUS_ACCOUNT_LOCKED_OUT", "the account is locked out"),
        0xC000_0022 => ("STATUS_ACCESS_DENIED", "access denied"),
        0xC000_005E => ("STATUS_NO_LOGON_SERVERS", "no domain controller could be reached"),
        0xC000_0133 => ("STATUS_TIME_DIFFERENCE_AT_DC", "the clocks differ too much (Kerberos)"),
        0xC000_018C => ("STATUS_TRUSTED_DOMAIN_FAILURE", "trust relationship with the domain failed"),
        0xC000_018D => ("STATUS_TRUSTED_RELATIONSHIP_FAILURE", "the computer's secure channel is broken"),
        0xC000_0388 => ("STATUS_DOWNGRADE_DETECTED", "downgrade detected (often: DC unreachable)"),
        0xC000_0413 => ("STATUS_AUTHENTICATION_FIREWALL_FAILED", "selective-authentication firewall refused"),
        0xC000_035B => ("STATUS_BAD_BINDINGS", "channel bindings incorrect (NTLMv1 through an RD Gateway)"),
        _ => return None,
    })
}

/// Logon types of Security 4624/4625 (Microsoft's event-4625 documentation, §B6).
pub fn logon_type(t: u32) -> Option<&'static str> {
    Some(match t {
        2 => "Interactive",
        3 => "Network (with NLA, RDP logons fail as type 3)",
        4 => "Batch",
        5 => "Service",
        7 => "Unlock (also RDP reconnect)",
        8 => "NetworkCleartext",
        9 => "NewCredentials",
        10 => "RemoteInteractive (RDP)",
        11 => "CachedInteractive",
        _ => return None,
    })
}

/// TLS alert descriptions (RFC 5246 §7.2, RFC 8446 §6), as Schannel 36887/36888 log them.
pub fn tls_alert(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure (no common cipher suite or protocol version)",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version (no common TLS version)",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// SSPI SEC_E_* and the HRESULTs seen in RDP events (§B5 "SSPI / Schannel SEC_E codes", §B6).
pub fn hresult(code: u32) -> Option<&'static str> {
    Some(match code {
        0x8009_0302 => "SEC_E_UNSUPPORTED_FUNCTION (the CredSSP encryption-oracle message)",
        0x8009_0303 => "SEC_E_TARGET_UNKNOWN",
        0x8009_0304 => {
            "SEC_E_INTERNAL_ERROR (\"The Local Security Authority cannot be contacted\")"
        }
        0x8009_0308 => "SEC_E_INVALID_TOKEN",
        0x8009_030C => "SEC_E_LOGON_DENIED",
        0x8009_030D => "SEC_E_UNKNOWN_CREDENTIALS (the private key cannot be opened)",
        0x8009_030E => "SEC_E_NO_CREDENTIALS",
        0x8009_030F => "SEC_E_MESSAGE_ALTERED",
        0x8009_0311 => "SEC_E_NO_AUTHENTICATING_AUTHORITY",
        0x8009_0322 => "SEC_E_WRONG_PRINCIPAL",
        0x8009_0324 => "SEC_E_TIME_SKEW",
        0x8009_0325 => "SEC_E_UNTRUSTED_ROOT",
        0x8009_0326 => "SEC_E_ILLEGAL_MESSAGE",
        0x8009_0327 => "SEC_E_CERT_UNKNOWN",
        0x8009_0328 => "SEC_E_CERT_EXPIRED",
        0x8009_0331 => "SEC_E_ALGORITHM_MISMATCH (no common TLS cipher suite)",
        0x8009_0346 => "SEC_E_BAD_BINDINGS",
        0x8009_0350 => "SEC_E_DOWNGRADE_DETECTED",
        0x8009_035E => "SEC_E_DELEGATION_POLICY",
        0x8009_035F => "SEC_E_POLICY_NLTM_ONLY",
        0x8009_0363 => "SEC_E_MUTUAL_AUTH_FAILED",
        0x8007_0040 => "ERROR_NETNAME_DELETED (the network connection went away)",
        0x8007_052E => "ERROR_LOGON_FAILURE (bad user name or password)",
        0x8000_4005 => "E_FAIL",
        _ => return None,
    })
}

/// The client's disconnect reason (IMsTscAxEvents::OnDisconnected discReason, §B1), as
/// RDPClient/Operational 1026 logs it. A subset: the reasons the rules name. Seam for the
/// shared `explain` tables.
pub fn disconnect_reason(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "no information",
        1 => "local disconnection (not an error)",
        2 => "remote disconnection by user (not an error)",
        3 => "remote disconnection by server (not an error)",
        260 => "DNS name lookup failure",
        264 => "connection timed out",
        516 => "socket connect failed (port closed or filtered, host down)",
        520 => "host not found",
        772 => "socket send failed",
        776 => "the IP address specified is not valid",
        1028 => "socket recv failed",
        1030 => "security data is not valid",
        1032 => "internal error",
        1288 => "DNS lookup failed",
        1540 => "gethostbyname failed",
        1542 => "server security data is not valid",
        1796 => "time-out occurred",
        1798 => "failed to unpack server certificate",
        2055 => "login failed (SSL_ERR_LOGON_FAILURE)",
        2056 => "license negotiation failed",
        2308 => "socket closed (0x904: the server or a middlebox closed the connection)",
        2310 => "internal security error",
        2312 => "licensing time-out",
        2566 => "internal security error",
        2567 => "the specified user has no account",
        2822 => "encryption error",
        2823 => "the account is disabled",
        3078 => "decryption error",
        3079 => "the account is restricted",
        3335 => "the account is locked out",
        3591 => "the account is expired",
        3847 => "the password is expired",
        4615 => "the password must be changed before first logon",
        5639 => "policy does not allow delegation of credentials to the target server",
        5895 => "delegation not allowed unless mutual authentication (NTLM only)",
        6151 => "no authority could be contacted for authentication",
        6919 => "the received certificate is expired",
        7175 => "incorrect smart-card PIN",
        8455 => "server policy does not allow saved credentials",
        8711 => "smart card blocked",
        _ => return None,
    })
}

/// ExtendedDisconnectReasonCode (§B2); LocalSessionManager 40 logs its reason in this numbering.
/// Seam for the shared `explain` tables.
pub fn extended_reason(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "no additional information (often: the user closed the window)",
        1 => "an application initiated the disconnection",
        2 => "an application logged off the client",
        3 => "idle time-out",
        4 => "the active-session time limit was reached",
        5 => "replaced by another connection",
        6 => "out of memory",
        7 => "the server denied the connection",
        8 => "the server denied the connection for security reasons (FIPS)",
        9 => "the server denied the connection: insufficient privileges",
        10 => "fresh credentials are required",
        11 => "user activity initiated the disconnect",
        12 => "the user logged off",
        256 => "internal licensing error",
        257 => "no license server available",
        258 => "no valid software license",
        259 => "invalid licensing message",
        260 => "hardware id does not match the license",
        261 => "client license error",
        262 => "network problems during licensing",
        263 => "the client ended licensing prematurely",
        264 => "licensing message encrypted incorrectly",
        265 => "the client access license could not be upgraded or renewed",
        266 => "the remote computer is not licensed to accept remote connections",
        267 => "access denied creating the license store",
        768 => "invalid credentials",
        _ => return None,
    })
}

/// Applies a named decoder to a raw field value, for the rule summaries (`{Field|decoder}`).
/// Unknown codes are shown raw and marked, never guessed.
pub fn apply(decoder: &str, raw: &str) -> String {
    let code = parse_code(raw);
    match decoder {
        "ntstatus" => match code {
            Some(0) => "0x0".to_string(),
            Some(c) => match ntstatus(c) {
                Some((name, meaning)) => format!("0x{c:08X} ({name}: {meaning})"),
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
        assert_eq!(apply("logon_type", "10"), "10 (RemoteInteractive (RDP))");
        assert!(apply("tls_alert", "70").contains("protocol_version"));
        assert!(apply("disc_reason", "2308").starts_with("2308 = 0x904 (socket closed"));
        assert!(apply("ext_reason", "2147942464").contains("ERROR_NETNAME_DELETED"));
        assert!(apply("ext_reason", "5").contains("replaced"));
        assert!(apply("hresult", "0x8009030D").contains("SEC_E_UNKNOWN_CREDENTIALS"));
        assert_eq!(apply("ip", "10.23.123.11:36160"), "10.23.123.11");
        assert_eq!(apply("ip", "[fe80::1]:3389"), "fe80::1");
        assert_eq!(apply("ip", "fe80::1"), "fe80::1");
    }
}
