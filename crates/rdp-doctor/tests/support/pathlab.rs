//! A three-namespace network for path tests (root only): client - router - server, on private
//! addresses that exist only inside the namespaces, with no default route anywhere.
//!
//! ```text
//!  client  rdnc0 10.231.1.2/24         rdnr1 10.231.1.1/24  router  rdnr2 10.231.2.1/24          rdns0 10.231.2.2/24  server
//!          fd00:231:0:1::2/64  ------  fd00:231:0:1::1/64  (fwd)   fd00:231:0:2::1/64  ------  fd00:231:0:2::2/64
//! ```
//!
//! * The client-router link is a veth pair, or two TAP devices joined by the user-space delay
//!   line `tests/lab/delayline.py` ([`PathOpts::delay`]): this kernel has no `tc netem`.
//! * The client routes 10.231.0.0/16 and fd00:231::/48 via the router, the server back the
//!   same way; the router forwards both families and has no other routes, so an address it
//!   has no route for gets ICMP "network unreachable" ([`UNROUTED4`]) and one on the server's
//!   subnet that nobody has fails neighbour discovery ("host unreachable" after about 3 s,
//!   [`ABSENT4`]/[`ABSENT6`]).
//! * The server also has 10.231.2.3 ([`SERVER4B`]) for a second server on port 3389.
//! * Faults are firewall rules and link settings on the router ([`PathLab::drop_tcp`],
//!   [`PathLab::reject_tcp`], [`PathLab::loss`], [`PathLab::mtu_blackhole`] ...);
//!   [`PathLab::clear`] removes them.
//! * Servers run in the server namespace ([`PathLab::xrdp`], [`PathLab::lab_server`]),
//!   `rdp-doctor check` in the client namespace ([`PathLab::check`]), with a private resolver
//!   there when asked ([`PathLab::dns`]: `/etc/netns/<client>/resolv.conf` points at
//!   `tests/lab/dnsd.py` on the client's own 127.0.0.1, so no query leaves the machine).
//! * Dropping the lab kills everything started in it (process groups, then any pid still in
//!   one of its namespaces), deletes the namespaces and `/etc/netns/<client>`. Namespaces of a
//!   test process that died are deleted by the next one (`netns::delete_stale_once`).
//!
//! Every test gets its own three namespaces (`rdn<pid>n<k>`), so tests run in parallel with the
//! same addresses and interface names.

use super::netns::NetNs;
use super::process::{read_text, tail, GroupChild};
use super::tmp::TempDir;
use super::xrdp::{XrdpConfig, XrdpServer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 2);
pub const ROUTER_C4: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 1);
pub const ROUTER_S4: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 1);
pub const SERVER4: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 2);
/// A second address of the server, for a second server on the standard port. (The server's
/// cached path MTU is per destination, i.e. per client address: both servers share it.)
pub const SERVER4B: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 3);
/// On the server's subnet, but nobody has it: the router's ARP fails.
pub const ABSENT4: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 99);
/// A network the router has no route to.
pub const UNROUTED4: Ipv4Addr = Ipv4Addr::new(10, 231, 99, 1);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 1, 0, 0, 0, 2);
pub const ROUTER_C6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 1, 0, 0, 0, 1);
pub const ROUTER_S6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 2, 0, 0, 0, 1);
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 2, 0, 0, 0, 2);
/// On the server's subnet, but nobody has it: the router's neighbour discovery fails.
pub const ABSENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x231, 0, 2, 0, 0, 0, 0x99);

/// Interface names (the same in every lab: each lives in its own namespace).
pub const CLIENT_IF: &str = "rdnc0";
pub const ROUTER_CLIENT_IF: &str = "rdnr1";
pub const ROUTER_SERVER_IF: &str = "rdnr2";
pub const SERVER_IF: &str = "rdns0";

/// The rdp-doctor binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rdp-doctor");

/// `tests/lab/<name>` in the repository.
pub fn lab_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/lab")
        .join(name)
}

/// The delay line's settings (each direction; RTT = 2 x `delay_ms`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delay {
    pub delay_ms: f64,
    /// Uniform spread +/- around `delay_ms` (frames are never reordered).
    pub jitter_ms: f64,
    /// Drop probability per IP frame and direction.
    pub loss: f64,
    pub seed: u64,
}

