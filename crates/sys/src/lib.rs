//! The only crate of rdp-doctor with `unsafe`: reading the kernel's TCP statistics of a
//! connected socket (Linux `getsockopt(TCP_INFO)`, Windows `WSAIoctl(SIO_TCP_INFO)`). Each
//! unsafe block is a single documented OS call on a buffer of the right size.

/// What the kernel knows about a TCP connection, reduced to what a diagnosis needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpStats {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Round-trip time variance, microseconds.
    pub rtt_var_us: u32,
    /// Segments retransmitted over the connection's life (SYN retransmissions included).
    pub total_retransmits: u32,
    /// Of those, the ones the peer reported as duplicates (D-SACK, RFC 2883): it had the data
    /// already and only its ACK was late, so they were not lost. Linux `tcpi_dsack_dups`
    /// (kernel 5.10+; 0 where the kernel or OS does not report it).
    pub spurious_retransmits: u32,
    /// The MSS the connection sends with.
    pub send_mss: u32,
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

    fn unsafe_zeroed() -> libc::tcp_info {
        // SAFETY: tcp_info is a plain C struct of integers; all-zero is a valid value.
        unsafe { std::mem::zeroed() }
    }
}

#[cfg(windows)]
mod imp {
    use super::TcpStats;
    use windows_sys::Win32::Networking::WinSock::{TCP_INFO_v0, WSAIoctl, SIO_TCP_INFO, SOCKET};

    pub fn tcp_stats(sock: SOCKET) -> Option<TcpStats> {
        let version: u32 = 0;
        // SAFETY: TCP_INFO_v0 is a plain C struct; all-zero is a valid value.
        let mut info: TCP_INFO_v0 = unsafe { std::mem::zeroed() };
        let mut returned: u32 = 0;
        // SAFETY: input is the 4-byte version number, output a TCP_INFO_v0 of the given size;
        // no overlapped I/O. An invalid socket only makes the call fail.
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
            rtt_var_us: 0,
            total_retransmits: info.BytesRetrans.min(u64::from(u32::MAX)) as u32 / info.Mss.max(1),
            spurious_retransmits: 0,
            send_mss: info.Mss,
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
