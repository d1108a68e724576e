//! The lab gateway's MS-TSGU state machine ([MS-TSGU] 3.3.5.2): HANDSHAKE, TUNNEL_CREATE
//! (the access token), TUNNEL_AUTH (the CAP), CHANNEL_CREATE (the RAP and the gateway's own
//! connection to the target), then DATA both ways with KEEPALIVE and CLOSE_CHANNEL. Each step
//! answers as the fault's behaviour says.
//!
//! What real clients need (from their source): HRESULT forms with the severity bit (FreeRDP
//! takes a positive code for success), a CHANNEL_RESPONSE carrying only the channel id, no
//! unsolicited PDU before the CHANNEL_RESPONSE (FreeRDP 3 fails on one), one PDU per
//! WebSocket message (IronRDP), KEEPALIVE echoed.

use super::conn::{Authenticated, CLIENT_WAIT};
use super::faults::{Garbage, Step};
use super::{log, GwShared, LAB_TOKEN};
use crate::probe::gateway::channel::{self, PduRx, PduTx, RxEvent};
use rdp_doctor_wire::gateway::hresult::{self, codes};
use rdp_doctor_wire::gateway::tsgu::{
    self, caps, channel_response_fields, ext_auth, redir, tunnel_auth_response_fields,
    tunnel_response_fields, ChannelResponse, HandshakeResponse, Pdu, TunnelAuthResponse,
    TunnelResponse, UnicodeString,
};
use rdp_doctor_wire::gateway::websocket::Opcode;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// How long a relayed channel may stay idle.
const IDLE: Duration = Duration::from_secs(120);
/// The gateway's connect to the target.
const TARGET_CONNECT: Duration = Duration::from_secs(5);
/// Largest DATA payload the gateway sends (FreeRDP reads 64 KiB PDUs; keep well below).
const DATA_MAX: usize = 16 * 1024;

/// The consent message the consent fault shows.
pub const CONSENT: &str = "rdp-doctor lab gateway: authorized use only";

async fn expect(rx: &mut PduRx, shared: &GwShared, peer: SocketAddr, want: &str) -> Option<Pdu> {
    match rx.next(Instant::now() + CLIENT_WAIT).await {
        RxEvent::Pdu(d) => Some(d.pdu),
        other => {
            log(shared, peer, &format!("waiting for {want}: {other:?}"));
            None
        }
    }
}

/// Sends the answer of one step, or breaks it as the fault says. Returns whether the
/// tunnel goes on.
async fn answer(
    tx: &mut PduTx,
    step: Step,
    ok: Pdu,
    fail: impl FnOnce(u32) -> Pdu,
    shared: &GwShared,
    peer: SocketAddr,
    rx: &mut PduRx,
) -> bool {
    match step {
        Step::Serve => tx.send(&ok).await.is_ok(),
        Step::Code(code) => {
            log(shared, peer, &format!("answering {}", hresult::label(code)));
            let _ = tx.send(&fail(code)).await;
            // Let the client read the answer and close first.
            let _ = rx.next(Instant::now() + Duration::from_secs(2)).await;
            tx.shutdown().await;
            false
        }
        Step::Stall => {
            log(shared, peer, "stalling");
            let _ = rx.next(Instant::now() + Duration::from_secs(60)).await;
            false
        }
        Step::Garbage(g) => {
            log(shared, peer, &format!("sending garbage ({g:?})"));
            let good = ok.encode().unwrap_or_default();
            let _ = match g {
                Garbage::Random => tx.send_bytes(&rand::random::<[u8; 32]>()).await,
                Garbage::ShortLength => tx.send_bytes(&[0x02, 0, 0, 0, 4, 0, 0, 0]).await,
                Garbage::Oversized => {
                    tx.send_bytes(&[0x02, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0])
                        .await
                }
                Garbage::UnknownType => {
                    tx.send(&Pdu::Unknown {
                        packet_type: tsgu::PacketType(0xEE),
                        body: vec![0; 10],
                    })
                    .await
                }
                Garbage::Truncated => {
                    let half = good.get(..good.len() / 2).unwrap_or(&[]);
                    let r = tx.raw(half).await;
                    tx.shutdown().await;
                    r
                }
                Garbage::MaskedFrame => {
                    tx.raw(&channel::frame(Opcode::BINARY, &good, Some(rand::random())))
                        .await
                }
                Garbage::TextFrame => tx.raw(&channel::frame(Opcode::TEXT, &good, None)).await,
            };
            let _ = rx.next(Instant::now() + Duration::from_secs(5)).await;
            false
        }
    }
}

