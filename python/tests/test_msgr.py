"""Tests of the msgr Python binding against a real msgrd.

tests/integration/python.sh runs them (make check, plain and under ASan)
with a daemon started by the integration harness and a C entity that
echoes (msgr-itest victim). They read:

  MSGR_SOCKET       the daemon's attach socket
  MSGR_LIBRARY      the libmsgr under test (build/lib/libmsgr.so.0)
  MSGR_TEST_ECHO    the address of the echoing C entity
  MSGR_TEST_ABI     a file with msgr-pyabi's JSON: the C compiler's view
                    of include/msgr.h
A test whose input is missing is skipped, and python.sh counts a skip as
a failure, so a broken harness cannot pass silently.
"""
import asyncio
import ctypes
import errno
import json
import os
import re
import time
import unittest

import msgr
from msgr import _abi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "include", "msgr.h")
TIMEOUT = 10


def env(name):
    v = os.environ.get(name)
    if not v:
        raise unittest.SkipTest(f"${name} is not set (run through tests/integration/python.sh)")
    return v


def wait_for(client, kind, timeout=TIMEOUT):
    """The next event of client, which must be a kind."""
    ev = client.next(timeout)
    if not isinstance(ev, kind):
        raise AssertionError(f"expected {kind.__name__}, got {ev!r}")
    return ev


class ABI(unittest.TestCase):
    """_abi.py mirrors msgr.h by hand: compare it with the compiler's view."""

    @classmethod
    def setUpClass(cls):
        with open(env("MSGR_TEST_ABI")) as f:
            cls.c = json.load(f)

    def test_struct_layouts(self):
        structs = {"msgr_event": _abi.msgr_event, "msgr_attach_opts": _abi.msgr_attach_opts,
                   "iovec": _abi.iovec}
        for name, st in structs.items():
            self.assertEqual(ctypes.sizeof(st), self.c["sizeof"][name], f"sizeof(struct {name})")
            for field, _ in st._fields_:
                off, size = self.c["fields"].pop(f"{name}.{field}")
                self.assertEqual(getattr(st, field).offset, off, f"offsetof({name}, {field})")
                self.assertEqual(getattr(st, field).size, size, f"sizeof {name}.{field}")
        # a field msgr-pyabi knows and _abi.py does not
        self.assertEqual(self.c["fields"], {})
        self.assertEqual(self.c["sizeof"]["enum msgr_mode"], ctypes.sizeof(ctypes.c_int))
        self.assertEqual(self.c["sizeof"]["enum msgr_event_type"], ctypes.sizeof(ctypes.c_int))

    def test_constants(self):
        for name, value in self.c["constants"].items():
            self.assertEqual(getattr(_abi, name, None), value, name)
        for name, value in self.c["strings"].items():
            self.assertEqual(getattr(_abi, name), value, name)
        self.assertEqual(_abi.SONAME, f"libmsgr.so.{self.c['constants']['MSGR_VERSION_MAJOR']}")
        self.assertEqual(msgr.MODES_ALL, sum(m.bit for m in msgr.Mode))
        self.assertEqual(hasattr(msgr._lib, "msgr_last_error"), self.c["has_last_error"])

    def test_header_is_covered(self):
        """Every constant and function of msgr.h is known to the binding,
        so a new one in the header is not forgotten here."""
        with open(HEADER) as f:
            h = f.read()
        for name in set(re.findall(r"\b(MSGR_EV_[A-Z_]+)\b", h)):
            self.assertIn(name, self.c["constants"], f"{name}: add it to msgr-pyabi.c")
            self.assertIn(name[len("MSGR_EV_"):], msgr.EventType.__members__, name)
        for name in re.findall(r"^\s*(MSGR_[A-Z]+) = ", h, re.M):
            self.assertIn(name[len("MSGR_"):], msgr.Mode.__members__, name)
        funcs = set(re.findall(r"\b(msgr_[a-z_]+)\s*\(", h)) - {"MSGR_MODE_BIT"}
        known = set(_abi.PROTOTYPES) | set(_abi.OPTIONAL)
        self.assertEqual(funcs - known, set(), "functions of msgr.h missing in _abi.PROTOTYPES")


