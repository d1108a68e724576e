//! Certificates for the lab server, generated at start-up: a lab CA and one leaf per
//! certificate fault (expired, not yet valid, self-signed, wrong name, weak key, expiring soon,
//! wrong usage). ECDSA P-256 keys, except the weak-key fault's RSA-1024 key, which ring cannot
//! use, so the lab signs its handshakes itself (see `WeakRsaKey`).

use super::faults::{Cert, Eku, IssuedBy, Key};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::net::IpAddr;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub struct LabCa {
    pub pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn dn(cn: &str, organization: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, organization);
    d
}

fn err(e: impl std::fmt::Display) -> String {
    format!("certificate generation failed: {e}")
}

impl LabCa {
    pub fn generate() -> Result<LabCa, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn("rdp-doctor lab CA", Cert::LAB.organization);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::days(1);
        p.not_after = now + Duration::days(3650);
        let cert = p.self_signed(&key).map_err(err)?;
        Ok(LabCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(p, key),
        })
    }
}

/// The leaf `cert` describes, for a server reached as `names` (DNS names and IP addresses).
pub fn leaf_for(cert: &Cert, ca: &LabCa, names: &[String]) -> Result<Arc<CertifiedKey>, String> {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    let (cn, sans): (String, Vec<String>) = match cert.only_name {
        Some(name) => (name.into(), vec![name.into()]),
        None => (
            names.first().cloned().unwrap_or_else(|| "localhost".into()),
            names.to_vec(),
        ),
    };
    p.distinguished_name = dn(&cn, cert.organization);
    p.subject_alt_names = sans
        .iter()
        .filter_map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Some(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().ok().map(SanType::DnsName),
        })
        .collect();
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = match cert.eku {
        Eku::ServerAuth => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Eku::ClientAuthOnly => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    let (not_before, not_after) = cert.valid_days;
    p.not_before = now + Duration::days(not_before);
    p.not_after = now + Duration::days(not_after);
    if cert.key == Key::Rsa1024 {
        if cert.issued_by != IssuedBy::LabCa {
            return Err("the lab cannot self-sign with an RSA-1024 key (ring refuses it)".into());
        }
        let weak = super::weakkey::WeakRsaKey::generate(1024)?;
        let spki = RsaSpki(weak.pkcs1_public_der()?);
        let leaf = p.signed_by(&spki, &ca.issuer).map_err(err)?;
        let chain = vec![leaf.der().clone(), ca.der.clone()];
        return Ok(Arc::new(CertifiedKey::new(chain, Arc::new(weak))));
    }
    let key = KeyPair::generate().map_err(err)?;
    let leaf = match cert.issued_by {
        IssuedBy::Itself => p.self_signed(&key).map_err(err)?,
        IssuedBy::LabCa => p.signed_by(&key, &ca.issuer).map_err(err)?,
    };
    let mut chain = vec![leaf.der().clone()];
    if cert.issued_by == IssuedBy::LabCa {
        chain.push(ca.der.clone());
    }
    while chain.iter().map(|c| c.len()).sum::<usize>() < cert.chain_bytes {
        chain.push(ca.der.clone());
    }
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(err)?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// An RSA public key (PKCS#1 RSAPublicKey DER) for rcgen to put into a certificate.
struct RsaSpki(Vec<u8>);

impl PublicKeyData for RsaSpki {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}
