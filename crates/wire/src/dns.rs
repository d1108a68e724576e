//! Just enough DNS (RFC 1035 4.1) to find Kerberos KDCs: a query with one question, and the
//! answer's SRV (RFC 2782), A and AAAA records, in the answer and additional sections. Names
//! may be compressed (RFC 1035 4.1.4); pointers are followed at most [`MAX_POINTERS`] times and
//! only backwards, so a hostile answer cannot loop.
//!
//! The standard library's resolver cannot ask for SRV records; the runner sends these queries
//! over UDP itself (and over TCP when an answer comes back truncated, RFC 1035 4.2.2).

use crate::cursor::Cursor;
use crate::DecodeError;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const CLASS_IN: u16 = 1;

/// The largest message accepted (a TCP answer's limit; UDP answers are at most 512 bytes
/// without EDNS, which we do not send).
pub const MAX_MESSAGE: usize = 65_535;
/// Records read per message.
pub const MAX_RECORDS: usize = 64;
/// Compression pointers followed per name.
pub const MAX_POINTERS: usize = 16;
/// RFC 1035 2.3.4.
pub const MAX_NAME: usize = 255;
pub const MAX_LABEL: usize = 63;

/// RCODE (RFC 1035 4.1.1, RFC 6895 2.3).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;

    pub fn name(v: u8) -> &'static str {
        match v {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            _ => "other",
        }
    }
}

/// Why a name cannot be put into a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    LabelTooLong(usize),
    NameTooLong(usize),
    /// A character outside letters, digits, '-' and '_' (service labels such as `_kerberos`).
    BadChar(char),
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::Empty => f.write_str("an empty name or label"),
            NameError::LabelTooLong(n) => write!(f, "a label of {n} characters (at most 63)"),
            NameError::NameTooLong(n) => write!(f, "a name of {n} bytes (at most 255)"),
            NameError::BadChar(c) => write!(f, "the character {c:?}"),
        }
    }
}

impl std::error::Error for NameError {}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let start = out.len();
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::Empty);
        }
        if label.len() > MAX_LABEL {
            return Err(NameError::LabelTooLong(label.len()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadChar(c));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() - start > MAX_NAME {
        return Err(NameError::NameTooLong(out.len() - start));
    }
    Ok(())
}

/// A recursive query (RD set) for `name` of `qtype`, class IN.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, NameError> {
    let mut out = Vec::with_capacity(12 + name.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN 0, NS 0, AR 0
    encode_name(name, &mut out)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// An SRV record's data (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host, lower case, without the final dot; "." (empty here) means "the service
    /// is decidedly not available at this domain".
    pub target: String,
}

/// One resource record the codec understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Srv { name: String, srv: Srv },
    A { name: String, addr: Ipv4Addr },
    Aaaa { name: String, addr: Ipv6Addr },
    Cname { name: String, target: String },
}

/// A decoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: u8,
    /// TC: the answer did not fit a UDP datagram; ask again over TCP.
    pub truncated: bool,
    pub authoritative: bool,
    /// Records of the answer section.
    pub answers: Vec<Record>,
    /// Records of the additional section (a server's A/AAAA glue for SRV targets).
    pub additional: Vec<Record>,
}

