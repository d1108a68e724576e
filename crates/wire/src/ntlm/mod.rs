//! NTLM ([MS-NLMP]) as used inside CredSSP: message codecs ([`messages`]), negotiate flags
//! ([`flags`]) and NTLMv2 / session-security crypto ([`crypto`]), all pure.
//!
//! Client: [`Negotiate::modern_client`] → send → [`Challenge::decode`] (target info: names, OS
//! version, server clock) → [`compute_authenticate`] → [`SessionSecurity`].
//! Server: [`Negotiate::decode`] → [`server_challenge`] → [`verify_authenticate`] →
//! [`SessionSecurity`].

pub mod crypto;
pub mod flags;
pub mod messages;

pub use crypto::{
    compute_authenticate, ct_eq, hmac_md5, lmv2_response, nt_hash, ntlmv2_client_challenge,
    ntlmv2_proof, ntowfv2, rc4k, seal_key, sign_key, verify_authenticate, AuthError,
    ClientAuthInput, ClientAuthOutput, Key16, Role, ServerAuthOutput, SessionSecurity, UnsealError,
    SIGNATURE_LEN,
};
pub use flags::NegotiateFlags;
pub use messages::{
    av_flags, av_id, decode_av_pairs, encode_av_pairs, filetime_to_unix_seconds, from_utf16le,
    fuzz_authenticate, fuzz_challenge, message_type, unix_seconds_to_filetime, utf16le,
    Authenticate, AvPair, Challenge, Negotiate, NtlmV2Response, Version, AUTHENTICATE_MIC_OFFSET,
    FILETIME_UNIX_EPOCH,
};

/// The names a server announces in its CHALLENGE target info ([MS-NLMP] 2.2.2.1). `None`
/// leaves a pair out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetNames {
    pub nb_computer: Option<String>,
    pub nb_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_tree: Option<String>,
}

/// The flags a server may grant: what it supports, intersected with what the client asked.
pub const SERVER_SUPPORTED_FLAGS: NegotiateFlags = NegotiateFlags(
    NegotiateFlags::UNICODE.0
        | NegotiateFlags::REQUEST_TARGET.0
        | NegotiateFlags::SIGN.0
        | NegotiateFlags::SEAL.0
        | NegotiateFlags::NTLM.0
        | NegotiateFlags::ALWAYS_SIGN.0
        | NegotiateFlags::EXTENDED_SESSIONSECURITY.0
        | NegotiateFlags::VERSION.0
        | NegotiateFlags::NEGOTIATE_128.0
        | NegotiateFlags::KEY_EXCH.0
        | NegotiateFlags::NEGOTIATE_56.0,
);

/// Builds a server's CHALLENGE_MESSAGE ([MS-NLMP] 3.2.5.1.1) for a client's NEGOTIATE: flags
/// granted from [`SERVER_SUPPORTED_FLAGS`] plus TARGET_INFO and TARGET_TYPE_SERVER, target name
/// = NetBIOS domain (or computer) name, target info in the order Windows writes it (NetBIOS
/// domain, NetBIOS computer, DNS domain, DNS computer, DNS tree, timestamp). `timestamp` is the
/// server clock as FILETIME (a lab can skew it on purpose); `None` leaves MsvAvTimestamp out
/// (as pre-Vista servers did, which also disables the MIC on Windows clients).
pub fn server_challenge(
    negotiate: &Negotiate,
    server_challenge: [u8; 8],
    names: &TargetNames,
    timestamp: Option<u64>,
    version: Option<Version>,
) -> Challenge {
    let mut flags = negotiate
        .flags
        .intersection(SERVER_SUPPORTED_FLAGS)
        .union(NegotiateFlags::TARGET_INFO)
        .union(NegotiateFlags::TARGET_TYPE_SERVER);
    flags = match version {
        Some(_) => flags.union(NegotiateFlags::VERSION),
        None => NegotiateFlags(flags.0 & !NegotiateFlags::VERSION.0),
    };
    if !flags.contains(NegotiateFlags::UNICODE) {
        flags = flags.union(NegotiateFlags::OEM);
    }
    let mut info = Vec::new();
    let push = |info: &mut Vec<AvPair>, v: &Option<String>, f: fn(String) -> AvPair| {
        if let Some(s) = v {
            info.push(f(s.clone()));
        }
    };
    push(&mut info, &names.nb_domain, AvPair::NbDomainName);
    push(&mut info, &names.nb_computer, AvPair::NbComputerName);
    push(&mut info, &names.dns_domain, AvPair::DnsDomainName);
    push(&mut info, &names.dns_computer, AvPair::DnsComputerName);
    push(&mut info, &names.dns_tree, AvPair::DnsTreeName);
    if let Some(t) = timestamp {
        info.push(AvPair::Timestamp(t));
    }
    Challenge {
        flags,
        target_name: names
            .nb_domain
            .clone()
            .or_else(|| names.nb_computer.clone())
            .unwrap_or_default(),
        server_challenge,
        target_info: info,
        version,
    }
}
