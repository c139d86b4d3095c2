#!/usr/bin/env python3
"""wirepeer - a hand-made peer daemon for the bad-input and security tests
(net-bad-input in net.sh, net-sec-* in netsec.sh).

It speaks docs/PROTOCOL.md version 2 from scratch, independently of
daemon/frame.c, auth.c and seal.c: the banner, CRC frames, the version 2
handshake as a dialler (transcript hash H, the dialler proves first,
role-bound HMAC proofs, a keyring with key and next_key) and secure mode
(HKDF per-direction keys, AES-256-GCM header and payload records, counter
nonces). It sends one kind of damage to a msgrd at HOST:PORT and exits 0
when the daemon reacted as the protocol says, 1 otherwise, with a line
saying what happened. A proof or sealed record from the daemon that does
not verify is a failure too: it means this implementation of the spec and
the daemon disagree.

  wirepeer.py HOST PORT garbage|badbanner|version|v1only|hdrcrc|oversized|badtype|early|noauth
  wirepeer.py HOST PORT payloadcrc|oversize|gap|unknown|flood|redial ENTITY [OPTS]
  wirepeer.py HOST PORT kaflood [OPTS]
  wirepeer.py HOST PORT sessionflood ENTITY1 ENTITY2 [OPTS]
  wirepeer.py HOST PORT idle N KEEP [--bind ADDR[,ADDR...]] [--hold SECS]
  wirepeer.py A_HOST A_PORT relay B_HOST B_PORT
  wirepeer.py HOST PORT tamper FIELD|none|all [OPTS]
  wirepeer.py HOST PORT rangecheck [OPTS]
  wirepeer.py HOST PORT secure-flip ENTITY SINK --keyring FILE
  wirepeer.py HOST PORT drainrace|drainlost DPORT --keyring FILE
  wirepeer.py HOST PORT closedunheard --keyring FILE
  wirepeer.py HOST PORT accept good|reflect|authdone|window|linkid --mode hmac|secure --keyring FILE

  OPTS: --mode none|hmac|secure (default none, but hmac for tamper and
        rangecheck), --keyring FILE (needed unless --mode none)

payloadcrc, oversize and gap send one good MSG and then one damaged one on
a channel to ENTITY, and expect that channel, and only it, to be reset; in
secure mode payloadcrc flips a bit of the sealed payload instead, and the
whole link must close. unknown sends a MSG on a channel never opened and
expects a RESET for it; flood ignores the window and expects the channel
reset before the daemon has buffered more than a bounded amount;
sessionflood spreads such a flood over channels that each stay within
their own bound, and expects the session's bound (net.session_buffer) to
reset the channel that crosses it, counting channels that ended; kaflood
sends KEEPALIVEs as fast as it can and expects answers at a bounded rate.
frags ENTITY sends a message in fragments around another channel's message,
messages that restart one half in, and BATCHes (ENTITY is msgr-itest
sink-sum, which prints what it got; we print "expect" lines to compare),
then broken fragment sequences and batches (each closes its link) and one
over max_message (a RESET for its channel).
acks sends an ACK for channels the daemon does not have (a RESET each, the
link stays) and malformed ACKs (each closes its link).
redial plays a daemon that lost its link one-sidedly and dials again with
the same instance: its OPEN on the new link must get OPEN_OK, and no RESET
meant for the old link's channels.

idle opens N links from each source address (--bind, default the kernel's
choice) that never say a word, and expects all but KEEP of them closed at
once (the daemon allows 64 links in their handshake, 8 per source
address). With --hold it then prints "holding" and keeps the survivors
(re-dialling any the daemon drops) for SECS seconds.

chanflood ENTITY N opens N channels to ENTITY with ids that share their low
bits (a hash of the id's bits would chain them all together), prints
"ready N" when all are open, and keeps the link for --hold SECS.

relay is the relay attack of issue 8, by someone with no key: it dials A
and B, sends B a HELLO with A's listen address, nonce and challenge (and A
one with B's), offers protocol versions 1 to 2, and forwards every frame
one daemon sends to the other. It passes only if neither daemon sends a
proof (AUTH) to the attacker, who never proved anything, and A never takes
the link (AUTH_DONE); junk proofs then get AUTH_FAIL.

tamper FIELD plays an honest dialler whose handshake was changed in flight:
a HELLO field (nonce mode max_message window link_id lost challenge listen)
or a banner field (lowest highest features) is changed on the way to the
daemon (it hashes what it got, we what we sent), and then on the way from
it (we hash a changed copy). Each must get AUTH_FAIL and a closed link,
never the daemon's AUTH. tamper none is the control: the daemon's proof
verifies, AUTH_DONE brings the link up, a KEEPALIVE is answered. tamper all
runs the control, every field, and the control again.

rangecheck sends HELLOs with out-of-range fields, each followed by a valid
proof over exactly those bytes, and expects each link closed without the
daemon's AUTH (counted as protocol_errors); HELLOs with the receiver's own
listen address or nonce get AUTH_FAIL (auth_failures); HELLOs at the edges
of every range bring the link up.

secure-flip (secure mode) sends one good MSG to ENTITY over a sealed link,
then on fresh links, each with a channel open to SINK, flips one bit of a header record, a header tag, a
payload record, a payload tag, the first sealed frame (AUTH_DONE), sends a
valid record whose header CRC field is not 0, and a CRC frame where a
sealed one belongs: each link must be closed by the daemon.

drainrace DPORT listens on HOST:PORT (127.0.0.2, above the daemon's
address) for the daemon's dial, then dials the daemon at 127.0.0.1:DPORT
as the same instance: the daemon drains our link; we reset the one it
kept, and the drained one must close too.
drainlost DPORT is drainrace with the drained link lost instead: after the
daemon's CLOSE on R we print "draining" and wait for SIGUSR1 (the test has
filled K meanwhile, and opened a lossy channel whose OPEN waits for room),
then reset R and read K: no MSG or RESET may come for a channel whose
OPEN did not.
closedunheard accepts a dial and a lossless channel, resets that link and
stops listening, and at SIGUSR1 listens and accepts the next dial: the daemon's init round on it may list
as closed only channels whose OPEN we saw.
accept plays the acceptor, listening on HOST:PORT for a msgrd to dial it:
the daemon's dialler proof must verify, come only after our whole HELLO,
and its frames after our AUTH must open (good); an AUTH that is the
dialler-role proof (reflect) or an AUTH_DONE from us (authdone) must be
refused with AUTH_FAIL; a HELLO from us out of range (window, linkid) must
close the link before the daemon proves anything.
"""
import hashlib
import hmac
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    HAVE_CRYPTO = True
except ImportError:
    HAVE_CRYPTO = False


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
OPEN, OPEN_OK, OPEN_FAIL, MSG, ACK, RESET, RESUME, RESUME_END = 16, 17, 18, 19, 20, 21, 22, 23
KEEPALIVE, KEEPALIVE_ACK, CLOSE = 32, 33, 40
NAMES = {1: "HELLO", 2: "AUTH", 3: "AUTH_DONE", 4: "AUTH_FAIL", 16: "OPEN", 17: "OPEN_OK",
         18: "OPEN_FAIL", 19: "MSG", 20: "ACK", 21: "RESET", 22: "RESUME", 23: "RESUME_END",
         32: "KEEPALIVE",
         33: "KEEPALIVE_ACK", 40: "CLOSE"}

VERSION = 5
MODES = {"none": 0, "hmac": 1, "secure": 2}
DIALLER_PROOF = b"msgrd-v2 dialler proof"
ACCEPTOR_PROOF = b"msgrd-v2 acceptor proof"
INFO_D2A = b"msgrd-v2 dialler to acceptor"
INFO_A2D = b"msgrd-v2 acceptor to dialler"
TAG_LEN = 16
ME = "10.255.0.1:1"  # our listen address: sorts below 127.*, so our channel ids are even
ME2 = "10.255.0.2:1"  # another daemon we may claim to be, as any key holder can


def fail(msg):
    print("FAIL: " + msg)
    sys.stdout.flush()
    os._exit(1)


def need_crypto():
    if not HAVE_CRYPTO:
        print("SKIP: python3-cryptography missing")
        sys.exit(77)


def name(t):
    return NAMES.get(t, str(t))


def banner(vmin=VERSION, vmax=VERSION, features=0, magic=b"MSGRWIRE"):
    return magic + struct.pack("<HHI", vmin, vmax, features)


def lstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<H", len(s)) + s


def frame(ftype, chan=0, seq=0, ack=0, payload=b"", length=None, hdr_crc=None, payload_crc=None,
          flags=0):
    """A CRC frame (section 2)."""
    hdr = struct.pack("<BBHIQQI", ftype, flags, 0, chan, seq, ack,
                      len(payload) if length is None else length)
    hdr += struct.pack("<I", crc32c(hdr) if hdr_crc is None else hdr_crc)
    return hdr + payload + struct.pack("<I", crc32c(payload) if payload_crc is None else payload_crc)


def rand64():
    return int.from_bytes(os.urandom(8), "little") | 1


# ---- HELLO payloads (section 2's table) ----

HELLO_FIELDS = ("nonce", "mode", "max_message", "window", "link_id", "lost", "challenge", "listen")


def hello_fields(mode, listen=ME, nonce=None):
    """What an honest dialler says."""
    return {"nonce": rand64() if nonce is None else nonce, "mode": mode, "max_message": 1 << 20,
            "window": 4 << 20, "link_id": rand64(), "lost": 0, "challenge": os.urandom(32),
            "listen": listen, "trailing": b""}


def hello_encode(h):
    return (struct.pack("<QBIQQQ", h["nonce"], h["mode"], h["max_message"], h["window"],
                        h["link_id"], h["lost"])
            + h["challenge"] + lstr(h["listen"]) + h.get("trailing", b""))


