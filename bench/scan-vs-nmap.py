#!/usr/bin/env python3
"""Benchmark: `rdp-doctor scan --quick` against nmap on the same loopback RDP endpoints.

For each size (default 1000 and 10000) the script starts `rdp-doctor lab` on that many
loopback addresses (127.1.x.y, one port; split over several lab processes so each stays
under the open-file limit: a lab endpoint holds a TCP and a UDP socket), then runs

  rdp-doctor scan --quick --format csv   (TCP, X.224, TLS handshake and certificate analysis)
  nmap -Pn -n -p PORT --script +rdp-enum-encryption,+ssl-cert -iL targets

under /usr/bin/time, and prints endpoints per second, peak RSS and the ratios. It also
measures memory against concurrency (bytes per in-flight probe) and against the number of
targets at a fixed concurrency (bytes per completed target: the rows kept for the table).

Usage: bench/scan-vs-nmap.py [--sizes 1000,10000] [--port 44389] [--bin PATH] [--no-nmap]
Everything runs on 127.0.0.0/8; every process started is stopped at the end.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_CHUNK = 4000  # endpoints per lab process (2 fds each, under a 20000 fd limit)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def addresses(n):
    """127.1.0.1, 127.1.0.2, ... (n addresses, skipping .0 and .255 last octets is not needed
    on loopback: every 127.x.y.z answers)."""
    base = (127 << 24) | (1 << 16) | 1
    return [base + i for i in range(n)]


def ip(v):
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def start_labs(binary, n, port, workdir):
    labs = []
    addrs = addresses(n)
    ca = os.path.join(workdir, "lab-ca.pem")
    for i in range(0, n, LAB_CHUNK):
        chunk = addrs[i : i + LAB_CHUNK]
        listen = f"{ip(chunk[0])}-{ip(chunk[-1])}:{port}"
        cmd = [binary, "lab", "--quiet", "--listen", listen, "--fault", "healthy"]
        if i == 0:
            cmd += ["--ca-out", ca]
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        labs.append(p)
        for line in p.stderr:
            if "press Ctrl-C to stop" in line:
                break
            if line.startswith("rdp-doctor:"):
                stop(labs)
                sys.exit(f"lab failed: {line.strip()}")
        # drain the rest in the background (the lab logs nothing more with --quiet)
    return labs, ca


def stop(procs):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def timed(cmd, stdout_path):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS bytes, exit code)."""
    tfile = stdout_path + ".time"
    with open(stdout_path, "w") as out:
        rc = subprocess.call(
            ["/usr/bin/time", "-f", "%e %M", "-o", tfile] + cmd,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    with open(tfile) as f:
        last = f.read().strip().splitlines()[-1]
    wall, rss_kb = last.split()
    return float(wall), int(rss_kb) * 1024, rc


def run_scan(binary, spec_file, ca, port, workdir, tag, concurrency=None):
    cmd = [binary, "scan", "--quick", "--ca", ca, "-p", str(port), "-i", spec_file,
           "--format", "csv", "--no-summary", "--no-progress", "--timeout", "5",
           "--max-targets", "100000"]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    out = os.path.join(workdir, f"scan-{tag}.csv")
    wall, rss, rc = timed(cmd, out)
    with open(out) as f:
        rows = f.read().splitlines()[1:]
    answered = sum(1 for r in rows if ",healthy," in r or ",degraded," in r)
    return wall, rss, rc, len(rows), answered


def run_nmap(targets_file, port, workdir, tag):
    out = os.path.join(workdir, f"nmap-{tag}.txt")
    cmd = ["nmap", "-Pn", "-n", "-p", str(port), "--script",
           "+rdp-enum-encryption,+ssl-cert", "-iL", targets_file, "-oN", "-"]
    wall, rss, rc = timed(cmd, out)
    with open(out) as f:
        text = f.read()
    hosts = len(re.findall(r"^Nmap scan report for ", text, re.M))
    enum = text.count("| rdp-enum-encryption:")
    return wall, rss, rc, hosts, enum


def mib(b):
    return f"{b / 1048576:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--port", type=int, default=44389)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/rdp-doctor"))
    ap.add_argument("--no-nmap", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    if not os.path.exists("/usr/bin/time"):
        sys.exit("needs /usr/bin/time (apt-get install time)")
    if not a.no_build:
        log("building rdp-doctor (release)...")
        subprocess.check_call(["cargo", "build", "--release", "-p", "rdp-doctor", "-q"], cwd=ROOT)
    nmap_ver = subprocess.run(["nmap", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {os.cpu_count()} cores; {nmap_ver}; open-file limit {open('/proc/self/limits').read().split('Max open files')[1].split()[0]}")
    results = []
    with tempfile.TemporaryDirectory(prefix="rdp-doctor-bench-") as wd:
        for n in sizes:
            log(f"--- {n} endpoints: starting the lab")
            labs, ca = start_labs(a.bin, n, a.port, wd)
            try:
                tfile = os.path.join(wd, f"targets-{n}.txt")
                with open(tfile, "w") as f:
                    f.write("".join(ip(v) + "\n" for v in addresses(n)))
                log(f"--- {n}: rdp-doctor scan --quick")
                s = run_scan(a.bin, tfile, ca, a.port, wd, str(n))
                log(f"    {s[0]:.2f} s, {mib(s[1])}, {s[4]}/{s[3]} answered")
                n_res = None
                if not a.no_nmap:
                    log(f"--- {n}: nmap rdp-enum-encryption,ssl-cert (minutes)")
                    n_res = run_nmap(tfile, a.port, wd, str(n))
                    log(f"    {n_res[0]:.2f} s, {mib(n_res[1])}, {n_res[4]}/{n_res[3]} enumerated")
                mem = []
                if n == max(sizes):
                    # memory against concurrency on the same targets
                    for c in (16, 256, 1024):
                        m = run_scan(a.bin, tfile, ca, a.port, wd, f"{n}-c{c}", concurrency=c)
                        mem.append((c, m[1], m[0]))
                        log(f"    concurrency {c}: {mib(m[1])} in {m[0]:.2f} s")
                results.append((n, s, n_res, mem))
            finally:
                stop(labs)
    print()
    print(f"{'endpoints':>9}  {'tool':<22} {'wall s':>8} {'endpoints/s':>12} {'peak RSS':>10}  answered")
    for n, s, nm, _ in results:
        print(f"{n:>9}  {'rdp-doctor scan --quick':<22} {s[0]:>8.2f} {n / max(s[0], 0.001):>12.0f} {mib(s[1]):>10}  {s[4]}/{s[3]}")
        if nm:
            print(f"{n:>9}  {'nmap rdp scripts':<22} {nm[0]:>8.2f} {n / max(nm[0], 0.001):>12.1f} {mib(nm[1]):>10}  {nm[4]}/{nm[3]}")
    print()
    for n, s, nm, _ in results:
        if nm:
            print(f"ratio at {n}: throughput x{(n / s[0]) / (n / nm[0]):.0f} nmap's; peak RSS x{s[1] / nm[1]:.2f} nmap's")
    if len(results) >= 2:
        (n1, s1, _, _), (n2, s2, _, _) = results[0], results[-1]
        per = (s2[1] - s1[1]) / (n2 - n1)
        print(f"memory per completed target ({n1} -> {n2}, default concurrency): {per:.0f} bytes")
    for n, _, _, mem in results:
        if len(mem) >= 2:
            (c1, r1, _), (c2, r2, _) = mem[0], mem[-1]
            print(f"memory per in-flight probe ({n} targets, concurrency {c1} -> {c2}): {(r2 - r1) / (c2 - c1):.0f} bytes")
            for c, r, w in mem:
                print(f"  concurrency {c:>5}: peak RSS {mib(r)}, {n / w:.0f} endpoints/s")


if __name__ == "__main__":
    main()
