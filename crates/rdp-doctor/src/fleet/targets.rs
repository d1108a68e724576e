//! Scan targets: what an admin types or keeps in a file, expanded into endpoints.
//!
//! One spec is a host (`srv01`, `10.0.0.5`, `2001:db8::5`, `[2001:db8::5]`), an IPv4 range
//! (`10.0.0.1-10.0.0.50`, or `10.0.0.1-50` for the last octet), or a CIDR block
//! (`10.0.0.0/24`, `[2001:db8::/120]`), optionally followed by `:PORTS` where PORTS is a
//! comma-separated list of ports and ranges (`3389,3390`, `3389-3399`). Without `:PORTS` the
//! default ports apply. A CIDR block of an IPv4 prefix up to /30 leaves out its network and
//! broadcast addresses (list them explicitly to scan them). Files hold one spec per line;
//! `#` starts a comment. Expansion stops with a clear error before it passes a hard cap, so a
//! typo such as `10.0.0.0/8` cannot allocate millions of endpoints.

use crate::model::Target;
use crate::sanitize::escape;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The default cap on expanded endpoints (`--max-targets`).
pub const DEFAULT_MAX_TARGETS: usize = 65_536;
/// The largest cap `--max-targets` accepts.
pub const HARD_MAX_TARGETS: usize = 1_048_576;
/// The most endpoints, duplicates included, one expansion walks (twice the hard cap): bounds
/// the time and memory of a list that repeats large ranges.
const MAX_CANDIDATES: u128 = 2 * HARD_MAX_TARGETS as u128;
/// Longest accepted spec and file line.
const MAX_SPEC_LEN: usize = 300;
/// Largest targets file read (bytes).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The host part of a spec, before the ports are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    /// A host name or a single address (as typed, without brackets).
    Single(String),
    /// An inclusive IPv4 range.
    V4Range(Ipv4Addr, Ipv4Addr),
    /// A CIDR block (the address is the network address).
    Cidr(IpAddr, u8),
}

/// An endpoint as duplicates are recognised: an address in any spelling, or a name in any case.
#[derive(PartialEq, Eq, Hash)]
enum Endpoint {
    Ip(u128, u16),
    Name(String, u16),
}

/// One parsed spec: hosts and (when given) ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub hosts: HostSpec,
    /// Empty: use the default ports.
    pub ports: Vec<u16>,
}

impl HostSpec {
    /// How many addresses this host spec stands for.
    pub fn count(&self) -> u128 {
        match self {
            HostSpec::Single(_) => 1,
            HostSpec::V4Range(a, b) => u128::from(u32::from(*b)) - u128::from(u32::from(*a)) + 1,
            HostSpec::Cidr(ip, len) => {
                let bits = if ip.is_ipv4() { 32 } else { 128 };
                let total = 1u128
                    .checked_shl(u32::from(bits - len))
                    .unwrap_or(u128::MAX);
                if ip.is_ipv4() && *len <= 30 {
                    total - 2
                } else {
                    total
                }
            }
        }
    }
}

/// Parses a port list: `3389`, `3389,3390`, `3389-3399,4000`.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("empty port in '{}'", escape(s)));
        }
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(part)?;
                (p, p)
            }
        };
        if b < a {
            return Err(format!("port range {a}-{b} runs backwards"));
        }
        for p in a..=b {
            if !out.contains(&p) {
                out.push(p);
            }
            if out.len() > 65_535 {
                break;
            }
        }
    }
    Ok(out)
}

fn port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("port 0 is not a valid port".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("'{}' is not a port number (1-65535)", escape(s))),
    }
}

