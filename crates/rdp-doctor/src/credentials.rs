//! Credentials for the credentialed check (`check --user`): the password as a [`Secret`], where
//! it may come from (environment, a no-echo prompt, a file; never the command line), how the
//! user name is split into domain and account, and the gate that decides whether a server may
//! receive anything derived from them.
//!
//! Safety rules (issue 5): the password is zeroized when dropped; `Debug` and `Display` print
//! `<redacted>`; [`Secret`] implements no `Serialize`, so it cannot reach a report. Even an NTLM
//! response is only computed for a server whose certificate is trusted (chain, dates and name),
//! whose SHA-256 fingerprint the user pinned, or when `--insecure-send-credentials` was given.

use crate::facts::CertFact;
/// Why the server was allowed to receive credentials (a fact of the report).
pub use crate::facts::TrustBasis;
use std::fmt;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// The environment variable the password may come from.
pub const PASSWORD_ENV: &str = "RDP_DOCTOR_PASSWORD";
/// A password file larger than this is refused (it is not a password file).
pub const MAX_PASSWORD_FILE: u64 = 4096;

/// A password in memory: zeroized on drop, redacted when printed, not serializable.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Takes ownership of `s` (its buffer is the one zeroized later).
    pub fn new(s: String) -> Secret {
        Secret(Zeroizing::new(s))
    }

    /// The password itself, for the NTLM hash and the TSCredentials.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What `--user` named, split the way NTLM needs it, and the password.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The NetBIOS domain (`DOMAIN\user`), empty for `user` and `user@domain`.
    pub domain: String,
    /// The account name; for `user@domain.example` the whole UPN (as Windows clients send it,
    /// with an empty domain: [MS-NLMP] 3.1.5.1.2 leaves the split to the server).
    pub user: String,
    pub password: Secret,
}

impl Credentials {
    /// `DOMAIN\user`, `user@domain` or `user`, as typed (for reports; no secret in it).
    pub fn display_name(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }
}

/// Splits `--user`: `DOMAIN\user` gives (DOMAIN, user); `user@domain` and `user` give an empty
/// domain. Empty parts, control characters and more than 256 characters are refused.
pub fn parse_user(s: &str) -> Result<(String, String), String> {
    if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
        return Err("--user must be DOMAIN\\user, user@domain or user (at most 256 characters, no control characters)".into());
    }
    if let Some((d, u)) = s.split_once('\\') {
        if d.is_empty() || u.is_empty() || u.contains('\\') {
            return Err(format!(
                "--user '{}': expected DOMAIN\\user",
                crate::sanitize::escape(s)
            ));
        }
        return Ok((d.to_string(), u.to_string()));
    }
    if let Some((u, d)) = s.split_once('@') {
        if u.is_empty() || d.is_empty() {
            return Err(format!(
                "--user '{}': expected user@domain",
                crate::sanitize::escape(s)
            ));
        }
    }
    Ok((String::new(), s.to_string()))
}

/// Where the password came from (for the report: the source, never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    File,
    Environment,
    Prompt,
}

impl PasswordSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordSource::File => "password file",
            PasswordSource::Environment => PASSWORD_ENV,
            PasswordSource::Prompt => "prompt",
        }
    }
}

