//! Names of the status codes an RD Gateway returns in its PDUs ([MS-TSGU] 2.2.6, values as
//! FreeRDP defines them and the [MS-TSGU] 3.2.6.1.x return-value tables define them).
//!
//! The HTTP transport carries the HRESULT form (`0x800759DA` = severity bit, FACILITY_WIN32,
//! code 0x59DA); the RPC transport the bare code (`0x000059DA`). Both forms name the same
//! entry. Unknown codes keep their value; [`failed`] is the test clients apply.

/// (code, name) with the low 16 bits of the E_PROXY_* family.
const E_PROXY: &[(u16, &str)] = &[
    (0x04D4, "E_PROXY_CONNECTIONABORTED"),
    (0x59D8, "E_PROXY_INTERNALERROR"),
    (0x59DA, "E_PROXY_RAP_ACCESSDENIED"),
    (0x59DB, "E_PROXY_NAP_ACCESSDENIED"),
    (0x59DD, "E_PROXY_TS_CONNECTFAILED"),
    (0x59DF, "E_PROXY_ALREADYDISCONNECTED"),
    (0x59E6, "E_PROXY_MAXCONNECTIONSREACHED"),
    (0x59E8, "E_PROXY_NOTSUPPORTED"),
    (0x59E9, "E_PROXY_CAPABILITYMISMATCH"),
    (0x59ED, "E_PROXY_QUARANTINE_ACCESSDENIED"),
    (0x59EE, "E_PROXY_NOCERTAVAILABLE"),
    (0x59F6, "E_PROXY_SESSIONTIMEOUT"),
    (0x59F7, "E_PROXY_COOKIE_BADPACKET"),
    (0x59F8, "E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED"),
    (0x59F9, "E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD"),
    (0x59FA, "E_PROXY_REAUTH_AUTHN_FAILED"),
    (0x59FB, "E_PROXY_REAUTH_CAP_FAILED"),
    (0x59FC, "E_PROXY_REAUTH_RAP_FAILED"),
    (0x59FD, "E_PROXY_SDR_NOT_SUPPORTED_BY_TS"),
    (0x5A00, "E_PROXY_REAUTH_NAP_FAILED"),
];

/// Codes outside the family that gateways and clients use in the same fields.
const OTHER: &[(u32, &str)] = &[
    (0x0000_0000, "S_OK"),
    (0x0000_0005, "ERROR_ACCESS_DENIED"),
    (0x0000_04CA, "ERROR_GRACEFUL_DISCONNECT"),
    (0x8007_071A, "RPC_S_CALL_CANCELLED"),
    (0x8009_030C, "SEC_E_LOGON_DENIED"),
];

/// The HRESULT form of an E_PROXY code.
pub const fn http_form(code: u16) -> u32 {
    0x8007_0000 | code as u32
}

/// Named E_PROXY HRESULTs (HTTP form) the lab and the probe use.
pub mod codes {
    use super::http_form;
    pub const E_PROXY_INTERNALERROR: u32 = http_form(0x59D8);
    pub const E_PROXY_RAP_ACCESSDENIED: u32 = http_form(0x59DA);
    pub const E_PROXY_NAP_ACCESSDENIED: u32 = http_form(0x59DB);
    pub const E_PROXY_TS_CONNECTFAILED: u32 = http_form(0x59DD);
    pub const E_PROXY_MAXCONNECTIONSREACHED: u32 = http_form(0x59E6);
    pub const E_PROXY_CAPABILITYMISMATCH: u32 = http_form(0x59E9);
    pub const E_PROXY_QUARANTINE_ACCESSDENIED: u32 = http_form(0x59ED);
    pub const E_PROXY_NOCERTAVAILABLE: u32 = http_form(0x59EE);
    pub const E_PROXY_SESSIONTIMEOUT: u32 = http_form(0x59F6);
    pub const E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED: u32 = http_form(0x59F8);
    pub const E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD: u32 = http_form(0x59F9);
}

/// The symbolic name of a gateway status code in either form.
pub fn name(code: u32) -> Option<&'static str> {
    if let Some((_, n)) = OTHER.iter().find(|(c, _)| *c == code) {
        return Some(n);
    }
    let high = code >> 16;
    if high == 0x8007 || high == 0 {
        let low = (code & 0xFFFF) as u16;
        return E_PROXY.iter().find(|(c, _)| *c == low).map(|(_, n)| *n);
    }
    None
}

/// The code for a name (either form's name is the same; the HTTP form is returned).
pub fn by_name(name: &str) -> Option<u32> {
    if let Some((c, _)) = OTHER.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
        return Some(*c);
    }
    E_PROXY
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| http_form(*c))
}

/// Every named E_PROXY code (HTTP form) with its name.
pub fn all() -> impl Iterator<Item = (u32, &'static str)> {
    E_PROXY.iter().map(|(c, n)| (http_form(*c), *n))
}

/// `NAME (0x800759DA)` or `0x12345678`.
pub fn label(code: u32) -> String {
    match name(code) {
        Some(n) => format!("{n} (0x{code:08X})"),
        None => format!("0x{code:08X}"),
    }
}

/// Whether the code is a failure as FreeRDP and Windows judge an HRESULT (the severity bit):
/// a positive code such as `0x000059DD` counts as success to them.
pub fn failed(code: u32) -> bool {
    code & 0x8000_0000 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_have_one_name() {
        assert_eq!(name(0x8007_59DA), Some("E_PROXY_RAP_ACCESSDENIED"));
        assert_eq!(name(0x0000_59DD), Some("E_PROXY_TS_CONNECTFAILED"));
        assert_eq!(name(0x8007_59DD), Some("E_PROXY_TS_CONNECTFAILED"));
        assert_eq!(name(0xC007_59DD), None);
        assert_eq!(name(0), Some("S_OK"));
        assert_eq!(by_name("e_proxy_nap_accessdenied"), Some(0x8007_59DB));
        assert_eq!(
            label(0x8007_59E6),
            "E_PROXY_MAXCONNECTIONSREACHED (0x800759E6)"
        );
        assert!(failed(codes::E_PROXY_TS_CONNECTFAILED));
        assert!(!failed(0x59DD));
        assert_eq!(all().count(), E_PROXY.len());
    }
}
