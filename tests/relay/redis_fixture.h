/*
 * redis_fixture.h - a private redis-server for the unit tests that need a
 * real one (test_outbox.c, test_chat_store.c): started on a free loopback
 * port, no persistence, stopped at the end. Header-only (static
 * functions) because CMake builds each tests/relay/test_X.c on its own.
 *
 * redis_fixture_start() returns 0 with *ctx connected, 0 with *ctx NULL
 * when there is no redis-server on PATH (the tests then skip), or -1 when
 * one was started but never answered.
 */
#ifndef TESTS_REDIS_FIXTURE_H
#define TESTS_REDIS_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

extern char **environ;

static pid_t redis_fixture_pid;

/* A port the kernel just handed out for 127.0.0.1; -1 on failure. */
static int redis_fixture_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int redis_fixture_start(int *port_out, redisContext **ctx)
{
    char port[16];
    char *argv[] = {"redis-server", "--port", port,   "--bind",
                    "127.0.0.1",    "--save", "",     "--appendonly",
                    "no",           "--dir",  "/tmp", "--loglevel",
                    "warning",      NULL};
    struct timeval tv = {1, 0};
    int p = redis_fixture_port();

    *ctx = NULL;
    if (p < 0)
        return -1;
    snprintf(port, sizeof(port), "%d", p);
    *port_out = p;
    if (posix_spawnp(&redis_fixture_pid, "redis-server", NULL, NULL, argv,
                     environ) != 0) {
        redis_fixture_pid = 0;
        return 0; /* no redis-server: the tests skip */
    }
    for (int i = 0; i < 100; i++) {
        struct timespec ts = {0, 50000000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", p, tv);

        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");

            if (r) {
                freeReplyObject(r);
                *ctx = c;
                return 0;
            }
        }
        if (c)
            redisFree(c);
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void redis_fixture_stop(redisContext *ctx)
{
    int status;

    if (ctx)
        redisFree(ctx);
    if (redis_fixture_pid > 0) {
        kill(redis_fixture_pid, SIGTERM);
        waitpid(redis_fixture_pid, &status, 0);
        redis_fixture_pid = 0;
    }
}

#endif
