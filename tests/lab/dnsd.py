#!/usr/bin/env python3
"""A tiny authoritative DNS responder (UDP) for name-resolution tests in a network namespace.

    ip netns exec CLIENT python3 dnsd.py --listen 127.0.0.1:53 \
        --record rdp.rdn.test=10.231.2.2,fd00:231:2::99
    python3 dnsd.py --listen 127.0.0.1:40053 \
        --srv _kerberos._tcp.RDPDOC.TEST=0:100:38088:kdc1.rdpdoc.test \
        --record kdc1.rdpdoc.test=127.0.0.1

The test points the namespace's resolver at it (`/etc/netns/CLIENT/resolv.conf`, which
`ip netns exec` bind-mounts over /etc/resolv.conf), so no query ever leaves the machine.

* A / AAAA queries for a configured name are answered with its IPv4 / IPv6 addresses (TTL 0);
  a configured name without an address of the asked family gets NOERROR with no answer
  (NODATA).
* SRV queries (type 33) for a name given with `--srv NAME=PRIO:WEIGHT:PORT:TARGET` (repeatable)
  are answered with those records (RFC 2782; the target uncompressed); other types of such a
  name get NODATA. Names match case-insensitively (realms are upper case on the wire).
* Any other name gets NXDOMAIN (RCODE 3), authoritative.
* Every query is logged on stdout as `query NAME TYPE -> RCODE ANSWERS` (the test checks that
  resolution really went through this responder).
* It prints `ready` once bound; SIGTERM stops it.

RFC 1035 4.1 (message format), RFC 3596 (AAAA), RFC 2782 (SRV). Standard library only.
"""

import argparse
import ipaddress
import signal
import socket
import struct
import sys

TYPE_A = 1
TYPE_AAAA = 28
TYPE_SRV = 33
CLASS_IN = 1


def parse_name(msg, off):
    """Returns (lower-case name, offset after it). Queries carry no compression pointers."""
    labels = []
    while True:
        if off >= len(msg):
            raise ValueError("truncated name")
        n = msg[off]
        off += 1
        if n == 0:
            break
        if n & 0xC0:
            raise ValueError("compression in a question")
        labels.append(msg[off:off + n].decode("ascii", "replace").lower())
        off += n
    return ".".join(labels), off


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def answer(query, records, srv=None):
    srv = srv or {}
    if len(query) < 12:
        return None, None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not exactly one question
        return None, None
    name, off = parse_name(query, 12)
    if off + 4 > len(query):
        return None, None
    qtype, qclass = struct.unpack("!HH", query[off:off + 4])
    question = query[12:off + 4]
    rd = flags & 0x0100
    answers = []
    if name in srv:
        rcode = 0
        if qclass == CLASS_IN and qtype == TYPE_SRV:
            for prio, weight, port, target in srv[name]:
                rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
                answers.append(struct.pack("!HHHIH", 0xC00C, TYPE_SRV, CLASS_IN, 0,
                                           len(rdata)) + rdata)
    elif name in records:
        rcode = 0
        if qclass == CLASS_IN:
            for a in records[name]:
                if qtype == TYPE_A and a.version == 4 or qtype == TYPE_AAAA and a.version == 6:
                    rdata = a.packed
                    answers.append(struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, 0,
                                               len(rdata)) + rdata)
    else:
        rcode = 3  # NXDOMAIN
    # QR=1, AA=1, RD copied, RA=1, RCODE
    rflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode
    header = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
    log = f"query {name} {qtype} -> {rcode} {len(answers)}"
    return header + question + b"".join(answers), log


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="127.0.0.1:53")
    p.add_argument("--record", action="append", default=[], help="NAME=ADDR[,ADDR...]")
    p.add_argument("--srv", action="append", default=[],
                   help="NAME=PRIO:WEIGHT:PORT:TARGET (repeatable)")
    args = p.parse_args()
    records = {}
    for r in args.record:
        name, _, addrs = r.partition("=")
        records[name.lower().rstrip(".")] = [ipaddress.ip_address(a) for a in addrs.split(",") if a]
    srv = {}
    for r in args.srv:
        name, _, v = r.partition("=")
        prio, weight, port_, target = v.split(":", 3)
        srv.setdefault(name.lower().rstrip("."), []).append(
            (int(prio), int(weight), int(port_), target))
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            reply, log = answer(data, records, srv)
        except ValueError as e:
            print(f"bad query from {peer}: {e}", flush=True)
            continue
        if reply is not None:
            sock.sendto(reply, peer)
            print(log, flush=True)


if __name__ == "__main__":
    main()