def hello_decode(p):
    if len(p) < 37 + 32 + 2:
        fail("the daemon's HELLO is %d bytes, too short: %s" % (len(p), p.hex()))
    nonce, mode, maxm, win, lid, lost = struct.unpack_from("<QBIQQQ", p, 0)
    chal = p[37:69]
    (n,) = struct.unpack_from("<H", p, 69)
    listen = p[71:71 + n]
    if len(listen) != n:
        fail("the daemon's HELLO: listen address cut short")
    return {"nonce": nonce, "mode": mode, "max_message": maxm, "window": win, "link_id": lid,
            "lost": lost, "challenge": chal, "listen": listen.decode("latin-1"),
            "trailing": p[71 + n:]}


def hello_check_acceptor(h, dialled):
    """An acceptor's HELLO must be in range (section 3, step 2)."""
    bad = []
    if h["nonce"] == 0:
        bad.append("nonce 0")
    if h["mode"] > 2:
        bad.append("mode %d" % h["mode"])
    if not 1024 <= h["max_message"] <= 1 << 30:
        bad.append("max_message %d" % h["max_message"])
    if not 4096 <= h["window"] <= 1 << 30:
        bad.append("window %d" % h["window"])
    if h["link_id"] or h["lost"]:
        bad.append("link id %d / lost %d from an acceptor" % (h["link_id"], h["lost"]))
    if h["trailing"]:
        bad.append("%d trailing bytes" % len(h["trailing"]))
    if dialled and h["listen"] != dialled:
        bad.append("listen address %s, but we dialled %s" % (h["listen"], dialled))
    if bad:
        fail("the daemon's HELLO is out of spec: " + ", ".join(bad))


# ---- keys, transcript, proofs, secure records (sections 3 and 3a) ----

def read_keyring(path):
    """[cluster] key = <64 hex>, optional next_key = <64 hex>: (key, next_key or None)."""
    section, keys = None, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
                continue
            if "=" not in line or section != "cluster":
                continue
            k, v = (x.strip() for x in line.split("=", 1))
            if k in ("key", "next_key"):
                if len(v) != 64:
                    fail("keyring %s: %s is not 64 hex digits" % (path, k))
                keys[k] = bytes.fromhex(v)
    if "key" not in keys:
        fail("keyring %s: no [cluster] key" % path)
    return keys["key"], keys.get("next_key")


def transcript_hash(d_banner, a_banner, d_hello, a_hello):
    t = (d_banner + a_banner + struct.pack("<I", len(d_hello)) + d_hello
         + struct.pack("<I", len(a_hello)) + a_hello)
    return hashlib.sha256(t).digest()


def proof(key, label, h):
    return hmac.new(key, label + h, hashlib.sha256).digest()


def direction_key(ikm, h, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=h, info=info).derive(ikm)


class Records:
    """One direction of secure mode: AES-256-GCM, nonce = 4 zero bytes || u64 counter."""

    def __init__(self, key):
        self.aead, self.ctr = AESGCM(key), 0

    def nonce(self):
        n = bytes(4) + struct.pack("<Q", self.ctr)
        self.ctr += 1
        return n

    def seal(self, data):
        return self.aead.encrypt(self.nonce(), data, None)

    def open(self, rec):
        return self.aead.decrypt(self.nonce(), rec, None)


def flip(b, pos):
    b = bytearray(b)
    b[pos] ^= 0x10
    return bytes(b)


class Closed(ConnectionError):
    """The daemon closed the link (EOF or reset)."""