impl Delay {
    pub fn ms(delay_ms: f64) -> Delay {
        Delay {
            delay_ms,
            jitter_ms: 0.0,
            loss: 0.0,
            seed: 1,
        }
    }

    pub fn jitter(mut self, ms: f64) -> Delay {
        self.jitter_ms = ms;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct PathOpts {
    /// Join client and router through the delay line instead of a veth pair.
    pub delay: Option<Delay>,
}

/// How the router rejects a connection (`iptables -j REJECT --reject-with ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    TcpReset,
    PortUnreachable,
    AdminProhibited,
}

impl Reject {
    fn v4(self) -> &'static str {
        match self {
            Reject::TcpReset => "tcp-reset",
            Reject::PortUnreachable => "icmp-port-unreachable",
            Reject::AdminProhibited => "icmp-admin-prohibited",
        }
    }
    fn v6(self) -> &'static str {
        match self {
            Reject::TcpReset => "tcp-reset",
            Reject::PortUnreachable => "icmp6-port-unreachable",
            Reject::AdminProhibited => "icmp6-adm-prohibited",
        }
    }
}

/// Runs a command; `Err` carries its stderr.
fn run(argv: &[&str]) -> Result<String, String> {
    let (first, rest) = argv.split_first().ok_or("empty command")?;
    let out = Command::new(first)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {first}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Waits until `path` contains `needle`; fails early when `child` exits.
fn wait_for_text(
    child: &mut GroupChild,
    path: &Path,
    needle: &str,
    limit: Duration,
) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return Ok(());
        }
        if let Some(st) = child.try_status() {
            return Err(format!(
                "{} exited ({st}) before printing {needle:?}:\n{}",
                child.name(),
                tail(&read_text(path), 3000)
            ));
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "{} did not print {needle:?} within {limit:?}:\n{}",
                child.name(),
                tail(&read_text(path), 3000)
            ));
        }
        sleep(Duration::from_millis(10));
    }
}