pub(crate) async fn run(
    mut rx: PduRx,
    mut tx: PduTx,
    who: Authenticated,
    shared: &GwShared,
    peer: SocketAddr,
) {
    let b = shared.fault.behaviour;
    // 1. HANDSHAKE
    let Some(Pdu::HandshakeRequest(hs)) = expect(&mut rx, shared, peer, "HANDSHAKE_REQUEST").await
    else {
        return;
    };
    let supported = ext_auth::PAA;
    let ok = Pdu::HandshakeResponse(HandshakeResponse {
        error_code: 0,
        ver_major: 1,
        ver_minor: 0,
        server_version: 0,
        extended_auth: hs.extended_auth & supported,
    });
    let fail = |code| {
        Pdu::HandshakeResponse(HandshakeResponse {
            error_code: code,
            ver_major: 1,
            ver_minor: 0,
            server_version: 0,
            extended_auth: 0,
        })
    };
    if !answer(&mut tx, b.handshake, ok, fail, shared, peer, &mut rx).await {
        return;
    }
    // 2. TUNNEL_CREATE: the access token of a PAA client.
    let Some(Pdu::TunnelCreate(tc)) = expect(&mut rx, shared, peer, "TUNNEL_CREATE").await else {
        return;
    };
    let mut tunnel_step = b.tunnel;
    if matches!(who, Authenticated::Paa) && tunnel_step == Step::Serve {
        let token = tc
            .paa_cookie
            .as_ref()
            .map(|c| UnicodeString(c.clone()).text());
        tunnel_step = match token.as_deref() {
            Some(LAB_TOKEN) => Step::Serve,
            Some(_) => Step::Code(codes::E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED),
            None => Step::Code(hresult::http_form(0x59F7)),
        };
    }
    let granted =
        tc.caps & (caps::IDLE_TIMEOUT | caps::MESSAGING_CONSENT_SIGN | caps::MESSAGING_SERVICE_MSG);
    let tunnel_id = shared
        .next_tunnel
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut fields = tunnel_response_fields::TUNNEL_ID | tunnel_response_fields::CAPS;
    let consent = (b.consent).then(|| UnicodeString::with_nul(CONSENT));
    if consent.is_some() {
        fields |= tunnel_response_fields::CONSENT_MSG;
    }
    let ok = Pdu::TunnelResponse(TunnelResponse {
        server_version: 0,
        status: 0,
        fields_present: fields,
        reserved: 0,
        tunnel_id: Some(tunnel_id),
        caps: Some(granted),
        soh_nonce: None,
        soh_server_cert: None,
        consent_message: consent,
        unparsed: 0,
    });
    let fail = |code| {
        Pdu::TunnelResponse(TunnelResponse {
            server_version: 0,
            status: code,
            fields_present: 0,
            reserved: 0,
            tunnel_id: None,
            caps: None,
            soh_nonce: None,
            soh_server_cert: None,
            consent_message: None,
            unparsed: 0,
        })
    };
    if !answer(&mut tx, tunnel_step, ok, fail, shared, peer, &mut rx).await {
        return;
    }
    // 3. TUNNEL_AUTH: the CAP.
    let Some(Pdu::TunnelAuth(ta)) = expect(&mut rx, shared, peer, "TUNNEL_AUTH").await else {
        return;
    };
    let mut cap_step = b.tunnel_auth;
    if let (Authenticated::User(u), Step::Serve) = (&who, cap_step) {
        if !shared.cap_users.is_empty()
            && !shared.cap_users.iter().any(|c| c.eq_ignore_ascii_case(u))
        {
            log(shared, peer, "CAP: the user is not admitted");
            cap_step = Step::Code(codes::E_PROXY_NAP_ACCESSDENIED);
        }
    }
    log(
        shared,
        peer,
        &format!(
            "TUNNEL_AUTH from client {}",
            crate::sanitize::escape(&ta.client_name.text())
        ),
    );
    let ok = Pdu::TunnelAuthResponse(TunnelAuthResponse {
        error_code: 0,
        fields_present: tunnel_auth_response_fields::REDIR_FLAGS
            | tunnel_auth_response_fields::IDLE_TIMEOUT,
        reserved: 0,
        redir_flags: Some(redir::ENABLE_ALL),
        idle_timeout: Some(0),
        soh_response: None,
    });
    let fail = |code| {
        Pdu::TunnelAuthResponse(TunnelAuthResponse {
            error_code: code,
            fields_present: 0,
            reserved: 0,
            redir_flags: None,
            idle_timeout: None,
            soh_response: None,
        })
    };
    if !answer(&mut tx, cap_step, ok, fail, shared, peer, &mut rx).await {
        return;
    }
    // 4. CHANNEL_CREATE: the RAP, then the gateway's own connection to the target.
    let Some(Pdu::ChannelCreate(cc)) = expect(&mut rx, shared, peer, "CHANNEL_CREATE").await else {
        return;
    };
    let names: Vec<String> = cc
        .resources
        .iter()
        .chain(&cc.alt_resources)
        .map(UnicodeString::text)
        .collect();
    let mut channel_step = b.channel;
    let mut target = None;
    if channel_step == Step::Serve {
        match connect_target(&names, cc.port, shared).await {
            Ok(s) => target = Some(s),
            Err(code) => channel_step = Step::Code(code),
        }
    }
    log(
        shared,
        peer,
        &format!(
            "CHANNEL_CREATE to {}:{}",
            crate::sanitize::escape(&names.join(",")),
            cc.port
        ),
    );
    let ok = Pdu::ChannelResponse(ChannelResponse {
        error_code: 0,
        fields_present: channel_response_fields::CHANNELID,
        reserved: 0,
        channel_id: Some(1),
        udp_port: None,
        authn_cookie: None,
    });
    let fail = |code| {
        Pdu::ChannelResponse(ChannelResponse {
            error_code: code,
            fields_present: 0,
            reserved: 0,
            channel_id: None,
            udp_port: None,
            authn_cookie: None,
        })
    };
    if !answer(&mut tx, channel_step, ok, fail, shared, peer, &mut rx).await {
        return;
    }
    let Some(target) = target else { return };
    if let Some(code) = b.close_after_open {
        log(
            shared,
            peer,
            &format!("CLOSE_CHANNEL {}", hresult::label(code)),
        );
        let _ = tx.send(&Pdu::CloseChannel(code)).await;
        let _ = rx.next(Instant::now() + Duration::from_secs(2)).await;
        tx.shutdown().await;
        return;
    }
    relay(rx, tx, target, shared, peer).await;
}

