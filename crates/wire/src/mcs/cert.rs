//! The server certificate a Standard RDP Security server puts in TS_UD_SC_SEC1
//! ([MS-RDPBCGR] 2.2.1.4.3.1 SERVER_CERTIFICATE): a proprietary certificate (2.2.1.4.3.1.1,
//! an RSA key signed with the well-known Terminal Services key) or an X.509 chain
//! (CERT_CHAIN_VERSION_2, layout in [MS-RDPELE]). Only layout here; no signature check, no
//! crypto.

use crate::cursor::Cursor;
use crate::DecodeError;

pub const CERT_CHAIN_VERSION_1: u32 = 0x0000_0001;
pub const CERT_CHAIN_VERSION_2: u32 = 0x0000_0002;
/// The `t` bit of dwVersion: the certificate is temporary.
pub const CERT_TEMPORARY: u32 = 0x8000_0000;
pub const SIGNATURE_ALG_RSA: u32 = 0x0000_0001;
pub const KEY_EXCHANGE_ALG_RSA: u32 = 0x0000_0001;
pub const BB_RSA_KEY_BLOB: u16 = 0x0006;
pub const BB_RSA_SIGNATURE_BLOB: u16 = 0x0008;
/// RSA_PUBLIC_KEY magic "RSA1" ([MS-RDPBCGR] 2.2.1.4.3.1.1.1).
pub const RSA1_MAGIC: u32 = 0x3141_5352;
/// At most this many certificates are read from an X.509 chain.
pub const MAX_CHAIN: usize = 16;

/// RSA_PUBLIC_KEY ([MS-RDPBCGR] 2.2.1.4.3.1.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// bitlen: the modulus size in bits (512 for the classic Terminal Services key).
    pub bit_len: u32,
    /// datalen: bytes that can be encrypted (bitlen / 8 - 1).
    pub data_len: u32,
    pub exponent: u32,
    /// The modulus, little-endian, including the 8 zero padding bytes (keylen bytes).
    pub modulus: Vec<u8>,
}

/// PROPRIETARYSERVERCERTIFICATE ([MS-RDPBCGR] 2.2.1.4.3.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProprietaryCertificate {
    pub sig_alg_id: u32,
    pub key_alg_id: u32,
    pub public_key: RsaPublicKey,
    /// SignatureBlob: the signature (64 bytes for a 512-bit signing key) plus 8 zero bytes.
    pub signature: Vec<u8>,
}

impl ProprietaryCertificate {
    /// A certificate for an RSA key: `modulus_le` is the little-endian modulus *without*
    /// padding; 8 zero bytes are appended as the layout requires.
    pub fn new(modulus_le: &[u8], exponent: u32, signature: Vec<u8>) -> Self {
        let mut modulus = modulus_le.to_vec();
        modulus.extend_from_slice(&[0u8; 8]);
        let bit_len = (modulus_le.len() as u32).saturating_mul(8);
        ProprietaryCertificate {
            sig_alg_id: SIGNATURE_ALG_RSA,
            key_alg_id: KEY_EXCHANGE_ALG_RSA,
            public_key: RsaPublicKey {
                bit_len,
                data_len: (bit_len / 8).saturating_sub(1),
                exponent,
                modulus,
            },
            signature,
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let key = &self.public_key;
        let blob_len = 20 + key.modulus.len();
        let blob_len16 = u16::try_from(blob_len).map_err(|_| DecodeError::TooLarge {
            what: "wPublicKeyBlobLen",
            len: blob_len,
            max: usize::from(u16::MAX),
        })?;
        let sig_len16 = u16::try_from(self.signature.len()).map_err(|_| DecodeError::TooLarge {
            what: "wSignatureBlobLen",
            len: self.signature.len(),
            max: usize::from(u16::MAX),
        })?;
        out.extend_from_slice(&self.sig_alg_id.to_le_bytes());
        out.extend_from_slice(&self.key_alg_id.to_le_bytes());
        out.extend_from_slice(&BB_RSA_KEY_BLOB.to_le_bytes());
        out.extend_from_slice(&blob_len16.to_le_bytes());
        out.extend_from_slice(&RSA1_MAGIC.to_le_bytes());
        out.extend_from_slice(&(key.modulus.len() as u32).to_le_bytes());
        out.extend_from_slice(&key.bit_len.to_le_bytes());
        out.extend_from_slice(&key.data_len.to_le_bytes());
        out.extend_from_slice(&key.exponent.to_le_bytes());
        out.extend_from_slice(&key.modulus);
        out.extend_from_slice(&BB_RSA_SIGNATURE_BLOB.to_le_bytes());
        out.extend_from_slice(&sig_len16.to_le_bytes());
        out.extend_from_slice(&self.signature);
        Ok(())
    }

    fn decode_body(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let sig_alg_id = c.u32_le("dwSigAlgId")?;
        let key_alg_id = c.u32_le("dwKeyAlgId")?;
        let blob_type = c.u16_le("wPublicKeyBlobType")?;
        if blob_type != BB_RSA_KEY_BLOB {
            return Err(DecodeError::Invalid {
                what: "wPublicKeyBlobType",
                value: u64::from(blob_type),
            });
        }
        let blob_len = usize::from(c.u16_le("wPublicKeyBlobLen")?);
        let mut k = Cursor::new(c.take(blob_len, "PublicKeyBlob")?);
        let magic = k.u32_le("RSA_PUBLIC_KEY magic")?;
        if magic != RSA1_MAGIC {
            return Err(DecodeError::Invalid {
                what: "RSA_PUBLIC_KEY magic",
                value: u64::from(magic),
            });
        }
        let key_len = k.u32_le("RSA_PUBLIC_KEY keylen")? as usize;
        let bit_len = k.u32_le("RSA_PUBLIC_KEY bitlen")?;
        let data_len = k.u32_le("RSA_PUBLIC_KEY datalen")?;
        let exponent = k.u32_le("RSA_PUBLIC_KEY pubExp")?;
        let modulus = k.take(key_len, "RSA_PUBLIC_KEY modulus")?.to_vec();
        let sig_type = c.u16_le("wSignatureBlobType")?;
        if sig_type != BB_RSA_SIGNATURE_BLOB {
            return Err(DecodeError::Invalid {
                what: "wSignatureBlobType",
                value: u64::from(sig_type),
            });
        }
        let sig_len = usize::from(c.u16_le("wSignatureBlobLen")?);
        let signature = c.take(sig_len, "SignatureBlob")?.to_vec();
        Ok(ProprietaryCertificate {
            sig_alg_id,
            key_alg_id,
            public_key: RsaPublicKey {
                bit_len,
                data_len,
                exponent,
                modulus,
            },
            signature,
        })
    }
}

/// What the certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateKind {
    Proprietary(ProprietaryCertificate),
    /// X.509 certificates (DER), root first as in the wire order.
    X509Chain(Vec<Vec<u8>>),
}

