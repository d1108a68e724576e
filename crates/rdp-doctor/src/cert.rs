//! Certificate analysis: what the server's chain says, judged against a time, the name the
//! user typed and a trust store. Pure: the chain, the time and the roots are inputs.

use crate::facts::{CertFact, ChainCert};
use rustls::pki_types::{CertificateDer, UnixTime};
use std::net::IpAddr;
use x509_parser::prelude::*;

/// The Remote Desktop Authentication EKU (Microsoft), accepted by Windows for the RDP listener.
pub const OID_EKU_RDP: &str = "1.3.6.1.4.1.311.54.1.2";
pub const OID_EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
/// Certificates expiring within this many days get `cert-expiring-soon`.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Where trust anchors came from, and the anchors.
pub struct TrustStore {
    pub name: String,
    pub roots: rustls::RootCertStore,
}

/// A CA bundle's cap: the full Mozilla bundle is ~220 KB in PEM.
pub const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

impl TrustStore {
    /// The operating system's roots (read once per process by the caller).
    pub fn system() -> TrustStore {
        let mut roots = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(loaded.certs);
        TrustStore {
            name: "system".into(),
            roots,
        }
    }

    /// Roots from a PEM file (`--ca FILE`, `ca_file`), at most [`MAX_CA_FILE`] bytes.
    pub fn from_pem_file(path: &std::path::Path) -> Result<TrustStore, String> {
        use rustls::pki_types::pem::PemObject;
        let data = crate::text::read_capped(path, MAX_CA_FILE, "CA certificate file")?;
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(&data) {
            let c =
                c.map_err(|e| format!("{}: not a PEM certificate file: {e:?}", path.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("{}: no PEM certificate found", path.display()));
        }
        Ok(TrustStore {
            name: format!("file:{}", path.display()),
            roots,
        })
    }
}

/// Analyses `chain` (leaf first, DER) for a connection to `host` at time `now_unix` (seconds).
/// Returns `None` when the leaf does not parse as X.509 (the caller reports that).
pub fn analyze(
    chain: &[Vec<u8>],
    host: &str,
    now_unix: i64,
    store: &TrustStore,
) -> Option<CertFact> {
    let leaf_der = chain.first()?;
    let (_, leaf) = X509Certificate::from_der(leaf_der).ok()?;
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    let days_left = (not_after - now_unix).div_euclid(86_400);
    let common_name = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(String::from);
    let mut san_dns = Vec::new();
    let mut san_ip = Vec::new();
    let mut has_san = false;
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        has_san = true;
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => san_dns.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        san_ip.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let name_matches = name_matches(host, common_name.as_deref(), &san_dns, &san_ip, has_san);
    let self_signed = is_self_signed(&leaf);
    let (key_type, key_bits) = key_info(&leaf);
    let sig_oid = leaf.signature_algorithm.algorithm.to_id_string();
    let (signature_algorithm, signature_hash) = signature_info(&sig_oid);
    let (eku, eku_ok) = match leaf.extended_key_usage() {
        Ok(Some(ext)) => {
            let e = &ext.value;
            let mut names = Vec::new();
            if e.any {
                names.push("anyExtendedKeyUsage".to_string());
            }
            if e.server_auth {
                names.push("serverAuth".to_string());
            }
            if e.client_auth {
                names.push("clientAuth".to_string());
            }
            if e.code_signing {
                names.push("codeSigning".to_string());
            }
            if e.email_protection {
                names.push("emailProtection".to_string());
            }
            if e.time_stamping {
                names.push("timeStamping".to_string());
            }
            if e.ocsp_signing {
                names.push("OCSPSigning".to_string());
            }
            let mut rdp = false;
            for o in &e.other {
                let s = o.to_id_string();
                if s == OID_EKU_RDP {
                    rdp = true;
                    names.push(format!("Remote Desktop Authentication ({OID_EKU_RDP})"));
                } else {
                    names.push(s);
                }
            }
            (names, e.server_auth || e.any || rdp)
        }
        _ => (Vec::new(), true),
    };
    let (trusted, trust_error) = trust(chain, not_before, not_after, store);
    let chain_facts = chain
        .iter()
        .filter_map(|der| {
            let (_, c) = X509Certificate::from_der(der).ok()?;
            Some(ChainCert {
                subject: c.subject().to_string(),
                issuer: c.issuer().to_string(),
                not_after: rfc3339(c.validity().not_after.timestamp()),
                sha256: thumbprint(&ring::digest::SHA256, der),
                der_base64: base64(der),
            })
        })
        .collect();
    Some(CertFact {
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        serial: leaf.raw_serial_as_string(),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left,
        expired: now_unix > not_after,
        not_yet_valid: now_unix < not_before,
        self_signed,
        trusted,
        trust_error,
        trust_store: store.name.clone(),
        name_checked: host.to_string(),
        name_matches,
        common_name,
        san_dns,
        san_ip,
        key_type,
        key_bits,
        signature_algorithm,
        signature_hash,
        eku,
        eku_ok,
        sha1: thumbprint(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf_der),
        sha256: thumbprint(&ring::digest::SHA256, leaf_der),
        chain: chain_facts,
    })
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// RFC 6125 name matching: SAN dNSName (one leftmost wildcard label) or iPAddress; the subject
/// CN only when the certificate has no SAN extension (what mstsc and most clients still do).
pub fn name_matches(
    host: &str,
    cn: Option<&str>,
    san_dns: &[String],
    san_ip: &[String],
    has_san: bool,
) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if san_ip.iter().any(|s| s.parse::<IpAddr>().ok() == Some(ip)) {
            return true;
        }
        return !has_san && cn.and_then(|c| c.parse::<IpAddr>().ok()) == Some(ip);
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if san_dns.iter().any(|p| dns_pattern_matches(p, &host)) {
        return true;
    }
    !has_san && cn.is_some_and(|c| dns_pattern_matches(c, &host))
}

fn dns_pattern_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    if let Some(suffix) = p.strip_prefix("*.") {
        // The wildcard covers exactly one label, and never a bare suffix.
        match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == suffix && suffix.contains('.'),
            None => false,
        }
    } else {
        p == host
    }
}

