#define _GNU_SOURCE // fopencookie
#include "dist.h"

#include <limits.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { TAG_QUEUE_REQUEST = 101, TAG_QUEUE_REPLY = 102, TAG_SUM = 103, TAG_RESULTS = 104 };

static int g_mpi, g_rank, g_size = 1, g_local_size = 1;

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

int dist_launched(void) {
    if (env_nonempty("DINT_NO_MPI")) return 0;
    if (env_nonempty("OMPI_COMM_WORLD_SIZE") || env_nonempty("PMIX_RANK")) return 1;
    if (env_nonempty("PMI_RANK") && env_nonempty("PMI_SIZE")) return 1;
    // srun: a job step of more than one task (a batch script alone is not launched by MPI).
    const char *tasks = env_nonempty("SLURM_STEP_NUM_TASKS");
    if (!tasks) tasks = env_nonempty("SLURM_NTASKS");
    return env_nonempty("SLURM_PROCID") && tasks && atoi(tasks) > 1;
}

// ---- stderr with "[rank R] " at the start of every line ----

static char g_prefix[32];
static int g_at_line_start = 1;
static char g_stderr_buffer[4096];

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static ssize_t prefixed_write(void *cookie, const char *buf, size_t size) {
    (void)cookie;
    size_t lines = 1, plen = strlen(g_prefix);
    for (size_t i = 0; i < size; i++) lines += buf[i] == '\n';
    char *out = xmalloc(size + lines * plen);
    size_t k = 0;
    for (size_t i = 0; i < size; i++) {
        if (g_at_line_start) memcpy(out + k, g_prefix, plen), k += plen;
        out[k++] = buf[i];
        g_at_line_start = buf[i] == '\n';
    }
    int rc = write_all(STDERR_FILENO, out, k); // one write: lines of ranks do not interleave
    free(out);
    return rc == 0 ? (ssize_t)size : -1;
}

static void prefix_stderr(void) {
    snprintf(g_prefix, sizeof g_prefix, "[rank %d] ", g_rank);
    cookie_io_functions_t io = {.write = prefixed_write};
    FILE *f = fopencookie(NULL, "w", io);
    if (!f) return;
    setvbuf(f, g_stderr_buffer, _IOLBF, sizeof g_stderr_buffer);
    fflush(stderr);
    stderr = f;
}

int dist_init(int *argc, char ***argv) {
    if (!dist_launched()) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "dint: error: MPI_Init failed (started by mpirun or srun?)\n");
        return -1;
    }
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &g_local_size);
    MPI_Comm_free(&local);
    if (g_size > 1) prefix_stderr();
    // The processes dint starts (the sweep's runs) inherit the launcher's environment: they
    // must not join this job as ranks.
    setenv("DINT_NO_MPI", "1", 1);
    return 0;
}

void dist_finalize(void) {
    fflush(stdout);
    fflush(stderr);
    if (!g_mpi) return;
    g_mpi = 0;
    MPI_Finalize();
}

int dist_rank(void) {
    return g_rank;
}
int dist_size(void) {
    return g_size;
}
int dist_local_size(void) {
    return g_local_size;
}

int dist_default_threads(void) {
    if (g_size == 1) return omp_get_num_procs();
    // The machine's cores, not this process's affinity mask: mpirun may bind each rank to one.
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long t = (cores > 0 ? cores : 1) / g_local_size;
    return t < 1 ? 1 : t > 256 ? 256 : (int)t;
}

// ---- fixed-order sums ----

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// Wait for a request, testing it every ms milliseconds instead of spinning.
static void wait_idle(MPI_Request *req, long ms) {
    int done = 0;
    for (MPI_Test(req, &done, MPI_STATUS_IGNORE); !done; MPI_Test(req, &done, MPI_STATUS_IGNORE))
        sleep_ms(ms);
}