class Link:
    """One link to the daemon, we the dialler."""

    def __init__(self, host, port, mode="none", keys=(None, None), bind=None, timeout=3.0):
        self.host, self.port, self.mode, self.timeout = host, port, mode, timeout
        self.key, self.next_key = keys
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if bind:
            self.s.bind((bind, 0))
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.s.settimeout(30)  # for sends; receives wait in select()
        self.buf = b""
        self.tx = self.rx = None  # Records once sealing starts each way
        self.peer_hello = None

    @classmethod
    def accepted(cls, sock, mode, keys, timeout=5.0):
        L = cls.__new__(cls)
        L.s, L.mode, L.timeout = sock, mode, timeout
        L.key, L.next_key = keys
        L.s.settimeout(30)
        L.buf, L.tx, L.rx, L.peer_hello = b"", None, None, None
        return L

    def sendall(self, b):
        try:
            self.s.sendall(b)
        except (BrokenPipeError, ConnectionResetError):
            raise Closed()

    def need(self, n, timeout=None):
        """n bytes; raises Closed on EOF or reset; fails on a timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            if not select.select([self.s], [], [], left)[0]:
                raise socket.timeout()
            try:
                d = self.s.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                raise Closed()
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # frames out

    def frame_bytes(self, ftype, chan=0, seq=0, ack=0, payload=b"", damage=None, length=None,
                    payload_crc=None, plain=False, flags=0):
        """The frame as this link sends it now: CRC framed, or sealed once
        our AUTH is out in secure mode. damage (sealed only): hdr, hdrtag,
        payload, payloadtag flip one bit there; crcfield puts a CRC in the
        header's CRC field."""
        if self.tx is None or plain:
            return frame(ftype, chan, seq, ack, payload, length=length, payload_crc=payload_crc,
                         flags=flags)
        hdr = struct.pack("<BBHIQQI", ftype, flags, 0, chan, seq, ack,
                          len(payload) if length is None else length)
        hdr += struct.pack("<I", crc32c(hdr) if damage == "crcfield" else 0)
        out = self.tx.seal(hdr)
        if damage == "hdr":
            out = flip(out, 0)
        elif damage == "hdrtag":
            out = flip(out, 32 + 5)
        if payload:
            rec = self.tx.seal(payload)
            if damage == "payload":
                rec = flip(rec, len(payload) // 2)
            elif damage == "payloadtag":
                rec = flip(rec, len(payload) + 3)
            out += rec
        return out

    def send(self, *a, **kw):
        self.sendall(self.frame_bytes(*a, **kw))

    # frames in

    def recv(self, timeout=None):
        """(type, chan, seq, ack, payload); raises Closed at EOF."""
        if self.rx is None:
            h = self.need(32, timeout)
            ftype, flags, res, chan, seq, ack, length, crc = struct.unpack("<BBHIQQII", h)
            if crc32c(h[:28]) != crc:
                fail("the daemon sent a header with a bad CRC: %s" % h.hex())
            body = self.need(length + 4, timeout)
            if crc32c(body[:length]) != struct.unpack("<I", body[length:])[0]:
                fail("the daemon sent a %s whose payload CRC does not match" % name(ftype))
            return ftype, chan, seq, ack, body[:length]
        try:
            h = self.rx.open(self.need(32 + TAG_LEN, timeout))
        except InvalidTag:
            fail("a sealed header record from the daemon does not open with our key for its "
                 "direction (HKDF, nonce counter %d): the spec and the daemon disagree"
                 % (self.rx.ctr - 1))
        ftype, flags, res, chan, seq, ack, length, crc = struct.unpack("<BBHIQQII", h)
        if crc:
            fail("a sealed header from the daemon has CRC field %#x, not 0" % crc)
        payload = b""
        if length:
            try:
                payload = self.rx.open(self.need(length + TAG_LEN, timeout))
            except InvalidTag:
                fail("a sealed payload record (%s) from the daemon does not open" % name(ftype))
        return ftype, chan, seq, ack, payload

    def expect_closed(self, what, allowed=(AUTH_FAIL, CLOSE, KEEPALIVE, ACK, RESET, OPEN_OK,
                                            OPEN_FAIL), timeout=3.0):
        """Read until the daemon closes the link; fail on a frame type not
        in allowed, or if it stays open. Returns the types seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.recv(max(0.05, deadline - time.monotonic()))
            except Closed:
                return seen
            except socket.timeout:
                fail("%s: the daemon kept the link open %.0f s (frames seen: %s)"
                     % (what, timeout, [name(t) for t in seen]))
            seen.append(f[0])
            if f[0] not in allowed:
                fail("%s: the daemon sent %s (frames seen: %s)"
                     % (what, name(f[0]), [name(t) for t in seen]))

    def close(self):
        self.s.close()

    # the handshake

    def handshake(self, fields=None, tamper=None, send_first=True, hello_bytes=None):
        """The version 2 handshake as a dialler. tamper=(where, field):
        where "out" changes our banner/HELLO on the wire (we hash the
        original), "in" hashes a changed copy of the daemon's. Returns
        ("up", None), or ("refused", reason) if the daemon sent AUTH_FAIL,
        or ("closed", None)."""
        mode = MODES[self.mode]
        self.fields = fields or hello_fields(mode)
        my_banner = banner()
        my_hello = hello_encode(self.fields) if hello_bytes is None or callable(hello_bytes) \
            else hello_bytes
        wire_banner, wire_hello = my_banner, my_hello
        if tamper and tamper[0] == "out":
            wire_banner, wire_hello = tamper_out(tamper[1], my_banner, self.fields, mode)
        try:
            self.sendall(wire_banner)
            if send_first:
                self.sendall(frame(HELLO, payload=wire_hello))
            peer_banner = self.need(16)
            if peer_banner[:8] != b"MSGRWIRE":
                fail("the daemon's banner has magic %r" % peer_banner[:8])
            lo, hi, _ = struct.unpack("<HHI", peer_banner[8:])
            if not lo <= VERSION <= hi:
                fail("the daemon speaks versions %d to %d, not %d" % (lo, hi, VERSION))
            if (lo, hi) != (VERSION, VERSION):
                fail("the daemon offers versions %d to %d: version %d only is the rule" % (lo, hi, VERSION))
            f = self.recv()
            if f[0] != HELLO:
                fail("the daemon's first frame is %s, not HELLO" % name(f[0]))
            peer_hello = f[4]
            self.peer_hello = hello_decode(peer_hello)
            hello_check_acceptor(self.peer_hello, "%s:%d" % (self.host, self.port))
            if not send_first:
                if callable(hello_bytes):
                    my_hello = wire_hello = hello_bytes(self.peer_hello)
                self.sendall(frame(HELLO, payload=wire_hello))
            if mode == 0:
                self.send(AUTH_DONE)
                f = self.recv()
                if f[0] == AUTH_FAIL:
                    return "refused", f[4][2:].decode("latin-1")
                if f[0] != AUTH_DONE:
                    fail("auth.mode none: the daemon sent %s, not AUTH_DONE" % name(f[0]))
                return "up", None
            hb, hh = peer_banner, peer_hello
            if tamper and tamper[0] == "in":
                hb, hh = tamper_in(tamper[1], peer_banner, self.peer_hello)
            self.H = transcript_hash(my_banner, hb, my_hello, hh)
            self.send(AUTH, payload=proof(self.key, DIALLER_PROOF, self.H))
            if mode == 2:
                self.tx = Records(direction_key(self.key, self.H, INFO_D2A))
            f = self.recv()
            if f[0] == AUTH_FAIL:
                return "refused", f[4][2:].decode("latin-1")
            if f[0] != AUTH:
                fail("the daemon answered our proof with %s, not AUTH" % name(f[0]))
            if tamper:
                fail("the daemon took a proof over a changed transcript (%s %s) and sent its own"
                     % tamper)
            got = f[4]
            ok = [k for k in (self.key, self.next_key)
                  if k and hmac.compare_digest(got, proof(k, ACCEPTOR_PROOF, self.H))]
            if not ok:
                why = ""
                if hmac.compare_digest(got, proof(self.key, DIALLER_PROOF, self.H)):
                    why = " (it is the dialler's proof: the role is not bound)"
                fail("the daemon's AUTH does not verify as HMAC-SHA256(K, \"msgrd-v2 acceptor "
                     "proof\" || H) with key or next_key%s: the spec and the daemon disagree" % why)
            if mode == 2:
                # IKM: the dialler's proving key, ours, whichever key the daemon proved with
                self.rx = Records(direction_key(self.key, self.H, INFO_A2D))
            return "up", None
        except Closed:
            return "closed", None
        except socket.timeout:
            fail("handshake: the daemon went silent")

    def finish(self, damage=None, plain=False):
        """AUTH_DONE: our last handshake frame (in auth.mode none, sent already)."""
        if MODES[self.mode]:
            self.send(AUTH_DONE, damage=damage, plain=plain)

    def keepalive_roundtrip(self, what, t=42):
        self.send(KEEPALIVE, payload=struct.pack("<Q", t))
        deadline = time.monotonic() + 3
        while True:
            try:
                f = self.recv(max(0.05, deadline - time.monotonic()))
            except Closed:
                fail("%s: the daemon closed the link instead of answering KEEPALIVE" % what)
            except socket.timeout:
                fail("%s: no KEEPALIVE_ACK" % what)
            if f[0] in (AUTH_FAIL, CLOSE):
                fail("%s: the daemon sent %s %r" % (what, name(f[0]), f[4][2:]))
            if f[0] == KEEPALIVE_ACK:
                if f[4] != struct.pack("<Q", t):
                    fail("%s: KEEPALIVE_ACK carries %s, not our time" % (what, f[4].hex()))
                return


def tamper_out(field, my_banner, fields, mode):
    """Our banner and HELLO as they arrive after a change on the way, every
    value still in range."""
    b, h = my_banner, dict(fields)
    if field == "lowest":
        b = banner(1, VERSION)
    elif field == "highest":
        b = banner(VERSION, VERSION + 1)
    elif field == "features":
        b = banner(VERSION, VERSION, 1 << 7)
    elif field == "nonce":
        h["nonce"] ^= 1 << 40
    elif field == "mode":
        h["mode"] = 2 if mode == 1 else 1
    elif field == "max_message":
        h["max_message"] = 1 << 29
    elif field == "window":
        h["window"] = 64 << 10
    elif field == "link_id":
        h["link_id"] ^= 1 << 20
    elif field == "lost":
        h["lost"] = rand64()
    elif field == "challenge":
        h["challenge"] = flip(h["challenge"], 17)
    elif field == "listen":
        h["listen"] = "10.255.0.2:1"
    else:
        fail("tamper: unknown field " + field)
    return b, hello_encode(h)


def tamper_in(field, peer_banner, peer):
    """A copy of the daemon's banner and HELLO, as if changed on the way to us."""
    b, h = peer_banner, dict(peer)
    lo, hi, feat = struct.unpack("<HHI", peer_banner[8:])
    if field == "lowest":
        b = banner(lo - 1, hi, feat)
    elif field == "highest":
        b = banner(lo, hi + 1, feat)
    elif field == "features":
        b = banner(lo, hi, feat ^ 1 << 7)
    elif field == "nonce":
        h["nonce"] ^= 1 << 40
    elif field == "mode":
        h["mode"] = 2 if h["mode"] == 1 else 1
    elif field == "max_message":
        h["max_message"] = 1024 if h["max_message"] != 1024 else 2048
    elif field == "window":
        h["window"] = 4096 if h["window"] != 4096 else 8192
    elif field == "link_id":
        h["link_id"] = rand64()
    elif field == "lost":
        h["lost"] = rand64()
    elif field == "challenge":
        h["challenge"] = flip(h["challenge"], 3)
    elif field == "listen":
        host, port = h["listen"].rsplit(":", 1)
        h["listen"] = "%s:%d" % (host, int(port) + 1)
    return b, hello_encode(h)


# ---- kinds ----

def idle(host, port, n, keep, binds, hold):
    def dial(b):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if b:
            s.bind((b, 0))
        s.settimeout(3)
        try:
            s.connect((host, port))
        except ConnectionResetError:  # accepted and closed at once, before connect() saw it
            pass
        s.setblocking(False)
        return s

    def gone(c):
        try:
            while True:
                if not c.recv(65536):
                    return True
        except BlockingIOError:
            return False
        except (ConnectionResetError, OSError):
            return True

    socks = [(b, dial(b)) for b in binds for _ in range(n)]
    time.sleep(0.5)
    live = [(b, c) for b, c in socks if not gone(c)]
    total, closed = len(socks), len(socks) - len(live)
    for b, c in socks:
        if (b, c) not in live:
            c.close()
    if closed < total - keep or closed > total - keep + 2:
        fail("idle: %d of %d silent links closed at once, want %d" % (closed, total, total - keep))
    print("ok idle: %d of %d silent links refused" % (closed, total))
    if not hold:
        return
    print("holding")
    sys.stdout.flush()
    end, redials = time.monotonic() + hold, 0
    while time.monotonic() < end:
        time.sleep(0.1)
        for i, (b, c) in enumerate(live):
            if gone(c):  # a handshake deadline: take the slot again
                c.close()
                live[i] = (b, dial(b))
                redials += 1
    print("held %d links for %d s (%d redials)" % (len(live), hold, redials))


def relay(ah, ap, bh, bp):
    """Issue 8's relay attack, with no key (see the module doc)."""
    log = []
    links = {"A": Link(ah, ap), "B": Link(bh, bp)}
    for L in links.values():
        L.sendall(banner(1, VERSION))  # and version 1, if anyone still speaks it
    hellos = {}
    for who, L in links.items():
        try:
            b = L.need(16)
            lo, hi, _ = struct.unpack("<HHI", b[8:])
            f = L.recv()
        except (Closed, socket.timeout):
            fail("relay: %s closed or went silent before its HELLO: no handshake to attack" % who)
        if f[0] != HELLO:
            fail("relay: %s's first frame is %s" % (who, name(f[0])))
        hellos[who] = hello_decode(f[4])
        log.append("%s speaks versions %d..%d, HELLO from %s" % (who, lo, hi, hellos[who]["listen"]))
        if lo < VERSION:
            log.append("%s still offers version %d" % (who, lo))
    for who, other in (("A", "B"), ("B", "A")):
        o = hellos[other]
        claim = hello_fields(o["mode"], listen=o["listen"], nonce=o["nonce"])
        claim.update(challenge=o["challenge"], max_message=o["max_message"], window=o["window"])
        links[who].sendall(frame(HELLO, payload=hello_encode(claim)))
        log.append("sent %s a HELLO as %s (its nonce and challenge)" % (who, o["listen"]))
    proofs, a_took = [], False
    alive = dict(links)
    end = time.monotonic() + 1.0  # within the daemons' handshake deadline
    while alive and time.monotonic() < end:
        r, _, _ = select.select([L.s for L in alive.values()], [], [], 0.1)
        for who in [w for w, L in alive.items() if L.s in r]:
            L, other = alive[who], "B" if who == "A" else "A"
            try:
                while True:
                    f = L.recv(0.05)
                    log.append("%s sent %s" % (who, name(f[0])))
                    if f[0] == AUTH:
                        proofs.append(who)
                    if who == "A" and f[0] == AUTH_DONE:
                        a_took = True
                    if other in alive and f[0] in (AUTH, AUTH_DONE):
                        try:  # forward it, as if the other daemon had sent it
                            alive[other].send(f[0], f[1], f[2], f[3], f[4])
                            log.append("  forwarded to %s" % other)
                        except OSError:
                            pass
            except socket.timeout:
                pass
            except Closed:
                log.append("%s closed the link" % who)
                del alive[who]
    # still nobody proved anything: junk proofs must be refused, not answered
    for who, L in alive.items():
        try:
            L.send(AUTH, payload=os.urandom(32))
            seen = L.expect_closed("relay: %s after a junk proof" % who, allowed=(AUTH_FAIL, CLOSE, AUTH, AUTH_DONE))
        except OSError:
            seen = []
        log.append("%s answered a junk proof with %s, then closed" % (who, [name(t) for t in seen]))
        proofs += [who] * seen.count(AUTH)
        a_took = a_took or (who == "A" and AUTH_DONE in seen)
    for line in log:
        print("  " + line)
    if proofs or a_took:
        fail("relay: %s%s" % ("proofs sent to an attacker who proved nothing, by %s; "
                              % ", ".join(sorted(set(proofs))) if proofs else "",
                              "A took the relayed link as B's (AUTH_DONE)" if a_took
                              else "A did not take the link"))
    print("ok relay: neither daemon proved itself to the attacker, A refused the link")


TAMPER_FIELDS = ("nonce", "mode", "max_message", "window", "link_id", "lost", "challenge", "listen",
                 "lowest", "highest", "features")


def tamper(host, port, field, mode, keys):
    if field == "all":  # the control, every field, the control again
        for f in ("none",) + TAMPER_FIELDS + ("none",):
            tamper(host, port, f, mode, keys)
        return
    if field == "none":
        L = Link(host, port, mode, keys)
        st, why = L.handshake()
        if st != "up":
            fail("tamper none: handshake %s (%s)" % (st, why))
        L.finish()
        L.keepalive_roundtrip("tamper none")
        L.send(CLOSE, payload=lstr("done"))
        print("ok tamper none: the daemon's proof verifies, the link is up (%s)" % mode)
        return
    if field not in TAMPER_FIELDS:
        fail("tamper: unknown field " + field)
    for where in ("out", "in"):
        L = Link(host, port, mode, keys)
        st, why = L.handshake(tamper=(where, field))
        if st != "refused":
            fail("tamper %s %s: handshake %s, want AUTH_FAIL" % (where, field, st))
        L.expect_closed("tamper %s %s" % (where, field), allowed=(CLOSE,))
        print("ok tamper %s %s: AUTH_FAIL (%s), link closed" % (field, where, why))
        L.close()


def rangecheck(host, port, mode, keys):
    m = MODES[mode]
    cases = [("nonce 0", "nonce", 0), ("mode 7", "mode", 7), ("max_message 0", "max_message", 0),
             ("max_message 1023", "max_message", 1023),
             ("max_message 2^31", "max_message", 1 << 31),
             ("max_message 2^30+1", "max_message", (1 << 30) + 1),
             ("window 0", "window", 0), ("window 4095", "window", 4095),
             ("window 2^30+1", "window", (1 << 30) + 1), ("window 2^61", "window", 1 << 61),
             ("link_id 0 from a dialler", "link_id", 0), ("trailing bytes", "trailing", b"\0"),
             ("listen address without a port", "listen", "10.255.0.1"),
             ("listen address with port 0", "listen", "10.255.0.1:0"),
             ("listen address with a newline", "listen", "10.255.0.1\n<0>x:1"),
             ("listen address of 300 bytes", "listen", "h" * 298 + ":1"),
             # sessions compare listen addresses byte for byte: one spelling
             ("listen address that is a host name", "listen", "localhost:1"),
             ("listen address in another spelling", "listen", "[0:0::1]:1"),
             ("listen address in upper case", "listen", "[2001:DB8::1]:1")]
    for what, field, value in cases:
        L = Link(host, port, mode, keys)
        h = hello_fields(m)
        h[field] = value
        # a valid proof over exactly these bytes: only the range check can refuse it
        st, why = L.handshake(fields=h)
        if st == "up":
            fail("rangecheck: a HELLO with %s was taken: the daemon sent its AUTH" % what)
        if st == "refused":
            # a range violation is a protocol error, not an authentication failure
            fail("rangecheck: %s got AUTH_FAIL (%s); section 3.2 says close it as a protocol "
                 "error" % (what, why))
        print("ok rangecheck %s: link closed" % what)
    # the receiver's own listen address or nonce: AUTH_FAIL (auth_failures)
    for what in ("own listen address", "own nonce"):
        L = Link(host, port, mode, keys)

        def mine(peer, what=what):
            h = hello_fields(m)
            if what == "own nonce":
                h["nonce"] = peer["nonce"]
            else:
                h["listen"] = peer["listen"]
            L.fields = h
            return hello_encode(h)
        st, why = L.handshake(send_first=False, hello_bytes=mine)
        if st != "refused":
            fail("rangecheck: a HELLO with the daemon's %s: %s, want AUTH_FAIL" % (what, st))
        L.expect_closed("rangecheck " + what, allowed=(CLOSE,))
        print("ok rangecheck %s: AUTH_FAIL (%s)" % (what, why))
    # the edges of every range are in it
    for what, f in (("lowest", dict(max_message=1024, window=4096, lost=0)),
                    ("highest", dict(max_message=1 << 30, window=1 << 30, lost=(1 << 64) - 1,
                                     nonce=(1 << 64) - 1, link_id=(1 << 64) - 1))):
        L = Link(host, port, mode, keys)
        h = hello_fields(m)
        h.update(f)
        st, why = L.handshake(fields=h)
        if st != "up":
            fail("rangecheck: a HELLO with the %s values in range: %s (%s)" % (what, st, why))
        L.finish()
        L.keepalive_roundtrip("rangecheck " + what)
        L.send(CLOSE, payload=lstr("done"))
        L.close()
        print("ok rangecheck: the %s values in range are taken" % what)


def open_chan(L, entity, chan=2):
    # mode lossy, our entity's nonce, names, and the channel cookie (version 3)
    L.send(OPEN, chan=chan, payload=b"\x01" + struct.pack("<Q", 7) + lstr("client.wire") + lstr(entity)
           + struct.pack("<Q", 1))


def wait_open_ok(L, chan, what):
    while True:
        try:
            f = L.recv()
        except (Closed, socket.timeout):
            fail("%s: link closed or silent before OPEN_OK" % what)
        if f[0] in (OPEN_FAIL, RESET) and f[1] == chan:
            fail("%s: %s for channel %d" % (what, name(f[0]), chan))
        if f[0] == OPEN_OK and f[1] == chan:
            return


def up_link(host, port, mode, keys, what):
    """A link past its handshake, or fail naming what it was for."""
    L = Link(host, port, mode, keys)
    st, why = L.handshake()
    if st != "up":
        fail("%s: handshake %s (%s)" % (what, st, why))
    L.finish()
    return L


def chanflood(host, port, entity, n, hold, mode, keys):
    """N channels to ENTITY whose ids all share a low-order pattern (every
    2048th id of ours), which a table indexed by the id's bits puts on one
    chain; prints "ready N" once all are open, then keeps the link HOLD s."""
    L = up_link(host, port, mode, keys, "chanflood")
    ids = [2 + 2048 * k for k in range(n)]
    for chan in ids:
        open_chan(L, entity, chan)
    want = set(ids)
    while want:
        try:
            f = L.recv()
        except (Closed, socket.timeout):
            fail("chanflood: link closed or silent with %d channels not open" % len(want))
        if f[0] in (OPEN_FAIL, RESET) and f[1] in want:
            fail("chanflood: %s for channel %d" % (name(f[0]), f[1]))
        if f[0] == OPEN_OK:
            want.discard(f[1])
    print("ready %d" % n, flush=True)
    end = time.time() + hold
    while time.time() < end:
        try:
            L.recv(timeout=max(0.05, end - time.time()))
        except socket.timeout:
            pass
        except Closed:
            fail("chanflood: the daemon closed the link while we held it")
    L.send(CLOSE, payload=lstr("done"))
    L.close()


def secure_flip(host, port, entity, sink, keys):
    # the control: a sealed link carries a message to ENTITY
    L = Link(host, port, "secure", keys)
    st, why = L.handshake()
    if st != "up":
        fail("secure-flip: handshake %s (%s)" % (st, why))
    L.finish()
    open_chan(L, entity)
    L.send(MSG, chan=2, seq=1, payload=struct.pack("<I", 7) + b"good")
    wait_open_ok(L, 2, "secure-flip control")
    L.keepalive_roundtrip("secure-flip control")
    L.send(CLOSE, payload=lstr("done"))
    print("ok secure-flip: an unflipped sealed link carries the message")
    # each flip on a fresh link, in a MSG on a channel open to SINK
    for damage in ("hdr", "hdrtag", "payload", "payloadtag", "authdone", "crcfield", "plain"):
        L = Link(host, port, "secure", keys)
        st, why = L.handshake()
        if st != "up":
            fail("secure-flip %s: handshake %s (%s)" % (damage, st, why))
        if damage == "authdone":
            L.finish(damage="hdr")
        elif damage == "plain":
            L.finish(plain=True)  # a CRC frame where a sealed one belongs
        else:
            L.finish()
            open_chan(L, sink, chan=4)
            wait_open_ok(L, 4, "secure-flip " + damage)
            L.send(MSG, chan=4, seq=1, payload=struct.pack("<I", 7) + b"flipped", damage=damage)
        try:
            L.send(KEEPALIVE, payload=struct.pack("<Q", 1))
        except OSError:
            pass
        L.expect_closed("secure-flip " + damage, allowed=(RESET, ACK, KEEPALIVE, CLOSE))
        print("ok secure-flip %s: link closed" % damage)
        L.close()


def redial(host, port, entity, mode, keys):
    nonce = 0x1234567890
    links = []
    for attempt in (1, 2):
        L = Link(host, port, mode, keys)
        st, why = L.handshake(fields=hello_fields(MODES[mode], nonce=nonce))
        if st != "up":
            fail("redial: link %d: handshake %s (%s)" % (attempt, st, why))
        L.finish()
        open_chan(L, entity)
        while True:
            try:
                f = L.recv()
            except (Closed, socket.timeout):
                fail("redial: link %d closed or silent before OPEN_OK" % attempt)
            if f[0] == RESET and f[1] == 2:
                fail("redial: link %d got a RESET for channel 2 before OPEN_OK" % attempt)
            if f[0] == OPEN_OK and f[1] == 2:
                break
        links.append(L)
    L = links[1]
    L.send(KEEPALIVE, payload=struct.pack("<Q", 1))
    while True:
        try:
            f = L.recv()
        except (Closed, socket.timeout):
            fail("redial: the new link closed or went silent")
        if f[0] == RESET:
            fail("redial: RESET %r on the new link" % (f,))
        if f[0] == KEEPALIVE_ACK:
            break
    print("ok redial: the new link's channel is open, no stale RESET")
    L.send(CLOSE, payload=lstr("done"))


def acks(host, port, mode, keys):
    """ACK frames (version 4: channel 0, u16 n, n x (u32 channel, u64 ack)).
    One for channels the daemon does not have gets a RESET for each and
    keeps the link; a malformed one closes the link."""
    L = up_link(host, port, mode, keys, "acks")
    L.send(ACK, payload=struct.pack("<H", 2) + struct.pack("<IQ", 60, 1) + struct.pack("<IQ", 62, 9))
    resets = resets_until_ack(L, "acks")
    if resets != {60: -104, 62: -104}:
        fail("acks: resets %r, want ECONNRESET for channels 60 and 62" % resets)
    # more entries than the daemon looks up at once (16): every one counts
    ids = list(range(100, 180, 2))
    L.send(ACK, payload=struct.pack("<H", len(ids)) + b"".join(struct.pack("<IQ", i, 3) for i in ids))
    time.sleep(0.05)  # a KEEPALIVE is answered at most every 10 ms
    resets = resets_until_ack(L, "acks")
    if resets != {i: -104 for i in ids}:
        fail("acks: %d entries got resets for %s" % (len(ids), sorted(resets)))
    L.send(CLOSE, payload=lstr("done"))
    L.close()
    entry = struct.pack("<IQ", 40, 1)
    bad = {
        "no entries": (0, struct.pack("<H", 0)),
        "short": (0, struct.pack("<H", 2) + entry),
        "long": (0, struct.pack("<H", 1) + entry + b"x"),
        "too many": (0, struct.pack("<H", 341) + entry * 341),
        "channel 0 entry": (0, struct.pack("<H", 1) + struct.pack("<IQ", 0, 1)),
        "ack 0": (0, struct.pack("<H", 1) + struct.pack("<IQ", 40, 0)),
        "channel 1 entry in the second group": (0, struct.pack("<H", 20) + entry * 17 +
                                                struct.pack("<IQ", 1, 1) + entry * 2),
        "on a channel": (40, struct.pack("<H", 1) + entry),
        "header ack": (0, struct.pack("<H", 1) + entry),
    }
    for what, (chan, payload) in bad.items():
        L = up_link(host, port, mode, keys, "acks")
        L.send(ACK, chan=chan, payload=payload, ack=5 if what == "header ack" else 0)
        L.expect_closed("acks " + what)
    print("ok acks: unknown channels reset, %d malformed ACKs each closed the link (%s)"
          % (len(bad), mode))


MORE, CONT, BATCH = 1, 2, 4


def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def frags(host, port, entity, mode, keys):
    """Version 4 MSG fragments. A 200000-byte message on channel 2 goes in
    four fragments with a whole message on channel 4 between them; ENTITY
    (msgr-itest sink-sum) must get both, intact, and two messages that
    restart one half in, as they were sent the second time, and two
    BATCHes on channel 4, the second repeating part of the first. Then, each on a link of its
    own, pieces that break the rules: each must close the link, except a
    message over max_message, which resets its channel only."""
    L = up_link(host, port, mode, keys, "frags")
    for chan in (2, 4):
        open_chan(L, entity, chan)
        wait_open_ok(L, chan, "frags")
    body = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(200000))
    small = b"between"
    L.send(MSG, chan=2, seq=1, flags=MORE, payload=struct.pack("<II", 9, len(body)) + body[:50000])
    L.send(MSG, chan=4, seq=1, payload=struct.pack("<I", 5) + small)
    L.send(MSG, chan=2, seq=1, flags=MORE | CONT, payload=body[50000:120000])
    L.send(MSG, chan=2, seq=1, flags=MORE | CONT, payload=body[120000:199999])
    L.send(MSG, chan=2, seq=1, flags=CONT, payload=body[199999:])
    # A message begun is replaced by the same seq sent again whole, or
    # from its first fragment (a sender restarts a message after a resume
    # or a hand-over): what came of the first try (type 13) is dropped.
    again, second = b"restarted whole", bytes(range(256)) + bytes(44)
    L.send(MSG, chan=2, seq=2, flags=MORE, payload=struct.pack("<II", 13, 1000) + bytes(100))
    L.send(MSG, chan=2, seq=2, payload=struct.pack("<I", 11) + again)
    L.send(MSG, chan=2, seq=3, flags=MORE, payload=struct.pack("<II", 13, 1000) + bytes(100))
    L.send(MSG, chan=2, seq=3, flags=MORE, payload=struct.pack("<II", 12, len(second)) + second[:200])
    L.send(MSG, chan=2, seq=3, flags=CONT, payload=second[200:])
    # Three whole messages in one BATCH, seq 2..4 of channel 4; then a
    # batch that repeats 3 and 4 (as a replay after a resume may) and adds
    # 5: only 5 is new.
    batch = [(21, b"one"), (22, b""), (23, bytes(range(200)))]
    def entries(msgs):
        return b"".join(struct.pack("<II", t, len(b)) + b for t, b in msgs)
    L.send(MSG, chan=4, seq=2, flags=BATCH, payload=entries(batch))
    L.send(MSG, chan=4, seq=3, flags=BATCH, payload=entries(batch[1:] + [(24, b"five")]))
    print("expect msg 5 %d %s" % (len(small), fnv(small)))
    print("expect msg 9 %d %s" % (len(body), fnv(body)))
    print("expect msg 11 %d %s" % (len(again), fnv(again)))
    print("expect msg 12 %d %s" % (len(second), fnv(second)))
    for t, b in batch + [(24, b"five")]:
        print("expect msg %d %d %s" % (t, len(b), fnv(b)))
    sys.stdout.flush()
    L.keepalive_roundtrip("frags")
    L.send(CLOSE, payload=lstr("done"))
    L.close()
    first = struct.pack("<II", 9, 1000) + bytes(100)
    bad = [
        ("a continuation with no first", [(CONT | MORE, bytes(10))]),
        ("a first that holds it all", [(MORE, struct.pack("<II", 9, 100) + bytes(100))]),
        ("a first too short for its length field", [(MORE, struct.pack("<I", 9))]),
        ("a last piece that is short", [(MORE, first), (CONT, bytes(10))]),
        ("a middle piece that completes it", [(MORE, first), (CONT | MORE, bytes(900))]),
        ("a piece past its length", [(MORE, first), (CONT, bytes(901))]),
        ("a continuation past its length after a new first",
         [(MORE, first), (MORE, first), (CONT, bytes(901))]),
        ("an empty batch", [(BATCH, b"")]),
        ("a batch entry past its end", [(BATCH, struct.pack("<II", 9, 10) + bytes(9))]),
        ("a batch with bytes after its last entry", [(BATCH, struct.pack("<II", 9, 1) + b"xy")]),
        ("a batch that is a fragment", [(BATCH | MORE, struct.pack("<II", 9, 1) + b"x")]),
        ("a batch of 257", [(BATCH, struct.pack("<II", 9, 0) * 257)]),
    ]
    chan = 6
    for what, pieces in bad:
        L = up_link(host, port, mode, keys, "frags")
        open_chan(L, entity, chan)
        wait_open_ok(L, chan, "frags " + what)
        for flags, payload in pieces:
            L.send(MSG, chan=chan, seq=1, flags=flags, payload=payload)
        L.expect_closed("frags: " + what)
        chan += 2
    # flags on anything but a MSG are unknown
    L = up_link(host, port, mode, keys, "frags")
    L.send(KEEPALIVE, flags=MORE, payload=struct.pack("<Q", 42))
    L.expect_closed("frags: a KEEPALIVE with flags")
    # over max_message: that channel is reset, the link stays
    L = up_link(host, port, mode, keys, "frags")
    open_chan(L, entity, chan)
    wait_open_ok(L, chan, "frags oversize")
    L.send(MSG, chan=chan, seq=1, flags=MORE, payload=struct.pack("<II", 9, (1 << 30) + 1) + bytes(64))
    resets = resets_until_ack(L, "frags oversize")
    if resets != {chan: -90}:
        fail("frags: resets %r for a message over max_message, want EMSGSIZE on %d" % (resets, chan))
    L.send(CLOSE, payload=lstr("done"))
    L.close()
    print("ok frags: fragments reassembled around another channel's message, restarts, "
          "batches; %d broken sequences closed the link; an oversized one reset its channel (%s)"
          % (len(bad), mode))