/// The RAP (loopback targets and `--gateway-allow`), then a connect to the first name that
/// resolves and answers, as [MS-TSGU] 3.1.1 tries the aliases in order.
async fn connect_target(
    names: &[String],
    port: u16,
    shared: &GwShared,
) -> Result<tokio::net::TcpStream, u32> {
    let mut admitted = Vec::new();
    for n in names {
        let host = n.trim_matches(['[', ']']);
        let listed = shared.allow.iter().any(|a| {
            a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(&format!("{host}:{port}"))
        });
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(TARGET_CONNECT, tokio::net::lookup_host((host, port))).await
            {
                Ok(Ok(a)) => a.collect(),
                _ => Vec::new(),
            };
        if listed || (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())) {
            admitted.push(addrs);
        }
    }
    if admitted.is_empty() {
        return Err(codes::E_PROXY_RAP_ACCESSDENIED);
    }
    for a in admitted.into_iter().flatten() {
        if let Ok(Ok(s)) =
            tokio::time::timeout(TARGET_CONNECT, tokio::net::TcpStream::connect(a)).await
        {
            let _ = s.set_nodelay(true);
            return Ok(s);
        }
    }
    Err(codes::E_PROXY_TS_CONNECTFAILED)
}

/// DATA both ways until either side ends.
async fn relay(
    mut rx: PduRx,
    mut tx: PduTx,
    mut target: tokio::net::TcpStream,
    shared: &GwShared,
    peer: SocketAddr,
) {
    let mut buf = vec![0u8; DATA_MAX];
    let (mut up, down) = (0usize, 0usize);
    let mut down = down;
    loop {
        tokio::select! {
            ev = rx.next(Instant::now() + IDLE) => match ev {
                RxEvent::Pdu(d) => match d.pdu {
                    Pdu::Data(bytes) => {
                        up += bytes.len();
                        if target.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Pdu::Keepalive => {
                        let echoed = tx.send(&Pdu::Keepalive).await;
                        if echoed.is_err() {
                            break;
                        }
                    }
                    Pdu::CloseChannel(_) => {
                        let _ = tx.send(&Pdu::CloseChannelResponse(0)).await;
                        break;
                    }
                    _ => {}
                },
                RxEvent::Ping(p) => {
                    let _ = tx.control(Opcode::PONG, &p).await;
                }
                RxEvent::Close(_) => {
                    let _ = tx.control(Opcode::CLOSE, &[0x03, 0xe8]).await;
                    break;
                }
                other => {
                    log(shared, peer, &format!("client side ended: {other:?}"));
                    break;
                }
            },
            r = target.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    let _ = tx.send(&Pdu::CloseChannel(0)).await;
                    break;
                }
                Ok(n) => {
                    down += n;
                    let data = buf.get(..n).unwrap_or(&[]).to_vec();
                    if tx.send(&Pdu::Data(data)).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    log(
        shared,
        peer,
        &format!("channel closed: {up} bytes to the target, {down} from it"),
    );
    let _ = target.shutdown().await;
    tx.shutdown().await;
}