// The binomial tree of dist.h: partial sums travel to rank 0 in a fixed pattern, then back.
static void tree_sum(void *a, long n, MPI_Datatype type, size_t elem_size,
                     void (*add)(void *acc, const void *b, long n)) {
    if (g_size == 1 || n == 0) return;
    CHECK(n <= INT_MAX, "%ld values in one sum (at most %d)", n, INT_MAX);
    void *partial = xmalloc((size_t)n * elem_size);
    for (int span = 1; span < g_size; span *= 2) {
        if (g_rank % (2 * span) != 0) {
            MPI_Send(a, (int)n, type, g_rank - span, TAG_SUM, MPI_COMM_WORLD);
            break;
        }
        if (g_rank + span < g_size) {
            MPI_Recv(partial, (int)n, type, g_rank + span, TAG_SUM, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            add(a, partial, n);
        }
    }
    free(partial);
    MPI_Bcast(a, (int)n, type, 0, MPI_COMM_WORLD);
}

static void add_floats(void *acc, const void *b, long n) {
    float *x = acc;
    const float *y = b;
    for (long i = 0; i < n; i++) x[i] += y[i];
}

static void add_doubles(void *acc, const void *b, long n) {
    double *x = acc;
    const double *y = b;
    for (long i = 0; i < n; i++) x[i] += y[i];
}

void dist_sum_floats(float *a, long n) {
    tree_sum(a, n, MPI_FLOAT, sizeof(float), add_floats);
}

void dist_sum_doubles(double *a, long n) {
    tree_sum(a, n, MPI_DOUBLE, sizeof(double), add_doubles);
}

void dist_broadcast_doubles(double *a, long n, int root) {
    if (g_size == 1 || n == 0) return;
    CHECK(n <= INT_MAX, "%ld values in one broadcast (at most %d)", n, INT_MAX);
    MPI_Bcast(a, (int)n, MPI_DOUBLE, root, MPI_COMM_WORLD);
}

int dist_all_ok(int ok) {
    if (g_size == 1) return ok != 0;
    int mine = ok != 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

long dist_min_long(long v) {
    if (g_size == 1) return v;
    long min = v;
    MPI_Allreduce(&v, &min, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
    return min;
}

void dist_wait_all(void) {
    if (g_size == 1) return;
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    wait_idle(&req, 20);
}

void dist_send_doubles(int dest, const double *a, long n) {
    CHECK(n <= INT_MAX, "%ld values in one message (at most %d)", n, INT_MAX);
    MPI_Send(a, (int)n, MPI_DOUBLE, dest, TAG_RESULTS, MPI_COMM_WORLD);
}

double *dist_recv_doubles(int src, long *n) {
    MPI_Status st;
    MPI_Probe(src, TAG_RESULTS, MPI_COMM_WORLD, &st);
    int count = 0;
    MPI_Get_count(&st, MPI_DOUBLE, &count);
    double *a = xmalloc(sizeof(double) * (size_t)(count > 0 ? count : 1));
    MPI_Recv(a, count, MPI_DOUBLE, src, TAG_RESULTS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    *n = count;
    return a;
}

// ---- the sweep's work queue ----

int dist_queue_next(int finished_job, int finished_rc) {
    int msg[2] = {finished_job, finished_rc}, job = -1;
    MPI_Request req;
    MPI_Send(msg, 2, MPI_INT, 0, TAG_QUEUE_REQUEST, MPI_COMM_WORLD);
    MPI_Irecv(&job, 1, MPI_INT, 0, TAG_QUEUE_REPLY, MPI_COMM_WORLD, &req);
    wait_idle(&req, 2);
    return job;
}

int dist_queue_poll(int *worker, int *finished_job, int *finished_rc) {
    int pending = 0, msg[2];
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_QUEUE_REQUEST, MPI_COMM_WORLD, &pending, &st);
    if (!pending) return 0;
    MPI_Recv(msg, 2, MPI_INT, st.MPI_SOURCE, TAG_QUEUE_REQUEST, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    *worker = st.MPI_SOURCE;
    *finished_job = msg[0];
    *finished_rc = msg[1];
    return 1;
}

void dist_queue_reply(int worker, int job) {
    MPI_Send(&job, 1, MPI_INT, worker, TAG_QUEUE_REPLY, MPI_COMM_WORLD);
}
