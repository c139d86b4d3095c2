"""msgr - Python binding of libmsgr, the client library of msgrd.

    import msgr
    with msgr.Client.attach("client.tool") as c:
        conn = c.connect("127.0.0.1:6800/osd.3", msgr.LOSSLESS)
        c.send(conn, 42, b"hello")
        ev = c.next(timeout=5)          # an Event, or None after 5 s

A Client is one attached entity; a Conn one connection handle. Events are
instances of Message, Accepted, Connected, Reset, RemoteReset,
ConnectFailed and DaemonLost (all Event). Failures raise MsgrError (an
OSError: .errno, .strerror) or one of its subclasses, chosen by errno.
`async for ev in client.events()` reads events from an asyncio loop.

Why ctypes and not cffi: the binding must work with whatever python3 runs
it, without a compiler at install time and without a package beyond
python3 itself (cffi is a separate Debian package, python3-cffi, and in
its API mode needs a C compiler and the Python headers). libmsgr's ABI is
small and plain C: two structs of fixed-size fields and 16 functions.
ctypes loads the library as it is; the price, mirroring the structs by
hand, is paid once in _abi.py and checked by a test that compares them
with what the C compiler makes of msgr.h.

Why message payloads are copied into bytes: libmsgr lends a payload from
the receive pool (shared with msgrd) only until msgr_event_release(), and
an unreleased payload holds back the daemon's next deliveries. A Python
object can outlive any release we could tie it to, so next() copies the
payload and releases it before it returns; no Python object ever points
into the pool.

Threads follow msgr(3): events are read by one thread at a time (next()
and events() of one Client); sends may come from any thread.
"""
import asyncio
import errno as _errno
import ctypes
import enum
import os
import time

from . import _abi

__all__ = [
    "Client", "Conn", "Mode", "LOSSY", "LOSSLESS", "PEER", "MODES_ALL",
    "EventType", "Event", "Message", "Accepted", "Connected", "Reset",
    "RemoteReset", "ConnectFailed", "DaemonLost",
    "MsgrError", "InvalidArgument", "DaemonUnreachable", "EntityInUse",
    "NotPermitted", "WouldBlock", "ConnectionReset", "DaemonGone", "TimedOut",
    "strerror", "version",
]

_lib, library_path = _abi.load()
version = _abi.MSGR_VERSION_STRING


class Mode(enum.IntEnum):
    """enum msgr_mode; msgr(3) says what each one promises."""
    LOSSY = _abi.MSGR_LOSSY
    LOSSLESS = _abi.MSGR_LOSSLESS
    PEER = _abi.MSGR_PEER

    @property
    def bit(self):
        """This mode's bit in the mask of Client.accept_modes()."""
        return _abi.MSGR_MODE_BIT(self)


LOSSY, LOSSLESS, PEER = Mode.LOSSY, Mode.LOSSLESS, Mode.PEER
MODES_ALL = _abi.MSGR_MODES_ALL


class EventType(enum.IntEnum):
    """enum msgr_event_type."""
    MESSAGE = _abi.MSGR_EV_MESSAGE
    ACCEPTED = _abi.MSGR_EV_ACCEPTED
    CONNECTED = _abi.MSGR_EV_CONNECTED
    RESET = _abi.MSGR_EV_RESET
    REMOTE_RESET = _abi.MSGR_EV_REMOTE_RESET
    CONNECT_FAILED = _abi.MSGR_EV_CONNECT_FAILED
    DAEMON_LOST = _abi.MSGR_EV_DAEMON_LOST


# ---------------------------------------------------------------- errors

def strerror(err):
    """msgr_strerror(): the text of an errno (either sign)."""
    return _lib.msgr_strerror(int(err)).decode(errors="replace")


def _last_error():
    # msgr_last_error() (issue 13) names the problem better than the errno
    # ("osd.1 is already attached to this msgrd"); older libraries lack it.
    f = getattr(_lib, "msgr_last_error", None)
    if f is None:
        return None
    s = f()
    return s.decode(errors="replace") if s else None


