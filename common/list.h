/*
 * list.h - doubly linked lists kept in their nodes' own prev and next
 * fields (the daemon's clients, links and pending attaches, tcp.c's
 * connections).
 */
#ifndef MSGR_COMMON_LIST_H
#define MSGR_COMMON_LIST_H

/* Take node out of a doubly linked list that starts at *headp: node's type
 * has prev and next pointers to its own type, NULL at the ends. The node's
 * own pointers are left as they were. Arguments are evaluated more than
 * once. */
#define msgr__list_unlink(headp, node)                          \
	do {                                                    \
		if ((node)->prev)                               \
			(node)->prev->next = (node)->next;      \
		else                                            \
			*(headp) = (node)->next;                \
		if ((node)->next)                               \
			(node)->next->prev = (node)->prev;      \
	} while (0)

/* The same for a list that also keeps its last node in *tailp. */
#define msgr__list_unlink_tail(headp, tailp, node)              \
	do {                                                    \
		if (!(node)->next)                              \
			*(tailp) = (node)->prev;                \
		msgr__list_unlink(headp, node);                 \
	} while (0)

#endif
