//! Test certificates made with the `openssl` CLI, once per test process.
//!
//! A lab CA signs the leaves through `openssl ca -startdate/-enddate`, which accepts any dates
//! (OpenSSL 3.0's `x509 -days` refuses values below -1, and faketime is not installed).
//!
//! | name         | subject / SAN                                  | validity              |
//! |--------------|------------------------------------------------|-----------------------|
//! | `Valid`      | CN=localhost, DNS:localhost, IP:127.0.0.1      | now .. +825 days      |
//! | `Expired`    | same                                           | 2020-01-01..2021-01-01|
//! | `NotYet`     | same                                           | 2099-01-01..2100-01-01|
//! | `WrongCn`    | CN=wrong.example.invalid, DNS:wrong.example.invalid | now .. +825 days |
//! | `SelfSigned` | CN=localhost, DNS:localhost, IP:127.0.0.1, self-signed | now .. +365 days |
//! | `Big`        | like `Valid` but RSA-4096; serve `chain` (leaf + CA): ~2.5 KB TLS flight | now .. +825 days |
//!
//! All other keys are RSA-2048. Every leaf is `CA:FALSE`, `serverAuth`.

use super::process::{read_text, tail};
use super::tmp::process_dir;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The certificates a test server can present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertName {
    Valid,
    Expired,
    NotYet,
    WrongCn,
    SelfSigned,
    Big,
}

impl CertName {
    pub const ALL: [CertName; 6] = [
        CertName::Valid,
        CertName::Expired,
        CertName::NotYet,
        CertName::WrongCn,
        CertName::SelfSigned,
        CertName::Big,
    ];

    /// The file stem (`valid`, `expired`, ...).
    pub fn stem(self) -> &'static str {
        match self {
            CertName::Valid => "valid",
            CertName::Expired => "expired",
            CertName::NotYet => "notyet",
            CertName::WrongCn => "wrongcn",
            CertName::SelfSigned => "selfsigned",
            CertName::Big => "big",
        }
    }

    /// The common name in the subject.
    pub fn common_name(self) -> &'static str {
        match self {
            CertName::WrongCn => "wrong.example.invalid",
            _ => "localhost",
        }
    }

    fn subject_alt_name(self) -> &'static str {
        match self {
            CertName::WrongCn => "subjectAltName=DNS:wrong.example.invalid",
            _ => "subjectAltName=DNS:localhost,IP:127.0.0.1",
        }
    }

    fn rsa_bits(self) -> u32 {
        match self {
            CertName::Big => 4096,
            _ => 2048,
        }
    }
}

/// The files of one certificate (all PEM).
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub name: CertName,
    /// The leaf alone.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, unencrypted).
    pub key: PathBuf,
    /// Leaf followed by the issuing CA (for `SelfSigned`: the leaf alone).
    pub chain: PathBuf,
    /// The lab CA certificate (the trust anchor to give a client; useless for `SelfSigned`).
    pub ca: PathBuf,
}

impl CertFiles {
    /// What a server should be configured with: the chain for `Big` (so its TLS flight is
    /// ~2.5 KB, more than one segment of a 1400-byte path MTU: docs/network-paths.md), the leaf
    /// alone otherwise.
    pub fn served(&self) -> &Path {
        if self.name == CertName::Big {
            &self.chain
        } else {
            &self.cert
        }
    }
}

/// The whole set, generated once per test process.
#[derive(Debug)]
pub struct LabCerts {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub files: Vec<CertFiles>,
    /// Wall time the generation took.
    pub generation: Duration,
}

impl LabCerts {
    pub fn get(&self, name: CertName) -> Option<&CertFiles> {
        self.files.iter().find(|f| f.name == name)
    }
}

