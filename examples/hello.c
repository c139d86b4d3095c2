/* hello.c - the smallest libmsgr program: two entities on one host.
 * Build: cc hello.c $(pkg-config --cflags --libs msgr) */
#include <msgr.h>
#include <stdio.h>

int main(void)
{
	msgr_client *a, *b;
	msgr_conn *conn;
	struct msgr_event ev;
	int err;

	/* Attach two entities to the local msgrd ($MSGR_SOCKET or the default). */
	if ((err = msgr_attach("client.hello", NULL, &a)) ||
	    (err = msgr_attach("osd.hello", NULL, &b))) {
		fprintf(stderr, "attach: %s\n", msgr_last_error());
		return 1;
	}
	/* Connect by address; a send may be queued before the connection is up. */
	msgr_connect(a, msgr_addr(b), MSGR_LOSSLESS, &conn);
	msgr_send(conn, 42, "hello", 6);

	/* The receiving side sees ACCEPTED, then the message. */
	while (msgr_next(b, &ev, 5000) == 0) {
		if (ev.type == MSGR_EV_ACCEPTED)
			printf("accepted a connection from %s\n", msgr_conn_peer(ev.conn));
		if (ev.type == MSGR_EV_MESSAGE) {
			printf("got type %u: %s\n", ev.msg_type, (const char *)ev.data);
			msgr_event_release(b, &ev);
			break;
		}
	}
	msgr_detach(a);
	msgr_detach(b);
	return 0;
}
