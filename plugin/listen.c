/*
 * listen.c - the master's listeners (see listen.h): binding, the accept
 * loop, the report's answer and HTTP routing. What they serve is rendered
 * by the analyst's view (analyst.h); HTTP request heads are parsed by
 * src/http.c.
 */
#include <uwsgi.h>

#include "../src/http.h"
#include "analyst.h"
#include "listen.h"
#include "threads.h"

#define LW_LISTEN_BACKLOG 128 /* connections waiting: a burst of scrapers is not refused */
#define LW_HTTP_HEAD_MAX 8192 /* bytes of request head read, at most */
#define LW_HTTP_DRAIN_MAX 65536 /* bytes read after a bad request, so the close keeps the answer */
#define LW_IO_SECONDS 2       /* each read or write of a connection */
/*
 * A connection ends LW_CONN_SECONDS after it was accepted, whatever the
 * client does: each read or write also times out, but a client trickling a
 * byte a second would otherwise hold the listener for as long as its
 * request head may be (8 KiB).
 */
#define LW_CONN_SECONDS 5
#define LW_SPIN_PAUSE_US 100000 /* after accept() fails for want of descriptors */

extern struct uwsgi_server uwsgi;

/* Bound in init (master); -1 when off. Each is its thread's once it runs. */
static int report_fd = -1, http_fd = -1;
static const lw_config_t *cfg;
static pthread_t reporter, http_server;
static _Thread_local int64_t conn_deadline; /* lw_mono_seconds(), per listener thread */

static int lw_bind_unix(const char *option, const char *given, const lw_addr_t *a)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
    if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(a->path); /* a socket left by a previous run */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177); /* created 0600: the report is for the owner */
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, LW_LISTEN_BACKLOG) < 0) {
        umask(old);
        uwsgi_log("[leakwatch] --%s \"%s\": cannot listen: %s\n", option, given, strerror(errno));
        exit(1);
    }
    umask(old);
    chmod(a->path, 0600);
    return fd;
}

static int lw_bind_tcp(const char *option, const char *given, const lw_addr_t *a)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int fd, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", (unsigned)a->port);
    rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        uwsgi_log("[leakwatch] --%s \"%s\": cannot resolve %s: %s\n", option, given, a->host,
                  gai_strerror(rc));
        exit(1);
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, LW_LISTEN_BACKLOG) < 0) {
        uwsgi_log("[leakwatch] --%s \"%s\": cannot listen: %s\n", option, given, strerror(errno));
        freeaddrinfo(res);
        exit(1);
    }
    freeaddrinfo(res);
    return fd;
}

static int lw_bind(const char *option, const char *given, const lw_addr_t *a)
{
    int fd = a->kind == LW_ADDR_UNIX ? lw_bind_unix(option, given, a)
                                     : lw_bind_tcp(option, given, a);

    /* On a graceful reload uWSGI's new master closes every descriptor above 2
     * it does not know after the plugins' init, ours included (the listener
     * threads then accept() on nothing): safe fds are kept. The old master's
     * copy still goes at exec (SOCK_CLOEXEC), so this bind finds the port free. */
    uwsgi_add_safe_fd(fd);
    return fd;
}

void lw_listen_open(const lw_config_t *config)
{
    cfg = config;
    if (cfg->report) {
        report_fd = lw_bind("leakwatch-report", cfg->report, &cfg->report_addr);
        uwsgi_log("[leakwatch]   report on %s\n", cfg->report);
    }
    if (cfg->http) {
        http_fd = lw_bind("leakwatch-http", cfg->http, &cfg->http_addr);
        uwsgi_log("[leakwatch]   http on %s (/metrics, /report.json)\n", cfg->http);
    }
}

void lw_listen_close(void)
{
    /* a connection or /proc file the master's threads held at the fork was
     * closed already (threads.h) */
    if (report_fd >= 0)
        close(report_fd);
    if (http_fd >= 0)
        close(http_fd);
    report_fd = http_fd = -1;
}

static int lw_conn_expired(void)
{
    return lw_mono_seconds() >= conn_deadline;
}

/* read() within the connection's deadline: -1 once it has passed. */
static ssize_t lw_conn_read(int fd, char *buf, size_t len)
{
    return lw_conn_expired() ? -1 : read(fd, buf, len);
}

/* Writes all of buf or gives up (send timeout, or the connection's deadline). */
static void lw_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0 && !lw_conn_expired()) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Answers one report connection: the document, then close. A client that
 * does not read is cut off by the send timeout; the document is bounded. */
static void lw_report_answer(int client)
{
    lw_rendered_t doc;

    if (lw_analyst_render(LW_RENDER_REPORT, &doc) < 0)
        return;
    lw_write_all(client, doc.text, doc.len);
    lw_write_all(client, "\n", 1);
    lw_analyst_release(&doc);
}

