/* chatd-bench's load generator in C: the fanout and connect scenarios on one epoll loop.
 *
 * The Python generator (load.py) spends about 2.5 us of its core per read; at 1,000 readers
 * x 200 messages/s or 15,000 registrations/s that is its whole core, and the figures measure
 * the generator. This one does the same work, the same way (docs/performance.md, "Method"),
 * in a few hundred nanoseconds per read. It is compiled on first use by chatd-bench
 * (bench/cload.py) and driven by key=value arguments; it prints one JSON object of raw
 * figures on stdout, which the Python side turns into the table's columns.
 *
 *   cload fanout host=127.0.0.1 ports=6667[,6668] n=100 s=10 rate=0 window=24 batch=8
 *         eager=1 text=40 sample_every=64 warmup=1 duration=10 concurrency=32 owed_cap=0
 *         prefix=f1 pids=123[,124] redis=0
 *   cload connect host=127.0.0.1 ports=6667 concurrency=32 warmup=1 duration=10 prefix=c1
 *         pids=123
 *
 * Clients: NICK/USER, wait for 001, JOIN, wait for 366 (at most `concurrency` in between),
 * then PING :sync each and wait for its PONG; then only lines are counted (memchr), PONGs of
 * the senders' window pings (" PONG ") and server PINGs ("\nPING ", answered) subtracted. A
 * seam of the previous read's last 5 bytes is kept in front of each read, so a needle split
 * across two reads is still found once. 16 sampling receivers read the "~t<16 digits>"
 * stamps (CLOCK_MONOTONIC ns mod 1e16, taken when the sender's batch was written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef CLOAD_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#define RECV_SIZE 262144
#define SEAM 5
#define STAMP_DIGITS 16
#define STAMP_MOD 10000000000000000ULL
#define SAMPLERS 16
#define MAX_PORTS 16

enum { NEW, CONNECTING, HANDSHAKING, REGISTERING, JOINING, JOINED, SYNCING, READY, QUITTING, CLOSED };

typedef struct {
    int fd, state, port, sender, sample;
    long long sent, acked;
    int since_ping;
    char nick[32];
    char seam[SEAM];
    char *out; size_t out_len, out_cap;     /* unsent bytes, EPOLLOUT armed while any */
    char *tail; size_t tail_len;            /* partial line before READY */
#ifdef CLOAD_TLS
    SSL *ssl;
#endif
} Conn;

/* options */
static char host[64] = "127.0.0.1";
static int ports[MAX_PORTS], nports;
static int n = 100, s = 10, window = 24, batch = 8, eager = 1, text = 40, sample_every = 64;
static int tls;  /* connect with TLS (cload built with CLOAD_TLS) */
#ifdef CLOAD_TLS
static SSL_CTX *tls_ctx;
#endif
static int labeled;  /* senders use labeled-response and label every message (chat-client) */
static long long label_acks;
static int concurrency = 32, pids[MAX_PORTS], npids, redis_pid;
static double rate, warmup = 1, duration = 10;
static long long owed_cap;
static char prefix[16] = "b";

static int ep;
static Conn *conns;
static int nconns, cap_conns;
static char *buf;
static long long lines, acks, pings, expected, messages, skipped, disconnects, errors;
static long long registrations;
static int measuring, in_progress, syncing, welcoming, serial;
static int *free_slots, nfree;
static long long *samples; static size_t nsamples, cap_samples;
static char pad[256];

static double now_s(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static unsigned long long stamp_now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return ((unsigned long long)t.tv_sec * 1000000000ULL + t.tv_nsec) % STAMP_MOD;
}
static void die(const char *what) { fprintf(stderr, "cload: %s: %s\n", what, strerror(errno)); exit(2); }

