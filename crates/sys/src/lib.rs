//! The only crate of rdp-doctor with `unsafe`: reading the kernel's TCP statistics of a
//! connected socket (Linux `getsockopt(TCP_INFO)`, Windows `WSAIoctl(SIO_TCP_INFO)`), and
//! switching a Windows console to ANSI escape processing. Each unsafe block is a single
//! documented OS call on a buffer of the right size.

/// What the kernel knows about a TCP connection, reduced to what a diagnosis needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpStats {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Round-trip time variance, microseconds (0 on Windows: SIO_TCP_INFO v0 does not report it).
    pub rtt_var_us: u32,
    /// Segments retransmitted over the connection's life (SYN retransmissions included).
    pub total_retransmits: u32,
    /// Of those, the ones the peer reported as duplicates (D-SACK, RFC 2883): it had the data
    /// already and only its ACK was late, so they were not lost. Linux `tcpi_dsack_dups`
    /// (kernel 5.10+; 0 where the kernel or OS does not report it).
    pub spurious_retransmits: u32,
    /// The MSS the connection sends with.
    pub send_mss: u32,
    /// Data segments sent, retransmissions included (Linux `tcpi_data_segs_out`, kernel 4.6+;
    /// `None` where the OS does not count segments: Windows' TCP_INFO_v0 counts bytes).
    pub data_segments_sent: Option<u32>,
}

#[cfg(target_os = "linux")]
mod imp {
    use super::TcpStats;
    use std::os::fd::RawFd;

    pub fn tcp_stats(fd: RawFd) -> Option<TcpStats> {
        let mut info: libc::tcp_info = unsafe_zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is a properly aligned, writable `tcp_info` and `len` its size; the
        // kernel writes at most `len` bytes and updates `len`. An invalid fd only yields -1.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return None;
        }
        Some(TcpStats {
            rtt_us: info.tcpi_rtt,
            rtt_var_us: info.tcpi_rttvar,
            total_retransmits: info.tcpi_total_retrans,
            spurious_retransmits: dsack_dups(&info),
            send_mss: info.tcpi_snd_mss,
            data_segments_sent: data_segs_out(&info),
        })
    }

    #[cfg(any(target_env = "gnu", target_env = "musl"))]
    fn dsack_dups(info: &libc::tcp_info) -> u32 {
        info.tcpi_dsack_dups
    }

    #[cfg(not(any(target_env = "gnu", target_env = "musl")))]
    fn dsack_dups(_info: &libc::tcp_info) -> u32 {
        0
    }

    /// 0 from a kernel older than 4.6 (the field is zeroed): no count, not "nothing sent".
    #[cfg(any(target_env = "gnu", target_env = "musl"))]
    fn data_segs_out(info: &libc::tcp_info) -> Option<u32> {
        Some(info.tcpi_data_segs_out).filter(|n| *n > 0)
    }

    #[cfg(not(any(target_env = "gnu", target_env = "musl")))]
    fn data_segs_out(_info: &libc::tcp_info) -> Option<u32> {
        None
    }

    fn unsafe_zeroed() -> libc::tcp_info {
        // SAFETY: tcp_info is a plain C struct of integers; all-zero is a valid value.
        unsafe { std::mem::zeroed() }
    }
}

#[cfg(windows)]
mod imp {
    use super::TcpStats;
    use windows_sys::Win32::Networking::WinSock::{TCP_INFO_v0, WSAIoctl, SIO_TCP_INFO, SOCKET};

    /// `WSAIoctl(SIO_TCP_INFO)` with input version 0 (documented for Windows 10 1703 and
    /// Windows Server 2016 and later; older versions and Wine fail the call: `None`).
    pub fn tcp_stats(sock: SOCKET) -> Option<TcpStats> {
        let version: u32 = 0;
        // SAFETY: TCP_INFO_v0 is a plain C struct of integers; all-zero is a valid value.
        let mut info: TCP_INFO_v0 = unsafe { std::mem::zeroed() };
        let mut returned: u32 = 0;
        // SAFETY: the input buffer is the 4-byte version number (a DWORD, as SIO_TCP_INFO
        // expects), the output buffer a writable TCP_INFO_v0 of the size passed; `returned`
        // is a writable u32. No overlapped I/O (null OVERLAPPED, no completion routine), so
        // the call is synchronous and no pointer outlives it. An invalid socket or an
        // unsupported ioctl only makes the call return SOCKET_ERROR.
        let rc = unsafe {
            WSAIoctl(
                sock,
                SIO_TCP_INFO,
                (&version as *const u32).cast(),
                std::mem::size_of::<u32>() as u32,
                (&mut info as *mut TCP_INFO_v0).cast(),
                std::mem::size_of::<TCP_INFO_v0>() as u32,
                &mut returned,
                std::ptr::null_mut(),
                None,
            )
        };
        if rc != 0 {
            return None;
        }
        Some(TcpStats {
            rtt_us: info.RttUs,
            // TCP_INFO_v0 has no RTT variance.
            rtt_var_us: 0,
            total_retransmits: super::windows_retransmitted_segments(
                info.BytesRetrans,
                info.Mss,
                info.SynRetrans,
            ),
            // TCP_INFO_v0 has no D-SACK count.
            spurious_retransmits: 0,
            send_mss: info.Mss,
            data_segments_sent: None,
        })
    }
}

impl TcpStats {
    /// Retransmissions that were not shown to be spurious: the ones that count as loss.
    pub fn lost_retransmits(&self) -> u32 {
        self.total_retransmits
            .saturating_sub(self.spurious_retransmits)
    }
}

