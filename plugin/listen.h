/*
 * listen.h - the master's listeners: --leakwatch-report (one JSON document
 * per connection, like uWSGI's stats server) and --leakwatch-http (the
 * page, /metrics, /report.json). Each runs in a master thread of its own,
 * one connection at a time, bounded in size and time.
 */
#ifndef LW_LISTEN_H
#define LW_LISTEN_H

#include "../src/config.h"

/* In init (master, before fork): binds the listeners cfg asks for and logs
 * them; an address that cannot be bound stops uWSGI here, with one line. */
void lw_listen_open(const lw_config_t *cfg);

/* In a worker (post_fork): the master's listening sockets are not its own. */
void lw_listen_close(void);

/* In the master, once the analyst runs: a thread per listener; logs a
 * listener that cannot start. */
void lw_listen_start(void);

#endif
