//! `.rdp` files as mstsc writes them: one `name:type:value` setting per line, types `s`
//! (string), `i` (integer), `b` (binary hex, in practice only `password 51`), names
//! case-insensitive, UTF-16LE with BOM and CRLF (mstsc) or UTF-8 (FreeRDP and hand-written
//! files). Sources: Microsoft's list of RDP properties
//! (https://learn.microsoft.com/en-us/azure/virtual-desktop/rdp-properties) and the reader in
//! FreeRDP client/common/file.c; notes in docs/rdp-knowledge.md §B9.
//!
//! The parser is tolerant (unknown keys are kept with their line numbers, a broken line is a
//! reported problem, not an error), bounded ([`MAX_RDP_FILE_BYTES`]) and never panics. Secrets
//! are never stored: a `b:` value or a password-like key keeps only its length, so no output
//! path can print it.

pub use crate::facts::rdp_file::{Problem, RdpFile, Setting, Value};
use crate::facts::ClientProfile;
use crate::model::{Finding, Severity};
use crate::text::decode_text;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Larger files are refused (real ones are a few KiB).
pub const MAX_RDP_FILE_BYTES: usize = 1024 * 1024;

/// JSON schema of `rdp-doctor rdpfile --format json`.
pub const RDPFILE_SCHEMA: &str = "rdp-doctor/rdpfile/v1";

/// The keys FreeRDP's reader knows (FreeRDP client/common/file.c at commit 9626564) plus keys
/// seen in real files; anything else is kept and listed as unknown.
pub const KNOWN_KEYS: &[&str] = &[
    "administrative session",
    "allow desktop composition",
    "allow font smoothing",
    "audiocapturemode",
    "audiomode",
    "audioqualitymode",
    "authentication level",
    "autoreconnect max retries",
    "autoreconnection enabled",
    "bandwidthautodetect",
    "bitmapcachepersistenable",
    "bitmapcachesize",
    "compression",
    "connect to console",
    "connection type",
    "desktop size id",
    "desktopheight",
    "desktopscalefactor",
    "desktopwidth",
    "disable ctrl+alt+del",
    "disable cursor setting",
    "disable full window drag",
    "disable menu anims",
    "disable themes",
    "disable wallpaper",
    "disableclipboardredirection",
    "disableconnectionsharing",
    "disableprinterredirection",
    "disableremoteappcapscheck",
    "displayconnectionbar",
    "dynamic resolution",
    "enablecredsspsupport",
    "enablerdsaadauth",
    "enablesuperpan",
    "enableworkspacereconnect",
    "encode redirected video capture",
    "gatewaycredentialssource",
    "gatewayprofileusagemethod",
    "gatewayusagemethod",
    "keyboardhook",
    "maximizetocurrentdisplays",
    "negotiate security layer",
    "networkautodetect",
    "pinconnectionbar",
    "prompt for credentials",
    "promptcredentialonce",
    "public mode",
    "rdgiskdcproxy",
    "redirectclipboard",
    "redirectcomports",
    "redirectdirectx",
    "redirectdrives",
    "redirectlocation",
    "redirectposdevices",
    "redirectprinters",
    "redirectsmartcards",
    "redirectwebauthn",
    "remoteapplicationexpandcmdline",
    "remoteapplicationexpandworkingdir",
    "remoteapplicationmode",
    "screen mode id",
    "server port",
    "session bpp",
    "singlemoninwindowedmode",
    "smart sizing",
    "span monitors",
    "superpanaccelerationfactor",
    "use multimon",
    "use redirection server name",
    "videoplaybackmode",
    "workspaceid",
    "aadtenantid",
    "activityhint",
    "alternate full address",
    "alternate shell",
    "armpath",
    "camerastoredirect",
    "devicestoredirect",
    "diagnosticserviceurl",
    "domain",
    "drivestoredirect",
    "endpointfedauth",
    "full address",
    "gatewayaccesstoken",
    "gatewayhostname",
    "geo",
    "hubdiscoverygeourl",
    "kdcproxyname",
    "loadbalanceinfo",
    "password",
    "pcb",
    "remoteapplicationcmdline",
    "remoteapplicationfile",
    "remoteapplicationguid",
    "remoteapplicationicon",
    "remoteapplicationname",
    "remoteapplicationprogram",
    "resourceprovider",
    "selectedmonitors",
    "shell working directory",
    "usbdevicestoredirect",
    "username",
    "winposstr",
    "wvd endpoint pool",
    "password 51",
    "signscope",
    "signature",
    "gatewaybrokeringtype",
    "targetisaadjoined",
    "gatewayusername",
    "redirected video capture encoding quality",
    "remotedesktopname",
    "workspace id",
    "clientrejectinjectedinput",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdpFileError {
    TooLarge {
        bytes: usize,
    },
    /// Nothing but white space: mstsc would open it with every default, which hides nothing
    /// worth checking — more likely the wrong file.
    Empty,
    /// Zero bytes or control characters outside any UTF-16 text: a program or an image.
    Binary,
    /// Text, but not one `name:type:value` line.
    NoSettings {
        lines: usize,
    },
}

impl std::fmt::Display for RdpFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdpFileError::TooLarge { bytes } => write!(
                f,
                "{bytes} bytes is larger than {MAX_RDP_FILE_BYTES} bytes: not an .rdp file"
            ),
            RdpFileError::Empty => write!(f, "the file is empty: not an .rdp file"),
            RdpFileError::Binary => write!(
                f,
                "the file is binary (zero bytes or control characters): not an .rdp file"
            ),
            RdpFileError::NoSettings { lines } => write!(
                f,
                "none of its {lines} line(s) is a 'name:type:value' setting: not an .rdp file"
            ),
        }
    }
}

