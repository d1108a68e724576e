//! DNS for KDC discovery: SRV queries (which the standard library's resolver cannot ask), and
//! A/AAAA for the SRV targets when an explicit DNS server was given. The codec is
//! `rdp_doctor_wire::dns`; this step owns the UDP socket (and TCP for a truncated answer,
//! RFC 1035 4.2.2), bounded by the step time-out.
//!
//! Which servers: `--dns-server` when given (tests point it at their own responder); otherwise
//! the `nameserver` lines of /etc/resolv.conf (what `ip netns exec` bind-mounts for a network
//! namespace). Windows keeps its DNS servers per adapter; there, without `--dns-server`, the
//! lookup reports that no server is known and `--kdc` or `--dns-server` is the way.

use super::net;
use crate::facts::kerberos::{DnsOutcome, SrvQueryFact, SrvRecordFact};
use rdp_doctor_wire::dns::{self, rcode, Response, Srv};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The DNS servers of this machine: /etc/resolv.conf's `nameserver` lines (at most 3, as
/// glibc), port 53.
pub fn system_servers() -> Vec<SocketAddr> {
    let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") else {
        return Vec::new();
    };
    parse_resolv_conf(&text)
}

/// Pure: the servers a resolv.conf names.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        // An IPv6 zone (fe80::1%eth0) is not kept by IpAddr: skip such servers.
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .take(3)
        .collect()
}

/// Why one query got no usable answer.
#[derive(Debug)]
pub enum QueryError {
    Timeout,
    Io(String),
    Decode(String),
}

/// One query to one server: UDP, sent twice within the time-out (a lost datagram is common),
/// then TCP if the answer came back truncated.
pub async fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Response, QueryError> {
    let id: u16 = rand::random();
    let q = dns::query(id, name, qtype).map_err(|e| QueryError::Decode(e.to_string()))?;
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    sock.connect(server)
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let resend_at = tokio::time::Instant::now() + timeout / 2;
    sock.send(&q)
        .await
        .map_err(|e| QueryError::Io(e.to_string()))?;
    let mut resent = false;
    let mut buf = vec![0u8; 4096];
    let resp = loop {
        let until = if resent { deadline } else { resend_at };
        match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
            Err(_) if !resent => {
                resent = true;
                let _ = sock.send(&q).await;
                continue;
            }
            Err(_) => return Err(QueryError::Timeout),
            Ok(Err(e)) => return Err(QueryError::Io(e.to_string())),
            Ok(Ok(n)) => {
                // A datagram for another id (a late answer to the first send) is skipped.
                match Response::decode(buf.get(..n).unwrap_or(&[]), id) {
                    Ok(r) => break r,
                    Err(_) if tokio::time::Instant::now() < deadline => continue,
                    Err(e) => return Err(QueryError::Decode(e.to_string())),
                }
            }
        }
    };
    if !resp.truncated {
        return Ok(resp);
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    query_tcp(server, &q, id, left).await
}

async fn query_tcp(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Response, QueryError> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| QueryError::Io(e.to_string()))?;
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(q);
        s.write_all(&framed)
            .await
            .map_err(|e| QueryError::Io(e.to_string()))?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)
            .await
            .map_err(|e| QueryError::Io(e.to_string()))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut body)
            .await
            .map_err(|e| QueryError::Io(e.to_string()))?;
        Response::decode(&body, id).map_err(|e| QueryError::Decode(e.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(QueryError::Timeout))
}

/// An SRV lookup of `name`, trying each server until one answers. Returns the fact, the
/// records in RFC 2782 order, and the glue addresses of the answer.
pub async fn srv(
    servers: &[SocketAddr],
    name: &str,
    timeout: Duration,
) -> (SrvQueryFact, Vec<Srv>, Option<Response>) {
    let start = Instant::now();
    let mut fact = SrvQueryFact {
        name: name.to_string(),
        server: String::new(),
        outcome: DnsOutcome::NoServer,
        rcode: None,
        records: Vec::new(),
        duration_ms: 0.0,
        error: None,
    };
    for server in servers {
        fact.server = server.to_string();
        match query(*server, name, dns::TYPE_SRV, timeout).await {
            Ok(r) => {
                fact.rcode = Some(rcode::name(r.rcode).to_string());
                let records = r.srv();
                // RFC 2782: a single record with target "." means "not available here".
                let usable: Vec<Srv> = records
                    .into_iter()
                    .filter(|s| !s.target.is_empty())
                    .collect();
                fact.outcome = match r.rcode {
                    rcode::NOERROR if !usable.is_empty() => DnsOutcome::Records,
                    rcode::NOERROR => DnsOutcome::NoRecords,
                    rcode::NXDOMAIN => DnsOutcome::Nxdomain,
                    _ => DnsOutcome::ServerError,
                };
                fact.records = usable
                    .iter()
                    .map(|s| SrvRecordFact {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: s.target.clone(),
                    })
                    .collect();
                fact.duration_ms = net::ms(start.elapsed());
                if fact.outcome != DnsOutcome::ServerError {
                    return (fact, usable, Some(r));
                }
            }
            Err(QueryError::Timeout) => {
                fact.outcome = DnsOutcome::Timeout;
                fact.error = Some(format!("no answer within {:.1} s", timeout.as_secs_f64()));
            }
            Err(QueryError::Io(e) | QueryError::Decode(e)) => {
                fact.outcome = DnsOutcome::Error;
                fact.error = Some(e);
            }
        }
    }
    fact.duration_ms = net::ms(start.elapsed());
    (fact, Vec::new(), None)
}

/// The addresses of `host`: itself if it is an IP address; A and AAAA through `servers` when
/// DNS servers were given explicitly (or `glue` already has them); the system resolver
/// otherwise.
pub async fn addresses(
    host: &str,
    port: u16,
    explicit: &[SocketAddr],
    glue: &[IpAddr],
    timeout: Duration,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if !glue.is_empty() {
        return Ok(glue.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
    }
    if !explicit.is_empty() {
        let mut out = Vec::new();
        let mut last = None;
        for qtype in [dns::TYPE_A, dns::TYPE_AAAA] {
            for server in explicit {
                match query(*server, host, qtype, timeout).await {
                    Ok(r) => {
                        for ip in r.addresses(host) {
                            let a = SocketAddr::new(ip, port);
                            if !out.contains(&a) {
                                out.push(a);
                            }
                        }
                        break;
                    }
                    Err(e) => last = Some(format!("{e:?}")),
                }
            }
        }
        return if out.is_empty() {
            Err(last.unwrap_or_else(|| format!("{host}: no A or AAAA record")))
        } else {
            Ok(out)
        };
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(format!("{host}: no answer from the resolver")),
        Ok(Err(e)) => Err(format!("{host}: {e}")),
        Ok(Ok(it)) => {
            let v: Vec<SocketAddr> = it.collect();
            if v.is_empty() {
                Err(format!("{host}: no address"))
            } else {
                Ok(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolv_conf_like_glibc() {
        let t = "# comment\nnameserver 10.255.255.53\nsearch corp.example\nnameserver ::1\nnameserver fe80::1%eth0\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n";
        let s = parse_resolv_conf(t);
        assert_eq!(
            s,
            vec![
                "10.255.255.53:53".parse::<SocketAddr>().expect("addr"),
                "[::1]:53".parse().expect("addr"),
                "1.1.1.1:53".parse().expect("addr"),
            ]
        );
        assert!(parse_resolv_conf("").is_empty());
    }
}
