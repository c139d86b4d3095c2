/*
 * test_rdma_tcp.c - test_tcp.c's whole suite again, over the RDMA transport
 * (transports/rdma.c) on the fake verbs shim: bulk both ways, refusal (RDMA
 * cannot reach a port, the TCP fallback is refused), graceful close with
 * bytes the peer reads after the disconnect, abort, back pressure through
 * credits, fini, IPv6, and malformed addresses. The transport must keep
 * every promise of transport.h that tcp.c keeps.
 */
#define TEST_THROUGH_RDMA_FAKE 1
#include "test_tcp.c"
