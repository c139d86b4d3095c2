#!/usr/bin/env python3
"""wirepeer - a hand-made peer daemon for the bad-input tests (net-bad-input).

It speaks docs/PROTOCOL.md from scratch, independently of daemon/frame.c, and
sends one kind of damage to a msgrd at HOST:PORT. It exits 0 when the daemon
reacted as the protocol says (closed the link, or reset only the channel),
1 otherwise, with a line saying what happened.

  wirepeer.py HOST PORT garbage|badbanner|version|hdrcrc|oversized|badtype|early|noauth
  wirepeer.py HOST PORT payloadcrc|oversize|gap|unknown|flood ENTITY  (auth.mode = none)
  wirepeer.py HOST PORT kaflood                                    (auth.mode = none)
  wirepeer.py HOST PORT idle N
  wirepeer.py HOST PORT redial ENTITY                              (auth.mode = none)

idle opens N links that never say a word and expects all but 64 of them
closed at once (the daemon's cap on links in their handshake). redial plays
a daemon that lost its link one-sidedly and dials again with the same
instance: its OPEN on the new link must get OPEN_OK, and no RESET meant for
the old link's channels.

payloadcrc, oversize and gap send one good MSG and then one damaged one on
a channel to ENTITY, and expect that channel, and only it, to be reset;
unknown sends a MSG on a channel never opened and expects a RESET for it;
flood ignores the window and expects the channel reset before the daemon
has buffered more than a bounded amount; kaflood sends KEEPALIVEs as fast as
it can and expects answers at a bounded rate.
"""
import os
import socket
import struct
import sys
import time

def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t

TABLE = _table()

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

HELLO, AUTH, AUTH_DONE, AUTH_FAIL = 1, 2, 3, 4
OPEN, OPEN_OK, OPEN_FAIL, MSG, ACK, RESET = 16, 17, 18, 19, 20, 21
KEEPALIVE, KEEPALIVE_ACK, CLOSE = 32, 33, 40

def banner(vmin=1, vmax=1):
    return b"MSGRWIRE" + struct.pack("<HHI", vmin, vmax, 0)

def frame(ftype, chan=0, seq=0, ack=0, payload=b"", length=None, hdr_crc=None, payload_crc=None):
    hdr = struct.pack("<BBHIQQI", ftype, 0, 0, chan, seq, ack,
                      len(payload) if length is None else length)
    hdr += struct.pack("<I", crc32c(hdr) if hdr_crc is None else hdr_crc)
    return hdr + payload + struct.pack("<I", crc32c(payload) if payload_crc is None else payload_crc)

def lstr(s):
    return struct.pack("<H", len(s)) + s.encode()

def hello(mode, listen, nonce=None):
    if nonce is None:
        nonce = int.from_bytes(os.urandom(8), "little")
    link_id = int.from_bytes(os.urandom(8), "little") | 1  # we dial: we name the link
    return frame(HELLO, payload=struct.pack("<QBIQQQ", nonce, mode, 1 << 20, 4 << 20, link_id, 0)
                 + os.urandom(32) + lstr(listen))

class Reader:
    """Frames from the daemon, after its banner."""
    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def need(self, n):
        while len(self.buf) < n:
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                d = b""
            if not d:
                return None
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        h = self.need(32)
        if h is None:
            return None
        ftype, _, _, chan, seq, ack, length, _ = struct.unpack("<BBHIQQII", h)
        body = self.need(length + 4)
        if body is None:
            return None
        return ftype, chan, body[:length]

