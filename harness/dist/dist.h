// MPI in one place: start-up when an MPI launcher (mpirun, srun) started this process, the rank,
// rank-prefixed stderr, the fixed-order sums of data-parallel training and the messages of the
// sweep's work queue. Nothing else in dint includes <mpi.h>.
//
// A plain `dint` invocation never initialises MPI: dist_init leaves it at one rank, and every
// function below then works without MPI (sums and broadcasts leave their data as it is).
#ifndef DINT_DIST_H
#define DINT_DIST_H

// 1 when the environment says an MPI launcher started this process (OpenMPI's mpirun, a PMIx or
// PMI launcher, srun with more than one task), and DINT_NO_MPI is not set.
int dist_launched(void);

// MPI_Init when dist_launched(), else nothing. DINT_NO_MPI=1 is then exported, so that the
// processes dint starts (the sweep's runs) are plain single processes; with more than one rank,
// stderr lines are prefixed "[rank R] ". Returns 0, or -1 (message on stderr) when MPI cannot
// start.
int dist_init(int *argc, char ***argv);
// MPI_Finalize when dist_init initialised MPI; flushes the prefixed stderr.
void dist_finalize(void);

int dist_rank(void);       // 0 without MPI
int dist_size(void);       // 1 without MPI
int dist_local_size(void); // ranks on this machine (1 without MPI)

// Threads for one rank: the cores of this machine divided among its ranks (at least 1), so that
// ranks never oversubscribe a machine.
int dist_default_threads(void);

// a (n values on every rank) := the sum over ranks, on every rank. The association is fixed for
// a given number of ranks (a binomial tree: rank r adds rank r + 2^k's partial sum for k = 0, 1,
// ... while r is a multiple of 2^(k+1); rank 0 broadcasts the total), so results are
// deterministic; with 2 ranks it is a0 + a1.
void dist_sum_floats(float *a, long n);
void dist_sum_doubles(double *a, long n);
// a (n values) from rank root to every rank.
void dist_broadcast_doubles(double *a, long n, int root);
// 1 on every rank when ok is non-zero on every rank.
int dist_all_ok(int ok);
// The smallest v over the ranks, on every rank.
long dist_min_long(long v);
// Wait for every rank without spinning a core (a non-blocking barrier tested every 20 ms), so
// that a rank that is done does not slow the ones still working.
void dist_wait_all(void);

// Point to point, for results gathered on rank 0 (distributed evaluation): n doubles to rank
// dest; the next message from rank src (its length in *n; caller frees).
void dist_send_doubles(int dest, const double *a, long n);
double *dist_recv_doubles(int src, long *n);

// The sweep's work queue: rank 0 hands out job numbers, every rank (rank 0 too) runs them.
// A worker reports the job it finished (-1: none yet) with its exit code and gets the next job,
// or -1 when there is no more work.
int dist_queue_next(int finished_job, int finished_rc);
// Rank 0: whether a worker is asking (non-blocking). When it is, *worker, *finished_job and
// *finished_rc are filled and dist_queue_reply must answer it.
int dist_queue_poll(int *worker, int *finished_job, int *finished_rc);
void dist_queue_reply(int worker, int job);

#endif
