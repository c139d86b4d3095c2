/*
 * test_fault_tcp.c - test_tcp.c's whole suite again, with every link
 * through the fault interceptor (transports/fault.c) injecting no failure:
 * once passing receives straight through, once holding each received
 * buffer up to 3 ms in its delay line. The interceptor must keep every
 * promise of transport.h that tcp.c keeps: bytes in order and intact,
 * exactly one closed() and after every sent(), EOF after the last byte, no
 * callback from inside a call, and nothing left on the loop after fini.
 */
#define TEST_THROUGH_FAULT 1
#include "test_tcp.c"