const LAB_CNF: &str = "\
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ self_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
[ ca ]
default_ca = lab_ca
[ lab_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./issued
certificate = ./ca.crt
private_key = ./ca.key
rand_serial = yes
default_md = sha256
policy = lab_policy
copy_extensions = copy
unique_subject = no
email_in_dn = no
[ lab_policy ]
commonName = supplied
[ srv_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
";

/// An `openssl` invocation in `dir` with its output captured to `<dir>/<log>.log`.
fn openssl(dir: &Path, log: &str, args: &[&str]) -> Result<Child, String> {
    let out = fs::File::create(dir.join(format!("{log}.log")))
        .map_err(|e| format!("create {log}.log: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("dup: {e}"))?;
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run openssl (is it installed?): {e}"))
}

fn finish(dir: &Path, log: &str, mut child: Child) -> Result<(), String> {
    let st = child.wait().map_err(|e| format!("openssl {log}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        let text = read_text(&dir.join(format!("{log}.log")));
        Err(format!(
            "openssl {log} failed ({st}):\n{}",
            tail(&text, 2000)
        ))
    }
}

fn generate() -> Result<LabCerts, String> {
    let t0 = Instant::now();
    let dir = process_dir()?.join("certs");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("issued")).map_err(|e| format!("mkdir certs: {e}"))?;
    fs::write(dir.join("lab.cnf"), LAB_CNF).map_err(|e| format!("write lab.cnf: {e}"))?;
    fs::write(dir.join("index.txt"), "").map_err(|e| format!("write index.txt: {e}"))?;

    // Key generation dominates (RSA-4096 alone is ~1 s): run it all in parallel.
    let ca = openssl(
        &dir,
        "ca-req",
        &[
            "req",
            "-x509",
            "-config",
            "lab.cnf",
            "-extensions",
            "v3_ca",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=rdp-doctor test lab CA",
            "-days",
            "3650",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    )?;
    let mut pending = vec![("ca-req".to_owned(), ca)];
    for name in CertName::ALL {
        let stem = name.stem();
        let subj = format!("/CN={}", name.common_name());
        let newkey = format!("rsa:{}", name.rsa_bits());
        let key = format!("{stem}.key");
        let log = format!("{stem}-req");
        let child = if name == CertName::SelfSigned {
            let crt = format!("{stem}.crt");
            openssl(
                &dir,
                &log,
                &[
                    "req",
                    "-x509",
                    "-config",
                    "lab.cnf",
                    "-extensions",
                    "self_ext",
                    "-newkey",
                    &newkey,
                    "-nodes",
                    "-subj",
                    &subj,
                    "-addext",
                    name.subject_alt_name(),
                    "-days",
                    "365",
                    "-keyout",
                    &key,
                    "-out",
                    &crt,
                ],
            )?
        } else {
            let csr = format!("{stem}.csr");
            openssl(
                &dir,
                &log,
                &[
                    "req",
                    "-new",
                    "-config",
                    "lab.cnf",
                    "-newkey",
                    &newkey,
                    "-nodes",
                    "-subj",
                    &subj,
                    "-addext",
                    name.subject_alt_name(),
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                ],
            )?
        };
        pending.push((log, child));
    }
    let mut first_err = None;
    for (log, child) in pending {
        if let Err(e) = finish(&dir, &log, child) {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    // Signing shares the CA database: one at a time.
    let ca_pem = fs::read(dir.join("ca.crt")).map_err(|e| format!("read ca.crt: {e}"))?;
    let mut files = Vec::new();
    for name in CertName::ALL {
        let stem = name.stem();
        let crt = format!("{stem}.crt");
        if name != CertName::SelfSigned {
            let csr = format!("{stem}.csr");
            let mut args = vec![
                "ca",
                "-batch",
                "-config",
                "lab.cnf",
                "-extensions",
                "srv_ext",
                "-notext",
            ];
            match name {
                CertName::Expired => args.extend([
                    "-startdate",
                    "20200101000000Z",
                    "-enddate",
                    "20210101000000Z",
                ]),
                CertName::NotYet => args.extend([
                    "-startdate",
                    "20990101000000Z",
                    "-enddate",
                    "21000101000000Z",
                ]),
                _ => args.extend(["-days", "825"]),
            }
            args.extend(["-in", &csr, "-out", &crt]);
            let log = format!("{stem}-sign");
            let child = openssl(&dir, &log, &args)?;
            finish(&dir, &log, child)?;
        }
        let leaf = fs::read(dir.join(&crt)).map_err(|e| format!("read {crt}: {e}"))?;
        let mut chain = leaf.clone();
        if name != CertName::SelfSigned {
            chain.extend_from_slice(&ca_pem);
        }
        let chain_path = dir.join(format!("{stem}-chain.crt"));
        fs::write(&chain_path, chain).map_err(|e| format!("write chain: {e}"))?;
        files.push(CertFiles {
            name,
            cert: dir.join(&crt),
            key: dir.join(format!("{stem}.key")),
            chain: chain_path,
            ca: dir.join("ca.crt"),
        });
    }
    Ok(LabCerts {
        ca: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        dir,
        files,
        generation: t0.elapsed(),
    })
}

/// The lab certificates, generated on first use (about 2 s), or why generation failed.
pub fn try_lab() -> Result<&'static LabCerts, String> {
    static CERTS: OnceLock<Result<LabCerts, String>> = OnceLock::new();
    CERTS
        .get_or_init(generate)
        .as_ref()
        .map_err(|e| format!("test certificate generation failed: {e}"))
}

/// The files of one certificate, or why they are not there.
pub fn try_files(name: CertName) -> Result<&'static CertFiles, String> {
    try_lab()?
        .get(name)
        .ok_or_else(|| format!("certificate {name:?} missing from the lab set"))
}

/// Like [`try_lab`], but panics with the openssl output: tests that need certificates must fail
/// loudly, never skip.
#[allow(clippy::panic)]
pub fn lab() -> &'static LabCerts {
    match try_lab() {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// The files of one certificate (see [`lab`]).
#[allow(clippy::panic)]
pub fn files(name: CertName) -> &'static CertFiles {
    match try_files(name) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}