def kaflood(host, port, mode, keys):
    L = Link(host, port, mode, keys)
    st, why = L.handshake()
    if st != "up":
        fail("kaflood: handshake %s (%s)" % (st, why))
    L.finish()
    t0 = time.monotonic()
    if L.tx is None:
        ka = L.frame_bytes(KEEPALIVE, payload=struct.pack("<Q", 42)) * 1000
        for _ in range(50):
            L.sendall(ka)
    else:  # every record has its own nonce
        for _ in range(50):
            L.sendall(b"".join(L.frame_bytes(KEEPALIVE, payload=struct.pack("<Q", 42))
                               for _ in range(1000)))
    elapsed = time.monotonic() - t0
    L.send(CLOSE, payload=lstr("done"))
    acks = 0
    while True:
        try:
            f = L.recv(10)
        except Closed:
            break
        except socket.timeout:
            fail("kaflood: the daemon did not close after our CLOSE")
        acks += f[0] == KEEPALIVE_ACK
    limit = elapsed / 0.010 + 5
    if acks > limit:
        fail("kaflood: %d answers to 50000 KEEPALIVEs in %.2f s" % (acks, elapsed))
    print("ok kaflood: %d answers to 50000 KEEPALIVEs in %.2f s" % (acks, elapsed))


UNKNOWN_BODY = struct.pack("<I", 1)  # a 4-byte MSG: its type only
UNKNOWN_TAIL = UNKNOWN_BODY + struct.pack("<I", crc32c(UNKNOWN_BODY))


