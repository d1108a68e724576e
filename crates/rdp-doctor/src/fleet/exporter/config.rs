//! The exporter's configuration (TOML): where to listen, how many probes at once, which
//! targets may be probed (CIDR blocks and ports, checked on the resolved addresses), and the
//! modules a scrape may name. Passwords never appear here: a module names a credentials file
//! that only the exporter's user can read.
//!
//! ```toml
//! listen = "127.0.0.1:9489"
//! max_concurrent_probes = 16
//! [allow]
//! cidrs = ["10.20.0.0/16", "192.168.7.0/24"]
//! ports = [3389, "3390-3399"]
//! [modules.rdp_quick]
//! depth = "quick"
//! timeout = 5.0
//! ```

use super::super::scan::Depth;
use super::super::Client;
use crate::cert::TrustStore;
use crate::facts::ClientProfile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9489";
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    max_concurrent_probes: Option<usize>,
    max_connections: Option<usize>,
    allow: Option<RawAllow>,
    #[serde(default)]
    modules: BTreeMap<String, RawModule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    #[serde(default)]
    cidrs: Vec<String>,
    #[serde(default)]
    ports: Vec<PortItem>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortItem {
    One(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    depth: Option<Depth>,
    /// The whole probe's time-out, seconds (the scrape's own time-out lowers it).
    timeout: Option<f64>,
    udp_timeout: Option<f64>,
    client: Option<Client>,
    ca_file: Option<PathBuf>,
    credentials_file: Option<PathBuf>,
    expiry_warning_days: Option<i64>,
    /// Probe every target of this module through this RD Gateway (`HOST[:PORT]`, 443 by
    /// default).
    gateway: Option<String>,
    /// The gateway's credentials (the same file format as `credentials_file`).
    gateway_credentials_file: Option<PathBuf>,
}

/// A module's credentials file as written (TOML). Only a transit form: it becomes
/// [`crate::credentials::Credentials`], whose password is zeroized and never printed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    username: String,
    #[serde(default)]
    domain: Option<String>,
    password: zeroize::Zeroizing<String>,
}

#[derive(Clone)]
pub struct Module {
    pub name: String,
    pub depth: Depth,
    pub timeout: Duration,
    pub udp_timeout: Duration,
    pub client: ClientProfile,
    pub trust: Arc<TrustStore>,
    /// For the credentialed check (`check --user`): CredSSP with these credentials.
    pub credentials: Option<Arc<crate::credentials::Credentials>>,
    pub expiry_warning_days: i64,
    /// `gateway`: the module's targets through this RD Gateway.
    pub gateway: Option<crate::probe::gateway::client::GatewayOptions>,
}

/// Targets the exporter may probe: an address in one of the blocks and a port in one of the
/// ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    pub cidrs: Vec<(IpAddr, u8)>,
    pub ports: Vec<(u16, u16)>,
}

impl Allowlist {
    pub fn port_allowed(&self, port: u16) -> bool {
        self.ports.iter().any(|(a, b)| (*a..=*b).contains(&port))
    }

    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        // ::ffff:10.0.0.1 is 10.0.0.1
        let ip = ip.to_canonical();
        self.cidrs.iter().any(|(net, len)| in_block(ip, *net, *len))
    }

    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.port_allowed(addr.port()) && self.ip_allowed(addr.ip())
    }
}

fn in_block(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

pub struct Config {
    pub listen: SocketAddr,
    pub max_concurrent_probes: usize,
    pub max_connections: usize,
    pub allow: Allowlist,
    pub modules: BTreeMap<String, Module>,
}

/// Reads and validates the configuration file. Relative paths in it are relative to its
/// directory.
pub fn load(path: &Path) -> Result<Config, String> {
    let name = crate::sanitize::escape(&crate::text::truncate(&path.display().to_string(), 200));
    let bytes = crate::text::read_capped(path, MAX_CONFIG_BYTES, "exporter configuration")?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{name}: not UTF-8 text"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    // The parser's message quotes the file, which may hold anything: escaped and shortened.
    parse(&text, base).map_err(|e| {
        let lines: Vec<String> = crate::text::truncate(&e, 600)
            .split('\n')
            .map(crate::sanitize::escape)
            .collect();
        format!("{name}: {}", crate::text::truncate(&lines.join("\n"), 600))
    })
}

/// Keys that must not hold secrets in the configuration.
const SECRET_KEYS: &[&str] = &["password", "passwd", "pass", "secret", "token"];

fn find_secret(v: &toml::Value, path: &str) -> Option<String> {
    match v {
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                Some(p)
            } else {
                find_secret(v, &p)
            }
        }),
        _ => None,
    }
}

pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    if let Some(p) = find_secret(&value, "") {
        return Err(format!(
            "'{p}': passwords do not belong in the exporter configuration; put them in a file that only the exporter's user can read and name it with credentials_file = \"...\" in the module"
        ));
    }
    let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        format!("listen = \"{listen_text}\" is not ADDRESS:PORT (e.g. \"127.0.0.1:9489\")")
    })?;
    let max_concurrent_probes = raw.max_concurrent_probes.unwrap_or(16);
    if !(1..=4096).contains(&max_concurrent_probes) {
        return Err("max_concurrent_probes must be between 1 and 4096".into());
    }
    let max_connections = raw
        .max_connections
        .unwrap_or(max_concurrent_probes * 4 + 16);
    if !(1..=65_536).contains(&max_connections) {
        return Err("max_connections must be between 1 and 65536".into());
    }
    let allow = parse_allow(raw.allow)?;
    if raw.modules.is_empty() {
        return Err(
            "no modules: add at least one [modules.NAME] table (scrapes name it with &module=NAME)"
                .into(),
        );
    }
    let mut system: Option<Arc<TrustStore>> = None;
    let mut modules = BTreeMap::new();
    for (name, m) in raw.modules {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            return Err(format!(
                "module name '{}' must be 1-64 letters, digits, '_' or '-'",
                crate::sanitize::escape(&name)
            ));
        }
        let module = build_module(&name, m, base, &mut system)
            .map_err(|e| format!("[modules.{name}]: {e}"))?;
        modules.insert(name, module);
    }
    Ok(Config {
        listen,
        max_concurrent_probes,
        max_connections,
        allow,
        modules,
    })
}

fn parse_allow(raw: Option<RawAllow>) -> Result<Allowlist, String> {
    let Some(raw) = raw else {
        return Err("no [allow] table: list the CIDR blocks and ports the exporter may probe (it refuses everything else, so it cannot be used to scan other networks)".into());
    };
    if raw.cidrs.is_empty() {
        return Err("[allow] cidrs is empty: list the blocks the exporter may probe, e.g. cidrs = [\"10.20.0.0/16\"]".into());
    }
    let mut cidrs = Vec::new();
    for c in &raw.cidrs {
        let (addr, len) = match c.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (c.as_str(), None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!(
                "[allow] cidrs: '{}' is not an address or CIDR block",
                crate::sanitize::escape(c)
            )
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| {
                format!(
                    "[allow] cidrs: '{}' has a bad prefix length",
                    crate::sanitize::escape(c)
                )
            })?,
        };
        cidrs.push((ip, len));
    }
    let mut ports = Vec::new();
    for p in &raw.ports {
        match p {
            PortItem::One(n) => {
                let n = u16::try_from(*n)
                    .ok()
                    .filter(|n| *n != 0)
                    .ok_or_else(|| format!("[allow] ports: {n} is not a port (1-65535)"))?;
                ports.push((n, n));
            }
            PortItem::Text(t) => {
                let list = super::super::targets::parse_ports(t)
                    .map_err(|e| format!("[allow] ports: {e}"))?;
                ports.extend(list.into_iter().map(|p| (p, p)));
            }
        }
    }
    if ports.is_empty() {
        ports.push((3389, 3389));
    }
    // Merge into sorted, non-overlapping ranges (for display and a shorter check).
    ports.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ports {
        match merged.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Ok(Allowlist {
        cidrs,
        ports: merged,
    })
}

