//! The collector's JSON (schema `rdp-doctor/local/v1`, see `collect.ps1` and docs/windows.md)
//! -> [`LocalFacts`]. Pure. Lenient where PowerShell versions differ (a one-element array
//! printed as a bare object, enums as numbers or names, dates as `/Date(ms)/`, DWORDs above
//! 0x7FFFFFFF as negative Int32), strict about the schema tag so unrelated output is refused.

use super::*;
pub use crate::facts::local::{network_service_can_read, NETWORK_SERVICE_SIDS, READ_BITS};
use serde_json::Value;

/// The schema tag the collector prints.
pub const SCHEMA: &str = "rdp-doctor/local/v1";
/// Larger output is not the collector's: refused before parsing.
pub const MAX_INPUT: usize = 4 << 20;
const MAX_CERTS: usize = 1000;
const MAX_ACES: usize = 256;
const MAX_RULES: usize = 64;
const MAX_ERRORS: usize = 64;
const MAX_STR: usize = 1024;

/// Parses the collector's output.
pub fn parse(text: &str) -> Result<LocalFacts, String> {
    if text.len() > MAX_INPUT {
        return Err(format!(
            "the collector printed {} bytes, more than the {} expected at most",
            text.len(),
            MAX_INPUT
        ));
    }
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err("the collector printed nothing".into());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "the collector's output is not JSON ({e}); it begins: {}",
            crate::sanitize::escape(&text.chars().take(120).collect::<String>())
        )
    })?;
    if v.get("schema").and_then(Value::as_str) != Some(SCHEMA) {
        return Err(format!(
            "the collector's output has no \"schema\": \"{SCHEMA}\"; not rdp-doctor's collector"
        ));
    }
    let ts = v.get("terminal_server");
    let rdp = v.get("rdp_tcp");
    let pol = v.get("policy");
    let wmi = v.get("wmi_listener");
    let setting = |name: &str| -> Option<Setting> {
        if let Some(value) = field_u32(pol, name) {
            return Some(Setting {
                value,
                source: SettingSource::Policy,
            });
        }
        let listener = if name == "fDenyTSConnections" {
            ts
        } else {
            rdp
        };
        field_u32(listener, name).map(|value| Setting {
            value,
            source: SettingSource::Listener,
        })
    };
    let listener_certificate = {
        let from_wmi = wmi
            .and_then(|w| w.get("SSLCertificateSHA1Hash"))
            .and_then(thumbprint_of);
        let from_reg = rdp
            .and_then(|r| r.get("SSLCertificateSHA1Hash"))
            .and_then(thumbprint_of);
        let hash_type = field_u32(wmi, "SSLCertificateSHA1HashType");
        match (from_wmi, from_reg) {
            (Some(t), _) => Some(ListenerCert {
                thumbprint: t,
                source: "wmi".into(),
                hash_type,
            }),
            (None, Some(t)) => Some(ListenerCert {
                thumbprint: t,
                source: "registry".into(),
                hash_type,
            }),
            (None, None) => None,
        }
    };
    let certificates = list(v.get("certificates"))
        .into_iter()
        .take(MAX_CERTS)
        .filter_map(store_cert)
        .collect();
    let firewall = v
        .get("firewall")
        .filter(|f| f.is_object())
        .map(|f| Firewall {
            profiles: list(f.get("profiles"))
                .into_iter()
                .take(MAX_RULES)
                .map(|p| FirewallProfile {
                    name: field_str(Some(p), "name").unwrap_or_default(),
                    enabled: field_bool(Some(p), "enabled"),
                })
                .collect(),
            rules: list(f.get("rules"))
                .into_iter()
                .take(MAX_RULES)
                .map(|r| FirewallRule {
                    name: field_str(Some(r), "name").unwrap_or_default(),
                    enabled: r.get("enabled").and_then(firewall_enabled),
                    action: field_str(Some(r), "action").unwrap_or_default(),
                    direction: field_str(Some(r), "direction").unwrap_or_default(),
                    profile: field_str(Some(r), "profile").unwrap_or_default(),
                    protocol: field_str(Some(r), "protocol").unwrap_or_default(),
                    local_ports: list(r.get("local_port"))
                        .into_iter()
                        .take(MAX_RULES)
                        .filter_map(scalar_string)
                        .collect(),
                })
                .collect(),
        });
    let term_service = v
        .get("term_service")
        .filter(|s| s.is_object())
        .map(|s| ServiceFact {
            status: s.get("status").and_then(service_status).unwrap_or_default(),
            start_type: s
                .get("start_type")
                .and_then(service_start_type)
                .filter(|x| !x.is_empty()),
        });
    let errors = list(v.get("errors"))
        .into_iter()
        .take(MAX_ERRORS)
        .map(|e| SourceError {
            source: field_str(Some(e), "source").unwrap_or_else(|| "?".into()),
            error: field_str(Some(e), "error").unwrap_or_default(),
        })
        .collect();
    Ok(LocalFacts {
        collected_at: field_str(Some(&v), "collected_at"),
        computer: field_str(Some(&v), "computer"),
        os: field_str(Some(&v), "os"),
        is_admin: field_bool(Some(&v), "is_admin"),
        deny_connections: setting("fDenyTSConnections"),
        security_layer: setting("SecurityLayer"),
        user_authentication: setting("UserAuthentication"),
        min_encryption_level: setting("MinEncryptionLevel"),
        port: field_u32(rdp, "PortNumber"),
        allow_encryption_oracle: field_u32(v.get("credssp"), "AllowEncryptionOracle"),
        listener_certificate,
        certificates,
        firewall,
        term_service,
        errors,
    })
}