/// Reads a (possibly compressed) name starting at `pos` in `msg`; returns it lower-cased and
/// the position after it in the original stream.
fn read_name(msg: &[u8], pos: usize) -> Result<(String, usize), DecodeError> {
    let mut labels: Vec<String> = Vec::new();
    let mut p = pos;
    let mut end = None;
    let mut jumps = 0;
    let mut total = 0usize;
    loop {
        let len = *msg.get(p).ok_or(DecodeError::Truncated {
            what: "DNS name",
            needed: 1,
            available: 0,
        })?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    if end.is_none() {
                        end = Some(p + 1);
                    }
                    break;
                }
                let l = usize::from(len);
                let label = msg.get(p + 1..p + 1 + l).ok_or(DecodeError::Truncated {
                    what: "DNS label",
                    needed: l,
                    available: msg.len().saturating_sub(p + 1),
                })?;
                total += l + 1;
                if total > MAX_NAME {
                    return Err(DecodeError::TooLarge {
                        what: "DNS name",
                        len: total,
                        max: MAX_NAME,
                    });
                }
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                p += 1 + l;
            }
            0xC0 => {
                let lo = *msg.get(p + 1).ok_or(DecodeError::Truncated {
                    what: "DNS compression pointer",
                    needed: 1,
                    available: 0,
                })?;
                let target = usize::from(len & 0x3F) << 8 | usize::from(lo);
                jumps += 1;
                // Only backwards, and not too often: no loops.
                if jumps > MAX_POINTERS || target >= p {
                    return Err(DecodeError::Invalid {
                        what: "DNS compression pointer",
                        value: target as u64,
                    });
                }
                if end.is_none() {
                    end = Some(p + 2);
                }
                p = target;
            }
            _ => {
                return Err(DecodeError::Invalid {
                    what: "DNS label type",
                    value: u64::from(len),
                })
            }
        }
    }
    Ok((labels.join("."), end.unwrap_or(p + 1)))
}

fn u16_at(msg: &[u8], pos: usize, what: &'static str) -> Result<u16, DecodeError> {
    let mut c = Cursor::new(msg.get(pos..).unwrap_or(&[]));
    c.u16_be(what)
}

impl Response {
    /// Decodes a response; `id` must match the query's.
    pub fn decode(msg: &[u8], id: u16) -> Result<Response, DecodeError> {
        if msg.len() > MAX_MESSAGE {
            return Err(DecodeError::TooLarge {
                what: "DNS message",
                len: msg.len(),
                max: MAX_MESSAGE,
            });
        }
        let mut c = Cursor::new(msg);
        let got_id = c.u16_be("DNS id")?;
        let flags = c.u16_be("DNS flags")?;
        let qd = c.u16_be("DNS QDCOUNT")?;
        let an = c.u16_be("DNS ANCOUNT")?;
        let nscount = c.u16_be("DNS NSCOUNT")?;
        let ar = c.u16_be("DNS ARCOUNT")?;
        if got_id != id {
            return Err(DecodeError::Invalid {
                what: "DNS id (not our query)",
                value: u64::from(got_id),
            });
        }
        if flags & 0x8000 == 0 {
            return Err(DecodeError::Invalid {
                what: "DNS QR (a query, not a response)",
                value: u64::from(flags),
            });
        }
        let mut pos = 12;
        for _ in 0..qd.min(4) {
            let (_, p) = read_name(msg, pos)?;
            pos = p + 4;
        }
        if pos > msg.len() {
            return Err(DecodeError::Truncated {
                what: "DNS question",
                needed: pos,
                available: msg.len(),
            });
        }
        let mut resp = Response {
            id,
            rcode: (flags & 0x000F) as u8,
            truncated: flags & 0x0200 != 0,
            authoritative: flags & 0x0400 != 0,
            answers: Vec::new(),
            additional: Vec::new(),
        };
        // A truncated UDP answer may end mid-record: keep what decoded.
        let ns = usize::from(nscount);
        let total = usize::from(an) + ns + usize::from(ar);
        for i in 0..total.min(MAX_RECORDS) {
            if pos >= msg.len() {
                break;
            }
            let (name, p) = match read_name(msg, pos) {
                Ok(v) => v,
                Err(e) if resp.truncated => {
                    let _ = e;
                    break;
                }
                Err(e) => return Err(e),
            };
            let rtype = u16_at(msg, p, "DNS TYPE")?;
            let class = u16_at(msg, p + 2, "DNS CLASS")?;
            let rdlen = usize::from(u16_at(msg, p + 8, "DNS RDLENGTH")?);
            let rd_start = p + 10;
            let rdata = msg
                .get(rd_start..rd_start + rdlen)
                .ok_or(DecodeError::Truncated {
                    what: "DNS RDATA",
                    needed: rdlen,
                    available: msg.len().saturating_sub(rd_start),
                })?;
            pos = rd_start + rdlen;
            if class != CLASS_IN {
                continue;
            }
            let rec = match rtype {
                TYPE_SRV if rdlen >= 7 => {
                    let mut r = Cursor::new(rdata);
                    let priority = r.u16_be("SRV priority")?;
                    let weight = r.u16_be("SRV weight")?;
                    let port = r.u16_be("SRV port")?;
                    let (target, _) = read_name(msg, rd_start + 6)?;
                    Some(Record::Srv {
                        name,
                        srv: Srv {
                            priority,
                            weight,
                            port,
                            target,
                        },
                    })
                }
                TYPE_A if rdlen == 4 => {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(rdata);
                    Some(Record::A {
                        name,
                        addr: Ipv4Addr::from(b),
                    })
                }
                TYPE_AAAA if rdlen == 16 => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(rdata);
                    Some(Record::Aaaa {
                        name,
                        addr: Ipv6Addr::from(b),
                    })
                }
                TYPE_CNAME => {
                    let (target, _) = read_name(msg, rd_start)?;
                    Some(Record::Cname { name, target })
                }
                _ => None,
            };
            if let Some(r) = rec {
                if i < usize::from(an) {
                    resp.answers.push(r);
                } else if i >= usize::from(an) + ns {
                    resp.additional.push(r);
                }
            }
        }
        Ok(resp)
    }

    /// The SRV records of the answer, in RFC 2782 order: lowest priority first, then highest
    /// weight (a deterministic stand-in for the weighted random choice).
    pub fn srv(&self) -> Vec<Srv> {
        let mut v: Vec<Srv> = self
            .answers
            .iter()
            .filter_map(|r| match r {
                Record::Srv { srv, .. } => Some(srv.clone()),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
        v
    }

    /// The addresses for `name` in the answer and additional sections.
    pub fn addresses(&self, name: &str) -> Vec<std::net::IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.answers
            .iter()
            .chain(&self.additional)
            .filter_map(|r| match r {
                Record::A { name: n, addr } if *n == name => Some((*addr).into()),
                Record::Aaaa { name: n, addr } if *n == name => Some((*addr).into()),
                _ => None,
            })
            .collect()
    }
}