class MsgrError(OSError):
    """A libmsgr call failed. errno is positive, as in OSError; strerror is
    libmsgr's text for it (msgr_last_error() when the library has it, else
    msgr_strerror()); op names the call and its subject."""

    def __init__(self, err, text=None, op=None):
        err = abs(int(err))
        super().__init__(err, text or strerror(err))
        self.op = op

    def __str__(self):
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"{self.op + ': ' if self.op else ''}{self.strerror} ({name})"


class InvalidArgument(MsgrError, ValueError):
    """EINVAL: libmsgr refused an argument (an entity name not TYPE.ID, an
    address not HOST:PORT/TYPE.ID, a bad pattern)."""


class DaemonUnreachable(MsgrError, ConnectionError):
    """ENOENT, ECONNREFUSED: no msgrd listens on the attach socket. .socket
    is the path that was tried."""
    socket = None


class EntityInUse(MsgrError):
    """EADDRINUSE: the entity is already attached to this msgrd."""


class NotPermitted(MsgrError, PermissionError):
    """EPERM, EACCES: the socket's mode or msgrd's [policy] refused us."""


class WouldBlock(MsgrError, BlockingIOError):
    """EAGAIN: the send pool is full (attach with send_blocking=True to
    wait instead)."""


class ConnectionReset(MsgrError, ConnectionResetError):
    """ECONNRESET: the connection was reset; close it."""


class DaemonGone(MsgrError):
    """ENOTCONN: msgrd went away (after the DaemonLost event)."""


class TimedOut(MsgrError, TimeoutError):
    """ETIMEDOUT: msgrd did not answer in time."""


_BY_ERRNO = {
    _errno.EINVAL: InvalidArgument,
    _errno.ENOENT: DaemonUnreachable,
    _errno.ECONNREFUSED: DaemonUnreachable,
    _errno.EADDRINUSE: EntityInUse,
    _errno.EPERM: NotPermitted,
    _errno.EACCES: NotPermitted,
    _errno.EAGAIN: WouldBlock,
    _errno.ECONNRESET: ConnectionReset,
    _errno.ENOTCONN: DaemonGone,
    _errno.ETIMEDOUT: TimedOut,
}


def error_for(err, op=None, text=None):
    """The MsgrError subclass instance for a (negative or positive) errno."""
    return _BY_ERRNO.get(abs(int(err)), MsgrError)(err, text, op)


def _check(rc, op):
    if rc < 0:
        raise error_for(rc, op, _last_error())
    return rc


def _uint32(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must be between 0 and 4294967295, not {value}")
    return value


def _text(value, what):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} must not contain a NUL character: {value!r}")
    return value.encode()


def _seconds(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout >= 0):
        raise ValueError(f"timeout must be seconds >= 0 or None, not {timeout!r}")
    return timeout


def _mode(value):
    try:
        return Mode(value)
    except ValueError:
        raise ValueError(f"mode must be msgr.LOSSY, msgr.LOSSLESS or msgr.PEER, not {value!r}") from None


# ---------------------------------------------------------------- events

class Event:
    """One event of msgr_next(3). conn is the Conn it is about (None for
    DaemonLost); kind its EventType."""
    kind = None
    __slots__ = ("conn",)

    def __init__(self, conn):
        self.conn = conn

    def __repr__(self):
        return f"<{type(self).__name__} {self.conn.peer if self.conn else ''}>"


class Message(Event):
    """A message: type is the sender's tag, data a copy of the payload."""
    kind = EventType.MESSAGE
    __slots__ = ("type", "data")

    def __init__(self, conn, type, data):
        super().__init__(conn)
        self.type, self.data = type, data

    def __repr__(self):
        return f"<Message type {self.type}, {len(self.data)} bytes from {self.conn.peer}>"


class Accepted(Event):
    """A peer connected; conn is a new handle, ours to close."""
    kind = EventType.ACCEPTED
    __slots__ = ()