/// One `rdp-doctor check --format json` run in the client namespace.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub json: serde_json::Value,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CheckRun {
    /// Finding ids, in report order (the first is the most likely cause).
    pub fn ids(&self) -> Vec<String> {
        self.json["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has(&self, id: &str) -> bool {
        self.ids().iter().any(|i| i == id)
    }

    pub fn finding(&self, id: &str) -> Option<&serde_json::Value> {
        self.json["findings"]
            .as_array()?
            .iter()
            .find(|f| f["id"] == id)
    }

    /// The evidence lines of finding `id` (empty when absent).
    pub fn evidence(&self, id: &str) -> Vec<String> {
        self.finding(id)
            .and_then(|f| f["evidence"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn severity(&self, id: &str) -> Option<String> {
        self.finding(id)
            .and_then(|f| f["severity"].as_str())
            .map(String::from)
    }

    pub fn facts(&self) -> &serde_json::Value {
        &self.json["facts"]
    }

    /// Wall time of the check as the tool measured it.
    pub fn duration_ms(&self) -> f64 {
        self.json["duration_ms"].as_f64().unwrap_or(f64::NAN)
    }

    /// Everything an assertion message needs: command, exit code, time, findings with their
    /// evidence, and the network facts.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "rdp-doctor {} -> exit {:?} in {:.2?}\n",
            self.args.join(" "),
            self.code,
            self.elapsed
        );
        for f in self.json["findings"].as_array().into_iter().flatten() {
            s.push_str(&format!("  [{}] {}\n", f["severity"], f["id"]));
            for e in f["evidence"].as_array().into_iter().flatten() {
                s.push_str(&format!("      {e}\n"));
            }
        }
        let facts = self.facts();
        for k in ["resolve", "addresses", "path", "tls", "udp", "negotiation"] {
            if !facts[k].is_null() {
                s.push_str(&format!("  {k}: {}\n", facts[k]));
            }
        }
        if !self.stderr.is_empty() {
            s.push_str(&format!("  stderr: {}\n", tail(&self.stderr, 2000)));
        }
        s
    }
}

/// The three namespaces and everything running in them.
pub struct PathLab {
    pub client: NetNs,
    pub router: NetNs,
    pub server: NetNs,
    procs: Vec<GroupChild>,
    xrdp: Vec<XrdpServer>,
    etc_dir: Option<PathBuf>,
    dir: TempDir,
    dns_log: Option<PathBuf>,
}

impl PathLab {
    /// Client - veth - router - veth - server.
    pub fn new() -> Result<PathLab, String> {
        Self::with(PathOpts::default())
    }

    pub fn with(opts: PathOpts) -> Result<PathLab, String> {
        let client = NetNs::create_with_prefix("rdn")?;
        let router = NetNs::create_with_prefix("rdn")?;
        let server = NetNs::create_with_prefix("rdn")?;
        let dir = TempDir::new("pathlab")?;
        let mut lab = PathLab {
            client,
            router,
            server,
            procs: Vec::new(),
            xrdp: Vec::new(),
            etc_dir: None,
            dir,
            dns_log: None,
        };
        lab.build(&opts)?;
        Ok(lab)
    }

    fn build(&mut self, opts: &PathOpts) -> Result<(), String> {
        let (c, r, s) = (
            self.client.name().to_owned(),
            self.router.name().to_owned(),
            self.server.name().to_owned(),
        );
        // `ip link add A netns X type veth peer name B netns Y` creates each end directly in
        // its namespace: nothing appears in the host's, so parallel labs cannot collide.
        match opts.delay {
            None => {
                run(&[
                    "ip",
                    "link",
                    "add",
                    CLIENT_IF,
                    "netns",
                    &c,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    ROUTER_CLIENT_IF,
                    "netns",
                    &r,
                ])?;
            }
            Some(d) => self.start_delay_line(d)?,
        }
        run(&[
            "ip",
            "link",
            "add",
            SERVER_IF,
            "netns",
            &s,
            "type",
            "veth",
            "peer",
            "name",
            ROUTER_SERVER_IF,
            "netns",
            &r,
        ])?;
        let addrs = [
            (
                &self.client,
                CLIENT_IF,
                format!("{CLIENT4}/24"),
                format!("{CLIENT6}/64"),
            ),
            (
                &self.router,
                ROUTER_CLIENT_IF,
                format!("{ROUTER_C4}/24"),
                format!("{ROUTER_C6}/64"),
            ),
            (
                &self.router,
                ROUTER_SERVER_IF,
                format!("{ROUTER_S4}/24"),
                format!("{ROUTER_S6}/64"),
            ),
            (
                &self.server,
                SERVER_IF,
                format!("{SERVER4}/24"),
                format!("{SERVER6}/64"),
            ),
        ];
        for (ns, dev, a4, a6) in &addrs {
            ns.ip(&["addr", "add", a4, "dev", dev])?;
            // nodad: usable at once, not "tentative" for the next second or two.
            ns.ip(&["addr", "add", a6, "dev", dev, "nodad"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        self.server
            .ip(&["addr", "add", &format!("{SERVER4B}/24"), "dev", SERVER_IF])?;
        run(&[
            "ip",
            "netns",
            "exec",
            &r,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ])?;
        let c4 = ROUTER_C4.to_string();
        let c6 = ROUTER_C6.to_string();
        let s4 = ROUTER_S4.to_string();
        let s6 = ROUTER_S6.to_string();
        self.client
            .ip(&["route", "add", "10.231.0.0/16", "via", &c4])?;
        self.client
            .ip(&["-6", "route", "add", "fd00:231::/48", "via", &c6])?;
        self.server
            .ip(&["route", "add", "10.231.0.0/16", "via", &s4])?;
        self.server
            .ip(&["-6", "route", "add", "fd00:231::/48", "via", &s6])?;
        Ok(())
    }

    fn start_delay_line(&mut self, d: Delay) -> Result<(), String> {
        let script = lab_script("delayline.py");
        let out = self.dir.join("delayline.log");
        let log = std::fs::File::create(&out).map_err(|e| format!("delayline log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.router.name(), "python3"])
            .arg(&script)
            .args([
                "--tap-a",
                CLIENT_IF,
                "--netns-a",
                self.client.name(),
                "--tap-b",
                ROUTER_CLIENT_IF,
                "--delay",
                &d.delay_ms.to_string(),
                "--jitter",
                &d.jitter_ms.to_string(),
                "--loss",
                &d.loss.to_string(),
                "--seed",
                &d.seed.to_string(),
            ])
            .stdout(log)
            .stderr(log2);
        let mut child = GroupChild::spawn("delayline.py", cmd)?;
        wait_for_text(&mut child, &out, "ready", Duration::from_secs(10))?;
        self.procs.push(child);
        Ok(())
    }

    /// `ip netns exec <router> iptables -w ARGS`.
    pub fn iptables(&self, args: &[&str]) -> Result<(), String> {
        let mut argv = vec!["ip", "netns", "exec", self.router.name(), "iptables", "-w"];
        argv.extend_from_slice(args);
        run(&argv).map(|_| ())
    }

    /// `ip netns exec <router> ip6tables -w ARGS`.
    pub fn ip6tables(&self, args: &[&str]) -> Result<(), String> {
        let mut argv = vec!["ip", "netns", "exec", self.router.name(), "ip6tables", "-w"];
        argv.extend_from_slice(args);
        run(&argv).map(|_| ())
    }

    /// A firewall silently dropping TCP to `port` (IPv4 and IPv6).
    pub fn drop_tcp(&self, port: u16) -> Result<(), String> {
        let p = port.to_string();
        let rule = ["-A", "FORWARD", "-p", "tcp", "--dport", &p, "-j", "DROP"];
        self.iptables(&rule)?;
        self.ip6tables(&rule)
    }

    /// A firewall dropping IPv6 TCP to `port` only (an AAAA record the firewall forgot).
    pub fn drop_tcp6(&self, port: u16) -> Result<(), String> {
        let p = port.to_string();
        self.ip6tables(&["-A", "FORWARD", "-p", "tcp", "--dport", &p, "-j", "DROP"])
    }

    /// A firewall rejecting TCP to `port` (IPv4 and IPv6).
    pub fn reject_tcp(&self, port: u16, how: Reject) -> Result<(), String> {
        let p = port.to_string();
        self.iptables(&[
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            &p,
            "-j",
            "REJECT",
            "--reject-with",
            how.v4(),
        ])?;
        self.ip6tables(&[
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            &p,
            "-j",
            "REJECT",
            "--reject-with",
            how.v6(),
        ])
    }

    /// Drops UDP to `port`.
    pub fn drop_udp(&self, port: u16) -> Result<(), String> {
        let p = port.to_string();
        self.iptables(&["-A", "FORWARD", "-p", "udp", "--dport", &p, "-j", "DROP"])
    }

    /// Rejects UDP to `port` with ICMP port unreachable.
    pub fn reject_udp(&self, port: u16) -> Result<(), String> {
        let p = port.to_string();
        self.iptables(&[
            "-A",
            "FORWARD",
            "-p",
            "udp",
            "--dport",
            &p,
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-port-unreachable",
        ])
    }

    /// Random loss: every forwarded IPv4 packet (both directions) is dropped with
    /// probability `p` (`-m statistic --mode random`).
    pub fn loss(&self, p: f64) -> Result<(), String> {
        let prob = format!("{p}");
        self.iptables(&[
            "-A",
            "FORWARD",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &prob,
            "-j",
            "DROP",
        ])
    }

    /// Deterministic loss: the router drops SYNs 0, n, 2n ... it forwards (`--mode nth`), so
    /// with `n = 2` every connect loses its first SYN.
    pub fn lose_every_nth_syn(&self, n: u32) -> Result<(), String> {
        let every = n.to_string();
        self.iptables(&[
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--syn",
            "-m",
            "statistic",
            "--mode",
            "nth",
            "--every",
            &every,
            "--packet",
            "0",
            "-j",
            "DROP",
        ])
    }

    /// MTU of the router's client-side link (what a VPN tunnel does to the path).
    pub fn link_mtu(&self, mtu: u32) -> Result<(), String> {
        let m = mtu.to_string();
        self.router
            .ip(&["link", "set", ROUTER_CLIENT_IF, "mtu", &m])
    }

    /// The router's own ICMP "fragmentation needed" (IPv4) and "packet too big" (IPv6) are
    /// dropped: path-MTU discovery cannot work.
    pub fn block_frag_needed(&self) -> Result<(), String> {
        self.iptables(&[
            "-A",
            "OUTPUT",
            "-p",
            "icmp",
            "--icmp-type",
            "fragmentation-needed",
            "-j",
            "DROP",
        ])?;
        self.ip6tables(&[
            "-A",
            "OUTPUT",
            "-p",
            "icmpv6",
            "--icmpv6-type",
            "packet-too-big",
            "-j",
            "DROP",
        ])
    }

    /// A real path-MTU black hole: link MTU `mtu` on the way to the client and no ICMP
    /// "fragmentation needed" back to the server.
    pub fn mtu_blackhole(&self, mtu: u32) -> Result<(), String> {
        self.link_mtu(mtu)?;
        self.block_frag_needed()
    }

    /// Drops every IPv4 packet from the server's TCP `port` whose IP length is `min_len` or
    /// more, whatever the MSS: an X.224 Connection Confirm (71 bytes with TCP timestamps)
    /// and pure ACKs pass, TLS data does not.
    pub fn drop_server_tcp_from_len(&self, port: u16, min_len: u32) -> Result<(), String> {
        let p = port.to_string();
        let range = format!("{min_len}:65535");
        let src = SERVER4.to_string();
        self.iptables(&[
            "-A", "FORWARD", "-p", "tcp", "-s", &src, "--sport", &p, "-m", "length", "--length",
            &range, "-j", "DROP",
        ])
    }

    /// Removes every fault: firewall rules, the link MTU, and the server's cached path MTU
    /// (re-adding its route forgets the exception a "fragmentation needed" created).
    pub fn clear(&self) -> Result<(), String> {
        for chain in ["FORWARD", "OUTPUT"] {
            self.iptables(&["-F", chain])?;
            self.ip6tables(&["-F", chain])?;
        }
        self.link_mtu(1500)?;
        let s4 = ROUTER_S4.to_string();
        let s6 = ROUTER_S6.to_string();
        self.server.ip(&["route", "del", "10.231.0.0/16"])?;
        self.server
            .ip(&["route", "add", "10.231.0.0/16", "via", &s4])?;
        self.server.ip(&["-6", "route", "del", "fd00:231::/48"])?;
        self.server
            .ip(&["-6", "route", "add", "fd00:231::/48", "via", &s6])
    }

    /// Starts xrdp in the server namespace on [`SERVER4`] (port 3389 unless `cfg` names
    /// one). Kept running until the lab drops.
    pub fn xrdp(&mut self, cfg: XrdpConfig) -> Result<SocketAddr, String> {
        let port = cfg.port.unwrap_or(3389);
        let ip = cfg.addr.unwrap_or(IpAddr::V4(SERVER4));
        let s = XrdpServer::start(cfg.netns(self.server.name()).addr(ip).port(port))?;
        let addr = s.socket_addr();
        self.xrdp.push(s);
        Ok(addr)
    }

    /// The log of the `i`-th xrdp started (for assertion messages).
    pub fn xrdp_log(&self, i: usize) -> String {
        self.xrdp.get(i).map(|s| s.log()).unwrap_or_default()
    }

    /// Starts `rdp-doctor lab --fault FAULT` in the server namespace on every address of
    /// `listen` (TCP and UDP). Returns the lab CA file, for `check --ca`.
    pub fn lab_server(&mut self, fault: &str, listen: &[SocketAddr]) -> Result<PathBuf, String> {
        let n = self.procs.len();
        let ca = self.dir.join(&format!("lab-ca-{n}.pem"));
        let log = self.dir.join(&format!("lab-{n}.log"));
        let out = std::fs::File::create(&log).map_err(|e| format!("lab log: {e}"))?;
        let out2 = out.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.server.name(), BIN, "lab"]);
        for a in listen {
            cmd.args(["--listen", &a.to_string(), "--fault", fault]);
        }
        cmd.arg("--allow-remote")
            .arg("--ca-out")
            .arg(&ca)
            .stdout(out)
            .stderr(out2);
        let mut child = GroupChild::spawn(&format!("rdp-doctor lab {fault}"), cmd)?;
        wait_for_text(&mut child, &log, "press Ctrl-C", Duration::from_secs(30))?;
        self.procs.push(child);
        Ok(ca)
    }

    /// A private resolver for the client namespace: `tests/lab/dnsd.py` on the client's
    /// 127.0.0.1:53 answering `records` (anything else is NXDOMAIN), and
    /// `/etc/netns/<client>/{resolv.conf,nsswitch.conf,hosts}` so that `ip netns exec` makes
    /// the client use it and nothing else.
    pub fn dns(&mut self, records: &[(&str, &[IpAddr])]) -> Result<(), String> {
        let etc = PathBuf::from("/etc/netns").join(self.client.name());
        // Another lab may remove an empty /etc/netns between the two mkdirs: try again.
        let mut made = std::fs::create_dir_all(&etc);
        for _ in 0..3 {
            if made.is_ok() {
                break;
            }
            made = std::fs::create_dir_all(&etc);
        }
        made.map_err(|e| format!("mkdir {}: {e}", etc.display()))?;
        self.etc_dir = Some(etc.clone());
        for (file, text) in [
            (
                "resolv.conf",
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            ),
            ("nsswitch.conf", "hosts: files dns\n"),
            ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
        ] {
            std::fs::write(etc.join(file), text)
                .map_err(|e| format!("write {}/{file}: {e}", etc.display()))?;
        }
        let log = self.dir.join("dnsd.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("dnsd log: {e}"))?;
        let out2 = out.try_clone().map_err(|e| format!("dup: {e}"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.client.name(), "python3"])
            .arg(lab_script("dnsd.py"))
            .args(["--listen", "127.0.0.1:53"]);
        for (name, addrs) in records {
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            cmd.arg("--record")
                .arg(format!("{name}={}", list.join(",")));
        }
        cmd.stdout(out).stderr(out2);
        let mut child = GroupChild::spawn("dnsd.py", cmd)?;
        wait_for_text(&mut child, &log, "ready", Duration::from_secs(10))?;
        self.procs.push(child);
        self.dns_log = Some(log);
        Ok(())
    }

    /// What the resolver answered so far (`query NAME TYPE -> RCODE ANSWERS` lines).
    pub fn dns_log(&self) -> String {
        self.dns_log.as_deref().map(read_text).unwrap_or_default()
    }

    /// Runs `rdp-doctor check ARGS --format json` in the client namespace (hard limit 120 s).
    pub fn check(&self, args: &[&str]) -> Result<CheckRun, String> {
        let mut argv: Vec<String> = vec![
            "timeout".into(),
            "--kill-after=2".into(),
            "120".into(),
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.client.name().into(),
            BIN.into(),
            "check".into(),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv.extend([
            "--format".into(),
            "json".into(),
            "--color".into(),
            "never".into(),
        ]);
        let t0 = Instant::now();
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run rdp-doctor: {e}"))?;
        let elapsed = t0.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "check {args:?}: no JSON report ({e}), exit {:?}\nstdout: {}\nstderr: {stderr}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        let run = CheckRun {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: out.status.code(),
            json,
            stderr,
            elapsed,
        };
        // One line per check in the test's output (shown with --nocapture or on failure).
        eprintln!(
            "check {} -> exit {:?}, {:?}, {:.0} ms",
            run.args.join(" "),
            run.code,
            run.ids(),
            run.duration_ms()
        );
        if std::env::var_os("RDP_DOCTOR_PATHLAB_VERBOSE").is_some() {
            eprintln!("{}", run.describe());
        }
        Ok(run)
    }

    /// The pids still inside one of the lab's namespaces.
    fn pids_inside(&self) -> Vec<u32> {
        [&self.client, &self.router, &self.server]
            .iter()
            .filter_map(|ns| run(&["ip", "netns", "pids", ns.name()]).ok())
            .flat_map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    }
}

impl Drop for PathLab {
    fn drop(&mut self) {
        // Servers and helpers first (process groups: TERM, then KILL) ...
        self.xrdp.clear();
        self.procs.clear();
        // ... then anything else still inside (a process outlives its namespace otherwise).
        for pid in self.pids_inside() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(etc) = self.etc_dir.take() {
            let _ = std::fs::remove_dir_all(etc);
            // Only when empty: it may hold other namespaces' files.
            let _ = std::fs::remove_dir("/etc/netns");
        }
        // The NetNs fields delete the namespaces when they drop, right after this.
    }
}