/// Parses one spec (see the module documentation).
pub fn parse_spec(input: &str) -> Result<Spec, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty target".into());
    }
    if s.len() > MAX_SPEC_LEN {
        return Err(format!("target is longer than {MAX_SPEC_LEN} characters"));
    }
    if s.contains("://") {
        return Err(format!(
            "'{}' looks like a URL; give host, host:port, a range or a CIDR block",
            escape(s)
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "'{}' contains a space or a control character",
            escape(s)
        ));
    }
    let (host, ports) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in '{}'", escape(s)))?;
        let ports = match after {
            "" => Vec::new(),
            a => parse_ports(
                a.strip_prefix(':')
                    .ok_or_else(|| format!("expected ':PORTS' after ']' in '{}'", escape(s)))?,
            )?,
        };
        (h, ports)
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address or block: no port without brackets.
        (s, Vec::new())
    } else if let Some((h, p)) = s.rsplit_once(':') {
        (h, parse_ports(p)?)
    } else {
        (s, Vec::new())
    };
    Ok(Spec {
        hosts: parse_host(host, s)?,
        ports,
    })
}

fn parse_host(h: &str, whole: &str) -> Result<HostSpec, String> {
    if let Some((addr, len)) = h.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!(
                "'{}' in '{}' is not an IP address (a CIDR block is ADDRESS/PREFIX)",
                escape(addr),
                escape(whole)
            )
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("'/{}' is not a prefix length (0-{max})", escape(len)))?;
        let net = network(ip, len);
        if net != ip {
            return Err(format!(
                "{ip}/{len} has host bits set; the block starts at {net}/{len}"
            ));
        }
        return Ok(HostSpec::Cidr(net, len));
    }
    if let Some((a, b)) = h.split_once('-') {
        if let Ok(first) = a.parse::<Ipv4Addr>() {
            let last = match b.parse::<Ipv4Addr>() {
                Ok(l) => l,
                Err(_) => match b.parse::<u8>() {
                    Ok(o) => {
                        let [x, y, z, _] = first.octets();
                        Ipv4Addr::new(x, y, z, o)
                    }
                    Err(_) => {
                        return Err(format!(
                        "'{}' is not the end of an IPv4 range (an address or a last octet 0-255)",
                        escape(b)
                    ))
                    }
                },
            };
            if u32::from(last) < u32::from(first) {
                return Err(format!("range {first}-{last} runs backwards"));
            }
            return Ok(HostSpec::V4Range(first, last));
        }
    }
    // A single host: the same validation as `check`.
    crate::target::parse_target(&bracket(h), crate::target::DEFAULT_PORT)?;
    Ok(HostSpec::Single(h.trim_end_matches('.').to_string()))
}

fn bracket(h: &str) -> String {
    if h.contains(':') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// Where a spec came from, for error messages.
#[derive(Debug, Clone)]
pub struct Located {
    pub origin: String,
    pub text: String,
}

/// Reads specs from a targets file: one per line, `#` comments, blank lines ignored.
pub fn parse_file_text(name: &str, text: &str) -> Vec<Located> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = match line.find('#') {
                Some(p) => line.get(..p).unwrap_or(""),
                None => line,
            }
            .trim();
            (!line.is_empty()).then(|| Located {
                origin: format!("{name}:{}", i + 1),
                text: line.to_string(),
            })
        })
        .collect()
}