fn store_cert(c: &Value) -> Option<StoreCert> {
    let thumbprint = normalize_thumbprint(&field_str(Some(c), "thumbprint")?);
    if thumbprint.is_empty() {
        return None;
    }
    let not_after_unix = c
        .get("not_after_unix")
        .and_then(as_i64)
        .or_else(|| c.get("not_after").and_then(time_of));
    let not_before_unix = c
        .get("not_before_unix")
        .and_then(as_i64)
        .or_else(|| c.get("not_before").and_then(time_of));
    Some(StoreCert {
        store: field_str(Some(c), "store").unwrap_or_default(),
        thumbprint,
        subject: field_str(Some(c), "subject").unwrap_or_default(),
        issuer: field_str(Some(c), "issuer").unwrap_or_default(),
        not_before_unix,
        not_after_unix,
        not_after: not_after_unix.map(crate::cert::rfc3339),
        has_private_key: field_bool(Some(c), "has_private_key").unwrap_or(false),
        eku: list(c.get("eku"))
            .into_iter()
            .take(32)
            .filter_map(scalar_string)
            .collect(),
        private_key: c.get("private_key").filter(|k| k.is_object()).map(key_fact),
    })
}

fn key_fact(k: &Value) -> KeyFact {
    let acl: Vec<Ace> = list(k.get("acl"))
        .into_iter()
        .take(MAX_ACES)
        .filter_map(|a| {
            Some(Ace {
                sid: field_str(Some(a), "sid")?,
                // FileSystemRights is an Int32 enum: GENERIC_READ (0x80000000) arrives as
                // -2147483648; the low 32 bits are the access mask either way.
                rights: a.get("rights").and_then(as_i64).map(|r| r as u32)?,
                allow: !field_str(Some(a), "type")
                    .map(|t| t.eq_ignore_ascii_case("deny") || t == "1")
                    .unwrap_or(false),
            })
        })
        .collect();
    let file_exists = field_bool(Some(k), "file_exists");
    let network_service_read = if acl.is_empty() {
        None
    } else {
        Some(network_service_can_read(&acl))
    };
    KeyFact {
        opened: field_bool(Some(k), "opened"),
        provider: field_str(Some(k), "provider"),
        file: field_str(Some(k), "file"),
        file_exists,
        network_service_read,
        acl,
        error: field_str(Some(k), "error").filter(|e| !e.is_empty()),
    }
}