/// Reads a password file: at most [`MAX_PASSWORD_FILE`] bytes of UTF-8; one trailing line
/// ending (`\n` or `\r\n`) is removed, nothing else. Errors never quote the contents.
pub fn read_password_file(path: &Path) -> Result<Secret, String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("cannot open the password file {}: {e}", path.display()))?;
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_PASSWORD_FILE as usize + 1));
    f.take(MAX_PASSWORD_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
    if buf.len() as u64 > MAX_PASSWORD_FILE {
        return Err(format!(
            "{} is larger than {MAX_PASSWORD_FILE} bytes: not a password file",
            path.display()
        ));
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    let s = std::str::from_utf8(&buf)
        .map_err(|_| format!("the password file {} is not UTF-8", path.display()))?;
    if s.is_empty() {
        return Err(format!("the password file {} is empty", path.display()));
    }
    let mut owned = String::with_capacity(s.len());
    owned.push_str(s);
    Ok(Secret::new(owned))
}

/// The password, from (in this order) `--password-file`, [`PASSWORD_ENV`], or a prompt without
/// echo when stdin is a terminal. `prompt` reads from the terminal; it is a parameter so tests
/// can stand in for it.
pub fn obtain_password(
    file: Option<&Path>,
    env: Option<String>,
    stdin_is_tty: bool,
    prompt: impl FnOnce() -> std::io::Result<String>,
) -> Result<(Secret, PasswordSource), String> {
    if let Some(p) = file {
        return read_password_file(p).map(|s| (s, PasswordSource::File));
    }
    if let Some(v) = env {
        let s = Secret::new(v);
        if s.is_empty() {
            return Err(format!("{PASSWORD_ENV} is set but empty"));
        }
        return Ok((s, PasswordSource::Environment));
    }
    if stdin_is_tty {
        let s = Secret::new(prompt().map_err(|e| format!("cannot read the password: {e}"))?);
        if s.is_empty() {
            return Err("no password entered".into());
        }
        return Ok((s, PasswordSource::Prompt));
    }
    Err(format!(
        "--user needs a password: set {PASSWORD_ENV}, use --password-file FILE, or run on a terminal to be prompted (a password is never taken from the command line)"
    ))
}

/// Parses `--trust-fingerprint`: 64 hex digits, with or without `:` (or space) separators,
/// optionally prefixed `sha256:`. Returns uppercase hex without separators, as `CertFact.sha256`.
pub fn parse_fingerprint(s: &str) -> Result<String, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t
        .chars()
        .filter(|c| *c != ':' && *c != ' ' && *c != '-')
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "--trust-fingerprint '{}': expected the certificate's SHA-256 (64 hex digits, colons allowed)",
            crate::sanitize::escape(s)
        ));
    }
    Ok(hex.to_ascii_uppercase())
}

/// The credential gate: may this server receive an NTLM response (and later the delegated
/// password)? `Err` carries the reasons, in words a user can act on. Pure.
pub fn gate(
    cert: Option<&CertFact>,
    pinned: Option<&str>,
    insecure: bool,
) -> Result<TrustBasis, Vec<String>> {
    let Some(c) = cert else {
        if insecure {
            return Ok(TrustBasis::InsecureOverride);
        }
        return Err(vec![
            "the server presented no certificate that could be read".into(),
        ]);
    };
    if let Some(pin) = pinned {
        if c.sha256.eq_ignore_ascii_case(pin) {
            return Ok(TrustBasis::PinnedFingerprint);
        }
        // A pin that does not match is never overridden: the user said which server to trust.
        return Err(vec![format!(
            "the certificate's SHA-256 {} is not the pinned {}",
            c.sha256, pin
        )]);
    }
    let mut why = Vec::new();
    if !c.trusted {
        why.push(format!(
            "the certificate is not trusted ({}; trust store {})",
            c.trust_error.as_deref().unwrap_or("unknown issuer"),
            c.trust_store
        ));
    }
    if c.expired {
        why.push(format!("the certificate expired on {}", c.not_after));
    }
    if c.not_yet_valid {
        why.push(format!(
            "the certificate is valid only from {}",
            c.not_before
        ));
    }
    if !c.name_matches {
        why.push(format!(
            "the certificate does not name '{}'",
            crate::sanitize::escape(&c.name_checked)
        ));
    }
    if why.is_empty() {
        Ok(TrustBasis::TrustedCertificate)
    } else if insecure {
        Ok(TrustBasis::InsecureOverride)
    } else {
        Err(why)
    }
}

