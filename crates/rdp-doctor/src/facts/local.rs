//! What `check --local` read on the Windows server itself (registry and policy values, the
//! listener's certificate and key, firewall rules, TermService). The collector and its parser
//! are in `crate::local`; the rules in `crate::diagnose::local`.

use serde::{Deserialize, Serialize};

/// Everything read on the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Whether the collector ran elevated (several sources need it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    /// fDenyTSConnections: 1 = Remote Desktop turned off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_connections: Option<Setting>,
    /// SecurityLayer (registry numbering): 0 RDP, 1 Negotiate, 2 SSL/TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_layer: Option<Setting>,
    /// UserAuthentication: 1 = NLA required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_authentication: Option<Setting>,
    /// MinEncryptionLevel: 1 Low, 2 Client Compatible, 3 High, 4 FIPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_encryption_level: Option<Setting>,
    /// RDP-Tcp PortNumber.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// CredSSP AllowEncryptionOracle: 0 Force Updated Clients, 1 Mitigated, 2 Vulnerable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_encryption_oracle: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_certificate: Option<ListenerCert>,
    /// The LocalMachine `Remote Desktop` and `My` stores.
    pub certificates: Vec<StoreCert>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Firewall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term_service: Option<ServiceFact>,
    /// Sources the collector could not read.
    pub errors: Vec<SourceError>,
}

/// A value and where it came from: the Group Policy key wins over the listener's own value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub value: u32,
    pub source: SettingSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingSource {
    /// `HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`.
    Policy,
    /// `HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server` (fDenyTSConnections) or its
    /// `WinStations\RDP-Tcp` subkey.
    Listener,
}

impl Setting {
    /// Where the value was read, for evidence.
    pub fn location(&self, name: &str) -> String {
        match (self.source, name) {
            (SettingSource::Policy, _) => format!(
                "{name} = {} set by Group Policy (HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services; the policy wins over the local setting)",
                self.value
            ),
            (SettingSource::Listener, "fDenyTSConnections") => format!(
                "{name} = {} in HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server",
                self.value
            ),
            (SettingSource::Listener, _) => format!(
                "{name} = {} in HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp",
                self.value
            ),
        }
    }
}

/// The certificate the RDP-Tcp listener is configured to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerCert {
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// `wmi` (Win32_TSGeneralSetting, also names the self-signed certificate) or `registry`
    /// (RDP-Tcp SSLCertificateSHA1Hash, set only for a configured certificate).
    pub source: String,
    /// Win32_TSGeneralSetting.SSLCertificateSHA1HashType: 1 self-signed, 2 Group Policy,
    /// 3 custom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_type: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCert {
    /// `Remote Desktop` or `My`.
    pub store: String,
    pub thumbprint: String,
    pub subject: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before_unix: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after_unix: Option<i64>,
    /// RFC 3339, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    pub has_private_key: bool,
    /// Extended Key Usage OIDs.
    pub eku: Vec<String>,
    /// Read for the listener's certificate and those in `Remote Desktop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<KeyFact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFact {
    /// Whether the collector (an administrator, normally) could open the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened: Option<bool>,
    /// `cng` or `capi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The key file under C:\ProgramData\Microsoft\Crypto.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_exists: Option<bool>,
    /// Whether the file's ACL lets NETWORK SERVICE (the TermService account) read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_service_read: Option<bool>,
    pub acl: Vec<Ace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One access-control entry of the key file, by SID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ace {
    pub sid: String,
    /// The access mask.
    pub rights: u32,
    pub allow: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firewall {
    pub profiles: Vec<FirewallProfile>,
    /// RemoteDesktop-UserMode-In-TCP / -UDP as found in the active policy store.
    pub rules: Vec<FirewallRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallProfile {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    pub action: String,
    pub direction: String,
    pub profile: String,
    pub protocol: String,
    pub local_ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFact {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceError {
    pub source: String,
    pub error: String,
}

/// SecurityLayer by name (registry numbering; WMI's Win32_TSGeneralSetting counts from 1).
pub fn security_layer_name(v: u32) -> &'static str {
    match v {
        0 => "RDP Security Layer",
        1 => "Negotiate",
        2 => "SSL/TLS",
        _ => "undocumented",
    }
}

/// MinEncryptionLevel by name.
pub fn encryption_level_name(v: u32) -> &'static str {
    match v {
        1 => "Low",
        2 => "Client Compatible",
        3 => "High",
        4 => "FIPS Compliant",
        _ => "undocumented",
    }
}

/// One line for the `local` phase record.
pub fn summary(f: &LocalFacts) -> String {
    use crate::sanitize::escape;
    let mut parts = Vec::new();
    if let Some(c) = &f.computer {
        parts.push(format!("read on {}", escape(c)));
    }
    match f.deny_connections.map(|s| s.value) {
        Some(0) => parts.push("Remote Desktop enabled".into()),
        Some(_) => parts.push("Remote Desktop DISABLED".into()),
        None => {}
    }
    if let Some(s) = f.security_layer {
        parts.push(format!(
            "SecurityLayer {} ({})",
            s.value,
            security_layer_name(s.value)
        ));
    }
    if let Some(u) = f.user_authentication {
        parts.push(if u.value == 0 {
            "NLA not required".to_string()
        } else {
            "NLA required".to_string()
        });
    }
    if let Some(p) = f.port {
        parts.push(format!("port {p}"));
    }
    if let Some(l) = &f.listener_certificate {
        let cert = f.certificates.iter().find(|c| c.thumbprint == l.thumbprint);
        parts.push(match cert {
            Some(c) => format!(
                "certificate {} in {} until {}",
                l.thumbprint,
                c.store,
                c.not_after.as_deref().unwrap_or("?")
            ),
            None => format!("certificate {} (not in the stores)", l.thumbprint),
        });
    }
    if let Some(s) = &f.term_service {
        parts.push(format!("TermService {}", escape(&s.status)));
    }
    if !f.errors.is_empty() {
        parts.push(format!("{} source(s) unreadable", f.errors.len()));
    }
    if parts.is_empty() {
        "nothing could be read".into()
    } else {
        parts.join("; ")
    }
}

/// Whether the ACL lets NETWORK SERVICE read the key file: an allow entry with a read bit for
/// one of its SIDs, and no deny entry with a read bit (deny wins).
pub fn network_service_can_read(acl: &[Ace]) -> bool {
    let applies = |a: &&Ace| {
        NETWORK_SERVICE_SIDS
            .iter()
            .any(|s| a.sid.eq_ignore_ascii_case(s))
            && a.rights & READ_BITS != 0
    };
    let allowed = acl.iter().filter(applies).any(|a| a.allow);
    let denied = acl.iter().filter(applies).any(|a| !a.allow);
    allowed && !denied
}

/// SIDs whose access applies to the NETWORK SERVICE account TermService runs as: NETWORK
/// SERVICE itself, Everyone, Authenticated Users, BUILTIN\Users (which holds Authenticated
/// Users). Well-known SIDs, [MS-DTYP] 2.4.2.4.
pub const NETWORK_SERVICE_SIDS: &[&str] = &["S-1-5-20", "S-1-1-0", "S-1-5-11", "S-1-5-32-545"];
/// Access-mask bits that grant reading a file's data: FILE_READ_DATA, GENERIC_ALL,
/// GENERIC_READ ([MS-DTYP] 2.4.3 ACCESS_MASK).
pub const READ_BITS: u32 = 0x0000_0001 | 0x1000_0000 | 0x8000_0000;