def unknown_msgs(chans):
    """MSGs for channel ids the daemon never had, one per id, CRC framed:
    it answers each with a RESET of 40 bytes."""
    out = []
    for chan in chans:
        hdr = struct.pack("<BBHIQQI", MSG, 0, 0, chan, 1, 0, len(UNKNOWN_BODY))
        out.append(hdr + struct.pack("<I", crc32c(hdr)) + UNKNOWN_TAIL)
    return b"".join(out)


def noread(host, port, n):
    """N MSGs for channels the daemon never had, each of which it answers
    with a RESET, while we read nothing (a small receive buffer): the
    answers must not pile up in the daemon without bound. Prints how many
    went before it closed the link, or all N."""
    L = up_link(host, port, "none", (None, None), "noread")
    L.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sent = 0
    try:
        for base in range(0, n, 4096):
            k = min(n, base + 4096) - base
            L.sendall(unknown_msgs(range(2 + 2 * base, 2 + 2 * (base + k), 2)))
            sent += k
        # all went: the daemon still holds the link (its answers wait);
        # a few more frames find out whether it closed meanwhile
        time.sleep(1)
        for _ in range(20):
            L.sendall(L.frame_bytes(KEEPALIVE, payload=struct.pack("<Q", 1)) * 1024)
            time.sleep(0.05)
    except (Closed, OSError):
        print("closed after %d of %d" % (sent, n), flush=True)
        return
    print("open after all %d" % n, flush=True)


