//! A throw-away MIT Kerberos realm on loopback for the Kerberos tests: `kdb5_util create` in a
//! temp dir, principals made with `kadmin.local`, `krb5kdc -n` on a free high port (TCP and
//! UDP), optionally under `faketime` for a KDC with a shifted clock. Nothing system-wide is
//! touched: every MIT tool runs with `KRB5_CONFIG` / `KRB5_KDC_PROFILE` pointing into the temp
//! dir (Debian's `krb5-config` writes an /etc/krb5.conf of its own; it is never read here).
//!
//! And the RDP server that accepts Kerberos: FreeRDP 3's shadow server
//! (`freerdp-shadow-cli3 /sec:nla /keytab:...`, Debian bookworm-backports), started through
//! [`super::shadow`] with the realm's keytab for `TERMSRV/localhost`.
//!
//! Accounts (password [`PASSWORD`] unless said otherwise), one per fault so that `alice` stays
//! healthy: `alice`, `carol` (password expired), `dave` (disabled: `-allow_tix`), `erin`
//! (deleted after creation), `frank` (only an RC4 key). Tools missing (the packages of
//! `.ci/run`) are an `Err`: tests fail, never skip.

use super::ports::free_port;
use super::process::{read_text, tail, GroupChild};
use super::shadow::{ShadowConfig, ShadowServer};
use super::tmp::TempDir;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const REALM: &str = "RDPDOC.TEST";
/// The lab accounts' password (a test value, not a secret).
pub const PASSWORD: &str = "Passw0rd!";
/// The accounts every realm gets, and how.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "+requires_preauth"),
    ("carol", "+requires_preauth -pwexpire yesterday"),
    ("dave", "+requires_preauth -allow_tix"),
    ("erin", "+requires_preauth"),
    ("frank", "+requires_preauth -e arcfour-hmac:normal"),
];

/// The MIT tools, in /usr/sbin (not on every user's PATH).
fn tool(name: &str) -> String {
    let sbin = format!("/usr/sbin/{name}");
    if std::path::Path::new(&sbin).exists() {
        sbin
    } else {
        name.to_string()
    }
}

