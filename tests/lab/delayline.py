#!/usr/bin/env python3
"""A user-space "wire" with delay, jitter and loss, for network-path tests.

This kernel has no `tc netem` (CONFIG_NET_SCH_NETEM is off), so the tests put this program
between two network namespaces instead: it creates two TAP devices (/dev/net/tun,
IFF_TAP | IFF_NO_PI) in the namespace it runs in, optionally moves each into another namespace,
and forwards Ethernet frames between them through a time-ordered queue.

    ip netns exec ROUTER python3 delayline.py --tap rdnd0 --netns-a CLIENT --tap-b rdnd1 \
        --delay 100 --jitter 20 --loss 0.05 --seed 1

* `--delay MS` is added in EACH direction (RTT = 2 x delay), `--jitter MS` spreads it
  uniformly over [delay - jitter, delay + jitter], `--loss P` drops IP frames with probability
  P (each direction). The random generator is seeded (`--seed`), so a run is repeatable as far
  as the order of frames is.
* Only IPv4/IPv6 frames are delayed and dropped. ARP passes at once: in a real network the
  delay is on the WAN, not between a host and its gateway, and a delayed ARP would make the
  first connection of every test cost an extra round trip.
* Frames of one direction never overtake each other (a frame leaves no earlier than the one
  before it), so jitter shows up as varying round trips without reordering. netem does
  reorder; a real VPN or WAN link rarely does, and reordering would make TCP retransmit
  (fast retransmit on duplicate ACKs), which the tests must not mistake for loss.
* It prints `ready` on stdout once both devices exist (the caller then configures addresses)
  and counters on stderr when it stops. SIGTERM/SIGINT stop it. The TAP devices are not
  persistent: they disappear when the process exits, however it exits (even SIGKILL), and a
  device moved into a namespace also disappears when that namespace is deleted.

Standard library only (no pip): fcntl.ioctl does the one ioctl (TUNSETIFF) that would need
`unsafe` in Rust.
"""

import argparse
import errno
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ip {' '.join(args)} failed: {r.stderr.strip()}")


class Direction:
    def __init__(self, name, src, dst, args, rng):
        self.name = name
        self.src = src
        self.dst = dst
        self.delay = args.delay / 1000.0
        self.jitter = args.jitter / 1000.0
        self.loss = args.loss
        self.rng = rng
        self.last_due = 0.0
        self.forwarded = 0
        self.dropped = 0
        self.passed = 0  # non-IP frames forwarded at once

    def schedule(self, frame, now, queue, seq):
        ethertype = struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
        if ethertype not in (ETH_IPV4, ETH_IPV6):
            self.passed += 1
            send(self.dst, frame)
            return
        if self.loss > 0 and self.rng.random() < self.loss:
            self.dropped += 1
            return
        d = self.delay
        if self.jitter > 0:
            d += self.rng.uniform(-self.jitter, self.jitter)
        due = max(now + max(d, 0.0), self.last_due)
        self.last_due = due
        heapq.heappush(queue, (due, seq, self, frame))


def send(fd, frame):
    try:
        os.write(fd, frame)
    except OSError as e:
        # The peer device is down or gone (namespace being deleted): drop the frame.
        if e.errno not in (errno.EIO, errno.EAGAIN, errno.ENOBUFS, errno.EBADFD, errno.EINVAL):
            raise


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tap-a", required=True, help="name of the first TAP device")
    p.add_argument("--tap-b", required=True, help="name of the second TAP device")
    p.add_argument("--netns-a", help="move the first device into this namespace")
    p.add_argument("--netns-b", help="move the second device into this namespace")
    p.add_argument("--delay", type=float, default=0.0, help="one-way delay, ms")
    p.add_argument("--jitter", type=float, default=0.0, help="+/- this many ms, uniform")
    p.add_argument("--loss", type=float, default=0.0, help="drop probability per IP frame")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if not (0.0 <= args.loss < 1.0) or args.delay < 0 or args.jitter < 0:
        raise SystemExit("need 0 <= loss < 1, delay >= 0, jitter >= 0")

    fa = open_tap(args.tap_a)
    fb = open_tap(args.tap_b)
    if args.netns_a:
        ip("link", "set", args.tap_a, "netns", args.netns_a)
    if args.netns_b:
        ip("link", "set", args.tap_b, "netns", args.netns_b)

    rng = random.Random(args.seed)
    dirs = {fa: Direction("a2b", fa, fb, args, rng), fb: Direction("b2a", fb, fa, args, rng)}
    queue = []
    seq = 0
    stop = False

    def on_signal(_sig, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    poller = select.poll()
    poller.register(fa, select.POLLIN)
    poller.register(fb, select.POLLIN)
    print("ready", flush=True)

    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, d, frame = heapq.heappop(queue)
            send(d.dst, frame)
            d.forwarded += 1
        wait_ms = -1 if not queue else max(0, int((queue[0][0] - now) * 1000 + 0.5))
        # Wake at least every 200 ms so a signal is handled promptly.
        wait_ms = 200 if wait_ms < 0 else min(wait_ms, 200)
        try:
            events = poller.poll(wait_ms)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, ev in events:
            if ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                stop = True
                continue
            # Drain what is there; keep each burst bounded so the queue gets serviced.
            for _ in range(64):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno in (errno.EIO, errno.EBADFD):
                        break
                    raise
                if not frame:
                    break
                seq += 1
                dirs[fd].schedule(frame, now, queue, seq)

    stats = {d.name: {"forwarded": d.forwarded, "dropped": d.dropped, "non_ip": d.passed}
             for d in dirs.values()}
    print(f"delayline stopped: {stats}", file=sys.stderr, flush=True)
    os.close(fa)
    os.close(fb)


if __name__ == "__main__":
    main()