/// A thumbprint as the collector prints it (hex text), or a REG_BINARY value PowerShell
/// printed as an array of byte values.
fn thumbprint_of(v: &Value) -> Option<String> {
    let t = match v {
        Value::Array(a) => {
            let mut s = String::new();
            for b in a.iter().take(64) {
                let b = b.as_u64().filter(|b| *b <= 0xFF)?;
                s.push_str(&format!("{b:02X}"));
            }
            s
        }
        other => normalize_thumbprint(&scalar_string(other)?),
    };
    (!t.is_empty()).then_some(t)
}

/// A service state by name; as a number it is .NET's ServiceControllerStatus.
fn service_status(v: &Value) -> Option<String> {
    let names = [
        "",
        "Stopped",
        "StartPending",
        "StopPending",
        "Running",
        "ContinuePending",
        "PausePending",
        "Paused",
    ];
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| names.get(usize::try_from(i).ok()?))
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .or_else(|| Some(n.to_string())),
        other => scalar_string(other),
    }
}

/// A service start type by name; as a number it is .NET's ServiceStartMode.
fn service_start_type(v: &Value) -> Option<String> {
    let names = ["Boot", "System", "Automatic", "Manual", "Disabled"];
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| names.get(usize::try_from(i).ok()?))
            .map(|s| s.to_string())
            .or_else(|| Some(n.to_string())),
        other => scalar_string(other),
    }
}

/// Upper-case hex digits only (thumbprints are copied with spaces, colons and invisible
/// marks).
pub fn normalize_thumbprint(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .take(128)
        .collect()
}

/// An array's items; a bare value counts as a one-element array (PowerShell 5.1 unwraps
/// them); null/absent is empty.
fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
    }
}

fn field_str(obj: Option<&Value>, name: &str) -> Option<String> {
    obj?.get(name).and_then(scalar_string)
}

fn scalar_string(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    Some(s.chars().take(MAX_STR).collect())
}

fn field_u32(obj: Option<&Value>, name: &str) -> Option<u32> {
    obj?.get(name).and_then(as_u32)
}

fn field_bool(obj: Option<&Value>, name: &str) -> Option<bool> {
    obj?.get(name).and_then(as_bool)
}

/// A registry DWORD: a number (negative when PowerShell shows it as Int32), or a numeric
/// string (REG_SZ set by hand, decimal or 0x-hex).
fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u32::try_from(u).ok()
            } else {
                n.as_i64()
                    .filter(|i| *i >= i64::from(i32::MIN))
                    .map(|i| i as i32 as u32)
            }
        }
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A firewall rule's `Enabled`: the NetSecurity enum is True = 1, False = 2 when it arrives
/// as a number.
fn firewall_enabled(v: &Value) -> Option<bool> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(2) => Some(false),
            _ => None,
        },
        other => as_bool(other),
    }
}

/// A date as Unix seconds: a number, RFC 3339 (`ToString('o')` prints 7 fractional digits),
/// or Windows PowerShell 5.1's `/Date(1700000000000)/`.
fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(rest) = s
                .strip_prefix("/Date(")
                .or_else(|| s.strip_prefix("\\/Date("))
            {
                let digits: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect();
                return digits.parse::<i64>().ok().map(|ms| ms.div_euclid(1000));
            }
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        }
        _ => None,
    }
}