/// Waits until `addr` accepts a TCP connection, or the child exits, or `limit` passes.
fn wait_connectable(
    child: &mut GroupChild,
    addr: SocketAddr,
    limit: Duration,
) -> Result<(), String> {
    let t0 = std::time::Instant::now();
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(st) = child.try_status() {
            return Err(format!(
                "{} exited ({st}) before listening on {addr}",
                child.name()
            ));
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "{} did not listen on {addr} within {limit:?}",
                child.name()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running (or stopped) KDC with its database.
#[derive(Debug)]
pub struct Realm {
    // Field order = drop order: the KDC goes before its directory.
    kdc: Option<GroupChild>,
    pub port: u16,
    dir: TempDir,
}

impl Realm {
    /// Creates the database, the accounts, `TERMSRV/localhost` with a keytab, and starts the
    /// KDC (≈0.1 s for the database, < 1 s until the KDC listens).
    pub fn create() -> Result<Realm, String> {
        let port = free_port()?;
        let dir = TempDir::new(&format!("krb5-{port}"))?;
        let d = dir.path().display().to_string();
        dir.write(
            "krb5.conf",
            format!(
                "[libdefaults]\n    default_realm = {REALM}\n    dns_lookup_kdc = false\n    dns_lookup_realm = false\n    rdns = false\n    dns_canonicalize_hostname = false\n    udp_preference_limit = 1\n[realms]\n    {REALM} = {{\n        kdc = 127.0.0.1:{port}\n    }}\n[domain_realm]\n    localhost = {REALM}\n"
            )
            .as_bytes(),
        )?;
        dir.write(
            "kdc.conf",
            format!(
                "[kdcdefaults]\n    kdc_ports = {port}\n    kdc_tcp_ports = {port}\n[realms]\n    {REALM} = {{\n        database_name = {d}/principal\n        key_stash_file = {d}/stash\n        acl_file = {d}/kadm5.acl\n        max_life = 10h 0m 0s\n        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n    }}\n[logging]\n    kdc = FILE:{d}/kdc.log\n    default = FILE:{d}/krb5lib.log\n"
            )
            .as_bytes(),
        )?;
        dir.write("kadm5.acl", format!("*/admin@{REALM} *\n").as_bytes())?;
        let mut realm = Realm {
            kdc: None,
            port,
            dir,
        };
        realm.run(
            &tool("kdb5_util"),
            &["create", "-s", "-r", REALM, "-P", "masterpw"],
        )?;
        for (user, opts) in ACCOUNTS {
            realm.kadmin(&format!("addprinc -pw {PASSWORD} {opts} {user}"))?;
        }
        realm.kadmin("addprinc -randkey TERMSRV/localhost")?;
        let kt = realm.keytab();
        realm.kadmin(&format!("ktadd -k {} TERMSRV/localhost", kt.display()))?;
        realm.start_kdc(None)?;
        Ok(realm)
    }

    /// The environment every MIT tool (and the FreeRDP 3 server) gets.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "KRB5_CONFIG".into(),
                self.dir.join("krb5.conf").display().to_string(),
            ),
            (
                "KRB5_KDC_PROFILE".into(),
                self.dir.join("kdc.conf").display().to_string(),
            ),
            (
                "KRB5_KTNAME".into(),
                format!("FILE:{}", self.keytab().display()),
            ),
        ]
    }

    /// The keytab of `TERMSRV/localhost`.
    pub fn keytab(&self) -> PathBuf {
        self.dir.join("server.keytab")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// `--kdc 127.0.0.1:PORT`.
    pub fn kdc_arg(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The KDC's log so far.
    pub fn kdc_log(&self) -> String {
        read_text(&self.dir.join("kdc.log"))
    }

    fn run(&self, prog: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(prog)
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!("cannot run {prog}: {e} (install krb5-kdc, krb5-admin-server: .ci/run)")
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(format!("{prog} {args:?} failed ({}): {text}", out.status));
        }
        Ok(text)
    }

    /// One `kadmin.local -q` query (database changes take effect for the next request).
    pub fn kadmin(&self, query: &str) -> Result<String, String> {
        let out = self.run(&tool("kadmin.local"), &["-r", REALM, "-q", query])?;
        // kadmin.local exits 0 even when the query failed; its messages say so.
        let lower = out.to_ascii_lowercase();
        if lower.contains("error") || lower.contains("while ") && lower.contains("fail") {
            return Err(format!("kadmin.local -q {query:?}: {out}"));
        }
        Ok(out)
    }

    /// Starts `krb5kdc -n` (foreground), under `faketime OFFSET` when given (e.g. `+600s`).
    pub fn start_kdc(&mut self, faketime: Option<&str>) -> Result<(), String> {
        self.stop_kdc();
        let log = std::fs::File::create(self.dir.join("kdc.stdout"))
            .map_err(|e| format!("kdc stdout: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut cmd = match faketime {
            Some(off) => {
                let mut c = Command::new("faketime");
                c.args(["-f", off, &tool("krb5kdc")]);
                c
            }
            None => Command::new(tool("krb5kdc")),
        };
        cmd.args(["-n", "-r", REALM])
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let mut child = GroupChild::spawn(&format!("krb5kdc :{}", self.port), cmd)
            .map_err(|e| format!("{e} (install krb5-kdc and faketime: .ci/run)"))?;
        // krb5kdc binds the wildcard address: wait until a connect to loopback works.
        match wait_connectable(&mut child, self.addr(), Duration::from_secs(10)) {
            Ok(()) => {
                self.kdc = Some(child);
                Ok(())
            }
            Err(e) => {
                child.stop();
                Err(format!(
                    "{e}\n--- krb5kdc output ---\n{}\n--- kdc.log ---\n{}",
                    tail(&read_text(&self.dir.join("kdc.stdout")), 2000),
                    tail(&self.kdc_log(), 2000)
                ))
            }
        }
    }

    /// Stops the KDC (its port then refuses TCP and answers UDP with ICMP unreachable).
    pub fn stop_kdc(&mut self) {
        if let Some(mut k) = self.kdc.take() {
            k.stop();
        }
    }

    /// The FreeRDP 3 shadow server with this realm's keytab and a SAM with the accounts as
    /// NTLM users (`alice@RDPDOC.TEST` etc., the form `--user` sends), or without any SAM.
    pub fn shadow(&self, ntlm: bool) -> Result<ShadowServer, String> {
        let mut cfg = ShadowConfig::new("nla");
        cfg.program = "freerdp-shadow-cli3".into();
        cfg.users.clear();
        for (user, _) in ACCOUNTS {
            cfg.users
                .push((format!("{user}@{REALM}"), String::new(), PASSWORD.into()));
        }
        cfg.no_sam = !ntlm;
        cfg.env = self.env();
        cfg.extra_args
            .push(format!("/keytab:{}", self.keytab().display()));
        ShadowServer::start(cfg).map_err(|e| {
            format!("{e}\n(install freerdp3-shadow-x11 from bookworm-backports: .ci/run)")
        })
    }
}