/// Reads a targets file (`-` is standard input).
pub fn read_file(path: &std::path::Path) -> Result<Vec<Located>, String> {
    use std::io::Read;
    let mut text = String::new();
    let name = path.display().to_string();
    if name == "-" {
        std::io::stdin()
            .take(MAX_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the targets from standard input: {e}"))?;
    } else {
        let f = std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        f.take(MAX_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
    }
    Ok(parse_file_text(&name, &text))
}

/// Expands specs into endpoints, in input order, without duplicates. Fails (naming the spec)
/// on bad input or when the total would pass `max`.
pub fn expand(specs: &[Located], default_ports: &[u16], max: usize) -> Result<Vec<Target>, String> {
    if default_ports.is_empty() {
        return Err("no default port".into());
    }
    let mut parsed = Vec::with_capacity(specs.len());
    let mut total: u128 = 0;
    for l in specs {
        let spec = parse_spec(&l.text).map_err(|e| format!("{}: {e}", l.origin))?;
        let ports = if spec.ports.is_empty() {
            default_ports.len()
        } else {
            spec.ports.len()
        };
        let n = spec.hosts.count().saturating_mul(ports as u128);
        total = total.saturating_add(n);
        // Before expanding: the work (and the set of endpoints seen) stays bounded even when
        // a list repeats large ranges. Within this bound `max` is checked on distinct
        // endpoints, after duplicates are dropped.
        if total > MAX_CANDIDATES.max(max as u128) {
            return Err(format!(
                "{}: the targets expand to more than {} endpoints before duplicates are dropped \
                 ('{}' alone is {n}), far more than --max-targets {max}; narrow the ranges",
                l.origin,
                MAX_CANDIDATES.max(max as u128),
                escape(&l.text)
            ));
        }
        parsed.push((l, spec));
    }
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(max).min(max));
    let mut seen: HashSet<Endpoint> = HashSet::new();
    // The spec at which the distinct endpoints passed `max`.
    let mut passed_at: Option<&Located> = None;
    for (l, spec) in &parsed {
        let ports: &[u16] = if spec.ports.is_empty() {
            default_ports
        } else {
            &spec.ports
        };
        let mut push = |host: String, kind: &str, port: u16| {
            let key = match host.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => Endpoint::Ip(u128::from(a.to_ipv6_mapped()), port),
                Ok(IpAddr::V6(a)) => Endpoint::Ip(u128::from(a), port),
                Err(_) => Endpoint::Name(host.to_ascii_lowercase(), port),
            };
            if !seen.insert(key) {
                return;
            }
            if out.len() >= max {
                // Only counted from here on, for the error.
                passed_at.get_or_insert(l);
                return;
            }
            let input = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            out.push(Target {
                input,
                host,
                port,
                host_kind: kind.to_string(),
            });
        };
        match &spec.hosts {
            HostSpec::Single(h) => {
                let kind = match h.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => "ipv4",
                    Ok(IpAddr::V6(_)) => "ipv6",
                    Err(_) => "dns",
                };
                for &p in ports {
                    push(h.clone(), kind, p);
                }
            }
            HostSpec::V4Range(a, b) => {
                for v in u32::from(*a)..=u32::from(*b) {
                    for &p in ports {
                        push(Ipv4Addr::from(v).to_string(), "ipv4", p);
                    }
                }
            }
            HostSpec::Cidr(IpAddr::V4(net), len) => {
                let first = u32::from(*net);
                let size = 1u64 << (32 - u32::from(*len));
                let (lo, hi) = if *len <= 30 {
                    (1u64, size - 1)
                } else {
                    (0, size)
                };
                for off in lo..hi {
                    let v = first.wrapping_add(off as u32);
                    for &p in ports {
                        push(Ipv4Addr::from(v).to_string(), "ipv4", p);
                    }
                }
            }
            HostSpec::Cidr(IpAddr::V6(net), _) => {
                // The cap check above bounds the size.
                let first = u128::from(*net);
                let size = spec.hosts.count();
                for off in 0..size {
                    let v = first.wrapping_add(off);
                    for &p in ports {
                        push(Ipv6Addr::from(v).to_string(), "ipv6", p);
                    }
                }
            }
        }
    }
    if let Some(l) = passed_at {
        return Err(format!(
            "{}: the targets expand to {} distinct endpoints (duplicates dropped), more than {max} \
             from '{}' on; narrow the ranges or raise --max-targets (at most {HARD_MAX_TARGETS})",
            l.origin,
            seen.len(),
            escape(&l.text)
        ));
    }
    if out.is_empty() {
        return Err("no targets: give them as arguments or with -i FILE".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(items: &[&str]) -> Vec<Located> {
        items
            .iter()
            .map(|t| Located {
                origin: "arg".into(),
                text: t.to_string(),
            })
            .collect()
    }

    fn inputs(items: &[&str], ports: &[u16]) -> Vec<String> {
        expand(&loc(items), ports, 10_000)
            .expect("expands")
            .into_iter()
            .map(|t| t.input)
            .collect()
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            inputs(
                &[
                    "srv01",
                    "10.0.0.5:3390",
                    "[2001:db8::5]:3391",
                    "2001:db8::6"
                ],
                &[3389]
            ),
            vec![
                "srv01:3389",
                "10.0.0.5:3390",
                "[2001:db8::5]:3391",
                "[2001:db8::6]:3389"
            ]
        );
        assert_eq!(
            inputs(&["srv:3389,3390-3392"], &[3389]),
            vec!["srv:3389", "srv:3390", "srv:3391", "srv:3392"]
        );
        // default ports apply to every spec without its own
        assert_eq!(
            inputs(&["a", "b:1"], &[3389, 3390]),
            vec!["a:3389", "a:3390", "b:1"]
        );
    }

    #[test]
    fn cidr_blocks_leave_out_network_and_broadcast() {
        let v = inputs(&["10.0.0.0/30:3389"], &[1]);
        assert_eq!(v, vec!["10.0.0.1:3389", "10.0.0.2:3389"]);
        assert_eq!(inputs(&["10.0.0.0/24"], &[3389]).len(), 254);
        assert_eq!(
            inputs(&["10.0.0.8/31"], &[3389]),
            vec!["10.0.0.8:3389", "10.0.0.9:3389"]
        );
        assert_eq!(inputs(&["10.0.0.7/32"], &[3389]), vec!["10.0.0.7:3389"]);
        let v6 = inputs(&["[2001:db8::/126]:3389,3390"], &[1]);
        assert_eq!(v6.len(), 8);
        assert_eq!(v6[0], "[2001:db8::]:3389");
        assert_eq!(v6[7], "[2001:db8::3]:3390");
        // ports expand inside each address, addresses in order
        assert_eq!(
            inputs(&["10.0.0.0/30:1,2"], &[9]),
            vec!["10.0.0.1:1", "10.0.0.1:2", "10.0.0.2:1", "10.0.0.2:2"]
        );
    }

    #[test]
    fn ipv4_ranges() {
        assert_eq!(
            inputs(&["10.0.0.254-10.0.1.1"], &[3389]),
            vec![
                "10.0.0.254:3389",
                "10.0.0.255:3389",
                "10.0.1.0:3389",
                "10.0.1.1:3389"
            ]
        );
        assert_eq!(inputs(&["192.168.1.10-19:3390"], &[3389]).len(), 10);
        // a host name with a dash is a host name, not a range
        assert_eq!(inputs(&["rdp-01"], &[3389]), vec!["rdp-01:3389"]);
    }

    #[test]
    fn files_have_comments_and_blank_lines() {
        let text = "# session hosts\n\nsrv01\n  srv02:3390   # the odd one\n10.0.0.0/30 # lab\n";
        let specs = parse_file_text("hosts.txt", text);
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[1].origin, "hosts.txt:4");
        assert_eq!(
            expand(&specs, &[3389], 100)
                .expect("ok")
                .iter()
                .map(|t| t.input.as_str())
                .collect::<Vec<_>>(),
            vec!["srv01:3389", "srv02:3390", "10.0.0.1:3389", "10.0.0.2:3389"]
        );
    }

    #[test]
    fn duplicates_are_dropped_keeping_the_first() {
        assert_eq!(
            inputs(&["10.0.0.1", "10.0.0.0/30", "SRV", "srv:3389"], &[3389]),
            vec!["10.0.0.1:3389", "10.0.0.2:3389", "SRV:3389"]
        );
    }

    #[test]
    fn the_cap_is_checked_before_expanding() {
        let e = expand(&loc(&["10.0.0.0/8"]), &[3389], 65_536).expect_err("too many");
        assert!(e.contains("16777214"), "{e}");
        assert!(e.contains("--max-targets"), "{e}");
        // an IPv6 /64 must fail fast, not allocate
        let e = expand(&loc(&["[2001:db8::/64]"]), &[3389], 65_536).expect_err("too many");
        assert!(e.contains("--max-targets 65536"), "{e}");
        // the ports multiply
        assert!(expand(&loc(&["10.0.0.0/24:1-300"]), &[3389], 65_536).is_err());
        assert_eq!(
            expand(&loc(&["10.0.0.0/24:1-200"]), &[3389], 65_536)
                .expect("fits")
                .len(),
            254 * 200
        );
        // the cap counts across specs, and names the spec that passed it
        let e = expand(&loc(&["10.0.0.0/25", "10.0.1.0/25"]), &[3389], 200).expect_err("cap");
        assert!(e.contains("10.0.1.0/25"), "{e}");
        assert!(e.contains("252 distinct endpoints"), "{e}");
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (bad, why) in [
            ("", "empty"),
            ("10.0.0.0/33", "prefix length"),
            ("10.0.0.1/24", "host bits"),
            ("10.0.0.0/x", "prefix length"),
            ("300.0.0.0/8", "not an IP address"),
            ("10.0.0.9-10.0.0.1", "backwards"),
            ("10.0.0.1-300", "end of an IPv4 range"),
            ("srv:0", "port 0"),
            ("srv:3389-3300", "backwards"),
            ("srv:3389,,3390", "empty port"),
            ("srv:http", "not a port"),
            ("https://srv", "URL"),
            ("my server", "space"),
            ("[2001:db8::1", "missing ']'"),
            ("srv..example", "not a valid host name"),
        ] {
            let e = parse_spec(bad).expect_err(bad);
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let e = expand(
            &[Located {
                origin: "hosts.txt:7".into(),
                text: "10.0.0.0/33".into(),
            }],
            &[3389],
            10,
        )
        .expect_err("bad");
        assert!(e.starts_with("hosts.txt:7: "), "{e}");
        let e = parse_spec("srv\x1b[2J").expect_err("control");
        assert!(!e.contains('\x1b'));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_spec("10.0.0.0/24").expect("ok").hosts.count(), 254);
        assert_eq!(
            parse_spec("0.0.0.0/0").expect("ok").hosts.count(),
            (1u128 << 32) - 2
        );
        assert_eq!(parse_spec("::/0").expect("ok").hosts.count(), u128::MAX);
        assert_eq!(parse_ports("1-3,2,5").expect("ok"), vec![1, 2, 3, 5]);
    }

    /// `--max-targets` counts endpoints once: duplicates (in any spelling) do not count, and
    /// the error names the distinct count.
    #[test]
    fn the_cap_counts_distinct_endpoints() {
        let list = [
            "10.0.0.0/29",
            "10.0.0.1-6",
            "10.0.0.3",
            "srv",
            "SRV:3389",
            "::ffff:10.0.0.2",
        ];
        let got = expand(&loc(&list), &[3389], 7).expect("7 distinct endpoints fit a cap of 7");
        assert_eq!(got.len(), 7);
        let e = expand(&loc(&list), &[3389], 6).expect_err("7 > 6");
        assert!(e.contains("7 distinct endpoints"), "{e}");
        assert!(e.contains("more than 6"), "{e}");
        // A list that repeats a range many times stays under the cap.
        let many: Vec<&str> = std::iter::repeat_n("10.0.0.0/24", 500).collect();
        assert_eq!(
            expand(&loc(&many), &[3389], 254)
                .expect("254 distinct")
                .len(),
            254
        );
        // The work bound is on candidates: a huge repeated range is refused before expanding.
        let huge: Vec<&str> = std::iter::repeat_n("10.0.0.0/12", 3).collect();
        let e = expand(&loc(&huge), &[3389], 2_000_000).expect_err("work bound");
        assert!(e.contains("before duplicates are dropped"), "{e}");
    }
}
