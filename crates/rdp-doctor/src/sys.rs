//! Platform-specific socket details behind small functions, one implementation per OS.

use std::io;

/// Whether [`set_mss`] can make the SYN advertise a small MSS on this OS. Where it cannot,
/// the path-MTU retry must not run: a retry at the normal MSS that happens to succeed would be
/// misread as a path-MTU black hole.
pub const CAN_SET_MSS: bool = cfg!(unix);

/// Sets TCP_MAXSEG before connect, so the SYN advertises a small MSS (path-MTU retry).
#[cfg(unix)]
pub fn set_mss(sock: &tokio::net::TcpSocket, mss: u32) {
    let s = socket2::SockRef::from(sock);
    let _ = s.set_tcp_mss(mss);
}

/// Windows' list of settable IPPROTO_TCP socket options has no TCP_MAXSEG (and socket2
/// offers `set_tcp_mss` only on Unix), so there is no documented way to lower the MSS of a
/// connection; [`CAN_SET_MSS`] is false and the retry is skipped.
#[cfg(not(unix))]
pub fn set_mss(_sock: &tokio::net::TcpSocket, _mss: u32) {}

/// How many SYNs a just-connected socket had to retransmit: its retransmission count right
/// after connect, when no data has been sent yet. Linux counts SYNs in `tcpi_total_retrans`
/// (measured in a network namespace with every other SYN dropped: 1 per connect, connect time
/// 1.02 s); Windows reports `TCP_INFO_v0.SynRetrans`, which rdp-doctor-sys adds to its count.
/// `None` where the OS gives no statistics (other systems, Wine, Windows before 10 1703).
#[cfg(any(target_os = "linux", windows))]
pub fn syn_retransmits(s: &tokio::net::TcpStream) -> Option<u32> {
    rdp_doctor_sys::tcp_stats(s).map(|st| st.total_retransmits)
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn syn_retransmits(_s: &tokio::net::TcpStream) -> Option<u32> {
    None
}

/// Which ICMP "unreachable" ended a TCP connect (the fact `TcpOutcome::Unreachable.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableKind {
    Host,
    Network,
    /// A firewall on the path rejects with ICMP "administratively prohibited".
    AdminProhibited,
}

impl UnreachableKind {
    /// The value as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnreachableKind::Host => "host",
            UnreachableKind::Network => "network",
            UnreachableKind::AdminProhibited => "admin-prohibited",
        }
    }
}

impl std::fmt::Display for UnreachableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maps OS error codes that std does not classify to host/network unreachable.
pub fn unreachable_kind(e: &io::Error) -> Option<UnreachableKind> {
    let code = e.raw_os_error()?;
    #[cfg(target_os = "linux")]
    {
        // EHOSTUNREACH 113, ENETUNREACH 101, EHOSTDOWN 112; EACCES 13 is how Linux reports an
        // ICMPv6 "administratively prohibited" (icmpv6_err_convert), seen with an ip6tables
        // REJECT --reject-with icmp6-adm-prohibited on a router: "Permission denied".
        match code {
            113 | 112 => return Some(UnreachableKind::Host),
            101 => return Some(UnreachableKind::Network),
            13 => return Some(UnreachableKind::AdminProhibited),
            _ => {}
        }
    }
    #[cfg(windows)]
    {
        // WSAEHOSTUNREACH 10065, WSAENETUNREACH 10051, WSAEHOSTDOWN 10064
        match code {
            10065 | 10064 => return Some(UnreachableKind::Host),
            10051 => return Some(UnreachableKind::Network),
            _ => {}
        }
    }
    let _ = code;
    None
}