class Connected(Event):
    """Our connect() reached its peer."""
    kind = EventType.CONNECTED
    __slots__ = ()


class _Failed(Event):
    __slots__ = ("error",)

    def __init__(self, conn, error):
        super().__init__(conn)
        self.error = error   # a MsgrError, not raised: why it ended

    def __repr__(self):
        return f"<{type(self).__name__} {self.conn.peer}: {self.error.strerror}>"


class Reset(_Failed):
    """The connection ended; error says why. Close conn when done with it."""
    kind = EventType.RESET
    __slots__ = ()


class RemoteReset(_Failed):
    """The peer restarted as a new instance; the connection is over."""
    kind = EventType.REMOTE_RESET
    __slots__ = ()


class ConnectFailed(_Failed):
    """The peer could not be reached; error says why (EPROTONOSUPPORT: it
    refuses the mode)."""
    kind = EventType.CONNECT_FAILED
    __slots__ = ()


class DaemonLost(Event):
    """msgrd went away; every handle is dead. Comes once."""
    kind = EventType.DAEMON_LOST
    __slots__ = ()


# ---------------------------------------------------------------- handles

class Conn:
    """A connection handle (msgr_conn). Made by Client.connect() or arrives
    with Accepted; the same Conn object comes with every event about it."""
    __slots__ = ("_client", "_p", "peer", "mode", "__weakref__")

    def __init__(self, client, p, peer, mode):
        self._client, self._p, self.peer, self.mode = client, p, peer, mode

    @property
    def closed(self):
        return self._p is None

    def _ptr(self, what):
        if self._p is None:
            raise ValueError(f"{what} on a closed connection to {self.peer}")
        return self._p

    def send(self, type, data):
        """msgr_send(): queue one message (a copy of data) with tag type."""
        self._client.send(self, type, data)

    def close(self):
        """msgr_conn_close(): close the handle; the peer gets Reset if the
        connection was open. Closing twice does nothing."""
        if self._p is not None:
            p, self._p = self._p, None
            self._client._forget(p)
            _lib.msgr_conn_close(p)

    def __repr__(self):
        return f"<msgr.Conn {self.mode.name if self.mode else '?'} to {self.peer}{' closed' if self._p is None else ''}>"


