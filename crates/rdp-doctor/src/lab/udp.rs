//! The lab's RDP-UDP responder: answers a SYN with a SYN+ACK ([MS-RDPEUDP] 3.1.5.1.3), or stays
//! silent for the `udp-blocked` fault.

use super::Shared;
use rdp_doctor_wire::rdpeudp::{self, Syn};
use std::sync::Arc;
use tokio::net::UdpSocket;

pub async fn serve(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if !shared.behaviour.udp {
            continue;
        }
        let Ok(syn) = Syn::decode(buf.get(..n).unwrap_or(&[])) else {
            continue;
        };
        if syn.flags & rdpeudp::flags::ACK != 0 {
            continue;
        }
        let version = syn.version().min(rdpeudp::VERSION_2);
        let answer = Syn {
            sn_source_ack: syn.initial_sequence_number,
            receive_window: 64,
            flags: rdpeudp::flags::SYN | rdpeudp::flags::ACK,
            initial_sequence_number: rand::random(),
            upstream_mtu: rdpeudp::MAX_MTU,
            downstream_mtu: rdpeudp::MAX_MTU,
            correlation_id: None,
            synex: syn
                .synex
                .map(|_| (rdpeudp::SYNEX_VERSION_INFO_VALID, version)),
        };
        let _ = sock.send_to(&answer.encode(), from).await;
        if shared.log {
            eprintln!(
                "lab {} [{}] {from}: RDP-UDP SYN answered",
                shared.addr,
                shared.fault.name()
            );
        }
    }
}