class Sync(unittest.TestCase):
    def setUp(self):
        env("MSGR_SOCKET")
        self.echo = env("MSGR_TEST_ECHO")

    def test_attach(self):
        with msgr.Client.attach("client.py-attach") as c:
            self.assertTrue(c.addr.endswith("/client.py-attach"), c.addr)
            self.assertIsInstance(c.fileno(), int)
            self.assertIsNone(c.next(0))
            t0 = time.monotonic()
            self.assertIsNone(c.next(0.2))
            self.assertGreaterEqual(time.monotonic() - t0, 0.19)
        self.assertRaises(ValueError, c.next, 0)      # detached
        c.detach()                                    # twice: nothing

    def test_echo_from_c_entity(self):
        with msgr.Client.attach("client.py-echo") as c:
            k = c.connect(self.echo, msgr.LOSSLESS)
            self.assertIs(c.connect(self.echo, msgr.LOSSLESS), k)   # msgr_connect's reuse
            payloads = [b"hello", b"", bytes(range(256)) * 256, bytearray(b"mutable"),
                        memoryview(b"xxview")[2:]]
            for i, p in enumerate(payloads):
                c.send(k, 100 + i, p)
            wait_for(c, msgr.Connected)
            for i, p in enumerate(payloads):
                ev = wait_for(c, msgr.Message)
                self.assertIs(ev.conn, k)
                self.assertEqual((ev.type, ev.data), (100 + i, bytes(p)))
            k.close()
            self.assertTrue(k.closed)
            self.assertRaises(ValueError, k.send, 1, b"x")

    def test_payloads_are_released(self):
        """A 128 KiB receive pool carries 16 MiB of echoes only if next()
        gives every payload back (msgr_event_release)."""
        with msgr.Client.attach("client.py-release", pool_size=128 << 10) as c:
            k = c.connect(self.echo, msgr.LOSSLESS)
            wait_for(c, msgr.Connected)
            block = os.urandom(4096)
            for r in range(256):
                for i in range(16):
                    k.send(i, block)
                for i in range(16):
                    ev = wait_for(c, msgr.Message)
                    self.assertEqual((ev.type, ev.data), (i, block), f"round {r}")

    def test_two_python_entities(self):
        with msgr.Client.attach("client.py-a") as a, msgr.Client.attach("osd.py-b") as b:
            k = a.connect(b.addr, msgr.PEER)
            self.assertEqual((k.peer, k.mode), (b.addr, msgr.PEER))
            a.send(k, 7, b"ping")
            acc = wait_for(b, msgr.Accepted)
            self.assertEqual(acc.conn.peer, a.addr)
            ev = wait_for(b, msgr.Message)
            self.assertIs(ev.conn, acc.conn)           # one Conn per handle
            ev.conn.send(8, ev.data.upper())
            wait_for(a, msgr.Connected)
            self.assertEqual(wait_for(a, msgr.Message).data, b"PING")
            acc.conn.close()
            reset = wait_for(a, msgr.Reset)
            self.assertIs(reset.conn, k)
            self.assertIsInstance(reset.error, msgr.ConnectionReset)
            self.assertEqual(reset.error.errno, errno.ECONNRESET)
            # a real error from libmsgr, raised as its type
            with self.assertRaises(msgr.ConnectionReset) as cm:
                a.send(k, 9, b"late")
            self.assertEqual(cm.exception.errno, errno.ECONNRESET)
            self.assertIsInstance(cm.exception, ConnectionResetError)
            self.assertIn(b.addr, str(cm.exception))
            k.close()

    def test_connect_failed(self):
        with msgr.Client.attach("client.py-cf") as c:
            host = c.addr.split("/")[0]
            c.connect(host + "/osd.nobody-here", msgr.LOSSY)
            ev = wait_for(c, msgr.ConnectFailed)
            self.assertIsInstance(ev.error, msgr.MsgrError)
            self.assertGreater(ev.error.errno, 0)
            self.assertTrue(ev.error.strerror)
            print(f"\nconnect to an absent entity: {ev.error}")
            ev.conn.close()


