//! The UDP step: an RDP-UDP SYN ([MS-RDPEUDP] 3.1.5.1.1), padded to 1 232 bytes as the spec
//! requires, to the same port over UDP; classify SYN+ACK, ICMP port unreachable, or silence.

use super::net;
use crate::facts::{UdpFact, UdpOutcome};
use rdp_doctor_wire::rdpeudp::{self, Syn};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Send the SYN again after these delays (like a client would), within the overall wait.
const RETRANSMIT_AFTER: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(700)];

pub async fn probe(addr: SocketAddr, wait: Duration) -> UdpFact {
    let start = Instant::now();
    let isn: u32 = rand::random();
    let syn = Syn::probe(isn).encode();
    let mut fact = UdpFact {
        outcome: UdpOutcome::Silent,
        duration_ms: 0.0,
        attempts: 0,
        datagram_bytes: syn.len(),
        rtt_ms: None,
        version: None,
        error: None,
    };
    let bind: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return error(fact, &start, e),
    };
    if let Err(e) = sock.connect(addr).await {
        return error(fact, &start, e);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut next_send = tokio::time::Instant::now();
    let mut retransmits = RETRANSMIT_AFTER.iter();
    let mut last_send = Instant::now();
    let mut buf = vec![0u8; 2048];
    loop {
        if tokio::time::Instant::now() >= next_send {
            last_send = Instant::now();
            fact.attempts += 1;
            if let Err(e) = sock.send(&syn).await {
                if is_port_unreachable(&e) {
                    fact.outcome = UdpOutcome::PortUnreachable;
                    fact.duration_ms = net::ms(start.elapsed());
                    return fact;
                }
                return error(fact, &start, e);
            }
            next_send = match retransmits.next() {
                Some(d) => tokio::time::Instant::now() + *d,
                None => deadline,
            };
        }
        let until = next_send.min(deadline);
        match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
            Err(_) => {
                if tokio::time::Instant::now() >= deadline {
                    fact.outcome = UdpOutcome::Silent;
                    fact.duration_ms = net::ms(start.elapsed());
                    return fact;
                }
            }
            Ok(Err(e)) => {
                if is_port_unreachable(&e) {
                    fact.outcome = UdpOutcome::PortUnreachable;
                    fact.duration_ms = net::ms(start.elapsed());
                    return fact;
                }
                return error(fact, &start, e);
            }
            Ok(Ok(n)) => {
                let data = buf.get(..n).unwrap_or(&[]);
                fact.duration_ms = net::ms(start.elapsed());
                match Syn::decode(data) {
                    Ok(s) if s.acknowledges(isn) => {
                        fact.outcome = UdpOutcome::SynAck;
                        fact.rtt_ms = Some(net::ms(last_send.elapsed()));
                        fact.version = Some(
                            match s.version() {
                                rdpeudp::VERSION_1 => "1",
                                rdpeudp::VERSION_2 => "2",
                                rdpeudp::VERSION_3 => "3",
                                _ => "unknown",
                            }
                            .to_string(),
                        );
                    }
                    Ok(_) => {
                        fact.outcome = UdpOutcome::Unexpected;
                        fact.error =
                            Some("a SYN datagram that does not acknowledge our SYN".into());
                    }
                    Err(e) => {
                        fact.outcome = UdpOutcome::Unexpected;
                        fact.error =
                            Some(format!("{n} bytes that are not an RDP-UDP SYN+ACK ({e})"));
                    }
                }
                return fact;
            }
        }
    }
}

fn is_port_unreachable(e: &io::Error) -> bool {
    // Linux reports ICMP port unreachable on a connected UDP socket as ECONNREFUSED; Windows
    // as WSAECONNRESET.
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

fn error(mut fact: UdpFact, start: &Instant, e: io::Error) -> UdpFact {
    fact.outcome = UdpOutcome::Error;
    fact.error = Some(e.to_string());
    fact.duration_ms = net::ms(start.elapsed());
    fact
}
