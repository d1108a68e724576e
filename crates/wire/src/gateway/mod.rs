//! The RD Gateway's HTTP transport ([MS-TSGU] 1.3.2.1, 2.2.3, 2.2.10, 3.3.5): the HTTP/1.1
//! heads and authentication headers ([`http1`]), chunked bodies of the legacy IN channel
//! ([`chunked`]), WebSocket framing of the upgraded channel ([`websocket`]), the MS-TSGU PDUs
//! ([`tsgu`]) and the gateway's status codes ([`hresult`]). Both directions: the probe is the
//! client, the lab gateway the server.
//!
//! Pure like the rest of the crate: no I/O, no clock, no randomness (nonces and masking keys
//! are arguments), bounded, fuzzed (`fuzz/fuzz_targets/gateway_*.rs`).

pub mod chunked;
pub mod hresult;
pub mod http1;
pub mod tsgu;
pub mod websocket;

/// The resource every RD Gateway client requests ([MS-TSGU] 4.2.1).
pub const RDG_PATH: &str = "/remoteDesktopGateway/";
/// The two HTTP methods of the transport ([MS-TSGU] 2.2.3.1.1, 2.2.3.1.2).
pub const RDG_OUT_DATA: &str = "RDG_OUT_DATA";
pub const RDG_IN_DATA: &str = "RDG_IN_DATA";
/// The user agent Windows and FreeRDP send.
pub const USER_AGENT: &str = "MS-RDGateway/1.0";
/// Seed bytes an RD Gateway writes after the legacy OUT channel's 200 so that proxies start
/// forwarding: the specification says up to 100 ([MS-TSGU] 3.3.5.1), clients skip 10.
pub const OUT_SEED_LEN: usize = 10;

/// A GUID as RD Gateway headers carry it (`{lowercase-8-4-4-4-12}`, [MS-TSGU] 2.2.3.2.1),
/// from 16 bytes the caller chose.
pub fn guid_text(b: [u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

/// Fuzz oracles (see [`crate::oracles`]): each decodes arbitrary bytes, never panics, and
/// checks an invariant where one exists.
#[allow(clippy::panic, clippy::expect_used)]
pub mod fuzz {
    use super::{chunked, http1, tsgu, websocket};

    /// A response head as the probe reads it: parse -> encode -> parse keeps status and fields.
    pub fn http_response_head(data: &[u8]) {
        if let http1::HeadStatus::Complete { len } = http1::response_head_status(data) {
            let head = data.get(..len).unwrap_or(&[]);
            if let Ok(h) = http1::ResponseHead::parse(head) {
                let _ = h.framing();
                let _ = http1::parse_challenges(h.headers.get_all("www-authenticate"));
                if let Ok(again) = http1::ResponseHead::parse(&h.encode()) {
                    assert_eq!(again.status, h.status);
                    assert_eq!(again.headers, h.headers);
                }
            }
        }
        let _ = http1::ResponseHead::parse(data);
    }

    /// A request head as the lab reads it.
    pub fn http_request_head(data: &[u8]) {
        if let http1::HeadStatus::Complete { len } = http1::request_head_status(data) {
            let head = data.get(..len).unwrap_or(&[]);
            if let Ok(h) = http1::RequestHead::parse(head) {
                let _ = h.framing();
                if let Some(a) = h.headers.get("authorization") {
                    let _ = http1::parse_authorization(a);
                }
                if let Ok(again) = http1::RequestHead::parse(&h.encode()) {
                    assert_eq!(again, h);
                }
            }
        }
        let _ = http1::RequestHead::parse(data);
    }

    /// `WWW-Authenticate` / `Authorization` values, one per line.
    pub fn www_authenticate(data: &[u8]) {
        let s = String::from_utf8_lossy(data);
        let c = http1::parse_challenges(s.lines());
        assert!(c.len() <= http1::MAX_CHALLENGES);
        for l in s.lines() {
            let _ = http1::parse_authorization(l);
        }
    }

    /// A chunked body: fed at once or byte by byte, the result is the same.
    pub fn chunked_body(data: &[u8]) {
        let mut a = chunked::ChunkedDecoder::new();
        let mut out_a = Vec::new();
        let ra = a.feed(data, &mut out_a);
        let mut b = chunked::ChunkedDecoder::new();
        let mut out_b = Vec::new();
        let mut rb = Ok(0);
        for (i, byte) in data.iter().enumerate() {
            match b.feed(std::slice::from_ref(byte), &mut out_b) {
                Ok(1) => rb = Ok(i + 1),
                Ok(_) => break,
                Err(e) => {
                    rb = Err(e);
                    break;
                }
            }
        }
        assert_eq!(ra.is_ok(), rb.is_ok(), "{ra:?} vs {rb:?}");
        if ra.is_ok() {
            assert_eq!(out_a, out_b);
            assert_eq!(a.is_done(), b.is_done());
            assert_eq!(ra, rb);
        }
    }

    /// WebSocket frames read by either side; a decoded frame re-encodes to the same frame.
    pub fn websocket_frames(data: &[u8]) {
        let mut rest = data;
        let mut r = websocket::Reassembler::new(1 << 16);
        while let Ok(Some((f, n))) = websocket::decode_frame(rest, websocket::MAX_FRAME_PAYLOAD) {
            let _ = websocket::check_role(&f, websocket::Role::Client);
            let _ = websocket::check_role(&f, websocket::Role::Server);
            for mask in [None, Some([1, 2, 3, 4])] {
                let wire = websocket::encode_frame(f.fin, f.opcode, &f.payload, mask);
                let (g, m) = websocket::decode_frame(&wire, websocket::MAX_FRAME_PAYLOAD)
                    .expect("an encoded frame decodes")
                    .expect("complete");
                assert_eq!((g.fin, g.opcode, &g.payload), (f.fin, f.opcode, &f.payload));
                assert_eq!(m, wire.len());
            }
            if f.opcode == websocket::Opcode::CLOSE {
                let _ = websocket::CloseBody::decode(&f.payload);
            }
            if r.push(f).is_err() {
                r = websocket::Reassembler::new(1 << 16);
            }
            rest = rest.get(n..).unwrap_or(&[]);
        }
    }

    /// A stream of MS-TSGU PDUs (either direction): decode -> encode -> decode is stable.
    pub fn tsgu_pdus(data: &[u8]) {
        let mut reader = tsgu::PduReader::new(tsgu::MAX_PDU);
        reader.push(data);
        while let Ok(Some(d)) = reader.next_pdu() {
            if matches!(&d.pdu, tsgu::Pdu::TunnelResponse(r) if r.unparsed > 0) {
                continue;
            }
            if let Ok(wire) = d.pdu.encode() {
                let again = tsgu::decode(&wire, tsgu::MAX_PDU).expect("an encoded PDU decodes");
                assert_eq!(again.pdu, d.pdu);
                assert_eq!(again.trailing, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn guids_as_headers_carry_them() {
        let g = super::guid_text([
            0x1b, 0x9f, 0x9c, 0x16, 0x3b, 0x8c, 0x4e, 0x2f, 0x9a, 0x4e, 0x2c, 0x6c, 0x0b, 0x3c,
            0x5a, 0x11,
        ]);
        assert_eq!(g, "{1b9f9c16-3b8c-4e2f-9a4e-2c6c0b3c5a11}");
    }
}
