// Wall-clock seconds of a training step by phase (embedding, matmuls, attention, norms and
// elementwise, loss, optimizer), accumulated while enabled so `dint bench --json` can show
// where a step goes without a profiler. Off by default: a phase costs one branch then. The
// phases are timed around serial calls (each one a whole parallel region or more), never from
// inside a parallel region, so the totals are plain globals.
#ifndef DINT_PHASE_TIMER_H
#define DINT_PHASE_TIMER_H

typedef enum {
    PHASE_EMBEDDING,
    PHASE_MATMUL_FORWARD,
    PHASE_MATMUL_BACKWARD,
    PHASE_ATTENTION_FORWARD,
    PHASE_ATTENTION_BACKWARD,
    PHASE_NORM_ELEMENTWISE,
    PHASE_LOSS,
    PHASE_OPTIMIZER,
    PHASE_COUNT
} Phase;

void phase_timer_enable(int on);
void phase_timer_reset(void);
// Seconds accumulated in phase p since the last reset.
double phase_timer_seconds(Phase p);
// "embedding", "matmul_forward", ... (the keys of dint bench --json's "phases").
const char *phase_name(Phase p);

// t0 = phase_begin(); ... phase_end(p, t0): adds the seconds between the two to p when enabled.
double phase_begin(void);
void phase_end(Phase p, double t0);

// Times one statement (or a braced block) as phase p.
#define PHASE_TIMED(p, ...)                                                                        \
    do {                                                                                           \
        double phase_t0_ = phase_begin();                                                          \
        __VA_ARGS__;                                                                               \
        phase_end((p), phase_t0_);                                                                 \
    } while (0)

#endif
