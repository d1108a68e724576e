#!/usr/bin/env python3
"""The floor of a check: the server's own time to answer every X.224 negotiation a check makes,
all sent at once, plus the TLS handshakes the check makes. A minimal client, no diagnosis.

Usage: floor_probe.py HOST PORT RUNS REQ [REQ...]
  REQ: requestedProtocols of one negotiation (decimal), suffixed `t` when the check runs TLS
  on that connection too; the first one always runs TLS when the server selects a TLS-based
  protocol. Prints the median and all run times (ms) as JSON.

Like any client against a small listen backlog (xrdp's is 2), a connect that gets no SYN+ACK
within 20 ms is abandoned and started again, else one dropped SYN would cost the kernel's 1 s
retransmission and the floor would measure the backlog, not the server.
"""
import asyncio, json, ssl, statistics, struct, sys, time

SYN_WAIT = 0.02


def x224_request(protocols: int) -> bytes:
    neg = struct.pack("<BBHI", 1, 0, 8, protocols)  # RDP_NEG_REQ
    cr = bytes([len(neg) + 6, 0xE0, 0, 0, 0, 0, 0]) + neg
    return struct.pack(">BBH", 3, 0, 4 + len(cr)) + cr


async def connect(host, port):
    while True:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), SYN_WAIT)
        except asyncio.TimeoutError:
            continue


async def negotiate(host, port, protocols, tls):
    reader, writer = await connect(host, port)
    writer.write(x224_request(protocols))
    await writer.drain()
    head = await reader.readexactly(4)
    body = await reader.readexactly(struct.unpack(">H", head[2:4])[0] - 4)
    selected = None
    if len(body) >= 15 and body[7] == 2:  # RDP_NEG_RSP
        selected = struct.unpack("<I", body[11:15])[0]
    if tls and selected:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        await writer.start_tls(ctx)
    writer.transport.abort()


async def once(host, port, reqs):
    t = time.perf_counter()
    await asyncio.gather(*(negotiate(host, port, r, i == 0 or tls) for i, (r, tls) in enumerate(reqs)))
    return (time.perf_counter() - t) * 1000


async def main():
    host, port, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reqs = [(int(r.rstrip("t")), r.endswith("t")) for r in sys.argv[4:]]
    times = []
    for _ in range(runs):
        times.append(await once(host, port, reqs))
        await asyncio.sleep(0.05)
    print(json.dumps({"median_ms": statistics.median(times), "runs_ms": times, "requests": sys.argv[4:]}))


asyncio.run(main())