/// SERVER_CERTIFICATE ([MS-RDPBCGR] 2.2.1.4.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The `t` bit: a temporary certificate (e.g. a licensing server not yet activated).
    pub temporary: bool,
    pub kind: CertificateKind,
}

impl ServerCertificate {
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        let t = if self.temporary { CERT_TEMPORARY } else { 0 };
        match &self.kind {
            CertificateKind::Proprietary(p) => {
                out.extend_from_slice(&(CERT_CHAIN_VERSION_1 | t).to_le_bytes());
                p.encode_body(&mut out)?;
            }
            CertificateKind::X509Chain(certs) => {
                if certs.len() > MAX_CHAIN {
                    return Err(DecodeError::TooLarge {
                        what: "NumCertBlobs",
                        len: certs.len(),
                        max: MAX_CHAIN,
                    });
                }
                out.extend_from_slice(&(CERT_CHAIN_VERSION_2 | t).to_le_bytes());
                out.extend_from_slice(&(certs.len() as u32).to_le_bytes());
                for cert in certs {
                    let len = u32::try_from(cert.len()).map_err(|_| DecodeError::TooLarge {
                        what: "cbCert",
                        len: cert.len(),
                        max: u32::MAX as usize,
                    })?;
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(cert);
                }
                // Padding: 8 + 4 * NumCertBlobs bytes ([MS-RDPELE] X.509 certificate chain).
                out.extend(std::iter::repeat_n(0u8, 8 + 4 * certs.len()));
            }
        }
        Ok(out)
    }

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(data);
        let version = c.u32_le("SERVER_CERTIFICATE dwVersion")?;
        let temporary = version & CERT_TEMPORARY != 0;
        let kind = match version & !CERT_TEMPORARY {
            CERT_CHAIN_VERSION_1 => {
                CertificateKind::Proprietary(ProprietaryCertificate::decode_body(&mut c)?)
            }
            CERT_CHAIN_VERSION_2 => {
                let n = c.u32_le("NumCertBlobs")? as usize;
                if n > MAX_CHAIN {
                    return Err(DecodeError::TooLarge {
                        what: "NumCertBlobs",
                        len: n,
                        max: MAX_CHAIN,
                    });
                }
                let mut certs = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = c.u32_le("cbCert")? as usize;
                    certs.push(c.take(len, "abCert")?.to_vec());
                }
                CertificateKind::X509Chain(certs)
            }
            other => {
                return Err(DecodeError::Invalid {
                    what: "SERVER_CERTIFICATE dwVersion",
                    value: u64::from(other),
                })
            }
        };
        Ok(ServerCertificate { temporary, kind })
    }

    /// The RSA key size in bits, for a proprietary certificate.
    pub fn rsa_bits(&self) -> Option<u32> {
        match &self.kind {
            CertificateKind::Proprietary(p) => Some(p.public_key.bit_len),
            CertificateKind::X509Chain(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proprietary_round_trip() {
        let cert = ServerCertificate {
            temporary: false,
            kind: CertificateKind::Proprietary(ProprietaryCertificate::new(
                &[0xA5; 64],
                0x10001,
                vec![0x5A; 72],
            )),
        };
        let bytes = cert.encode().expect("fits");
        // dwVersion 1 | sig alg | key alg | blob type 6 | blob len 20+72 | "RSA1" ...
        assert_eq!(&bytes[..4], &[1, 0, 0, 0]);
        assert_eq!(&bytes[12..16], &[0x06, 0x00, 92, 0x00]);
        assert_eq!(&bytes[16..20], b"RSA1");
        assert_eq!(bytes.len(), 4 + 12 + 92 + 4 + 72);
        let back = ServerCertificate::decode(&bytes).expect("decodes");
        assert_eq!(back.rsa_bits(), Some(512));
        assert_eq!(back, cert);
        for n in 0..bytes.len() {
            assert!(
                ServerCertificate::decode(&bytes[..n]).is_err(),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn x509_chain_round_trip() {
        let cert = ServerCertificate {
            temporary: true,
            kind: CertificateKind::X509Chain(vec![vec![0x30, 0x03, 1, 2, 3], vec![0x30, 0]]),
        };
        let bytes = cert.encode().expect("fits");
        assert_eq!(&bytes[..4], &[2, 0, 0, 0x80]);
        assert_eq!(ServerCertificate::decode(&bytes), Ok(cert));
        assert!(ServerCertificate::decode(&[3, 0, 0, 0]).is_err());
        assert!(ServerCertificate::decode(&[2, 0, 0, 0, 0xFF, 0xFF, 0, 0]).is_err());
    }
}