static Conn *new_conn(void) {
    if (nconns == cap_conns) {
        cap_conns = cap_conns ? cap_conns * 2 : 1024;
        conns = realloc(conns, sizeof(Conn) * cap_conns);
        if (!conns) die("realloc");
    }
    Conn *c = nfree ? &conns[free_slots[--nfree]] : &conns[nconns++];
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->nick, sizeof c->nick, "%s%x", prefix, serial++);
    c->port = ports[0];
    return c;
}

static void arm(Conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* send/recv through TLS when the connection has it: same return convention as send/recv
 * (-1 with errno EAGAIN when it would block) */
static ssize_t io_send(Conn *c, const char *data, size_t len) {
#ifdef CLOAD_TLS
    if (c->ssl) {
        int k = SSL_write(c->ssl, data, (int)len);
        if (k > 0) return k;
        int e = SSL_get_error(c->ssl, k);
        errno = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? EAGAIN : EPIPE;
        return -1;
    }
#endif
    return send(c->fd, data, len, MSG_NOSIGNAL);
}
static ssize_t io_recv(Conn *c, char *data, size_t len) {
#ifdef CLOAD_TLS
    if (c->ssl) {  /* drain every whole record: epoll does not see what OpenSSL holds */
        size_t got = 0;
        while (got < len) {
            int k = SSL_read(c->ssl, data + got, (int)(len - got));
            if (k > 0) { got += k; continue; }
            int e = SSL_get_error(c->ssl, k);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
            if (got) break;
            if (e == SSL_ERROR_ZERO_RETURN) return 0;
            errno = ECONNRESET;
            return -1;
        }
        if (!got) { errno = EAGAIN; return -1; }
        return (ssize_t)got;
    }
#endif
    return recv(c->fd, data, len, 0);
}

static void close_conn(Conn *c) {
    if (c->fd >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
#ifdef CLOAD_TLS
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
#endif
    if (c->state >= CONNECTING && c->state <= JOINING) in_progress--;
    if (c->state == SYNCING) syncing--;
    if (c->state == JOINED && free_slots) welcoming--;
    if (free_slots && c->state != CLOSED) free_slots[nfree++] = (int)(c - conns);
    c->fd = -1; c->state = CLOSED;
    free(c->out); c->out = NULL; c->out_len = c->out_cap = 0;
    free(c->tail); c->tail = NULL; c->tail_len = 0;
}

static void lost(Conn *c) {
    if (c->state == READY || c->state == SYNCING || c->state == JOINED) disconnects++;
    else if (c->state >= CONNECTING && c->state <= JOINING) errors++;
    close_conn(c);
}

static void queue(Conn *c, const char *data, size_t len) {
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out) die("realloc");
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void send_data(Conn *c, const char *data, size_t len) {
    if (c->fd < 0) return;
    if (c->out_len) { queue(c, data, len); return; }
    ssize_t k = io_send(c, data, len);
    if (k < 0) {
        if (errno != EAGAIN && errno != EINTR) { lost(c); return; }
        k = 0;
    }
    if ((size_t)k < len) { queue(c, data + k, len - k); arm(c, EPOLLIN | EPOLLOUT); }
}

static void flush_out(Conn *c) {
    if (!c->out_len) return;
    ssize_t k = io_send(c, c->out, c->out_len);
    if (k < 0) { if (errno != EAGAIN && errno != EINTR) lost(c); return; }
    memmove(c->out, c->out + k, c->out_len - k);
    c->out_len -= k;
    if (!c->out_len) arm(c, EPOLLIN);
}

static void open_conn(Conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (eager) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    c->fd = fd; c->state = CONNECTING; in_progress++;
    memcpy(c->seam, "\n\n\n\n\n", SEAM);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        errors++; close_conn(c); return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void registering(Conn *c);

#ifdef CLOAD_TLS
static void handshake(Conn *c) {
    int k = SSL_do_handshake(c->ssl);
    if (k == 1) { registering(c); return; }
    int e = SSL_get_error(c->ssl, k);
    if (e == SSL_ERROR_WANT_READ) arm(c, EPOLLIN);
    else if (e == SSL_ERROR_WANT_WRITE) arm(c, EPOLLOUT);
    else { errors++; close_conn(c); }
}
#endif

static void connected(Conn *c) {
    int err = 0; socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { errors++; close_conn(c); return; }
#ifdef CLOAD_TLS
    if (tls) {
        c->ssl = SSL_new(tls_ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_connect_state(c->ssl);
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        c->state = HANDSHAKING;
        handshake(c);
        return;
    }
#endif
    registering(c);
}

static void registering(Conn *c) {
    c->state = REGISTERING;
    arm(c, EPOLLIN);
    char line[256];
    int k = labeled && c->sender
        ? snprintf(line, sizeof line, "CAP REQ :labeled-response\r\nNICK %s\r\n"
                   "USER %s 0 * :chatd-bench\r\nCAP END\r\n", c->nick, c->nick)
        : snprintf(line, sizeof line, "NICK %s\r\nUSER %s 0 * :chatd-bench\r\n", c->nick, c->nick);
    send_data(c, line, k);
}

static size_t count_needle(const char *p, size_t len, const char *needle, size_t nl) {
    size_t count = 0;
    const char *end = p + len;
    while ((p = memmem(p, end - p, needle, nl)) != NULL) { count++; p += nl; }
    return count;
}

static size_t count_nl(const char *p, size_t len) {
    size_t count = 0;
    const char *end = p + len;
    while ((p = memchr(p, '\n', end - p)) != NULL) { count++; p++; }
    return count;
}

/* The hot path: `data` is the seam (SEAM bytes) followed by `got` bytes just read. */
static void count_ready(Conn *c, char *data, size_t got) {
    char *fresh = data + SEAM;
    lines += count_nl(fresh, got);
    if (eager) { int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one); }
    size_t all = got + SEAM;
    if (c->sender) {
        size_t k = count_needle(data, all, " PONG ", 6);
        if (k) { acks += k; c->acked += (long long)k * batch; }
        if (labeled) label_acks += count_needle(data, all, " ACK", 4);
    }
    const char *p = data, *end = data + all;
    while ((p = memmem(p, end - p, "\nPING ", 6)) != NULL) {
        pings++;
        const char *eol = memchr(p + 1, '\n', end - p - 1);
        char reply[300];
        size_t tl = eol ? (size_t)(eol - (p + 6)) : 0;
        if (tl && p[6 + tl - 1] == '\r') tl--;
        if (tl > 250) tl = 250;
        memcpy(reply, "PONG ", 5); memcpy(reply + 5, p + 6, tl); memcpy(reply + 5 + tl, "\r\n", 2);
        send_data(c, reply, tl + 7);
        p += 6;
    }
    if (c->sample && measuring) {
        unsigned long long now = stamp_now();
        const char *q = fresh, *last = fresh + got - STAMP_DIGITS;
        while (q < last && (q = memmem(q, last - q, "~t", 2)) != NULL) {
            unsigned long long v = 0;
            for (int i = 2; i < 2 + STAMP_DIGITS; i++) v = v * 10 + (unsigned)(q[i] - '0');
            if (nsamples == cap_samples) {
                cap_samples = cap_samples ? cap_samples * 2 : 65536;
                samples = realloc(samples, cap_samples * sizeof *samples);
            }
            samples[nsamples++] = (long long)((now + STAMP_MOD - v) % STAMP_MOD);
            q += 2 + STAMP_DIGITS;
        }
    }
    memcpy(c->seam, fresh + got - SEAM, SEAM);
}

/* Before READY: whole lines, searched for the few replies that matter. */
static void setup_lines(Conn *c, char *body, size_t len, int quit_after_welcome) {
    char *p = body, *end = body + len;
    while (p < end) {
        char *eol = memchr(p, '\n', end - p);
        if (!eol) break;
        size_t ll = eol - p;
        if (ll >= 5 && !memcmp(p, "PING ", 5)) {
            char reply[300]; size_t tl = ll - 5;
            if (tl && p[5 + tl - 1] == '\r') tl--;
            if (tl > 250) tl = 250;
            memcpy(reply, "PONG ", 5); memcpy(reply + 5, p + 5, tl); memcpy(reply + 5 + tl, "\r\n", 2);
            send_data(c, reply, tl + 7);
        } else if (c->state == REGISTERING && memmem(p, ll, " 001 ", 5)) {
            if (quit_after_welcome) { c->state = JOINED; in_progress--; welcoming++; }
            else {
                char line[64];
                c->state = JOINING;
                send_data(c, line, snprintf(line, sizeof line, "JOIN #bench\r\n"));
            }
        } else if (c->state == JOINING && memmem(p, ll, " 366 ", 5)) {
            c->state = JOINED; in_progress--;
        } else if (c->state == SYNCING && memmem(p, ll, " PONG ", 6) && memmem(p, ll, "sync", 4)) {
            c->state = READY; syncing--;
            size_t rest = end - (eol + 1);
            lines += count_nl(eol + 1, rest);
            /* the seam: the last bytes seen */
            char tmp[SEAM]; memset(tmp, '\n', SEAM);
            size_t have = end - body < SEAM ? (size_t)(end - body) : SEAM;
            memcpy(tmp + SEAM - have, end - have, have);
            memcpy(c->seam, tmp, SEAM);
            return;
        } else if (quit_after_welcome && c->state == JOINED &&
                   (memmem(p, ll, " 376 ", 5) || memmem(p, ll, " 422 ", 5))) {
            if (measuring) registrations++;
            c->state = QUITTING; welcoming--;
            send_data(c, "QUIT :bench\r\n", 13);
        }
        p = eol + 1;
    }
}

static void on_readable(Conn *c, int quit_after_welcome) {
    char *data = buf + 64;  /* room for the seam or the partial line in front */
    ssize_t got = io_recv(c, data, RECV_SIZE - 64);
    if (got < 0) { if (errno != EAGAIN && errno != EINTR) lost(c); return; }
    if (got == 0) { lost(c); return; }
    if (c->state == READY) {
        memcpy(data - SEAM, c->seam, SEAM);
        count_ready(c, data - SEAM, (size_t)got);
        return;
    }
    size_t len = c->tail_len + got;
    char *body = malloc(len);
    memcpy(body, c->tail, c->tail_len);
    memcpy(body + c->tail_len, data, got);
    char *last = memrchr(body, '\n', len);
    size_t whole = last ? (size_t)(last - body + 1) : 0;
    free(c->tail); c->tail = NULL; c->tail_len = 0;
    if (len - whole) {
        size_t keep = len - whole > 8192 ? 8192 : len - whole;
        c->tail = malloc(keep);
        memcpy(c->tail, body + len - keep, keep);
        c->tail_len = keep;
    }
    int was = c->state;
    setup_lines(c, body, whole, quit_after_welcome);
    if (was != READY && c->state == READY && c->tail_len) {  /* partial line after the PONG */
        size_t have = c->tail_len < SEAM ? c->tail_len : SEAM;
        memset(c->seam, '\n', SEAM);
        memcpy(c->seam + SEAM - have, c->tail + c->tail_len - have, have);
        free(c->tail); c->tail = NULL; c->tail_len = 0;
    }
    free(body);
}

static void poll_once(int timeout_ms, int quit_after_welcome) {
    struct epoll_event evs[512];
    int k = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < k; i++) {
        Conn *c = &conns[evs[i].data.u32];
        if (c->state == CLOSED) continue;
        if (c->state == CONNECTING) { connected(c); continue; }
#ifdef CLOAD_TLS
        if (c->state == HANDSHAKING) { handshake(c); continue; }
#endif
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c, quit_after_welcome);
#ifdef CLOAD_TLS
        while (c->ssl && c->state != CLOSED && SSL_pending(c->ssl) > 0)
            on_readable(c, quit_after_welcome);  /* a record OpenSSL holds: epoll cannot say */
#endif
        if (c->state != CLOSED && (evs[i].events & EPOLLOUT)) flush_out(c);
    }
}

static void send_messages(Conn *c, int count) {
    static char out[1 << 16];
    size_t at = 0;
    char stamp[STAMP_DIGITS + 1];
    snprintf(stamp, sizeof stamp, "%016llu", stamp_now());
    for (int i = 0; i < count; i++) {
        c->sent++;
        int mark = c->sent % sample_every == 0;
        if (labeled)
            at += snprintf(out + at, sizeof out - at, "@label=%llx ", c->sent);
        at += snprintf(out + at, sizeof out - at, "PRIVMSG #bench :%ct%s %s\r\n",
                       mark ? '~' : '-', stamp, pad);
        if (++c->since_ping == batch) {
            memcpy(out + at, "PING :w\r\n", 9); at += 9; c->since_ping = 0;
        }
        if (at > sizeof out - 512) { send_data(c, out, at); at = 0; }
    }
    messages += count;
    expected += (long long)count * (n - 1);
    if (at) send_data(c, out, at);
}

/* /proc/PID/stat: utime + stime in seconds (all threads) */
static double proc_cpu(int pid) {
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t k = fread(line, 1, sizeof line - 1, f); fclose(f);
    line[k] = 0;
    char *p = strrchr(line, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    int field = 2;
    for (p++; *p && field < 15; p++) {
        if (*p == ' ') {
            field++;
            if (field == 14) ut = strtoul(p + 1, NULL, 10);
            if (field == 15) st = strtoul(p + 1, NULL, 10);
        }
    }
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}
static double servers_cpu(void) {
    double sum = 0;
    for (int i = 0; i < npids; i++) { double v = proc_cpu(pids[i]); if (v < 0) return -1; sum += v; }
    return sum;
}
static double machine_busy(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 8) { fclose(f); return -1; }
    fclose(f);
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / sysconf(_SC_CLK_TCK);
}
static double own_cpu(void) {
    struct rusage r; getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

typedef struct { double wall, t0, srv, redis, load, busy; } Meter;
static void meter_start(Meter *m) {
    m->srv = servers_cpu(); m->redis = redis_pid ? proc_cpu(redis_pid) : -1;
    m->load = own_cpu(); m->busy = machine_busy(); m->t0 = now_s();
}
static void meter_stop(Meter *m) {
    m->wall = now_s() - m->t0;
    double srv = servers_cpu(), red = redis_pid ? proc_cpu(redis_pid) : -1;
    m->srv = (m->srv < 0 || srv < 0) ? -1 : srv - m->srv;
    m->redis = (m->redis < 0 || red < 0) ? -1 : red - m->redis;
    m->load = own_cpu() - m->load;
    m->busy = machine_busy() - m->busy;
}
static void print_meter(Meter *m) {
    printf("\"window_s\": %.6f, \"load_cpu_s\": %.4f, \"busy_cpu_s\": %.4f", m->wall, m->load, m->busy);
    if (m->srv >= 0) printf(", \"server_cpu_s\": %.4f", m->srv);
    if (m->redis >= 0) printf(", \"redis_cpu_s\": %.4f", m->redis);
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void drive(Conn **senders, int ns, double until) {
    if (rate <= 0) {
        while (now_s() < until) {
            int sent_any = 0;
            if (!owed_cap || expected - (lines - acks - pings - label_acks) < owed_cap) {
                for (int i = 0; i < ns; i++) {
                    Conn *c = senders[i];
                    long long room = window - (c->sent - c->acked);
                    if (c->state == READY && room >= batch && !c->out_len) {
                        send_messages(c, (int)(room - room % batch)); sent_any = 1;
                    }
                }
            }
            poll_once(sent_any ? 0 : 1, 0);
        }
        return;
    }
    double start = now_s();
    long long issued = 0; int turn = 0;
    int tick_ms = 1000.0 / rate < 5 ? (int)(1000.0 / rate) : 5;
    while (now_s() < until) {
        long long due = (long long)((now_s() - start) * rate) - issued;
        if (due > 0) {
            issued += due;
            int capped = owed_cap && expected - (lines - acks - pings - label_acks) >= owed_cap;
            for (long long i = 0; i < due; i++) {
                Conn *c = senders[turn]; turn = (turn + 1) % ns;
                long long room = window - (c->sent - c->acked);
                if (c->state != READY || room < 1 || capped) { skipped++; continue; }
                send_messages(c, 1);
            }
        }
        poll_once(tick_ms, 0);
    }
}

static int fanout(void) {
    for (int i = 0; i < n; i++) {
        Conn *c = new_conn();
        if (i < s) { c->sender = 1; c->port = ports[0]; }
        else c->port = nports > 1 ? ports[1 + (i - s) % (nports - 1)] : ports[0];
    }
    int receivers = n - s, step = receivers / SAMPLERS > 0 ? receivers / SAMPLERS : 1;
    for (int k = 0, i = s; i < n && k < SAMPLERS; i += step, k++) conns[i].sample = 1;
    double deadline = now_s() + 120 + 20.0 * (n / 1000.0) * (n / 1000.0);
    int next = 0;
    while (next < n || in_progress > 0) {
        while (next < n && in_progress < concurrency) open_conn(&conns[next++]);
        if (now_s() > deadline) { fprintf(stderr, "cload: setup timed out\n"); return 3; }
        poll_once(50, 0);
    }
    for (int i = 0; i < n; i++) {
        if (conns[i].state == CLOSED) { fprintf(stderr, "cload: a client failed to join\n"); return 3; }
        conns[i].state = SYNCING; syncing++;
        send_data(&conns[i], "PING :sync\r\n", 12);
    }
    while (syncing > 0) {
        if (now_s() > deadline) { fprintf(stderr, "cload: sync timed out\n"); return 3; }
        poll_once(50, 0);
    }
    Conn **senders = malloc(sizeof(Conn *) * s);
    for (int i = 0; i < s; i++) senders[i] = &conns[i];
    drive(senders, s, now_s() + warmup);
    long long d0 = lines - acks - pings - label_acks, m0 = messages, s0 = skipped;
    measuring = 1;
    Meter m; meter_start(&m);
    drive(senders, s, now_s() + duration);
    meter_stop(&m);
    measuring = 0;
    long long delivered = lines - acks - pings - label_acks - d0, sent = messages - m0;
    /* drain: until every owed delivery arrived or nothing came for 3 s */
    long long last = lines - acks - pings - label_acks; double last_change = now_s();
    while (lines - acks - pings - label_acks < expected) {
        poll_once(20, 0);
        if (lines - acks - pings - label_acks != last) { last = lines - acks - pings - label_acks; last_change = now_s(); }
        else if (now_s() - last_change > 3.0) break;
    }
    qsort(samples, nsamples, sizeof *samples, cmp_ll);
    long long got = lines - acks - pings - label_acks;
    printf("{\"delivered\": %lld, \"messages\": %lld, \"lost\": %lld, \"extra\": %lld, "
           "\"disconnects\": %lld, \"rate_skipped\": %lld, \"latency_samples\": %zu",
           delivered, sent, expected > got ? expected - got : 0, got > expected ? got - expected : 0,
           disconnects, skipped - s0, nsamples);
    if (nsamples) {
        size_t r50 = (size_t)((nsamples * 50 + 99) / 100), r99 = (size_t)((nsamples * 99 + 99) / 100);
        printf(", \"latency_p50_ms\": %.4f, \"latency_p99_ms\": %.4f",
               samples[(r50 ? r50 : 1) - 1] / 1e6, samples[(r99 ? r99 : 1) - 1] / 1e6);
    }
    printf(", "); print_meter(&m); printf("}\n");
    return 0;
}

/* A slot is free once the welcome burst ended; QUITTING sockets close on their own (when
 * the server closes them), and their slots are reused. */
static void churn(double until) {
    while (now_s() < until) {
        while (in_progress + welcoming < concurrency) open_conn(new_conn());
        poll_once(10, 1);
    }
}

static int connect_scenario(void) {
    free_slots = malloc(sizeof(int) * (1 << 20));
    cap_conns = 1 << 16;  /* allocated up front: slots are reused, pointers stay valid */
    conns = malloc(sizeof(Conn) * cap_conns);
    churn(now_s() + warmup);
    measuring = 1;
    Meter m; meter_start(&m);
    churn(now_s() + duration);
    meter_stop(&m);
    measuring = 0;
    printf("{\"registrations\": %lld, \"connect_errors\": %lld, ", registrations, errors);
    print_meter(&m); printf("}\n");
    return 0;
}

static void parse_list(const char *v, int *out, int *count) {
    *count = 0;
    while (*v && *count < MAX_PORTS) {
        out[(*count)++] = atoi(v);
        const char *comma = strchr(v, ',');
        if (!comma) break;
        v = comma + 1;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: cload fanout|connect key=value...\n"); return 2; }
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "cload: bad argument %s\n", argv[i]); return 2; }
        *eq = 0;
        const char *k = argv[i], *v = eq + 1;
        if (!strcmp(k, "host")) snprintf(host, sizeof host, "%s", v);
        else if (!strcmp(k, "ports")) parse_list(v, ports, &nports);
        else if (!strcmp(k, "pids")) parse_list(v, pids, &npids);
        else if (!strcmp(k, "redis")) redis_pid = atoi(v);
        else if (!strcmp(k, "n")) n = atoi(v);
        else if (!strcmp(k, "s")) s = atoi(v);
        else if (!strcmp(k, "rate")) rate = atof(v);
        else if (!strcmp(k, "window")) window = atoi(v);
        else if (!strcmp(k, "batch")) batch = atoi(v);
        else if (!strcmp(k, "eager")) eager = atoi(v);
        else if (!strcmp(k, "labeled")) labeled = atoi(v);
        else if (!strcmp(k, "tls")) tls = atoi(v);
        else if (!strcmp(k, "text")) text = atoi(v);
        else if (!strcmp(k, "sample_every")) sample_every = atoi(v);
        else if (!strcmp(k, "warmup")) warmup = atof(v);
        else if (!strcmp(k, "duration")) duration = atof(v);
        else if (!strcmp(k, "concurrency")) concurrency = atoi(v);
        else if (!strcmp(k, "owed_cap")) owed_cap = atoll(v);
        else if (!strcmp(k, "prefix")) snprintf(prefix, sizeof prefix, "%s", v);
        else { fprintf(stderr, "cload: unknown option %s\n", k); return 2; }
    }
    if (!nports) { fprintf(stderr, "cload: ports= is required\n"); return 2; }
    if (s > n) s = n;
    if (batch < 1) batch = 1;
    if (window < batch) window = batch;
    if (sample_every < 1) sample_every = 1;
    int padlen = text - 2 - STAMP_DIGITS - 1;
    if (padlen < 0) padlen = 0;
    if (padlen > 200) padlen = 200;
    memset(pad, 'x', padlen); pad[padlen] = 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    if (tls) {
#ifdef CLOAD_TLS
        tls_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);  /* the bench's own certificate */
#else
        fprintf(stderr, "cload: built without TLS (no OpenSSL headers)\n");
        return 2;
#endif
    }
    buf = malloc(RECV_SIZE);
    ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    if (!strcmp(argv[1], "fanout")) return fanout();
    if (!strcmp(argv[1], "connect")) return connect_scenario();
    fprintf(stderr, "cload: unknown scenario %s\n", argv[1]);
    return 2;
}