def channel_damage(host, port, kind, entity, mode, keys):
    """payloadcrc oversize gap unknown flood: see the module doc."""
    L = Link(host, port, mode, keys)
    st, why = L.handshake()
    if st != "up":
        fail("%s: handshake %s (%s)" % (kind, st, why))
    L.finish()
    open_chan(L, entity)
    sealed = L.tx is not None
    chan, want = 2, {"payloadcrc": -74, "oversize": -90, "gap": -104, "unknown": -104,
                     "flood": -105}[kind]  # EBADMSG EMSGSIZE ECONNRESET ENOBUFS
    if kind != "flood":
        L.send(MSG, chan=2, seq=1, payload=struct.pack("<I", 7) + b"good")
    if kind == "payloadcrc":
        bad = struct.pack("<I", 7) + b"evil"
        if sealed:  # no CRC to break: a flipped bit of the sealed payload
            L.send(MSG, chan=2, seq=2, payload=bad, damage="payload")
        else:
            L.send(MSG, chan=2, seq=2, payload=bad, payload_crc=1)
    elif kind == "oversize":  # the daemon runs with max_message = 1M
        big = struct.pack("<I", 7) + bytes(2 << 20)
        # with CRCs it is skipped unread, so its CRC is never checked; sealed,
        # it is read through and its tag checked (section 3a)
        L.send(MSG, chan=2, seq=2, payload=big, payload_crc=0)
    elif kind == "gap":
        L.send(MSG, chan=2, seq=3, payload=struct.pack("<I", 7) + b"late")
    elif kind == "unknown":
        chan = 40
        L.send(MSG, chan=40, seq=1, payload=struct.pack("<I", 7) + b"lost")
    else:
        # the window means nothing to us: 1 MiB messages until reset
        big = struct.pack("<I", 7) + bytes(1 << 20)
        big_crc = None if sealed else crc32c(big)  # once: this CRC is pure Python, and slow
        lock = threading.Lock()

        def pump():
            try:
                for seq in range(1, 400):
                    with lock:  # the sealing counter is shared with the reader's sends
                        b = L.frame_bytes(MSG, chan=2, seq=seq, payload=big, payload_crc=big_crc)
                    L.sendall(b)
            except OSError:
                pass
        threading.Thread(target=pump, daemon=True).start()
    if kind != "flood":
        L.send(KEEPALIVE, payload=struct.pack("<Q", 42))
    if kind == "payloadcrc" and sealed:
        L.expect_closed("payloadcrc (sealed)")
        print("ok payloadcrc: a flipped bit of a sealed payload closed the link")
        return
    got = []
    while True:
        try:
            f = L.recv(10)
        except Closed:
            fail("%s: the daemon closed the link; seen %s" % (kind, [name(t) for t in got]))
        except socket.timeout:
            fail("%s: the daemon went silent; seen %s" % (kind, [name(t) for t in got]))
        got.append(f[0])
        if f[0] == RESET:
            err = struct.unpack("<i", f[4][:4])[0]
            if f[1] != chan or err != want:
                fail("%s: RESET on channel %d with %d, want %d with %d" % (kind, f[1], err, chan, want))
            if kind == "flood":
                break
        if f[0] == KEEPALIVE_ACK:
            if RESET not in got or OPEN_OK not in got:
                fail("%s: link alive but frames were %s" % (kind, [name(t) for t in got]))
            break
    print("ok %s: channel %d reset (%d), link alive (%s)" % (kind, chan, want, mode))
    if kind != "flood":
        L.send(CLOSE, payload=lstr("done"))


def resets_until_ack(L, what):
    """RESETs the daemon sends, by channel, until it answers a KEEPALIVE."""
    L.send(KEEPALIVE, payload=struct.pack("<Q", 42))
    resets = {}
    while True:
        try:
            f = L.recv(10)
        except (Closed, socket.timeout):
            fail("%s: the link closed or went silent" % what)
        if f[0] == RESET:
            resets[f[1]] = struct.unpack("<i", f[4][:4])[0]
        if f[0] == KEEPALIVE_ACK:
            return resets


def sessionflood(host, port, e1, e2, mode, keys):
    """Channels that each stay far within their own bound must not add up
    past the session's (net.session_buffer, 2M in the test; the receivers
    never read and their pools hold 1M), and the bytes of a channel that
    ended count until they are freed."""
    L = Link(host, port, mode, keys)
    st, why = L.handshake()
    if st != "up":
        fail("sessionflood: handshake %s (%s)" % (st, why))
    L.finish()
    for chan, e in ((2, e1), (4, e2)):
        open_chan(L, e, chan)
        wait_open_ok(L, chan, "sessionflood")
    msg = struct.pack("<I", 7) + bytes(256 << 10)

    for seq in range(1, 9):  # 2 MiB: half in osd's pool, half waiting here
        L.send(MSG, chan=2, seq=seq, payload=msg)
    if resets_until_ack(L, "sessionflood: channel 2"):
        fail("sessionflood: a reset before the session's bound")
    for seq in range(1, 17):  # 4 MiB more, on a second channel
        L.send(MSG, chan=4, seq=seq, payload=msg)
    resets = resets_until_ack(L, "sessionflood: channel 4")
    if resets != {4: -105}:
        fail("sessionflood: resets %r, want channel 4 with ENOBUFS only" % resets)
    # we end channel 2: its messages still wait for their receiver, so a
    # new channel finds the session as full as before
    L.send(RESET, chan=2, payload=struct.pack("<i", -104))
    open_chan(L, e2, 6)
    wait_open_ok(L, 6, "sessionflood")
    L.send(MSG, chan=6, seq=1, payload=msg)
    resets = resets_until_ack(L, "sessionflood: channel 6")
    if resets != {6: -105}:
        fail("sessionflood: resets %r after channel 2 ended, want channel 6 with ENOBUFS" % resets)
    print("ok sessionflood: channels 4 and 6 reset at the session's bound, channel 2 kept (%s)" % mode)
    L.send(CLOSE, payload=lstr("done"))
    L.close()

    def session(listen):
        """A new link (and session) as a daemon at listen, channel 2 to e2."""
        L2 = Link(host, port, mode, keys)
        st, why = L2.handshake(fields=hello_fields(MODES[mode], listen=listen))
        if st != "up":
            fail("sessionflood: handshake %s (%s)" % (st, why))
        L2.finish()
        open_chan(L2, e2, 2)
        wait_open_ok(L2, 2, "sessionflood")
        return L2

    # the same peer, back with a new session: what it left still counts
    L = session(ME)
    L.send(MSG, chan=2, seq=1, payload=msg)
    resets = resets_until_ack(L, "sessionflood: a new session")
    if resets != {2: -105}:
        fail("sessionflood: resets %r on a new session of the same peer, want ENOBUFS" % resets)
    L.send(CLOSE, payload=lstr("done"))
    L.close()
    # another name: its own account has room, but all peers together
    # (net.receive_buffer, 3M in the test) do not
    L = session(ME2)
    for seq in range(1, 9):
        L.send(MSG, chan=2, seq=seq, payload=msg)
    resets = resets_until_ack(L, "sessionflood: another peer")
    if resets != {2: -105}:
        fail("sessionflood: resets %r for another peer, want ENOBUFS at the total" % resets)
    print("ok sessionflood: a peer back with a new session, and another peer, find the bytes still counted")
    L.send(CLOSE, payload=lstr("done"))


