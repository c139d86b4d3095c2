#!/usr/bin/env python3
"""wirepeer - a hand-made peer daemon for the bad-input tests (net-bad-input).

It speaks docs/PROTOCOL.md from scratch, independently of daemon/frame.c, and
sends one kind of damage to a msgrd at HOST:PORT. It exits 0 when the daemon
reacted as the protocol says (closed the link, or reset only the channel),
1 otherwise, with a line saying what happened.

  wirepeer.py HOST PORT garbage|badbanner|version|hdrcrc|oversized|badtype|early|noauth
  wirepeer.py HOST PORT payloadcrc ENTITY    (needs auth.mode = none)
"""
import os
import socket
import struct
import sys

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

def hello(mode, listen):
    return frame(HELLO, payload=struct.pack("<QBI", int.from_bytes(os.urandom(8), "little"), mode,
                                            1 << 20) + os.urandom(32) + lstr(listen))

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

def main():
    host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
    if kind == "payloadcrc":
        entity = sys.argv[4]
        s.sendall(hello(0, me) + frame(AUTH_DONE))
        s.sendall(frame(OPEN, chan=2, payload=b"\x01" + bytes(8) + lstr("client.wire") + lstr(entity)))
        s.sendall(frame(MSG, chan=2, seq=1, payload=struct.pack("<I", 7) + b"good"))
        s.sendall(frame(MSG, chan=2, seq=2, payload=struct.pack("<I", 7) + b"evil", payload_crc=1))
        s.sendall(frame(KEEPALIVE, payload=struct.pack("<Q", 42)))
        got = []
        while True:
            f = r.frame()
            if f is None:
                fail("payloadcrc: the daemon closed the link; seen %s" % got)
            got.append(f[0])
            if f[0] == RESET:
                if f[1] != 2 or struct.unpack("<i", f[2][:4])[0] != -74:  # EBADMSG
                    fail("payloadcrc: RESET %r" % (f,))
            if f[0] == KEEPALIVE_ACK:
                if RESET not in got or OPEN_OK not in got:
                    fail("payloadcrc: link alive but frames were %s" % got)
                break
        print("ok payloadcrc: channel reset, link alive")
        s.sendall(frame(CLOSE, payload=lstr("done")))
        return
    fail("unknown kind " + kind)

main()
