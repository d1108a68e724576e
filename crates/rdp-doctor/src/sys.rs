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

/// Maps OS error codes that std does not classify to `host`/`network` unreachable.
pub fn unreachable_kind(e: &io::Error) -> Option<&'static str> {
    let code = e.raw_os_error()?;
    #[cfg(target_os = "linux")]
    {
        // EHOSTUNREACH 113, ENETUNREACH 101, EHOSTDOWN 112
        match code {
            113 | 112 => return Some("host"),
            101 => return Some("network"),
            _ => {}
        }
    }
    #[cfg(windows)]
    {
        // WSAEHOSTUNREACH 10065, WSAENETUNREACH 10051, WSAEHOSTDOWN 10064
        match code {
            10065 | 10064 => return Some("host"),
            10051 => return Some("network"),
            _ => {}
        }
    }
    let _ = code;
    None
}