def accept(host, port, case, mode, keys):
    """We are the acceptor: msgrd dials us (a client connects to
    HOST:PORT/osd.w). good: the daemon's dialler proof verifies, it waits
    for our whole HELLO before proving, and after our AUTH its AUTH_DONE,
    OPEN and MSG come (sealed in secure mode); we answer OPEN_OK. reflect:
    our AUTH is the dialler-role proof over the same H; or we send
    AUTH_DONE instead of AUTH (authdone). Both must get AUTH_FAIL and a closed link.
    window, linkid: our HELLO is out of range (window 2^61, a link id from
    the acceptor): the daemon must close the link without proving."""
    m = MODES[mode]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    print("listening")
    sys.stdout.flush()
    if not select.select([ls], [], [], 10)[0]:
        fail("accept: the daemon did not dial us within 10 s")
    sock, _ = ls.accept()
    L = Link.accepted(sock, mode, keys)
    mine = hello_fields(m, listen="%s:%d" % (host, port))
    mine.update(link_id=0, lost=0)
    if case == "window":  # an acceptor lifting the dialler's receive bound
        mine["window"] = 1 << 61
    elif case == "linkid":  # an acceptor names no link
        mine["link_id"] = rand64()
    my_banner, my_hello = banner(), hello_encode(mine)
    L.sendall(my_banner)
    try:
        d_banner = L.need(16)
        if d_banner != banner():
            fail("accept: the daemon's banner is %s" % d_banner.hex())
        f = L.recv()
        if f[0] != HELLO:
            fail("accept: the daemon's first frame is %s" % name(f[0]))
        d_hello, h = f[4], hello_decode(f[4])
        if not h["link_id"] or h["nonce"] == 0 or h["mode"] != m or h["trailing"]:
            fail("accept: the daemon's HELLO as a dialler is out of spec: %r" % h)
        # the dialler must not prove before it has our whole HELLO
        try:
            f = L.recv(0.3)
            fail("accept: the daemon sent %s before our HELLO" % name(f[0]))
        except socket.timeout:
            pass
        L.send(HELLO, payload=my_hello)
        if m == 0:
            fail("accept: auth.mode none has no proofs to test")
        H = transcript_hash(d_banner, my_banner, d_hello, my_hello)
        if case in ("window", "linkid"):
            try:
                seen = L.expect_closed("accept " + case, allowed=(CLOSE,))
            except Closed:
                seen = []
            print("ok accept %s (%s): the daemon closed the link, no proof (%s)"
                  % (case, mode, [name(t) for t in seen]))
            return
        f = L.recv()
        if f[0] != AUTH:
            fail("accept: the daemon answered our HELLO with %s, not AUTH" % name(f[0]))
        ikm = [k for k in (L.key, L.next_key)
               if k and hmac.compare_digest(f[4], proof(k, DIALLER_PROOF, H))]
        if not ikm:
            fail("accept: the daemon's AUTH does not verify as HMAC-SHA256(K, \"msgrd-v2 dialler "
                 "proof\" || H): the spec and the daemon disagree")
        ikm = ikm[0]
        if m == 2:  # we open what follows its AUTH
            L.rx = Records(direction_key(ikm, H, INFO_D2A))
        if case == "good":
            L.send(AUTH, payload=proof(L.key, ACCEPTOR_PROOF, H))
            if m == 2:
                L.tx = Records(direction_key(ikm, H, INFO_A2D))
            got = []
            while True:
                f = L.recv()
                got.append(f[0])
                if f[0] == AUTH_FAIL:
                    fail("accept: the daemon refused our proof: %r" % f[4][2:])
                if f[0] == OPEN:
                    L.send(OPEN_OK, chan=f[1], payload=struct.pack("<Q", rand64()))
                if f[0] == MSG:
                    break
            if got[0] != AUTH_DONE:
                fail("accept: after our AUTH came %s, not AUTH_DONE" % [name(t) for t in got])
            if f[4][4:] != b"hello":
                fail("accept: the message is %r" % f[4])
            print("ok accept good (%s): proofs verify both ways, the daemon's frames open, "
                  "got %r" % (mode, f[4][4:]))
            time.sleep(0.5)
            return
        if case in ("window", "linkid"):
            fail("accept %s: the daemon proved itself to an acceptor whose HELLO is out of range"
                 % case)
        if case == "reflect":
            L.send(AUTH, payload=proof(L.key, DIALLER_PROOF, H))
        elif case == "authdone":
            L.send(AUTH_DONE)
        else:
            fail("accept: unknown case " + case)
        seen = L.expect_closed("accept " + case, allowed=(AUTH_FAIL, CLOSE))
        if AUTH_FAIL not in seen:
            fail("accept %s: closed without AUTH_FAIL (%s)" % (case, [name(t) for t in seen]))
        print("ok accept %s (%s): the daemon answered AUTH_FAIL%s and closed"
              % (case, mode, " (sealed)" if L.rx else ""))
    except Closed:
        fail("accept %s: the daemon closed the link early" % case)
    except socket.timeout:
        fail("accept %s: the daemon went silent" % case)


def listening(host, port):
    """A socket listening on HOST:PORT for msgrd to dial; says so."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    print("listening", flush=True)
    return ls


def answer_open(L):
    """Wait for the daemon's OPEN on L and accept it; its channel id."""
    while True:
        f = L.recv()
        if f[0] == OPEN:
            L.send(OPEN_OK, chan=f[1], payload=struct.pack("<Q", rand64()))
            return f[1]


def acceptor_up(ls, host, port, mode, keys, nonce, what):
    """Take a dial from msgrd on listening socket ls and complete the
    handshake as an honest acceptor whose listen address is HOST:PORT and
    instance nonce NONCE: our HELLO, its proof, ours, its AUTH_DONE."""
    m = MODES[mode]
    if not select.select([ls], [], [], 10)[0]:
        fail("%s: the daemon did not dial us within 10 s" % what)
    sock, _ = ls.accept()
    L = Link.accepted(sock, mode, keys)
    mine = hello_fields(m, listen="%s:%d" % (host, port), nonce=nonce)
    mine.update(link_id=0, lost=0)
    my_banner, my_hello = banner(), hello_encode(mine)
    L.sendall(my_banner)
    d_banner = L.need(16)
    f = L.recv()
    if f[0] != HELLO:
        fail("%s: the daemon's first frame is %s" % (what, name(f[0])))
    d_hello = f[4]
    L.send(HELLO, payload=my_hello)
    H = transcript_hash(d_banner, my_banner, d_hello, my_hello)
    f = L.recv()
    if f[0] != AUTH:
        fail("%s: the daemon answered our HELLO with %s" % (what, name(f[0])))
    ikm = [k for k in (L.key, L.next_key) if k and hmac.compare_digest(f[4], proof(k, DIALLER_PROOF, H))]
    if not ikm:
        fail("%s: the daemon's proof does not verify" % what)
    if m == 2:
        L.rx = Records(direction_key(ikm[0], H, INFO_D2A))
    L.send(AUTH, payload=proof(L.key, ACCEPTOR_PROOF, H))
    if m == 2:
        L.tx = Records(direction_key(ikm[0], H, INFO_A2D))
    f = L.recv()
    if f[0] != AUTH_DONE:
        fail("%s: after our AUTH came %s, not AUTH_DONE" % (what, name(f[0])))
    return L


def race_drained(host, port, dport, mode, keys, what, rcvbuf=None):
    """A race the daemon decides: it dials us on HOST:PORT (link K, whose
    first OPEN we accept), we dial it on 127.0.0.1:DPORT as the same
    instance (link R), and it keeps K and drains R (its CLOSE there, ours
    never sent). rcvbuf: K's receive buffer. Returns K, R and the id of
    the channel accepted on K."""
    m = MODES[mode]
    nonce = rand64()
    ls = listening(host, port)
    if rcvbuf:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    K = acceptor_up(ls, host, port, mode, keys, nonce, what + " K")
    first = answer_open(K)  # the session is up on K
    R = Link("127.0.0.1", dport, mode, keys)
    st, why = R.handshake(fields=hello_fields(m, listen="%s:%d" % (host, port), nonce=nonce))
    if st != "up":
        fail("%s: R: handshake %s (%s)" % (what, st, why))
    R.finish()
    while True:  # the daemon decides: it drains R
        try:
            f = R.recv(5)
        except (Closed, socket.timeout):
            fail("%s: no CLOSE on R: the daemon did not drain it" % what)
        if f[0] == CLOSE:
            return K, R, first


def drainrace(host, port, dport, mode, keys):
    """A race the daemon decides (it has the lower listen address: we
    listen on HOST:PORT, 127.0.0.2), then its kept link dies while the
    other still drains. msgrd dials us first (a client connects to
    HOST:PORT/osd.w: link K); we dial it on 127.0.0.1:DPORT as the same
    instance (link R). It keeps K, sends CLOSE on R, and reads R until our
    CLOSE, which never comes. Then K goes. What R still brings is older
    than anything a later link will: taken in after the loss it would come
    between that link's frames (a resume round split by a newer one ended
    channels in lossless-three-daemons). So the daemon must close R too."""
    K, R, _ = race_drained(host, port, dport, mode, keys, "drainrace")
    K.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    K.s.close()  # a reset: the kept link is lost
    t0 = time.time()
    try:
        while True:
            f = R.recv(3)
            if f[0] not in (KEEPALIVE, KEEPALIVE_ACK, ACK):
                fail("drainrace: %s on R after the kept link went" % name(f[0]))
    except socket.timeout:
        fail("drainrace: R still open 3 s after the kept link went")
    except Closed:
        pass
    print("ok drainrace (%s): R drained, then closed %.2f s after the kept link went"
          % (mode, time.time() - t0))


def drainlost(host, port, dport, mode, keys):
    """The drained link dies instead (the daemon's DRAIN_LOST): the daemon
    keeps K, and we reset R, the link it drains. Between the two the test
    fills K (we stop reading it) so that a lossy channel opened then waits
    for room with its OPEN unsent and its messages in the channel; we wait
    for SIGUSR1 to say so. The loss ends that channel, and the peer never
    heard of it: nothing of it may come on K, where a MSG or RESET with no
    OPEN before it is for a channel we never had. We also print the MSG
    bytes K brought for the channels after the first (the test's filler):
    what was in flight, not what the loss left unsent."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    K, R, first = race_drained(host, port, dport, mode, keys, "drainlost", rcvbuf=16384)
    opened = {first}
    print("draining", flush=True)
    if signal.sigtimedwait({signal.SIGUSR1}, 120) is None:
        fail("drainlost: no SIGUSR1 within 120 s")
    R.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    R.s.close()  # a reset: the drained link is lost
    stray, frames, last, filled = [], 0, time.monotonic(), 0
    while time.monotonic() - last < 3:  # all K brings, up to 3 s of quiet
        try:                              # (but for its keepalives, 1 a s)
            f = K.recv(max(0.05, last + 3 - time.monotonic()))
        except socket.timeout:
            break
        except Closed:
            fail("drainlost: the daemon closed K")
        if f[0] in (KEEPALIVE, KEEPALIVE_ACK):
            continue
        frames += 1
        last = time.monotonic()
        if f[0] == OPEN:
            opened.add(f[1])
        elif f[0] in (MSG, RESET) and f[1] not in opened:
            stray.append("%s %d" % (name(f[0]), f[1]))
        elif f[0] == MSG and f[1] != first:
            filled += len(f[4])
    if stray:
        fail("drainlost: %d frames on K for channels whose OPEN never came: %s"
             % (len(stray), ", ".join(stray[:8])))
    print("ok drainlost: R reset; then %d frames on K, each for a channel opened on it, with "
          "%d bytes of MSGs for channels opened after the first" % (frames, filled))


def closedunheard(host, port, mode, keys):
    """Lossless channels closed before their OPEN went: the peer never
    knew their ids, so the daemon's next init round must not list them as
    closed lately. msgrd dials us (link K, a lossless channel on it, which
    we accept; we print "up" and accept a second, which the test closes
    once K is gone); we reset K and stop listening, so its dials fail,
    until SIGUSR1, while the test opens and closes lossless channels that
    wait for a link (some closed only after a dial failed, some after
    sending). On the new link: every channel the init round lists as
    closed must have had its OPEN on one of our links, and the second
    channel must be among them."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    nonce = rand64()
    ls = listening(host, port)
    K = acceptor_up(ls, host, port, mode, keys, nonce, "closedunheard K")
    opened = {answer_open(K)}
    print("up", flush=True)
    heard = answer_open(K)  # the test closes this one while no link is up
    opened.add(heard)
    K.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    K.s.close()  # a reset: the session lost what was in flight
    ls.close()  # and its dials fail until we listen again
    print("lost", flush=True)
    if signal.sigtimedwait({signal.SIGUSR1}, 120) is None:
        fail("closedunheard: no SIGUSR1 within 120 s")
    ls = listening(host, port)
    K = acceptor_up(ls, host, port, mode, keys, nonce, "closedunheard K2")
    closed, deadline = [], time.monotonic() + 10
    while True:
        try:
            f = K.recv(max(0.05, deadline - time.monotonic()))
        except socket.timeout:
            fail("closedunheard: no init round within 10 s")
        except Closed:
            fail("closedunheard: the daemon closed the new link")
        if f[0] == OPEN:
            opened.add(f[1])
        elif f[0] == RESUME:
            n = struct.unpack("<H", f[4][:2])[0]
            for i in range(n):
                e = struct.unpack("<IQQQB", f[4][7 + 29 * i:7 + 29 * (i + 1)])
                if e[4] == 2:
                    closed.append(e[0])
        elif f[0] == RESUME_END and f[4][4] == 0:
            break
    stray = [c for c in closed if c not in opened]
    if stray:
        fail("closedunheard: the init round lists %d channels as closed whose OPEN never came "
             "(%s)" % (len(stray), ", ".join(map(str, stray[:8]))))
    if heard not in closed:
        fail("closedunheard: the init round does not list channel %d, which we opened and the "
             "test closed, as closed" % heard)
    print("ok closedunheard: the init round lists %d closed channels, none unknown to us"
          % len(closed))


