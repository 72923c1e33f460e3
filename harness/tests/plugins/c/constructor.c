/* A library whose constructor misbehaves as FIXTURE_CONSTRUCTOR says, the moment it is loaded and before
 * any of its symbols is looked up:
 *   mark   writes the file named by FIXTURE_MARK (what loading it did, for a test to find);
 *   block  writes FIXTURE_MARK too, then sleeps for ever (a probe of it must time out);
 *   fork   forks a child that writes FIXTURE_MARK with its pid and sleeps for ever, then blocks too;
 *   setsid forks a child that leaves the process group (setsid), keeps standard output open, writes
 *          FIXTURE_MARK and sleeps for ever; the constructor returns once the mark is written;
 *   flood  prints to standard output for ever.
 * It is no harness plugin: it has no entry point. Built by the tests with `cc -shared -fPIC`. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void mark(void) {
    const char *path = getenv("FIXTURE_MARK");
    if (path == NULL) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (n > 0) (void)!write(fd, line, (size_t)n);
    close(fd);
}

__attribute__((constructor)) static void misbehave(void) {
    const char *what = getenv("FIXTURE_CONSTRUCTOR");
    if (what == NULL) return;
    if (strcmp(what, "fork") == 0 && fork() == 0) {
        mark();
        for (;;) pause();
    }
    if (strcmp(what, "setsid") == 0) {
        int ready[2];
        if (pipe(ready) != 0) return;
        if (fork() == 0) {
            setsid();
            mark();
            close(ready[1]);
            for (;;) pause();
        }
        /* Returns once the child has left its mark. */
        close(ready[1]);
        char byte;
        (void)!read(ready[0], &byte, 1);
        close(ready[0]);
        return;
    }
    if (strcmp(what, "flood") == 0) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        for (;;) {
            if (write(1, block, sizeof block) < 0) _exit(3);
        }
    }
    if (strcmp(what, "fork") != 0) mark();
    if (strcmp(what, "block") == 0 || strcmp(what, "fork") == 0) {
        for (;;) pause();
    }
}