/// The file's `gatewayaccesstoken` (an RD Gateway PAA token), read on its own into a zeroizing
/// secret: the parsed [`RdpFile`] never keeps secret values. `None` when the file cannot be
/// read or has no token.
pub fn read_access_token(path: &Path) -> Option<crate::credentials::Secret> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() > MAX_RDP_FILE_BYTES {
        return None;
    }
    let (text, _) = decode_text(&bytes);
    text.split('\n').find_map(|raw| {
        let mut parts = raw.trim_end_matches('\r').splitn(3, ':');
        let (k, _, v) = (parts.next()?, parts.next()?, parts.next()?);
        let key = k.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        (key.eq_ignore_ascii_case("gatewayaccesstoken") && !v.trim().is_empty())
            .then(|| crate::credentials::Secret::new(v.trim().to_string()))
    })
}

pub fn is_secret_key(key: &str) -> bool {
    key.contains("password") || key.contains("accesstoken")
}

impl RdpFile {
    pub fn parse(bytes: &[u8]) -> Result<RdpFile, RdpFileError> {
        if bytes.len() > MAX_RDP_FILE_BYTES {
            return Err(RdpFileError::TooLarge { bytes: bytes.len() });
        }
        let (text, encoding) = decode_text(bytes);
        if text
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .is_empty()
        {
            return Err(RdpFileError::Empty);
        }
        let controls = text
            .chars()
            .filter(|c| (c.is_control() && !matches!(c, '\t' | '\r' | '\n')) || *c == '\u{fffd}')
            .count();
        if text.contains('\0') || controls * 20 > text.chars().count() {
            return Err(RdpFileError::Binary);
        }
        let mut file = RdpFile {
            encoding: encoding.to_string(),
            ..RdpFile::default()
        };
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() {
                continue;
            }
            let mut parts = l.splitn(3, ':');
            let (Some(key), Some(kind), Some(value)) = (parts.next(), parts.next(), parts.next())
            else {
                let shown = if is_secret_key(&l.to_ascii_lowercase()) {
                    "(a line naming a password; not shown)".to_string()
                } else {
                    crate::sanitize::escape(&crate::text::truncate(l, 80))
                };
                file.problems.push(Problem {
                    line,
                    what: format!("not 'name:type:value': {shown}"),
                });
                continue;
            };
            // A BOM that survived decoding (or a stray one) is not part of the name.
            let key = key
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .to_lowercase();
            let kind_t = kind.trim();
            let mut kc = kind_t.chars();
            let kind = match (kc.next(), kc.next()) {
                (Some(c), None) => c.to_ascii_lowercase(),
                _ => '?',
            };
            let known = KNOWN_KEYS.contains(&key.as_str());
            let value = match kind {
                'b' => Value::Binary {
                    bytes: value.trim().len() / 2,
                },
                _ if is_secret_key(&key) => Value::Secret {
                    chars: value.chars().count(),
                },
                'i' => match value.trim().parse::<i64>() {
                    Ok(v) => Value::Int { value: v },
                    Err(_) => {
                        file.problems.push(Problem {
                            line,
                            what: format!(
                                "{}: '{}' is not an integer",
                                crate::sanitize::escape(&key),
                                crate::sanitize::escape(&crate::text::truncate(value, 40))
                            ),
                        });
                        continue;
                    }
                },
                's' => Value::Str {
                    value: value.to_string(),
                },
                _ => {
                    file.problems.push(Problem {
                        line,
                        what: format!(
                            "{}: unknown type '{}' (s, i or b)",
                            crate::sanitize::escape(&key),
                            crate::sanitize::escape(&crate::text::truncate(kind_t, 10))
                        ),
                    });
                    Value::Str {
                        value: value.to_string(),
                    }
                }
            };
            file.settings.push(Setting {
                line,
                key,
                kind,
                value,
                known,
            });
        }
        if file.settings.is_empty() {
            return Err(RdpFileError::NoSettings {
                lines: file.problems.len(),
            });
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<RdpFile, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(MAX_RDP_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(|e| {
                format!(
                    "cannot read {}: {e}",
                    crate::sanitize::escape(&path.display().to_string())
                )
            })?;
        RdpFile::parse(&bytes).map_err(|e| {
            format!(
                "{}: {e}",
                crate::sanitize::escape(&path.display().to_string())
            )
        })
    }

    /// The setting for `key` (case-insensitive). A key set twice: the last line wins, as in
    /// FreeRDP's reader, where each line overwrites the setting.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        let k = key.to_lowercase();
        self.settings.iter().rev().find(|s| s.key == k)
    }