/// Encodes a response (the tests' DNS server and the fuzz round trip).
pub fn encode_response(id: u16, qname: &str, qtype: u16, rcode: u8, answers: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(0x8580u16 | u16::from(rcode & 0x0F)).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len().min(MAX_RECORDS) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if encode_name(qname, &mut out).is_err() {
        out.push(0);
    }
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    for r in answers.iter().take(MAX_RECORDS) {
        let (name, rtype, rdata) = match r {
            Record::Srv { name, srv } => {
                let mut d = Vec::new();
                d.extend_from_slice(&srv.priority.to_be_bytes());
                d.extend_from_slice(&srv.weight.to_be_bytes());
                d.extend_from_slice(&srv.port.to_be_bytes());
                if encode_name(&srv.target, &mut d).is_err() {
                    d.push(0);
                }
                (name, TYPE_SRV, d)
            }
            Record::A { name, addr } => (name, TYPE_A, addr.octets().to_vec()),
            Record::Aaaa { name, addr } => (name, TYPE_AAAA, addr.octets().to_vec()),
            Record::Cname { name, target } => {
                let mut d = Vec::new();
                if encode_name(target, &mut d).is_err() {
                    d.push(0);
                }
                (name, TYPE_CNAME, d)
            }
        };
        if encode_name(name, &mut out).is_err() {
            out.push(0);
        }
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

/// Fuzz oracle: a DNS answer. Never panics; a decoded answer's records re-encode and decode to
/// the same records (names are lower-cased by the decoder).
#[allow(clippy::panic)]
pub fn fuzz_response(data: &[u8]) {
    let id = u16::from_be_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]);
    if let Ok(r) = Response::decode(data, id) {
        let _ = r.srv();
        let encodable = r.answers.iter().all(|rec| {
            let names: Vec<&str> = match rec {
                Record::Srv { name, srv } => vec![name, &srv.target],
                Record::A { name, .. } | Record::Aaaa { name, .. } => vec![name],
                Record::Cname { name, target } => vec![name, target],
            };
            names
                .iter()
                .all(|n| encode_name(n, &mut Vec::new()).is_ok())
        });
        if encodable && !r.answers.is_empty() {
            let again = encode_response(id, "q.example", TYPE_SRV, r.rcode, &r.answers);
            let d = Response::decode(&again, id);
            assert_eq!(
                d.as_ref().map(|d| &d.answers),
                Ok(&r.answers),
                "DNS round trip"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn srv_query_for_a_realm() {
        let q = query(0x1234, "_kerberos._tcp.RDPDOC.TEST", TYPE_SRV).unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..22], b"\x09_kerberos");
        assert_eq!(&q[q.len() - 4..], &[0, 33, 0, 1]);
        assert!(query(1, "a..b", TYPE_A).is_err());
        assert!(query(1, &"a".repeat(64), TYPE_A).is_err());
        assert!(query(1, "a b", TYPE_A).is_err());
    }

    #[test]
    fn reads_srv_with_compression_and_glue() {
        // What an AD DNS server sends for _kerberos._tcp.corp.example: two SRV records whose
        // targets point back into the question with compression, A glue in the additional
        // section.
        let mut m = vec![0xAB, 0xCD, 0x85, 0x80, 0, 1, 0, 2, 0, 0, 0, 1];
        m.extend_from_slice(b"\x09_kerberos\x04_tcp\x04corp\x07example\x00\x00\x21\x00\x01");
        for (prio, host) in [(0u16, b"dc2"), (0u16, b"dc1")] {
            m.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 2, 88]);
            let rdata_len = 6 + 1 + 3 + 2;
            m.extend_from_slice(&(rdata_len as u16).to_be_bytes());
            m.extend_from_slice(&prio.to_be_bytes());
            m.extend_from_slice(&(if host == b"dc1" { 100u16 } else { 50 }).to_be_bytes());
            m.extend_from_slice(&88u16.to_be_bytes());
            m.push(3);
            m.extend_from_slice(host);
            m.extend_from_slice(&[0xC0, 27]); // -> "corp.example"
        }
        // dc1.corp.example A 10.0.0.1, the name compressed against the first SRV target
        let dc1_pos = m.len() - 6;
        m.extend_from_slice(&[
            0xC0,
            dc1_pos as u8,
            0,
            1,
            0,
            1,
            0,
            0,
            0,
            60,
            0,
            4,
            10,
            0,
            0,
            1,
        ]);
        let r = Response::decode(&m, 0xABCD).unwrap();
        assert_eq!(r.rcode, rcode::NOERROR);
        let srv = r.srv();
        assert_eq!(srv.len(), 2);
        assert_eq!(srv[0].target, "dc1.corp.example", "higher weight first");
        assert_eq!(srv[1].target, "dc2.corp.example");
        assert_eq!(
            r.addresses("DC1.corp.example."),
            ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(Response::decode(&m, 1).is_err(), "another query's id");
    }

    #[test]
    fn nxdomain_loops_and_truncation() {
        let nx = encode_response(
            7,
            "_kerberos._tcp.nowhere.test",
            TYPE_SRV,
            rcode::NXDOMAIN,
            &[],
        );
        let r = Response::decode(&nx, 7).unwrap();
        assert_eq!((r.rcode, r.answers.len()), (rcode::NXDOMAIN, 0));
        // a pointer to itself
        let mut m = vec![0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1]);
        assert!(Response::decode(&m, 7).is_err());
        // round trip of what the tests' dnsd.py would answer
        let recs = vec![
            Record::Srv {
                name: "_kerberos._udp.rdpdoc.test".into(),
                srv: Srv {
                    priority: 0,
                    weight: 100,
                    port: 38088,
                    target: "kdc1.rdpdoc.test".into(),
                },
            },
            Record::A {
                name: "kdc1.rdpdoc.test".into(),
                addr: Ipv4Addr::LOCALHOST,
            },
        ];
        let b = encode_response(9, "_kerberos._udp.RDPDOC.TEST", TYPE_SRV, 0, &recs);
        assert_eq!(Response::decode(&b, 9).unwrap().answers, recs);
        assert_eq!(Response::decode(&b[..b.len() - 3], 9).ok(), None);
    }
}