class Client:
    """An entity attached to the local msgrd (msgr_client). Make one with
    Client.attach(); detach() (or leaving a with block) ends it."""

    def __init__(self, c, entity):
        self._c = c
        self.entity = entity
        self._conns = {}          # handle address -> Conn, for events
        self._ev = _abi.msgr_event()
        self._lost = False

    @classmethod
    def attach(cls, entity, socket=None, *, pool_size=0, poll_us=0, send_blocking=False):
        """msgr_attach(): attach entity (TYPE.ID, "osd.3") to the msgrd
        whose attach socket is socket (default: $MSGR_SOCKET, then
        /run/msgrd/msgrd.sock). pool_size is bytes per direction (0: the
        daemon's global.pool_size), poll_us µs of busy-polling before next()
        sleeps, send_blocking makes a full pool wait instead of raising
        WouldBlock."""
        name = _text(entity, "entity")
        opts = _abi.msgr_attach_opts()
        if socket is not None:
            socket = os.fspath(socket)
            opts.socket_path = _text(socket, "socket")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"pool_size must be a byte count >= 0, not {pool_size!r}")
        opts.pool_size = pool_size
        opts.poll_us = _uint32(poll_us, "poll_us")
        opts.send_blocking = 1 if send_blocking else 0
        out = ctypes.c_void_p()
        rc = _lib.msgr_attach(name, ctypes.byref(opts), ctypes.byref(out))
        if rc < 0:
            path = socket or os.environ.get("MSGR_SOCKET") or _abi.MSGR_DEFAULT_SOCKET
            text = _last_error()
            e = error_for(rc, f"attach {entity}", text)
            if isinstance(e, DaemonUnreachable):
                e.socket = path
                if text is None:
                    e.strerror += f": no msgrd at {path} (is it running? $MSGR_SOCKET or socket= names another)"
            elif isinstance(e, InvalidArgument) and text is None:
                e.strerror += f": an entity name is TYPE.ID, as osd.3 or client.admin, not {entity!r}"
            elif isinstance(e, EntityInUse) and text is None:
                e.strerror = f"{entity} is already attached to this msgrd"
            raise e
        return cls(out.value, entity)

    # -- lifetime

    def _ptr(self):
        if self._c is None:
            raise ValueError(f"{self.entity} is detached")
        return self._c

    def detach(self):
        """msgr_detach(): end the attachment; every Conn of it is closed.
        Detaching twice does nothing."""
        if self._c is None:
            return
        c, self._c = self._c, None
        for k in self._conns.values():
            k._p = None
        self._conns.clear()
        _check(_lib.msgr_detach(c), f"detach {self.entity}")

    close = detach

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()

    def __del__(self):
        # an abandoned Client must not keep its entity attached; at
        # interpreter exit the module globals may be gone already
        if getattr(self, "_c", None) is not None and _lib is not None:
            try:
                self.detach()
            except Exception:
                pass

    def __repr__(self):
        return f"<msgr.Client {self.entity}{' detached' if self._c is None else ''}>"

    @property
    def addr(self):
        """msgr_addr(): HOST:PORT/TYPE.ID, what peers pass to connect()."""
        return _lib.msgr_addr(self._ptr()).decode()

    def fileno(self):
        """msgr_fd(): readable when events may be waiting. It belongs to
        libmsgr: never read, write or close it."""
        return _check(_lib.msgr_fd(self._ptr()), "msgr_fd")

    # -- connections

    def _conn(self, p, peer=None, mode=None):
        k = self._conns.get(p)
        if k is None:
            if peer is None:
                s = _lib.msgr_conn_peer(p)
                peer = s.decode(errors="replace") if s else "?"
            k = self._conns[p] = Conn(self, p, peer, mode)
        return k

    def _forget(self, p):
        self._conns.pop(p, None)

    def connect(self, addr, mode=LOSSLESS):
        """msgr_connect(): a Conn to the entity at addr (HOST:PORT/TYPE.ID)
        in mode. Does not wait: Connected or ConnectFailed follows, and
        sends may be queued at once. A live handle to the same peer in the
        same mode is returned again, as the same Conn."""
        a = _text(addr, "addr")
        m = _mode(mode)
        out = ctypes.c_void_p()
        _check(_lib.msgr_connect(self._ptr(), a, int(m), ctypes.byref(out)), f"connect {addr}")
        k = self._conn(out.value, addr, m)
        if k.mode is None:
            k.mode = m        # the handle came with Accepted: now we know its mode
        return k

    def accept_modes(self, pattern, modes):
        """msgr_accept_modes(): accept entities matching the glob pattern
        only in modes (an iterable of Mode, or a mask of Mode.bit)."""
        p = _text(pattern, "pattern")
        if not isinstance(modes, int):
            mask = 0
            for m in modes:
                mask |= _mode(m).bit
            modes = mask
        _check(_lib.msgr_accept_modes(self._ptr(), p, _uint32(modes, "modes")),
               f"accept_modes {pattern}")

    def send(self, conn, type, data):
        """msgr_send(): queue a copy of data (bytes-like) on conn with the
        tag type (0..2**32-1). Raises WouldBlock when the pool is full
        (unless send_blocking), ConnectionReset on a reset connection."""
        if not isinstance(conn, Conn) or conn._client is not self:
            raise TypeError(f"conn must be a Conn of {self.entity}, not {conn!r}")
        p = conn._ptr("send")
        self._ptr()
        t = _uint32(type, "type")
        if isinstance(data, bytes):
            buf, n = data, len(data)          # ctypes passes its bytes as they are
        else:
            try:
                mv = memoryview(data)
            except TypeError:
                raise TypeError(f"data must be bytes-like, not {_type_name(data)}"
                                + (" (encode it first)" if isinstance(data, str) else "")) from None
            mv = mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv
            n = mv.nbytes
            buf = (ctypes.c_char * n).from_buffer(mv) if not mv.readonly and mv.c_contiguous else bytes(mv)
        _check(_lib.msgr_send(p, t, buf, n), f"send to {conn.peer}")

    # -- events

    def _take(self):
        """The event msgr_next() just stored, as an Event; a payload is
        copied and released here, whatever happens."""
        ev = self._ev
        try:
            t = ev.type
            if t == _abi.MSGR_EV_DAEMON_LOST:
                self._lost = True
                return DaemonLost(None)
            k = self._conn(ev.conn)
            if t == _abi.MSGR_EV_MESSAGE:
                return Message(k, ev.msg_type, ctypes.string_at(ev.data, ev.len) if ev.len else b"")
            if t == _abi.MSGR_EV_ACCEPTED:
                return Accepted(k)
            if t == _abi.MSGR_EV_CONNECTED:
                return Connected(k)
            err = error_for(ev.error or -_errno.ECONNRESET, f"connection to {k.peer}")
            if t == _abi.MSGR_EV_RESET:
                return Reset(k, err)
            if t == _abi.MSGR_EV_REMOTE_RESET:
                return RemoteReset(k, err)
            if t == _abi.MSGR_EV_CONNECT_FAILED:
                return ConnectFailed(k, err)
            raise MsgrError(_errno.EPROTO, f"libmsgr returned an event of unknown type {t}; "
                            "this binding is older than the library", "next")
        finally:
            _lib.msgr_event_release(self._c, ctypes.byref(ev))

    def next(self, timeout=None):
        """msgr_next(): the next Event, waiting up to timeout seconds for
        one (None: until one comes, 0: not at all); None if none came.
        Raises DaemonGone after DaemonLost was returned."""
        c = self._ptr()
        deadline = None if _seconds(timeout) is None else time.monotonic() + timeout
        while True:
            # libmsgr's wait ignores signals; waiting in slices lets Python
            # run its signal handlers (Ctrl-C) in between
            left = 1000 if deadline is None else \
                min(1000, max(0, int((deadline - time.monotonic()) * 1000 + 0.999)))
            rc = _lib.msgr_next(c, ctypes.byref(self._ev), left)
            if rc == 0:
                return self._take()
            if rc != -_errno.EAGAIN:
                _check(rc, f"next on {self.entity}")
            if deadline is not None and time.monotonic() >= deadline:
                return None

    async def next_async(self, timeout=None):
        """next() for asyncio: waits on msgr_fd() with loop.add_reader()
        instead of blocking the loop. None if no event came in timeout
        seconds (None: wait until one comes)."""
        _seconds(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            ev = self.next(0)
            if ev is not None:
                return ev
            if deadline is not None and loop.time() >= deadline:
                return None
            # msgr_next(…, 0) found nothing and so armed the daemon's
            # wakeup: the fd turns readable for whatever comes next. The
            # reader is registered only while we wait, so nothing watches
            # the fd after a detach or between events the caller handles.
            # A wait lasts 1 s at most, as libmsgr's own does while a
            # msgr_conn_close() waits for room in the command ring: nothing
            # signals the fd when that room comes, and only a call of
            # msgr_next() hands the close over.
            fd = self.fileno()
            ready = loop.create_future()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
            try:
                left = 1.0 if deadline is None else min(1.0, deadline - loop.time())
                await asyncio.wait_for(ready, max(left, 0))
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(fd)

    async def events(self):
        """Every event, as they come: `async for ev in client.events()`.
        Ends after DaemonLost (msgr_fd() stays readable then)."""
        while not self._lost:
            yield await self.next_async()


def _type_name(x):
    return type(x).__name__