/* A listener's thread: one connection at a time, each read and write
 * bounded by LW_IO_SECONDS and the whole connection by LW_CONN_SECONDS, so a
 * slow client holds the listener for seconds at most and never the master.
 * `answer` serves one connection; the connection is held in `slot`
 * (threads.h) and shut down when done. */
static void lw_serve(int fd, enum lw_held_slot slot, void (*answer)(int client))
{
    sigset_t all;
    struct timeval timeout = {LW_IO_SECONDS, 0};

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the master loop's */
    for (;;) {
        int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
                uwsgi_log("[leakwatch] master: listener fd %d is gone (%s); it serves no more\n",
                          fd, strerror(errno));
                return;
            }
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(LW_SPIN_PAUSE_US); /* EMFILE and friends: don't spin */
            continue;
        }
        lw_held_keep(slot, client);
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        conn_deadline = lw_mono_seconds() + LW_CONN_SECONDS;
        answer(client);
        lw_held_release(slot, 1);
    }
}

static void *lw_reporter(void *arg)
{
    (void)arg;
    lw_serve(report_fd, LW_HELD_REPORT, lw_report_answer);
    return NULL;
}

static void lw_http_reply(int fd, const char *status, const char *type, const char *body,
                          size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, type, len);

    lw_write_all(fd, head, (size_t)n);
    lw_write_all(fd, body, len);
}

/* What --leakwatch-http serves: each a render of the analyst's view. */
static const struct lw_route {
    const char *path, *type;
    lw_render_t what;
} routes[] = {
    {"/", "text/html; charset=utf-8", LW_RENDER_PAGE},
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", LW_RENDER_PROMETHEUS},
    {"/report.json", "application/json", LW_RENDER_REPORT},
};

static void lw_http_route(int fd, const struct lw_route *route)
{
    static const char oom[] = "out of memory\n";
    lw_rendered_t doc;

    if (lw_analyst_render(route->what, &doc) < 0) {
        lw_http_reply(fd, "503 Service Unavailable", "text/plain", oom, sizeof(oom) - 1);
        return;
    }
    lw_http_reply(fd, "200 OK", route->type, doc.text, doc.len);
    lw_analyst_release(&doc);
}

/* After a bad request: answer, then read what was sent (bounded), so the
 * close does not reset the answer away. */
static void lw_http_refuse(int fd, char *buf, size_t len)
{
    static const char bad[] = "bad request\n";

    lw_http_reply(fd, "400 Bad Request", "text/plain", bad, sizeof(bad) - 1);
    shutdown(fd, SHUT_WR);
    for (size_t drained = 0; drained < LW_HTTP_DRAIN_MAX;) {
        ssize_t n = lw_conn_read(fd, buf, len);
        if (n <= 0)
            break;
        drained += (size_t)n;
    }
}

/* Reads one request head (bounded in size and time) and answers it. */
static void lw_http_answer(int fd)
{
    static const char only[] = "GET only\n";
    static const char none[] = "not found: /, /metrics and /report.json are served here\n";
    char buf[LW_HTTP_HEAD_MAX];
    size_t have = 0;
    lw_http_request_t req;
    int rc = 0;

    while (rc == 0 && have < sizeof(buf)) {
        ssize_t n = lw_conn_read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return; /* closed, timed out or failed: nothing to answer */
        have += (size_t)n;
        rc = lw_http_parse(buf, have, &req);
    }
    if (rc <= 0) {
        lw_http_refuse(fd, buf, sizeof(buf));
        return;
    }
    if (strcmp(req.method, "GET") != 0) {
        lw_http_reply(fd, "405 Method Not Allowed", "text/plain", only, sizeof(only) - 1);
        return;
    }
    for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
        if (strcmp(req.path, routes[r].path) == 0) {
            lw_http_route(fd, &routes[r]);
            return;
        }
    }
    lw_http_reply(fd, "404 Not Found", "text/plain", none, sizeof(none) - 1);
}

static void *lw_http_serve(void *arg)
{
    (void)arg;
    lw_serve(http_fd, LW_HELD_HTTP, lw_http_answer);
    return NULL;
}

void lw_listen_start(void)
{
    if (report_fd >= 0 && lw_thread_start(&reporter, lw_reporter) != 0)
        uwsgi_log("[leakwatch] master: cannot start the report thread; no report on %s\n",
                  cfg->report);
    if (http_fd >= 0 && lw_thread_start(&http_server, lw_http_serve) != 0)
        uwsgi_log("[leakwatch] master: cannot start the http thread; nothing served on %s\n",
                  cfg->http);
}