fn build_module(
    name: &str,
    m: RawModule,
    base: &Path,
    system: &mut Option<Arc<TrustStore>>,
) -> Result<Module, String> {
    let secs = |v: Option<f64>, default: f64, key: &str| -> Result<Duration, String> {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && (0.1..=300.0).contains(&v)) {
            return Err(format!("{key} must be between 0.1 and 300 seconds"));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let trust = match &m.ca_file {
        Some(p) => Arc::new(TrustStore::from_pem_file(&base.join(p))?),
        None => system
            .get_or_insert_with(|| Arc::new(TrustStore::system()))
            .clone(),
    };
    let credentials = match &m.credentials_file {
        Some(p) => Some(Arc::new(load_credentials(&base.join(p))?)),
        None => None,
    };
    if m.gateway_credentials_file.is_some() && m.gateway.is_none() {
        return Err("gateway_credentials_file needs gateway".into());
    }
    let gateway = match &m.gateway {
        Some(g) => Some(crate::probe::gateway::client::GatewayOptions {
            target: crate::target::parse_target(g, 443).map_err(|e| format!("gateway: {e}"))?,
            credentials: match &m.gateway_credentials_file {
                Some(p) => Some(Arc::new(load_credentials(&base.join(p))?)),
                None => None,
            },
            token: None,
            pinned_sha256: None,
            insecure: false,
        }),
        None => None,
    };
    Ok(Module {
        name: name.to_string(),
        gateway,
        depth: m.depth.unwrap_or(Depth::Standard),
        timeout: secs(m.timeout, 10.0, "timeout")?,
        udp_timeout: secs(
            m.udp_timeout,
            crate::probe::defaults::UDP_WAIT_S,
            "udp_timeout",
        )?,
        client: m.client.unwrap_or(Client::Mstsc).profile(),
        trust,
        credentials,
        expiry_warning_days: m
            .expiry_warning_days
            .unwrap_or(crate::diagnose::defaults::EXPIRY_WARNING_DAYS),
    })
}

/// Reads a credentials file (TOML: username, password, optional domain). It must not be
/// readable by group or others.
pub fn load_credentials(path: &Path) -> Result<crate::credentials::Credentials, String> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| format!("credentials_file {name}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("credentials_file {name} is not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "credentials_file {name} is readable by group or others (mode {mode:o}); run chmod 600 {name}"
            ));
        }
    }
    if meta.len() > 64 * 1024 {
        return Err(format!("credentials_file {name} is larger than 64 KiB"));
    }
    // The length above is 0 for a device or a pipe: the read itself is capped too.
    let bytes = crate::text::read_capped(path, 64 * 1024, "credentials_file")?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("credentials_file {name}: not UTF-8"))?;
    // The parser's message could quote the file's text (the password): keep only the position.
    let text = zeroize::Zeroizing::new(text);
    let mut c: CredentialsFile = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text.get(..s.start).map(|t| t.lines().count()).unwrap_or(0);
                format!(" near line {}", line.max(1))
            })
            .unwrap_or_default();
        format!("credentials_file {name} is not valid (expected username = \"...\", password = \"...\", optional domain){at}")
    })?;
    if c.username.is_empty() || c.password.is_empty() {
        return Err(format!(
            "credentials_file {name}: username and password must not be empty"
        ));
    }
    let (mut domain, user) = crate::credentials::parse_user(&c.username)
        .map_err(|e| format!("credentials_file {name}: {e}"))?;
    if let Some(d) = c.domain.filter(|d| !d.is_empty()) {
        domain = d;
    }
    Ok(crate::credentials::Credentials {
        domain,
        user,
        password: crate::credentials::Secret::new(std::mem::take(&mut *c.password)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, String> {
        parse(text, Path::new("."))
    }

    const GOOD: &str = r#"
listen = "127.0.0.1:44123"
max_concurrent_probes = 4
[allow]
cidrs = ["10.20.0.0/16", "127.0.0.1", "2001:db8::/64"]
ports = ["3390-3392", 3389, 3391]
[modules.quick]
depth = "quick"
timeout = 5
client = "tls"
[modules.full]
depth = "full"
"#;

    #[test]
    fn a_good_config_loads_with_defaults() {
        let c = p(GOOD).expect("valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:44123");
        assert_eq!(c.max_concurrent_probes, 4);
        assert_eq!(c.modules.len(), 2);
        let q = &c.modules["quick"];
        assert_eq!(q.depth, Depth::Quick);
        assert_eq!(q.timeout, Duration::from_secs(5));
        assert_eq!(q.client.name, "tls");
        assert_eq!(c.modules["full"].timeout, Duration::from_secs(10));
        assert_eq!(c.allow.ports, vec![(3389, 3392)]);
    }

    #[test]
    fn the_allowlist_checks_address_and_port() {
        let a = p(GOOD).expect("valid").allow;
        assert!(a.allows("10.20.3.4:3389".parse().expect("addr")));
        assert!(a.allows("10.20.3.4:3391".parse().expect("addr")));
        assert!(!a.allows("10.20.3.4:22".parse().expect("addr")));
        assert!(!a.allows("10.21.0.1:3389".parse().expect("addr")));
        assert!(a.allows("127.0.0.1:3389".parse().expect("addr")));
        assert!(!a.allows("127.0.0.2:3389".parse().expect("addr")));
        assert!(a.allows("[2001:db8::9]:3389".parse().expect("addr")));
        assert!(!a.allows("[2001:db9::9]:3389".parse().expect("addr")));
        // an IPv4-mapped IPv6 address is judged as the IPv4 address
        assert!(a.allows("[::ffff:10.20.0.1]:3389".parse().expect("addr")));
        assert!(!a.allows("[::ffff:8.8.8.8]:3389".parse().expect("addr")));
    }

    #[test]
    fn mistakes_are_explained() {
        for (text, want) in [
            ("[modules.a]\n", "no [allow] table"),
            ("[allow]\ncidrs=[]\n[modules.a]\n", "cidrs is empty"),
            (
                "[allow]\ncidrs=[\"10.0.0.0/33\"]\n[modules.a]\n",
                "bad prefix length",
            ),
            ("[allow]\ncidrs=[\"ten\"]\n[modules.a]\n", "not an address"),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\nports=[70000]\n[modules.a]\n",
                "not a port",
            ),
            ("[allow]\ncidrs=[\"10.0.0.0/8\"]\n", "no modules"),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\ndepth=\"deep\"\n",
                "depth",
            ),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\ntimeout=0\n",
                "timeout must be",
            ),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\ncolour=1\n",
                "unknown field",
            ),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.\"a b\"]\n",
                "module name",
            ),
            (
                "listen=\"localhost\"\n[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\n",
                "ADDRESS:PORT",
            ),
            (
                "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\nca_file=\"/nonexistent/ca.pem\"\n",
                "cannot read",
            ),
        ] {
            let e = p(text).err().unwrap_or_default();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn passwords_are_refused_inline() {
        let e = p(
            "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\nusername=\"x\"\npassword=\"hunter2\"\n",
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("modules.a.password"), "{e}");
        assert!(e.contains("credentials_file"), "{e}");
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn credentials_files_must_be_private_and_are_never_printed() {
        let dir = std::env::temp_dir().join(format!("rdpd-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("creds.toml");
        std::fs::write(&f, "username = \"probe\"\npassword = \"S3cret!\"\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = load_credentials(&f).expect_err("world-readable");
            assert!(e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let c = load_credentials(&f).expect("private file loads");
        assert_eq!(c.user, "probe");
        assert!(!format!("{c:?}").contains("S3cret"));
        // a broken file's error does not quote the password
        std::fs::write(&f, "username = \"probe\"\npassword = S3cret!\n").expect("write");
        let e = load_credentials(&f).expect_err("invalid");
        assert!(!e.contains("S3cret"), "{e}");
        let text = format!(
            "[allow]\ncidrs=[\"10.0.0.0/8\"]\n[modules.a]\ncredentials_file = '{}'\n",
            f.display()
        );
        std::fs::write(&f, "username = \"probe\"\npassword = \"S3cret!\"\n").expect("write");
        let c = p(&text).expect("config with a credentials file");
        assert_eq!(
            c.modules["a"].credentials.as_ref().map(|c| c.user.as_str()),
            Some("probe")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let text = include_str!("../../../../../examples/prometheus/exporter.toml");
        let c = p(text).expect("examples/prometheus/exporter.toml is valid");
        assert!(c.listen.ip().is_loopback(), "the example binds to loopback");
        assert!(!c.modules.is_empty());
    }
}
