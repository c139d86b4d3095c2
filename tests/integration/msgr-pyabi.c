/*
 * msgr-pyabi - what the C compiler makes of msgr.h, for the Python
 * binding's ABI test (python/tests/test_msgr.py): the size and offset of
 * every field of the public structs and the value of every constant, as
 * JSON. python/msgr/_abi.py mirrors them by hand; the test compares.
 */
#include <msgr.h>
#include <stddef.h>
#include <stdio.h>

/* The binding calls msgr_last_error() as const char *(void). Declared
 * again here: if msgr.h declares it with another signature, this file no
 * longer compiles, and whoever changed it updates python/msgr/_abi.py. The
 * call below makes the program need the library's symbol (a weak reference
 * alone let the linker drop libmsgr as not needed, and read as absent). */
extern const char *msgr_last_error(void);

#define FIELD(s, f) printf("    \"%s.%s\": [%zu, %zu],\n", #s, #f, offsetof(struct s, f), \
			   sizeof(((struct s *)0)->f))
#define CONST(c) printf("    \"%s\": %lld,\n", #c, (long long)(c))

int main(void)
{
	printf("{\n  \"sizeof\": {\"msgr_event\": %zu, \"msgr_attach_opts\": %zu, \"iovec\": %zu,"
	       " \"enum msgr_mode\": %zu, \"enum msgr_event_type\": %zu},\n",
	       sizeof(struct msgr_event), sizeof(struct msgr_attach_opts), sizeof(struct iovec),
	       sizeof(enum msgr_mode), sizeof(enum msgr_event_type));
	printf("  \"fields\": {\n");
	FIELD(msgr_event, type);
	FIELD(msgr_event, conn);
	FIELD(msgr_event, msg_type);
	FIELD(msgr_event, data);
	FIELD(msgr_event, len);
	FIELD(msgr_event, error);
	FIELD(msgr_attach_opts, socket_path);
	FIELD(msgr_attach_opts, pool_size);
	FIELD(msgr_attach_opts, poll_us);
	FIELD(msgr_attach_opts, send_blocking);
	FIELD(iovec, iov_base);
	printf("    \"iovec.iov_len\": [%zu, %zu]\n  },\n", offsetof(struct iovec, iov_len),
	       sizeof(((struct iovec *)0)->iov_len));
	printf("  \"constants\": {\n");
	CONST(MSGR_LOSSY);
	CONST(MSGR_LOSSLESS);
	CONST(MSGR_PEER);
	CONST(MSGR_MODES_ALL);
	CONST(MSGR_EV_MESSAGE);
	CONST(MSGR_EV_ACCEPTED);
	CONST(MSGR_EV_CONNECTED);
	CONST(MSGR_EV_RESET);
	CONST(MSGR_EV_REMOTE_RESET);
	CONST(MSGR_EV_CONNECT_FAILED);
	CONST(MSGR_EV_DAEMON_LOST);
	CONST(MSGR_VERSION_MAJOR);
	printf("    \"MSGR_VERSION_MINOR\": %d\n  },\n", MSGR_VERSION_MINOR);
	printf("  \"strings\": {\"MSGR_DEFAULT_SOCKET\": \"%s\", \"MSGR_VERSION_STRING\": \"%s\"},\n",
	       MSGR_DEFAULT_SOCKET, MSGR_VERSION_STRING);
	printf("  \"has_last_error\": %s\n}\n", msgr_last_error() ? "true" : "false");
	return 0;
}