def trickle(host, port, n, rounds):
    """N MSGs for channels the daemon never had (each answered with a
    RESET of 40 bytes) read by nothing, then ROUNDS rounds of 4096 more,
    each followed by reading 4096 answers' worth: the answers waiting in
    the daemon stay about the same, never all gone and never growing. The
    daemon must keep the link (we do read) and hold no more memory for it
    at the end than after the burst."""
    L = up_link(host, port, "none", (None, None), "trickle")
    L.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    chan = [2]

    def burst(k):
        L.sendall(unknown_msgs(range(chan[0], chan[0] + 2 * k, 2)))
        chan[0] += 2 * k

    try:
        burst(n)
        print("burst", flush=True)
        time.sleep(1)
        for _ in range(rounds):
            burst(4096)
            L.need(4096 * 40, timeout=10)
    except (Closed, socket.timeout):
        fail("trickle: the link closed or went silent (%d channels)" % (chan[0] // 2))
    print("ok trickle: %d rounds" % rounds, flush=True)
    time.sleep(1)  # for the daemon's memory to be read with the link up
    L.send(CLOSE, payload=lstr("done"))
    L.close()


def movepaced(host, port, dport, n, mode, keys):
    """Answers waiting in the daemon when we move the session to another
    link in order. msgrd dials us (link K; we listen on HOST:PORT, the
    lower address, so races are ours to decide); we send N MSGs on K for
    channels it never had, each answered with a RESET, while reading
    nothing, so most answers wait in its session. Then we dial it as the
    same instance (link R), keep R, and close K in order. Every one of the
    N RESETs must come, on K before its CLOSE or on R after."""
    nonce = rand64()
    ls = listening(host, port)
    K = acceptor_up(ls, host, port, mode, keys, nonce, "movepaced K")
    # small enough that the kernel cannot take all the answers, large
    # enough that reading K later is quick
    K.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    answer_open(K)  # the session is up on K
    want = set(range(1000, 1000 + 2 * n, 2))
    for base in range(0, n, 4096):
        K.sendall(unknown_msgs(range(1000 + 2 * base, 1000 + 2 * min(n, base + 4096), 2)))
    time.sleep(0.5)  # its answers pile up behind what K holds
    R = Link("127.0.0.2", dport, mode, keys)  # the daemon listens there
    st, why = R.handshake(fields=hello_fields(MODES[mode], listen="%s:%d" % (host, port), nonce=nonce))
    if st != "up":
        fail("movepaced: R: handshake %s (%s)" % (st, why))
    R.finish()
    K.send(CLOSE, payload=lstr("moving to the other link"))
    on_k = on_r = 0
    try:
        while True:  # K up to the daemon's CLOSE
            f = K.recv(10)
            if f[0] == RESET and f[1] in want:
                want.discard(f[1])
                on_k += 1
            elif f[0] == CLOSE:
                break
    except (Closed, socket.timeout):
        fail("movepaced: K ended without the daemon's CLOSE (%d RESETs on it)" % on_k)
    K.close()
    deadline = time.monotonic() + 60
    while want and time.monotonic() < deadline:
        try:
            f = R.recv(max(0.1, deadline - time.monotonic()))
        except socket.timeout:
            break
        except Closed:
            fail("movepaced: the daemon closed R")
        if f[0] == RESET and f[1] in want:
            want.discard(f[1])
            on_r += 1
    if want:
        fail("movepaced: %d of %d RESETs never came (%d on K, %d on R)" % (len(want), n, on_k, on_r))
    print("ok movepaced: all %d RESETs, %d on K before its CLOSE, %d on R" % (n, on_k, on_r))
    R.send(CLOSE, payload=lstr("done"))
    R.close()


def main():
    args, opts = [], {"--mode": None, "--keyring": None, "--bind": None, "--hold": "0"}
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a in opts:
            if not argv:
                fail("%s needs a value" % a)
            opts[a] = argv.pop(0)
        else:
            args.append(a)
    if len(args) < 3:
        fail("usage: wirepeer.py HOST PORT KIND [ARGS] [--mode M] [--keyring F] [--bind A] [--hold S]")
    host, port, kind = args[0], int(args[1]), args[2]
    rest = args[3:]
    mode = opts["--mode"] or ("hmac" if kind in ("tamper", "rangecheck", "accept", "drainrace",
                                                 "drainlost", "closedunheard", "movepaced")
                              else "secure" if kind == "secure-flip" else "none")
    if mode not in MODES:
        fail("--mode none|hmac|secure")
    keys = (None, None)
    if mode != "none" or kind == "relay":
        if mode == "secure":
            need_crypto()
        if kind != "relay":
            if not opts["--keyring"]:
                fail("--mode %s needs --keyring" % mode)
            keys = read_keyring(opts["--keyring"])
    if kind == "idle":
        binds = (opts["--bind"] or "").split(",") if opts["--bind"] else [None]
        return idle(host, port, int(rest[0]), int(rest[1]) if len(rest) > 1 else 8, binds,
                    float(opts["--hold"]))
    if kind == "accept":
        return accept(host, port, rest[0], mode, keys)
    if kind == "drainrace":
        return drainrace(host, port, int(rest[0]), mode, keys)
    if kind == "drainlost":
        return drainlost(host, port, int(rest[0]), mode, keys)
    if kind == "closedunheard":
        return closedunheard(host, port, mode, keys)
    if kind == "relay":
        return relay(host, port, rest[0], int(rest[1]))
    if kind == "tamper":
        return tamper(host, port, rest[0], mode, keys)
    if kind == "rangecheck":
        return rangecheck(host, port, mode, keys)
    if kind == "secure-flip":
        return secure_flip(host, port, rest[0], rest[1], keys)
    if kind == "redial":
        return redial(host, port, rest[0], mode, keys)
    if kind == "kaflood":
        return kaflood(host, port, mode, keys)
    if kind == "noread":
        return noread(host, port, int(rest[0]))
    if kind == "trickle":
        return trickle(host, port, int(rest[0]), int(rest[1]))
    if kind == "movepaced":
        return movepaced(host, port, int(rest[0]), int(rest[1]), mode, keys)
    if kind == "acks":
        return acks(host, port, mode, keys)
    if kind == "frags":
        return frags(host, port, rest[0], mode, keys)
    if kind == "chanflood":
        return chanflood(host, port, rest[0], int(rest[1]), float(opts["--hold"]), mode, keys)
    if kind == "sessionflood":
        return sessionflood(host, port, rest[0], rest[1], mode, keys)
    if kind in ("payloadcrc", "oversize", "gap", "unknown", "flood"):
        return channel_damage(host, port, kind, rest[0], mode, keys)
    # damage before or in the handshake, with CRC frames
    s = socket.create_connection((host, port), timeout=3)
    damage = {
        "garbage": b"GET / HTTP/1.0\r\n\r\n" + os.urandom(64),
        "badbanner": b"MSGRWIRX" + bytes(8),
        "version": banner(7, 9),
        "v1only": banner(1, 1),  # version 1's handshake is not to be had
        "hdrcrc": banner() + frame(HELLO, payload=b"x" * 10, hdr_crc=0x12345678),
        "oversized": banner() + frame(HELLO, length=1 << 20),
        "badtype": banner() + frame(99),
        "early": banner() + frame(OPEN, chan=2, payload=b"\x01" + bytes(8) + lstr("client.z") + lstr("osd.z")),
        # claim auth.mode = hmac, then skip AUTH and say AUTH_DONE
        "noauth": banner() + frame(HELLO, payload=hello_encode(hello_fields(1))) + frame(AUTH_DONE),
    }
    if kind not in damage:
        fail("unknown kind " + kind)
    s.sendall(damage[kind])
    L = Link.__new__(Link)
    L.s, L.buf, L.rx, L.timeout = s, b"", None, 3.0
    if kind == "noauth":
        try:
            L.need(16)
        except (Closed, socket.timeout):
            fail("noauth: no banner")
        seen = L.expect_closed("noauth", allowed=(HELLO, AUTH_FAIL, CLOSE))
        if AUTH_FAIL not in seen:
            fail("noauth: closed without AUTH_FAIL (%s)" % [name(t) for t in seen])
        print("ok noauth: AUTH_FAIL, link closed")
        return
    s.settimeout(3)
    try:
        while True:
            if not s.recv(65536):
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        fail(kind + ": the daemon kept the link open")
    print("ok " + kind + ": link closed")


if __name__ == "__main__":
    main()