/// Windows counts retransmitted *bytes* (`TCP_INFO_v0.BytesRetrans`) and SYN retransmissions
/// (`SynRetrans`) separately; Linux counts segments including SYNs (`tcpi_total_retrans`).
/// This converts the first to the second: data bytes rounded up to whole segments of `mss`
/// (at least one segment when any byte was resent), plus the SYNs.
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_retransmitted_segments(bytes_retrans: u32, mss: u32, syn_retrans: u8) -> u32 {
    bytes_retrans
        .div_ceil(mss.max(1))
        .saturating_add(u32::from(syn_retrans))
}

/// The kernel's statistics of a connected TCP socket, where the OS offers them.
#[cfg(target_os = "linux")]
pub fn tcp_stats<S: std::os::fd::AsRawFd>(s: &S) -> Option<TcpStats> {
    imp::tcp_stats(s.as_raw_fd())
}

#[cfg(windows)]
pub fn tcp_stats<S: std::os::windows::io::AsRawSocket>(s: &S) -> Option<TcpStats> {
    imp::tcp_stats(s.as_raw_socket() as windows_sys::Win32::Networking::WinSock::SOCKET)
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn tcp_stats<S>(_s: &S) -> Option<TcpStats> {
    None
}

#[cfg(test)]
mod stats_tests {
    #[test]
    fn duplicates_the_peer_reported_are_not_loss() {
        let s = super::TcpStats {
            total_retransmits: 3,
            spurious_retransmits: 1,
            ..Default::default()
        };
        assert_eq!(s.lost_retransmits(), 2);
        let odd = super::TcpStats {
            total_retransmits: 0,
            spurious_retransmits: 2,
            ..Default::default()
        };
        assert_eq!(odd.lost_retransmits(), 0);
    }
}

/// Makes ANSI colour sequences work on `out`, where that needs doing; returns whether they
/// will be interpreted. Windows 10+ consoles (conhost) interpret them only with
/// `ENABLE_VIRTUAL_TERMINAL_PROCESSING` set (Windows Terminal sets it already); older consoles
/// refuse the mode, and a pipe or file has no console mode at all — `false` then, so the caller
/// prints no colour rather than raw escape codes.
#[cfg(windows)]
pub fn enable_ansi<S: std::os::windows::io::AsRawHandle>(out: &S) -> bool {
    use windows_sys::Win32::System::Console::{
        GetConsoleMode, SetConsoleMode, CONSOLE_MODE, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
    };
    let handle = out.as_raw_handle();
    let mut mode: CONSOLE_MODE = 0;
    // SAFETY: `handle` is a handle owned by `out`, valid for the duration of the borrow;
    // `mode` is a writable CONSOLE_MODE. A non-console handle makes the call return 0.
    if unsafe { GetConsoleMode(handle, &mut mode) } == 0 {
        return false;
    }
    if mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
        return true;
    }
    // SAFETY: as above; SetConsoleMode only reads the mode value passed by value.
    unsafe { SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0 }
}

/// Unix terminals interpret ANSI sequences; nothing to switch on.
#[cfg(not(windows))]
pub fn enable_ansi<S>(_out: &S) -> bool {
    true
}

#[cfg(test)]
mod conversion_tests {
    use super::windows_retransmitted_segments as segs;

    #[test]
    fn windows_bytes_become_segments_plus_syns() {
        assert_eq!(segs(0, 1460, 0), 0, "nothing resent");
        assert_eq!(segs(0, 1460, 2), 2, "two SYN retransmissions, no data");
        assert_eq!(segs(1460, 1460, 0), 1, "one full segment");
        assert_eq!(segs(1461, 1460, 0), 2, "a full segment and one more byte");
        assert_eq!(segs(100, 1460, 1), 2, "a short segment and a SYN");
        assert_eq!(
            segs(5, 0, 0),
            5,
            "MSS unknown (0): counted per byte, never a division by 0"
        );
        assert_eq!(segs(u32::MAX, 1, u8::MAX), u32::MAX, "saturates");
    }
}

#[cfg(all(test, windows))]
mod windows_tests {
    /// SIO_TCP_INFO needs Windows 10 1703+; Wine 8 does not implement it, so `None` is allowed
    /// there. What must hold everywhere: no crash, and sane values when the OS answers.
    #[test]
    fn reads_stats_of_a_loopback_connection_or_reports_none() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        if let Some(s) = super::tcp_stats(&c) {
            assert!(s.send_mss > 0, "{s:?}");
            assert_eq!(s.total_retransmits, 0, "{s:?}");
        }
        let not_a_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        assert!(
            super::tcp_stats(&not_a_socket).is_none(),
            "not a TCP socket"
        );
    }

    /// A file has no console mode: no colour (escape codes would land in the file raw).
    #[test]
    fn a_file_gets_no_ansi() {
        let path = std::env::temp_dir().join(format!("rdp-doctor-ansi-{}", std::process::id()));
        let f = std::fs::File::create(&path).expect("temp file");
        assert!(!super::enable_ansi(&f));
        drop(f);
        let _ = std::fs::remove_file(&path);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn reads_stats_of_a_loopback_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let s = super::tcp_stats(&c).expect("TCP_INFO on Linux");
        assert!(s.send_mss > 0);
        assert_eq!(s.total_retransmits, 0);
        assert!(
            super::tcp_stats(&std::io::stdin()).is_none(),
            "not a socket"
        );
    }
}