    pub fn string(&self, key: &str) -> Option<&str> {
        match &self.get(key)?.value {
            Value::Str { value } => Some(value.as_str()),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match &self.get(key)?.value {
            Value::Int { value } => Some(*value),
            // mstsc writes integers; a string that holds one still counts.
            Value::Str { value } => value.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn line_of(&self, key: &str) -> usize {
        self.get(key).map(|s| s.line).unwrap_or(0)
    }

    pub fn unknown_keys(&self) -> Vec<&Setting> {
        self.settings.iter().filter(|s| !s.known).collect()
    }

    /// Keys written more than once (with the line numbers).
    pub fn duplicates(&self) -> Vec<(String, Vec<usize>)> {
        let mut map: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for s in &self.settings {
            map.entry(s.key.as_str()).or_default().push(s.line);
        }
        map.into_iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// `full address` split into host and the port written in it, if any.
    pub fn full_address(&self) -> Option<(String, Option<u16>)> {
        let fa = self.string("full address")?.trim();
        if fa.is_empty() {
            return None;
        }
        Some(split_host_port(fa))
    }

    /// `enablecredsspsupport` (default 1: use CredSSP if the server supports it).
    pub fn credssp_enabled(&self) -> bool {
        self.int("enablecredsspsupport") != Some(0)
    }

    /// `authentication level`: 0 connect without warning, 1 do not connect, 2 warn,
    /// 3 no requirement (default).
    pub fn authentication_level(&self) -> i64 {
        self.int("authentication level").unwrap_or(3)
    }

    /// `negotiate security layer` (default 1).
    pub fn negotiates_security_layer(&self) -> bool {
        self.int("negotiate security layer") != Some(0)
    }

    pub fn gateway_hostname(&self) -> Option<&str> {
        self.string("gatewayhostname")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// `gatewayusagemethod`: 0 never (default), 1 always, 2 if direct fails, 3 default
    /// settings, 4 never and bypass for local addresses.
    pub fn gateway_usage(&self) -> i64 {
        self.int("gatewayusagemethod").unwrap_or(0)
    }

    /// Whether this client's connections go through the RD Gateway.
    pub fn uses_gateway(&self) -> bool {
        self.gateway_hostname().is_some()
            && matches!(self.gateway_usage(), 1 | 2)
            && self.int("gatewayprofileusagemethod") != Some(0)
    }

    pub fn alternate_full_address(&self) -> Option<&str> {
        self.string("alternate full address")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn use_redirection_server_name(&self) -> bool {
        self.int("use redirection server name") == Some(1)
    }

    pub fn loadbalanceinfo(&self) -> Option<&str> {
        self.string("loadbalanceinfo")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn username(&self) -> Option<&str> {
        self.string("username")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn domain(&self) -> Option<&str> {
        self.string("domain")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn rdsaad(&self) -> bool {
        self.int("enablerdsaadauth") == Some(1)
    }

    /// Whether a saved password (or other secret) is in the file (never its value).
    pub fn has_secret(&self) -> bool {
        self.settings.iter().any(|s| {
            matches!(s.value, Value::Binary { .. } | Value::Secret { .. }) && is_secret_key(&s.key)
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address (more than one colon, no
/// brackets: no port).
pub fn split_host_port(s: &str) -> (String, Option<u16>) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.trim().parse().ok());
            return (host.to_string(), port);
        }
    }
    if s.matches(':').count() == 1 {
        if let Some((h, p)) = s.split_once(':') {
            return (h.to_string(), p.trim().parse().ok());
        }
    }
    (s.to_string(), None)
}

/// The server this file connects to: host from `full address`, port from `full address` if it
/// names one, else `server port`, else 3389.
pub fn target(rdp: &RdpFile) -> Option<(String, u16)> {
    let (host, port) = rdp.full_address()?;
    let port = port
        .or_else(|| {
            rdp.int("server port")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
        })
        .unwrap_or(3389);
    Some((host, port))
}

/// What requestedProtocols the client using this file sends ([MS-RDPBCGR] 2.2.1.1.1):
/// * default (mstsc): PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX = 0x0B;
/// * `enablecredsspsupport:i:0`: no HYBRID / HYBRID_EX, i.e. PROTOCOL_SSL only (0x01);
/// * `negotiate security layer:i:0`: one fixed layer, no fallback: PROTOCOL_HYBRID (0x02) if
///   CredSSP is enabled, else PROTOCOL_SSL (0x01). This follows FreeRDP's nego.c (with
///   NegotiateSecurityLayer off it requests only its highest enabled protocol); mstsc's exact
///   bytes for this setting were not captured here;
/// * `enablerdsaadauth:i:1`: adds PROTOCOL_RDSAAD (0x10).
///
/// The cookie is the user name without its domain (`Cookie: mstshash=`), unless the file has
/// `loadbalanceinfo`, which mstsc sends as the routing token instead (not modelled by
/// `ClientProfile`).
pub fn client_profile(rdp: &RdpFile) -> ClientProfile {
    const SSL: u32 = 0x01;
    const HYBRID: u32 = 0x02;
    const HYBRID_EX: u32 = 0x08;
    const RDSAAD: u32 = 0x10;
    let credssp = rdp.credssp_enabled();
    let mut p = match (rdp.negotiates_security_layer(), credssp) {
        (true, true) => SSL | HYBRID | HYBRID_EX,
        (true, false) => SSL,
        (false, true) => HYBRID,
        (false, false) => SSL,
    };
    if rdp.rdsaad() {
        p |= RDSAAD;
    }
    let mut profile = ClientProfile::with("rdp-file", p);
    if rdp.loadbalanceinfo().is_none() {
        profile.cookie = rdp.username().map(|u| {
            let u = u.rsplit('\\').next().unwrap_or(u);
            u.split('@').next().unwrap_or(u).to_string()
        });
    }
    profile
}

#[derive(Serialize)]
struct RdpFileJson<'a> {
    schema: &'static str,
    tool_version: &'static str,
    file: String,
    exit_code: i32,
    encoding: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetJson>,
    client_profile: ClientProfile,
    settings: Vec<SettingJson>,
    unknown_keys: Vec<String>,
    problems: &'a [Problem],
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct TargetJson {
    host: String,
    port: u16,
}

#[derive(Serialize)]
struct SettingJson {
    line: usize,
    key: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
    known: bool,
}

pub fn render_json(
    rdp: &RdpFile,
    path: &str,
    found: &[Finding],
    code: crate::model::Exit,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let doc = RdpFileJson {
        schema: RDPFILE_SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        file: path.to_string(),
        exit_code: code.code() as i32,
        encoding: &rdp.encoding,
        target: target(rdp).map(|(host, port)| TargetJson {
            host: crate::sanitize::escape(&host),
            port,
        }),
        client_profile: client_profile(rdp),
        settings: rdp
            .settings
            .iter()
            .map(|s| SettingJson {
                line: s.line,
                key: crate::sanitize::escape(&s.key),
                kind: s.kind.to_string(),
                value: s.display_value(),
                known: s.known,
            })
            .collect(),
        unknown_keys: rdp
            .unknown_keys()
            .iter()
            .map(|s| crate::sanitize::escape(&s.key))
            .collect(),
        problems: &rdp.problems,
        findings: found,
    };
    crate::sanitize::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

pub fn render_human(
    rdp: &RdpFile,
    path: &str,
    found: &[Finding],
    w: &mut dyn Write,
    color: bool,
) -> std::io::Result<()> {
    let profile = client_profile(rdp);
    writeln!(
        w,
        "rdp-doctor rdpfile: {path} ({}, {} settings)",
        rdp.encoding,
        rdp.settings.len()
    )?;
    match target(rdp) {
        Some((h, p)) => writeln!(w, "target:   {}:{}", crate::sanitize::escape(&h), p)?,
        None => writeln!(w, "target:   (none: full address missing)")?,
    }
    writeln!(
        w,
        "requests: {} (requestedProtocols 0x{:02X})",
        crate::facts::SecurityProtocol::join(&profile.requested_names, " | "),
        profile.requested_protocols.bits()
    )?;
    for key in [
        "enablecredsspsupport",
        "authentication level",
        "negotiate security layer",
        "gatewayhostname",
        "gatewayusagemethod",
        "gatewayprofileusagemethod",
        "gatewaycredentialssource",
        "alternate full address",
        "use redirection server name",
        "loadbalanceinfo",
        "username",
        "domain",
        "enablerdsaadauth",
        "password 51",
    ] {
        if let Some(s) = rdp.get(key) {
            writeln!(w, "  line {:>3}  {key} = {}", s.line, s.display_value())?;
        }
    }
    let unknown = rdp.unknown_keys();
    if !unknown.is_empty() {
        writeln!(
            w,
            "unknown keys (kept): {}",
            unknown
                .iter()
                .map(|s| format!("{} (line {})", crate::sanitize::escape(&s.key), s.line))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(w)?;
    if found.is_empty() {
        writeln!(w, "No settings that cause or hide connection failures.")?;
    }
    for f in found {
        let sev = f.severity.as_str();
        let sev = if color {
            let c = match f.severity {
                Severity::Error => "31;1",
                Severity::Warning => "33;1",
                Severity::Info => "36",
            };
            format!("\x1b[{c}m{sev}\x1b[0m")
        } else {
            sev.to_string()
        };
        writeln!(w, "{sev:<8} {}  {}", f.id, f.title)?;
        for e in &f.evidence {
            writeln!(w, "         {e}")?;
        }
        for (i, step) in f.fix.iter().enumerate() {
            let prefix = if i == 0 { "fix:" } else { "    " };
            writeln!(w, "         {prefix} {}. {step}", i + 1)?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Fuzz oracle: parse any bytes; never panic; keys are trimmed lowercase; secrets are never
/// kept; the rendered file parses back to the same settings; the profile works. Returns the
/// file for the rules (`commands::fuzz_rdpfile`).
pub fn fuzz_parse(data: &[u8]) -> Option<RdpFile> {
    let rdp = match RdpFile::parse(data) {
        Ok(r) => r,
        Err(RdpFileError::TooLarge { .. }) => {
            assert!(data.len() > MAX_RDP_FILE_BYTES);
            return None;
        }
        // Not an .rdp file (empty, binary, no setting): refused before any rule runs.
        Err(_) => return None,
    };
    // A UTF-8 BOM keeps the re-read from guessing another encoding.
    let mut text = String::from("\u{feff}");
    for s in &rdp.settings {
        assert_eq!(
            s.key,
            s.key
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .to_lowercase()
        );
        assert!(!s.key.contains(':') && !s.key.contains('\n'));
        match &s.value {
            Value::Str { value } => {
                assert!(!is_secret_key(&s.key) || s.kind == '?');
                text.push_str(&format!("{}:{}:{}\n", s.key, s.kind, value));
            }
            Value::Int { value } => text.push_str(&format!("{}:i:{}\n", s.key, value)),
            Value::Binary { .. } | Value::Secret { .. } => {}
        }
    }
    let again = RdpFile::parse(text.as_bytes());
    if let Ok(again) = again {
        let plain = |r: &RdpFile| -> Vec<(String, Value)> {
            r.settings
                .iter()
                .filter(|s| matches!(s.value, Value::Str { .. } | Value::Int { .. }))
                .filter(|s| s.kind != '?')
                .map(|s| (s.key.clone(), s.value.clone()))
                .collect()
        };
        assert_eq!(plain(&rdp), plain(&again));
    }
    let _ = target(&rdp);
    let p = client_profile(&rdp);
    assert!(p.requested_protocols.bits() & !0x1B == 0);
    Some(rdp)
}