/// The warning printed on stderr when `--insecure-send-credentials` is given.
pub const INSECURE_WARNING: &str = "rdp-doctor: WARNING: --insecure-send-credentials: credentials will be sent to a server whose certificate is not verified. \
Anyone in the path can pose as the server: an NTLM response is enough to relay your logon to another server (NTLM relay) \
or to guess the password offline, and a completed CredSSP exchange hands the password itself to whoever answers. \
Prefer --ca FILE or --trust-fingerprint SHA256 (shown in the report's certificate facts).";

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &str = "Tr0ub4dor&3-known";

    #[test]
    fn secret_redacts_debug_and_display() {
        let s = Secret::new(KNOWN.to_string());
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let c = Credentials {
            domain: "LAB".into(),
            user: "alice".into(),
            password: s.clone(),
        };
        let dbg = format!("{c:?} {c:#?}");
        assert!(!dbg.contains(KNOWN), "{dbg}");
        assert!(dbg.contains("alice"));
        assert_eq!(s.expose(), KNOWN);
    }

    #[test]
    fn user_forms() {
        assert_eq!(parse_user("LAB\\alice"), Ok(("LAB".into(), "alice".into())));
        assert_eq!(
            parse_user("alice@corp.example"),
            Ok((String::new(), "alice@corp.example".into()))
        );
        assert_eq!(parse_user("alice"), Ok((String::new(), "alice".into())));
        for bad in ["", "\\alice", "LAB\\", "a\\b\\c", "@corp", "alice@", "a\nb"] {
            assert!(parse_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_sources_in_order() {
        let never = || -> std::io::Result<String> { panic!("must not prompt") };
        let dir = std::env::temp_dir().join(format!("rdp-doctor-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("pw");
        std::fs::write(&f, format!("{KNOWN}\r\n")).expect("write");
        let (s, src) = obtain_password(Some(&f), Some("env".into()), true, never).expect("file");
        assert_eq!((s.expose(), src), (KNOWN, PasswordSource::File));
        // only one line ending is removed; inner spaces stay
        std::fs::write(&f, " a b \n\n").expect("write");
        assert_eq!(read_password_file(&f).expect("ok").expose(), " a b \n");
        std::fs::write(&f, "").expect("write");
        let e = read_password_file(&f).expect_err("empty");
        assert!(e.contains("empty"));
        std::fs::write(&f, vec![b'x'; 5000]).expect("write");
        assert!(read_password_file(&f).is_err());
        std::fs::write(&f, [0xFF, 0xFE]).expect("write");
        assert!(read_password_file(&f).is_err());
        let _ = std::fs::remove_dir_all(&dir);

        let (s, src) = obtain_password(None, Some(KNOWN.into()), true, never).expect("env");
        assert_eq!((s.expose(), src), (KNOWN, PasswordSource::Environment));
        assert!(obtain_password(None, Some(String::new()), true, never).is_err());
        let (s, src) = obtain_password(None, None, true, || Ok(KNOWN.to_string())).expect("prompt");
        assert_eq!((s.expose(), src), (KNOWN, PasswordSource::Prompt));
        let e = obtain_password(None, None, false, never).expect_err("no source");
        assert!(e.contains(PASSWORD_ENV) && e.contains("--password-file"));
    }

    #[test]
    fn fingerprints() {
        let hex = "ab".repeat(32);
        let colons = (0..32).map(|_| "AB").collect::<Vec<_>>().join(":");
        assert_eq!(parse_fingerprint(&hex), Ok("AB".repeat(32)));
        assert_eq!(parse_fingerprint(&colons), Ok("AB".repeat(32)));
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex}")),
            Ok("AB".repeat(32))
        );
        assert!(parse_fingerprint("abcd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }

    fn cert(trusted: bool, expired: bool, name: bool) -> CertFact {
        CertFact {
            subject: "CN=localhost".into(),
            issuer: "CN=lab".into(),
            serial: "01".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left: 100,
            expired,
            not_yet_valid: false,
            self_signed: false,
            trusted,
            trust_error: (!trusted).then(|| "unknown issuer".into()),
            trust_store: "system".into(),
            name_checked: "srv".into(),
            name_matches: name,
            common_name: None,
            san_dns: vec![],
            san_ip: vec![],
            key_type: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "x".into(),
            signature_hash: "sha256".into(),
            eku: vec![],
            eku_ok: true,
            sha1: "00".into(),
            sha256: "AB".repeat(32),
            chain: vec![],
        }
    }

    #[test]
    fn the_gate() {
        let ok = cert(true, false, true);
        assert_eq!(
            gate(Some(&ok), None, false),
            Ok(TrustBasis::TrustedCertificate)
        );
        let bad = cert(false, true, false);
        let why = gate(Some(&bad), None, false).expect_err("refused");
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("not trusted"));
        assert!(why[1].contains("expired"));
        assert!(why[2].contains("does not name"));
        assert_eq!(
            gate(Some(&bad), None, true),
            Ok(TrustBasis::InsecureOverride)
        );
        let pin = "AB".repeat(32);
        assert_eq!(
            gate(Some(&bad), Some(&pin), false),
            Ok(TrustBasis::PinnedFingerprint)
        );
        // a wrong pin is refused even with the insecure flag, and even for a trusted chain
        let wrong = "CD".repeat(32);
        assert!(gate(Some(&ok), Some(&wrong), true).is_err());
        assert!(gate(None, None, false).is_err());
        assert_eq!(gate(None, None, true), Ok(TrustBasis::InsecureOverride));
    }
}
