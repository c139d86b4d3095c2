/*
 * msgr-demo - the program behind `make demo`: an OSD-like server and a
 * client, two processes attached to one msgrd, talking through it.
 *
 *   msgr-demo server ENTITY        answer every message, until SIGTERM
 *   msgr-demo client ENTITY PEER   send a few requests, print the answers,
 *                                  then stay attached until SIGTERM
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgr.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static msgr_client *attach(const char *entity)
{
	msgr_client *c;
	int err = msgr_attach(entity, NULL, &c);

	if (err) {
		fprintf(stderr, "%s: attach failed: %s\n", entity, msgr_strerror(err));
		exit(1);
	}
	printf("[%s] attached as %s\n", entity, msgr_addr(c));
	return c;
}

static const char *mode_name(int m)
{
	return m == MSGR_LOSSY ? "lossy" : m == MSGR_LOSSLESS ? "lossless" : "peer";
}

static int server(const char *entity)
{
	msgr_client *c = attach(entity);
	struct msgr_event ev;

	while (!stop) {
		if (msgr_next(c, &ev, 200))
			continue;
		switch (ev.type) {
		case MSGR_EV_ACCEPTED:
			printf("[%s] accepted a connection from %s\n", entity, msgr_conn_peer(ev.conn));
			break;
		case MSGR_EV_MESSAGE: {
			char reply[256];
			size_t n = ev.len < sizeof(reply) ? ev.len : sizeof(reply);
			for (size_t i = 0; i < n; i++)
				reply[i] = (char)toupper(((const unsigned char *)ev.data)[i]);
			printf("[%s] got message type %u (%zu bytes) from %s: \"%.*s\"\n", entity,
			       ev.msg_type, ev.len, msgr_conn_peer(ev.conn), (int)ev.len, (const char *)ev.data);
			msgr_send(ev.conn, ev.msg_type + 1, reply, n);
			msgr_event_release(c, &ev);
			break;
		}
		case MSGR_EV_RESET:
			printf("[%s] connection from %s reset (%s)\n", entity, msgr_conn_peer(ev.conn),
			       msgr_strerror(ev.error));
			msgr_conn_close(ev.conn);
			break;
		case MSGR_EV_DAEMON_LOST:
			printf("[%s] the daemon went away\n", entity);
			stop = 1;
			break;
		default:
			break;
		}
	}
	msgr_detach(c);
	printf("[%s] detached\n", entity);
	return 0;
}

static int client(const char *entity, const char *peer)
{
	static const char *words[] = { "hello", "how are you", "goodbye" };
	msgr_client *c = attach(entity);
	struct msgr_event ev;
	msgr_conn *conn;
	int answers = 0, err;

	err = msgr_connect(c, peer, MSGR_LOSSLESS, &conn);
	if (err) {
		fprintf(stderr, "[%s] connect: %s\n", entity, msgr_strerror(err));
		return 1;
	}
	printf("[%s] connecting to %s (%s)\n", entity, peer, mode_name(MSGR_LOSSLESS));
	for (int i = 0; i < 3; i++) {
		msgr_send(conn, 100 + (uint32_t)i * 10, words[i], strlen(words[i]));
		printf("[%s] sent \"%s\"\n", entity, words[i]);
	}
	while (answers < 3 && !stop) {
		if (msgr_next(c, &ev, 5000)) {
			fprintf(stderr, "[%s] no answer within 5 s\n", entity);
			return 1;
		}
		if (ev.type == MSGR_EV_CONNECTED)
			printf("[%s] connected to %s\n", entity, msgr_conn_peer(ev.conn));
		if (ev.type == MSGR_EV_CONNECT_FAILED) {
			printf("[%s] could not connect: %s\n", entity, msgr_strerror(ev.error));
			return 1;
		}
		if (ev.type == MSGR_EV_MESSAGE) {
			printf("[%s] answer type %u: \"%.*s\"\n", entity, ev.msg_type, (int)ev.len,
			       (const char *)ev.data);
			msgr_event_release(c, &ev);
			answers++;
		}
	}
	printf("[%s] all answers in; staying attached until told to stop\n", entity);
	while (!stop)
		pause();
	msgr_conn_close(conn);
	msgr_detach(c);
	printf("[%s] detached\n", entity);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3]);
	fprintf(stderr, "usage: msgr-demo server ENTITY | client ENTITY PEER\n");
	return 2;
}