fn is_self_signed(c: &X509Certificate<'_>) -> bool {
    if c.subject().as_raw() != c.issuer().as_raw() {
        return false;
    }
    // Same name: confirm with the signature when the library can check it; a key type it
    // cannot check (e.g. RSA below 2048 bits in ring) still counts as self-issued.
    match c.verify_signature(None) {
        Ok(()) => true,
        Err(_) => {
            let aki = c
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(a) => {
                        a.key_identifier.as_ref().map(|k| k.0.to_vec())
                    }
                    _ => None,
                });
            let ski = c
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                    _ => None,
                });
            match (aki, ski) {
                (Some(a), Some(s)) => a == s,
                _ => true,
            }
        }
    }
}

fn key_info(c: &X509Certificate<'_>) -> (String, u32) {
    use x509_parser::public_key::PublicKey;
    match c.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".into(), rsa.key_size() as u32),
        Ok(PublicKey::EC(ec)) => ("EC".into(), ec.key_size() as u32),
        Ok(PublicKey::DSA(_)) => ("DSA".into(), 0),
        _ => {
            let oid = c.public_key().algorithm.algorithm.to_id_string();
            match oid.as_str() {
                "1.3.101.112" => ("Ed25519".into(), 256),
                "1.3.101.113" => ("Ed448".into(), 456),
                _ => (oid, 0),
            }
        }
    }
}

/// (algorithm name, hash name) for a signature algorithm OID.
pub fn signature_info(oid: &str) -> (String, String) {
    let (a, h) = match oid {
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", "md5"),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", "sha1"),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", "sha256"),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", "sha384"),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", "sha512"),
        "1.2.840.113549.1.1.10" => ("rsassaPss", "pss"),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", "sha1"),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", "sha256"),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", "sha384"),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", "sha512"),
        "1.3.101.112" => ("ed25519", "ed25519"),
        other => return (other.to_string(), "unknown".into()),
    };
    (a.into(), h.into())
}

