// The writer lock of harness/store/h5file.c. A writer that dies while a child it forked is still
// running (h5file_check reads every run file in a child) must not leave its file locked: the
// next writer takes the lock at once, stale lock file or not. A live writer still refuses others.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5file.h"

static char dir[] = "/tmp/test_h5file.XXXXXX";
static char path[256];

static void make_dir(void) {
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.h5", dir);
}

static void remove_dir(void) {
    char lp[300];
    snprintf(lp, sizeof lp, "%s.lock", path);
    unlink(lp);
    rmdir(dir);
}

// A writer process takes the lock, forks a child that waits (holding every descriptor it
// inherited) until *release is closed or the test ends, reports the child's pid and dies without
// any exit handler, like kill -9.
static pid_t writer_leaving_a_child(int *release) {
    int fds[2], hold[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(pipe(hold), 0);
    pid_t writer = fork();
    cr_assert_geq(writer, 0);
    if (writer == 0) {
        close(hold[1]);
        Error e;
        pid_t child = -1;
        if (h5file_lock(path, &e) == 0) {
            child = fork();
            if (child == 0) {
                close(fds[1]);
                char c;
                ssize_t r = read(hold[0], &c, 1); // an event, not a clock: load cannot end it
                _exit(r < 0);
            }
        }
        ssize_t w = write(fds[1], &child, sizeof child);
        _exit(w == (ssize_t)sizeof child ? 0 : 1);
    }
    close(fds[1]);
    close(hold[0]);
    *release = hold[1];
    pid_t child = -1;
    ssize_t got = read(fds[0], &child, sizeof child);
    close(fds[0]);
    int status = 0;
    waitpid(writer, &status, 0);
    cr_assert_eq(got, (ssize_t)sizeof child, "the writer reported nothing");
    cr_assert_gt(child, 0, "the writer could not take the lock");
    return child;
}

Test(h5file_lock, a_dead_writers_child_does_not_hold_the_lock, .init = make_dir,
     .fini = remove_dir) {
    int release;
    pid_t child = writer_leaving_a_child(&release);
    char lp[300];
    snprintf(lp, sizeof lp, "%s.lock", path);
    int stale = access(lp, F_OK) == 0; // the dead writer left its lock file behind
    cr_assert_eq(kill(child, 0), 0, "the writer's child should still be running");
    Error e = {0};
    int rc = h5file_lock(path, &e);
    kill(child, SIGKILL);
    close(release);
    cr_assert(stale, "the writer died without exit handlers, its lock file should remain");
    cr_assert_eq(rc, 0, "the next writer was refused: %s", e.msg);
    h5file_unlock();
    cr_assert_neq(access(lp, F_OK), 0, "h5file_unlock left the lock file");
}

Test(h5file_lock, a_live_writer_refuses_the_next_naming_its_pid, .init = make_dir,
     .fini = remove_dir) {
    int go[2], done[2];
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(done), 0);
    pid_t writer = fork();
    cr_assert_geq(writer, 0);
    if (writer == 0) {
        Error e;
        char ok = h5file_lock(path, &e) == 0 ? 'y' : 'n';
        ssize_t w = write(go[1], &ok, 1);
        char c;
        ssize_t r = read(done[0], &c, 1); // hold the lock until the test is done
        (void)w;
        (void)r;
        _exit(0);
    }
    char ok = 'n';
    ssize_t got = read(go[0], &ok, 1);
    Error e = {0};
    int rc = h5file_lock(path, &e);
    ssize_t w = write(done[1], "x", 1);
    (void)w;
    waitpid(writer, NULL, 0);
    cr_assert(got == 1 && ok == 'y', "the first writer could not take the lock");
    cr_assert_neq(rc, 0, "a second writer took a held lock");
    char pid[64];
    snprintf(pid, sizeof pid, "another dint process (pid %ld,", (long)writer);
    cr_assert(strstr(e.msg, pid) != NULL, "the refusal should name pid %ld: %s", (long)writer,
              e.msg);
}
