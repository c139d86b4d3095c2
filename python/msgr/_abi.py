"""The C side of the binding: libmsgr loaded with ctypes, and include/msgr.h
mirrored field for field.

Everything here must match include/msgr.h exactly; python/tests/test_msgr.py
compares these layouts and constants with what a C compiler makes of the
header (tests/integration/msgr-pyabi.c), so a change to the header that is
not made here too fails make check instead of corrupting memory.
"""
import ctypes
import os

# make install replaces this with $(LIBDIR), so a library installed under
# any prefix is found without ldconfig or LD_LIBRARY_PATH. In the source
# tree it stays a placeholder and the soname is looked up as usual.
LIBDIR = "@LIBDIR@"

# The soname, not libmsgr.so: the layouts below are those of ABI 0, and
# the unversioned link exists only where the -dev files are installed.
SONAME = "libmsgr.so.0"

# enum msgr_mode
MSGR_LOSSY = 1
MSGR_LOSSLESS = 2
MSGR_PEER = 3


def MSGR_MODE_BIT(m):
    return 1 << m


MSGR_MODES_ALL = MSGR_MODE_BIT(MSGR_LOSSY) | MSGR_MODE_BIT(MSGR_LOSSLESS) | MSGR_MODE_BIT(MSGR_PEER)

# enum msgr_event_type
MSGR_EV_MESSAGE = 1
MSGR_EV_ACCEPTED = 2
MSGR_EV_CONNECTED = 3
MSGR_EV_RESET = 4
MSGR_EV_REMOTE_RESET = 5
MSGR_EV_CONNECT_FAILED = 6
MSGR_EV_DAEMON_LOST = 7

MSGR_DEFAULT_SOCKET = "/run/msgrd/msgrd.sock"
MSGR_VERSION_MAJOR = 0
MSGR_VERSION_MINOR = 1
MSGR_VERSION_STRING = "0.1.0"


class msgr_event(ctypes.Structure):
    # C enums are int-sized here (the library is not built with
    # -fshort-enums); ctypes pads like the C compiler does.
    _fields_ = [
        ("type", ctypes.c_int),
        ("conn", ctypes.c_void_p),
        ("msg_type", ctypes.c_uint32),
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("error", ctypes.c_int),
    ]


class msgr_attach_opts(ctypes.Structure):
    _fields_ = [
        ("socket_path", ctypes.c_char_p),
        ("pool_size", ctypes.c_size_t),
        ("poll_us", ctypes.c_uint),
        ("send_blocking", ctypes.c_int),
    ]


class iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


# Handles are opaque: kept as plain addresses (c_void_p), never dereferenced.
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_EV = ctypes.POINTER(msgr_event)

# name: (restype, argtypes). Every function of msgr.h; the test checks the
# list against the header, so a new one is noticed.
PROTOTYPES = {
    "msgr_attach": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(msgr_attach_opts), _PP]),
    "msgr_detach": (ctypes.c_int, [_P]),
    "msgr_addr": (ctypes.c_char_p, [_P]),
    "msgr_connect": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, _PP]),
    "msgr_accept_modes": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint]),
    "msgr_send": (ctypes.c_int, [_P, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]),
    "msgr_sendv": (ctypes.c_int, [_P, ctypes.c_uint32, ctypes.POINTER(iovec), ctypes.c_int]),
    "msgr_buf_alloc": (ctypes.c_int, [_P, ctypes.c_size_t, _PP]),
    "msgr_buf_free": (ctypes.c_int, [_P, ctypes.c_void_p]),
    "msgr_send_buf": (ctypes.c_int, [_P, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]),
    "msgr_next": (ctypes.c_int, [_P, _EV, ctypes.c_int]),
    "msgr_event_release": (None, [_P, _EV]),
    "msgr_fd": (ctypes.c_int, [_P]),
    "msgr_conn_close": (None, [_P]),
    "msgr_conn_peer": (ctypes.c_char_p, [_P]),
    "msgr_strerror": (ctypes.c_char_p, [ctypes.c_int]),
}

# Declared by newer headers only: bound when the library has it.
# msgr-pyabi.c declares it with this signature, so a header that declares
# it otherwise fails to build the tests.
OPTIONAL = {
    "msgr_last_error": (ctypes.c_char_p, []),
}


def _candidates():
    env = os.environ.get("MSGR_LIBRARY")
    if env:
        # an explicit choice (the tests' build tree): that one or nothing
        return [env]
    found = []
    if not LIBDIR.startswith("@"):
        found.append(os.path.join(LIBDIR, SONAME))
    found.append(SONAME)
    return found


def load():
    """Load libmsgr and declare its functions; (library, path loaded)."""
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path, use_errno=False)
        except OSError as e:
            errors.append(str(e))
            continue
        for name, (res, args) in PROTOTYPES.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        for name, (res, args) in OPTIONAL.items():
            f = getattr(lib, name, None)
            if f is not None:
                f.restype, f.argtypes = res, args
        return lib, path
    raise ImportError("msgr: cannot load libmsgr (" + "; ".join(errors) +
                      "); install it, or name it with MSGR_LIBRARY=/path/to/" + SONAME)