/// Fuzz oracle: any bytes parse or fail cleanly; parsed facts serialise, round-trip, and the
/// rules and the summary run on them without panicking.
pub fn fuzz_local_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(facts) = parse(&text) {
        let json = serde_json::to_string(&facts).unwrap_or_default();
        let back: Result<LocalFacts, _> = serde_json::from_str(&json);
        assert_eq!(back.ok().as_ref(), Some(&facts), "LocalFacts round trip");
        let _ = facts;
        let _ = super::summary(&facts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_the_collector() {
        assert!(parse("").unwrap_err().contains("nothing"));
        assert!(parse("  \r\n").unwrap_err().contains("nothing"));
        assert!(parse("Get-CimInstance : Access denied")
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse(r#"{"schema":"other"}"#)
            .unwrap_err()
            .contains("schema"));
        let big = " ".repeat(MAX_INPUT + 1);
        assert!(parse(&big).unwrap_err().contains("more than"));
    }

    #[test]
    fn a_minimal_document_gives_empty_facts() {
        let f = parse("\u{feff}{\"schema\":\"rdp-doctor/local/v1\"}").expect("parses");
        assert_eq!(f.security_layer, None);
        assert!(f.certificates.is_empty());
        assert!(f.firewall.is_none());
    }

    #[test]
    fn dwords_in_every_shape() {
        use serde_json::json;
        assert_eq!(as_u32(&json!(2)), Some(2));
        assert_eq!(
            as_u32(&json!(-1)),
            Some(0xFFFF_FFFF),
            "Int32 view of 0xFFFFFFFF"
        );
        assert_eq!(as_u32(&json!("3389")), Some(3389));
        assert_eq!(as_u32(&json!("0xD3D")), Some(3389));
        assert_eq!(as_u32(&json!(4_294_967_296u64)), None, "not a DWORD");
        assert_eq!(as_u32(&json!(-2_147_483_649i64)), None, "not a DWORD");
        assert_eq!(as_u32(&json!("x")), None);
        assert_eq!(as_u32(&json!(null)), None);
    }

    #[test]
    fn dates_in_every_shape() {
        use serde_json::json;
        // 2027-01-31T10:00:00Z = 1801389600
        assert_eq!(
            time_of(&json!("2027-01-31T10:00:00.0000000Z")),
            Some(1_801_389_600)
        );
        assert_eq!(
            time_of(&json!("/Date(1801389600000)/")),
            Some(1_801_389_600)
        );
        assert_eq!(time_of(&json!(1_801_389_600)), Some(1_801_389_600));
        assert_eq!(time_of(&json!("31.01.2027")), None);
    }

    #[test]
    fn thumbprints_are_normalised() {
        assert_eq!(
            normalize_thumbprint("\u{200e}1a 2b:3c"),
            "1A2B3C",
            "spaces, colons and the invisible mark certlm.msc copies"
        );
    }

    #[test]
    fn network_service_read_from_the_acl() {
        let ace = |sid: &str, rights: u32, allow: bool| Ace {
            sid: sid.into(),
            rights,
            allow,
        };
        // The documented default of the RDP key file: SYSTEM full control, NETWORK SERVICE read.
        let default = [
            ace("S-1-5-18", 0x1F01FF, true),
            ace("S-1-5-20", 0x120089, true),
        ];
        assert!(network_service_can_read(&default));
        // Only SYSTEM and Administrators: TermService cannot read the key.
        let broken = [
            ace("S-1-5-18", 0x1F01FF, true),
            ace("S-1-5-32-544", 0x1F01FF, true),
        ];
        assert!(!network_service_can_read(&broken));
        // GENERIC_READ for Everyone counts; a deny entry for NETWORK SERVICE wins.
        assert!(network_service_can_read(&[ace(
            "S-1-1-0",
            0x8000_0000,
            true
        )]));
        assert!(!network_service_can_read(&[
            ace("S-1-1-0", 0x8000_0000, true),
            ace("S-1-5-20", 0x1, false)
        ]));
        // Write-only access does not count.
        assert!(!network_service_can_read(&[ace("S-1-5-20", 0x2, true)]));
    }

    #[test]
    fn fuzz_oracle_survives_odd_inputs() {
        for input in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"schema\":\"rdp-doctor/local/v1\",\"certificates\":{\"thumbprint\":\"zz\"}}",
            b"{\"schema\":\"rdp-doctor/local/v1\",\"certificates\":[{\"thumbprint\":\"AB\",\"not_after_unix\":-9223372036854775808}]}",
            b"{\"schema\":\"rdp-doctor/local/v1\",\"firewall\":{\"rules\":7},\"rdp_tcp\":[1]}",
            b"\xff\xfe{}",
        ] {
            fuzz_local_json(input);
        }
    }
}
