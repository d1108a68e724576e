#!/usr/bin/env python3
"""Capture a server's MCS answers on loopback (Python standard library only).

Usage: capture.py PORT REQUESTED_PROTOCOLS CONNECT_INITIAL.bin OUT_PREFIX [--domain]

Sends an X.224 Connection Request with RDP_NEG_REQ(requestedProtocols), does TLS when the
server selects a TLS-based protocol, sends the Connect Initial read from the file (the MCS PDU;
it is wrapped here in X.224 Data + TPKT), and saves the MCS PDU of every answer as
OUT_PREFIX-<step>.bin. With --domain it goes on with Erect Domain, Attach User and Channel
Join (user channel, then I/O channel 1003) and saves the confirms. If the server answers the
Connection Request with something other than a Connection Confirm, that TPDU's user data is
saved as OUT_PREFIX-x224.bin.
"""
import socket
import ssl
import struct
import sys


def tpkt(payload):
    return struct.pack(">BBH", 3, 0, len(payload) + 4) + payload


def x224_data(mcs):
    return b"\x02\xf0\x80" + mcs


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_tpkt(s):
    head = recv_exact(s, 4)
    if head[0] != 3:
        raise ValueError(f"not TPKT: {head.hex()}")
    (length,) = struct.unpack(">H", head[2:4])
    return recv_exact(s, length - 4)


def recv_mcs(s):
    payload = recv_tpkt(s)
    if payload[1] & 0xF0 != 0xF0:
        raise ValueError(f"not an X.224 Data TPDU: {payload[:8].hex()}")
    return payload[3:]


def save(prefix, step, data):
    path = f"{prefix}-{step}.bin"
    with open(path, "wb") as f:
        f.write(data)
    print(f"{step}: {len(data)} bytes -> {path}: {data[:24].hex()}...")


def main():
    port, requested, ci_path, prefix = sys.argv[1], int(sys.argv[2], 0), sys.argv[3], sys.argv[4]
    domain = "--domain" in sys.argv[5:]
    with open(ci_path, "rb") as f:
        connect_initial = f.read()
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    neg = struct.pack("<BBHI", 1, 0, 8, requested)
    s.sendall(tpkt(bytes([6 + len(neg), 0xE0, 0, 0, 0, 0, 0]) + neg))
    cc = recv_tpkt(s)
    if cc[1] & 0xF0 != 0xD0:
        save(prefix, "x224", cc[3:] if cc[1] & 0xF0 == 0xF0 else cc)
        return
    selected = 0
    if len(cc) >= 15 and cc[7] == 2:
        (selected,) = struct.unpack("<I", cc[11:15])
    print(f"X.224 CC: {cc.hex()} selected={selected}")
    if selected != 0:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
        print(f"TLS: {s.version()}")
    s.sendall(tpkt(x224_data(connect_initial)))
    save(prefix, "connect-response", recv_mcs(s))
    if not domain:
        return
    s.sendall(tpkt(x224_data(bytes.fromhex("0401000100"))))  # Erect Domain Request
    s.sendall(tpkt(x224_data(bytes.fromhex("28"))))  # Attach User Request
    auc = recv_mcs(s)
    save(prefix, "attach-user-confirm", auc)
    user = struct.unpack(">H", auc[2:4])[0] + 1001
    for step, channel in (("join-user", user), ("join-io", 1003)):
        s.sendall(tpkt(x224_data(b"\x38" + struct.pack(">HH", user - 1001, channel))))
        save(prefix, step, recv_mcs(s))


if __name__ == "__main__":
    main()
