/*
 * paths.h - where msgrd and msgrctl look when nobody names a file.
 *
 * MSGR_SYSCONFDIR comes from the Makefile's SYSCONFDIR (GNU convention:
 * $(PREFIX)/etc, and packages pass /etc), so that a msgrd installed under a
 * prefix reads the msgrd.conf that `make install` put under that prefix.
 * Builds that do not pass it (the fuzzers, unit tests) get /etc.
 */
#ifndef MSGR_COMMON_PATHS_H
#define MSGR_COMMON_PATHS_H

#ifndef MSGR_SYSCONFDIR
#define MSGR_SYSCONFDIR "/etc"
#endif

#define MSGR_CONF_PATH    MSGR_SYSCONFDIR "/msgrd/msgrd.conf"
/* auth.keyring's default; config.c's key table spells it out, as the man
 * page tests read that table */
#define MSGR_KEYRING_PATH MSGR_SYSCONFDIR "/msgrd/keyring"

#endif
