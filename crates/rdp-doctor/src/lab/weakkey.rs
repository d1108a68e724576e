//! An RSA key below ring's 2048-bit minimum, for the `cert-weak-key` fault: the lab signs its
//! TLS handshakes with the `rsa` crate instead (RSA-PSS for TLS 1.3, PKCS#1 v1.5 for TLS 1.2).

use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use sha2::Sha256;

#[derive(Clone)]
pub struct WeakRsaKey {
    key: RsaPrivateKey,
}

impl std::fmt::Debug for WeakRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakRsaKey(redacted)")
    }
}

impl WeakRsaKey {
    pub fn generate(bits: usize) -> Result<WeakRsaKey, String> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
            .map_err(|e| format!("RSA key generation failed: {e}"))?;
        Ok(WeakRsaKey { key })
    }

    pub fn pkcs1_public_der(&self) -> Result<Vec<u8>, String> {
        self.key
            .to_public_key()
            .to_pkcs1_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| format!("RSA public key encoding failed: {e}"))
    }
}

impl SigningKey for WeakRsaKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        [
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
        .into_iter()
        .find(|s| offered.contains(s))
        .map(|scheme| {
            Box::new(WeakSigner {
                key: self.key.clone(),
                scheme,
            }) as Box<dyn Signer>
        })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

struct WeakSigner {
    key: RsaPrivateKey,
    scheme: SignatureScheme,
}

impl std::fmt::Debug for WeakSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeakSigner({:?})", self.scheme)
    }
}

impl Signer for WeakSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => {
                let k = rsa::pss::BlindedSigningKey::<Sha256>::new(self.key.clone());
                Ok(k.sign_with_rng(&mut rsa::rand_core::OsRng, message)
                    .to_vec())
            }
            _ => {
                let k = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone());
                Ok(k.sign(message).to_vec())
            }
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