class Errors(unittest.TestCase):
    def test_bad_entity_name(self):
        with self.assertRaises(msgr.InvalidArgument) as cm:
            msgr.Client.attach("not a name")
        e = cm.exception
        self.assertEqual(e.errno, errno.EINVAL)
        self.assertIsInstance(e, ValueError)
        self.assertIsInstance(e, OSError)
        self.assertIn("not a name", str(e))
        self.assertIn("EINVAL", str(e))

    def test_no_daemon(self):
        path = "/nonexistent/msgrd.sock"
        with self.assertRaises(msgr.DaemonUnreachable) as cm:
            msgr.Client.attach("client.py-nodaemon", socket=path)
        e = cm.exception
        self.assertEqual((e.errno, e.socket), (errno.ENOENT, path))
        self.assertIn(path, str(e))
        self.assertIsInstance(e, ConnectionError)

    def test_entity_in_use(self):
        env("MSGR_SOCKET")
        with msgr.Client.attach("client.py-twice"):
            with self.assertRaises(msgr.EntityInUse) as cm:
                msgr.Client.attach("client.py-twice")
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
            self.assertIn("client.py-twice", str(cm.exception))

    def test_bad_arguments_from_python(self):
        env("MSGR_SOCKET")
        with msgr.Client.attach("client.py-args") as c:
            k = c.connect(c.addr, msgr.LOSSY)
            for args, exc, text in [
                ((k, 1, "text"), TypeError, "encode"),
                ((k, -1, b""), ValueError, "type"),
                ((k, 2**32, b""), ValueError, "type"),
                (("conn", 1, b""), TypeError, "Conn"),
            ]:
                with self.assertRaises(exc) as cm:
                    c.send(*args)
                self.assertIn(text, str(cm.exception))
            with self.assertRaisesRegex(ValueError, "mode must be msgr.LOSSY"):
                c.connect(c.addr, 7)
            with self.assertRaisesRegex(ValueError, "timeout"):
                c.next(-1)
            with self.assertRaises(msgr.InvalidArgument) as cm:
                c.connect("no-address", msgr.LOSSY)
            self.assertIn("no-address", str(cm.exception))
            self.assertEqual(msgr.strerror(-errno.EAGAIN), os.strerror(errno.EAGAIN))

    def test_error_types_by_errno(self):
        for err, cls, base in [(errno.EAGAIN, msgr.WouldBlock, BlockingIOError),
                               (errno.EPERM, msgr.NotPermitted, PermissionError),
                               (errno.ETIMEDOUT, msgr.TimedOut, TimeoutError),
                               (errno.ENOTCONN, msgr.DaemonGone, msgr.MsgrError),
                               (errno.E2BIG, msgr.MsgrError, OSError)]:
            e = msgr.error_for(-err, "op")
            self.assertIs(type(e), cls)
            self.assertIsInstance(e, base)
            self.assertEqual(e.errno, err)
            self.assertEqual(e.strerror, msgr.strerror(err))


class Asyncio(unittest.TestCase):
    def test_events_over_fd(self):
        echo = env("MSGR_TEST_ECHO")
        env("MSGR_SOCKET")

        async def main():
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.create_task(ticker())
            with msgr.Client.attach("client.py-async") as c:
                # nothing comes: the wait lets the loop run
                self.assertIsNone(await c.next_async(timeout=0.3))
                self.assertGreaterEqual(ticks, 10)
                with self.assertRaisesRegex(ValueError, "timeout"):
                    await c.next_async(timeout=-1)
                k = c.connect(echo, msgr.LOSSY)
                got = []
                for i in range(3):
                    c.send(k, i, b"async %d" % i)
                async for ev in c.events():
                    got.append(ev)
                    if isinstance(ev, msgr.Message) and ev.type == 2:
                        break
                self.assertIsInstance(got[0], msgr.Connected)
                self.assertEqual([(e.type, e.data) for e in got[1:]],
                                 [(i, b"async %d" % i) for i in range(3)])
                # events that come while we wait, not before: the fd wakes
                # us, well before next_async's 1 s slice would look again
                loop = asyncio.get_running_loop()
                sent = []
                loop.call_later(0.05, lambda: (k.send(5, b"later"), sent.append(loop.time())))
                ev = await asyncio.wait_for(c.next_async(), TIMEOUT)
                self.assertEqual((ev.type, ev.data), (5, b"later"))
                self.assertLess(loop.time() - sent[0], 0.5, "the echo came by the 1 s slice, not msgr_fd()")
            t.cancel()

        asyncio.run(asyncio.wait_for(main(), 30))


if __name__ == "__main__":
    unittest.main()
