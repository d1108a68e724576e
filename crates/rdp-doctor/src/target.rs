//! Parsing what the user typed as a target: `host`, `host:port`, `[v6]:port`, a bare IPv6
//! address, or an `rdp://host:port` style prefix-free form. Bad input is a clear error.

use crate::model::Target;
use std::net::IpAddr;

pub const DEFAULT_PORT: u16 = 3389;

/// Parses `input` into host and port. Hostnames are checked for the characters DNS allows, so
/// that a typo (a space, a path, a URL) is reported instead of being sent to the resolver.
pub fn parse_target(input: &str, default_port: u16) -> Result<Target, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(
            "empty target: give a host name or address, e.g. server.example.com:3389".into(),
        );
    }
    if s.len() > 300 {
        return Err("target is longer than 300 characters".into());
    }
    if s.contains("://") {
        return Err(format!(
            "'{}' looks like a URL; give host or host:port (e.g. server.example.com:3389)",
            crate::sanitize::escape(s)
        ));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in '{}'", crate::sanitize::escape(s)))?;
        let port = match after {
            "" => default_port,
            p => parse_port(p.strip_prefix(':').ok_or_else(|| {
                format!(
                    "expected ':PORT' after ']' in '{}'",
                    crate::sanitize::escape(s)
                )
            })?)?,
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "'{}' inside brackets is not an IPv6 address",
                crate::sanitize::escape(h)
            ));
        }
        (h.to_string(), port)
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address (no port possible without brackets).
        if s.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "'{}' is not a valid IPv6 address (write [ADDRESS]:PORT to give a port)",
                crate::sanitize::escape(s)
            ));
        }
        (s.to_string(), default_port)
    } else if let Some((h, p)) = s.rsplit_once(':') {
        (h.to_string(), parse_port(p)?)
    } else {
        (s.to_string(), default_port)
    };
    let host_kind = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "ipv4",
        Ok(IpAddr::V6(_)) => "ipv6",
        Err(_) => {
            validate_dns_name(&host)?;
            "dns"
        }
    };
    Ok(Target {
        input: s.to_string(),
        host: host.trim_end_matches('.').to_string(),
        port,
        host_kind: host_kind.to_string(),
    })
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) => Err("port 0 is not a valid port".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'{}' is not a port number (1-65535)",
            crate::sanitize::escape(p)
        )),
    }
}

fn validate_dns_name(h: &str) -> Result<(), String> {
    let name = h.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "'{}' is not a valid host name",
            crate::sanitize::escape(h)
        ));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "'{}' is not a valid host name (label '{}')",
                crate::sanitize::escape(h),
                crate::sanitize::escape(label)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> (String, u16, String) {
        let t = parse_target(s, 3389).expect(s);
        (t.host, t.port, t.host_kind)
    }

    #[test]
    fn accepts_the_forms_admins_type() {
        assert_eq!(
            hp("server.example.com"),
            ("server.example.com".into(), 3389, "dns".into())
        );
        assert_eq!(hp("srv:3390"), ("srv".into(), 3390, "dns".into()));
        assert_eq!(
            hp("10.0.0.5:3389"),
            ("10.0.0.5".into(), 3389, "ipv4".into())
        );
        assert_eq!(
            hp("[2001:db8::1]:3390"),
            ("2001:db8::1".into(), 3390, "ipv6".into())
        );
        assert_eq!(
            hp("2001:db8::1"),
            ("2001:db8::1".into(), 3389, "ipv6".into())
        );
        assert_eq!(hp("[::1]"), ("::1".into(), 3389, "ipv6".into()));
        assert_eq!(
            hp("Server.Example.COM."),
            ("Server.Example.COM".into(), 3389, "dns".into())
        );
    }

    #[test]
    fn rejects_typos_clearly() {
        for bad in [
            "",
            "srv:0",
            "srv:99999",
            "srv:abc",
            "https://srv",
            "my server",
            "[2001:db8::1",
            "[nothex]:3389",
            "srv..example",
            "-srv",
            "2001:db8::zz",
            "srv/path",
        ] {
            assert!(parse_target(bad, 3389).is_err(), "{bad:?} accepted");
        }
        let e = parse_target("srv\x1b[2J:1", 3389).expect_err("control chars");
        assert!(!e.contains('\x1b'));
    }
}