/// Chain validation against the store at a time inside the leaf's validity (expiry is judged
/// separately), for server authentication. Returns (trusted, why not).
fn trust(
    chain: &[Vec<u8>],
    not_before: i64,
    not_after: i64,
    store: &TrustStore,
) -> (bool, Option<String>) {
    let Some(leaf) = chain.first() else {
        return (false, Some("no certificate".into()));
    };
    let leaf = CertificateDer::from(leaf.as_slice());
    let Ok(ee) = webpki::EndEntityCert::try_from(&leaf) else {
        return (
            false,
            Some("the certificate cannot be parsed for path validation".into()),
        );
    };
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .skip(1)
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    // A moment safely inside the leaf's validity window.
    let t = if not_after > not_before {
        not_before + (not_after - not_before) / 2
    } else {
        not_before
    };
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64));
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    match ee.verify_for_usage(
        algs,
        &store.roots.roots,
        &intermediates,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    ) {
        Ok(_) => (true, None),
        // A chain that validates except for the EKU is trusted; the EKU is judged on its own.
        Err(webpki::Error::RequiredEkuNotFoundContext(_)) => (true, None),
        #[allow(deprecated)]
        Err(webpki::Error::RequiredEkuNotFound) => (true, None),
        Err(e) => (false, Some(trust_error_text(&e))),
    }
}

#[allow(deprecated)]
fn trust_error_text(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => "unknown issuer (no path to a trusted root)".into(),
        webpki::Error::CertExpired { .. } => "a certificate in the chain has expired".into(),
        webpki::Error::CertNotValidYet { .. } => {
            "a certificate in the chain is not valid yet".into()
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "a signature in the chain does not verify".into()
        }
        webpki::Error::UnsupportedSignatureAlgorithm
        | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
        | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | webpki::Error::UnsupportedSignatureAlgorithmForPublicKey => {
            "the chain uses a signature algorithm or key size the verifier does not accept".into()
        }
        other => format!("{other:?}"),
    }
}

pub fn thumbprint(alg: &'static ring::digest::Algorithm, der: &[u8]) -> String {
    ring::digest::digest(alg, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

pub fn rfc3339(unix: i64) -> String {
    ::time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&::time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(T.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(dns_pattern_matches("*.example.com", "rdp.example.com"));
        assert!(!dns_pattern_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_pattern_matches("*.example.com", "example.com"));
        assert!(!dns_pattern_matches("*.com", "example.com"));
        assert!(dns_pattern_matches("RDP.Example.com", "rdp.example.com"));
    }

    #[test]
    fn ip_needs_an_ip_san() {
        let ips = vec!["127.0.0.1".to_string()];
        assert!(name_matches(
            "127.0.0.1",
            Some("localhost"),
            &[],
            &ips,
            true
        ));
        assert!(!name_matches(
            "127.0.0.2",
            Some("localhost"),
            &[],
            &ips,
            true
        ));
        assert!(!name_matches(
            "127.0.0.1",
            Some("127.0.0.1"),
            &["localhost".into()],
            &[],
            true
        ));
        assert!(name_matches(
            "127.0.0.1",
            Some("127.0.0.1"),
            &[],
            &[],
            false
        ));
        assert!(name_matches("srv", Some("SRV"), &[], &[], false));
        assert!(!name_matches(
            "srv",
            Some("srv"),
            &["other".into()],
            &[],
            true
        ));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn weak_hashes_are_named() {
        assert_eq!(signature_info("1.2.840.113549.1.1.5").1, "sha1");
        assert_eq!(signature_info("1.2.840.113549.1.1.4").1, "md5");
        assert_eq!(signature_info("1.2.840.113549.1.1.11").1, "sha256");
    }
}