def closed_by_daemon(sock, timeout=3.0):
    """True once the daemon closes the link (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

def idle(host, port, n):
    socks = [socket.create_connection((host, port), timeout=3) for _ in range(n)]
    time.sleep(0.5)
    closed = 0
    for c in socks:
        c.setblocking(False)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    closed += 1
                    break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    for c in socks:
        c.close()
    if closed < n - 64 or closed > n - 64 + 2:
        fail("idle: %d of %d silent links closed at once, want %d" % (closed, n, n - 64))
    print("ok idle: %d of %d silent links refused" % (closed, n))

def redial(host, port, entity, me):
    nonce = 0x1234567890
    links = []
    for attempt in (1, 2):
        s = socket.create_connection((host, port), timeout=3)
        r = Reader(s)
        s.sendall(banner() + hello(0, me, nonce) + frame(AUTH_DONE))
        if r.need(16) is None:
            fail("redial: no banner")
        s.sendall(frame(OPEN, chan=2, payload=b"\x01" + bytes(8) + lstr("client.wire") + lstr(entity)))
        while True:
            f = r.frame()
            if f is None:
                fail("redial: link %d closed before OPEN_OK" % attempt)
            if f[0] == RESET and f[1] == 2:
                fail("redial: link %d got a RESET for channel 2 before OPEN_OK" % attempt)
            if f[0] == OPEN_OK and f[1] == 2:
                break
        links.append(s)
    links[1].sendall(frame(KEEPALIVE, payload=struct.pack("<Q", 1)))
    r = Reader(links[1])
    while True:
        f = r.frame()
        if f is None:
            fail("redial: the new link closed")
        if f[0] == RESET:
            fail("redial: RESET %r on the new link" % (f,))
        if f[0] == KEEPALIVE_ACK:
            break
    print("ok redial: the new link's channel is open, no stale RESET")
    links[1].sendall(frame(CLOSE, payload=lstr("done")))

def main():
    host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "idle":
        return idle(host, port, int(sys.argv[4]))
    if kind == "redial":
        return redial(host, port, sys.argv[4], "10.255.0.1:1")
    s = socket.create_connection((host, port), timeout=3)
    me = "10.255.0.1:1"  # sorts below 127.*: our channel ids are even
    damage = {
        "garbage": b"GET / HTTP/1.0\r\n\r\n" + os.urandom(64),
        "badbanner": b"MSGRWIRX" + bytes(8),
        "version": banner(7, 9),
        "hdrcrc": banner() + frame(HELLO, payload=b"x" * 10, hdr_crc=0x12345678),
        "oversized": banner() + frame(HELLO, length=1 << 20),
        "badtype": banner() + frame(99),
        "early": banner() + frame(OPEN, chan=2, payload=b"\x01" + bytes(8) + lstr("client.z") + lstr("osd.z")),
    }
    if kind in damage:
        s.sendall(damage[kind])
        if not closed_by_daemon(s):
            fail(kind + ": the daemon kept the link open")
        print("ok " + kind + ": link closed")
        return
    r = Reader(s)
    s.sendall(banner())
    if r.need(16) is None or not r.buf == b"" and False:
        fail("no banner")
    if kind == "noauth":
        # claim auth.mode = hmac, then skip AUTH and say AUTH_DONE
        s.sendall(hello(1, me) + frame(AUTH_DONE))
        while True:
            f = r.frame()
            if f is None:
                fail("noauth: closed without AUTH_FAIL")
            if f[0] == AUTH_FAIL:
                break
            if f[0] not in (HELLO, AUTH):
                fail("noauth: got frame type %d before AUTH_FAIL" % f[0])
        if not closed_by_daemon(s):
            fail("noauth: link left open")
        print("ok noauth: AUTH_FAIL, link closed")
        return
    if kind == "kaflood":
        s.sendall(hello(0, me) + frame(AUTH_DONE))
        t0 = time.monotonic()
        ka = frame(KEEPALIVE, payload=struct.pack("<Q", 42)) * 1000
        for _ in range(50):
            s.sendall(ka)
        elapsed = time.monotonic() - t0
        s.sendall(frame(CLOSE, payload=lstr("done")))
        acks = 0
        while True:
            f = r.frame()
            if f is None:
                break
            acks += f[0] == KEEPALIVE_ACK
        limit = elapsed / 0.010 + 5
        if acks > limit:
            fail("kaflood: %d answers to 50000 KEEPALIVEs in %.2f s" % (acks, elapsed))
        print("ok kaflood: %d answers to 50000 KEEPALIVEs in %.2f s" % (acks, elapsed))
        return
    if kind in ("payloadcrc", "oversize", "gap", "unknown", "flood"):
        entity = sys.argv[4]
        s.sendall(hello(0, me) + frame(AUTH_DONE))
        s.sendall(frame(OPEN, chan=2, payload=b"\x01" + bytes(8) + lstr("client.wire") + lstr(entity)))
        chan, want = 2, {"payloadcrc": -74, "oversize": -90, "gap": -104, "unknown": -104,
                         "flood": -105}[kind]  # EBADMSG EMSGSIZE ECONNRESET ENOBUFS
        if kind != "flood":
            s.sendall(frame(MSG, chan=2, seq=1, payload=struct.pack("<I", 7) + b"good"))
        if kind == "payloadcrc":
            s.sendall(frame(MSG, chan=2, seq=2, payload=struct.pack("<I", 7) + b"evil", payload_crc=1))
        elif kind == "oversize":  # the daemon runs with max_message = 1M
            s.sendall(frame(MSG, chan=2, seq=2, payload=struct.pack("<I", 7) + bytes(2 << 20),
                                payload_crc=0))  # skipped unread: its CRC is never checked
        elif kind == "gap":
            s.sendall(frame(MSG, chan=2, seq=3, payload=struct.pack("<I", 7) + b"late"))
        elif kind == "unknown":
            chan = 40
            s.sendall(frame(MSG, chan=40, seq=1, payload=struct.pack("<I", 7) + b"lost"))
        else:
            # the window means nothing to us: 1 MiB messages until reset
            import threading
            big = struct.pack("<I", 7) + bytes(1 << 20)
            big_crc = crc32c(big)  # once: this CRC is pure Python, and slow
            def pump():
                try:
                    for seq in range(1, 400):
                        s.sendall(frame(MSG, chan=2, seq=seq, payload=big, payload_crc=big_crc))
                except OSError:
                    pass
            threading.Thread(target=pump, daemon=True).start()
        s.sendall(frame(KEEPALIVE, payload=struct.pack("<Q", 42))) if kind != "flood" else None
        got = []
        while True:
            f = r.frame()
            if f is None:
                fail("%s: the daemon closed the link; seen %s" % (kind, got))
            got.append(f[0])
            if f[0] == RESET:
                err = struct.unpack("<i", f[2][:4])[0]
                if f[1] != chan or err != want:
                    fail("%s: RESET on channel %d with %d, want %d with %d" % (kind, f[1], err, chan, want))
                if kind == "flood":
                    break
            if f[0] == KEEPALIVE_ACK:
                if RESET not in got or OPEN_OK not in got:
                    fail("%s: link alive but frames were %s" % (kind, got))
                break
        print("ok %s: channel %d reset (%d), link alive" % (kind, chan, want))
        if kind != "flood":
            s.sendall(frame(CLOSE, payload=lstr("done")))
        return
    fail("unknown kind " + kind)

main()
