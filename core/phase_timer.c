#include "phase_timer.h"

#include "clock.h"

static int g_enabled;
static double g_seconds[PHASE_COUNT];

static const char *const NAMES[PHASE_COUNT] = {
    [PHASE_EMBEDDING] = "embedding",
    [PHASE_MATMUL_FORWARD] = "matmul_forward",
    [PHASE_MATMUL_BACKWARD] = "matmul_backward",
    [PHASE_ATTENTION_FORWARD] = "attention_forward",
    [PHASE_ATTENTION_BACKWARD] = "attention_backward",
    [PHASE_NORM_ELEMENTWISE] = "norm_elementwise",
    [PHASE_LOSS] = "loss",
    [PHASE_OPTIMIZER] = "optimizer",
};

void phase_timer_enable(int on) {
    g_enabled = on != 0;
}

void phase_timer_reset(void) {
    for (int p = 0; p < PHASE_COUNT; p++) g_seconds[p] = 0.0;
}

double phase_timer_seconds(Phase p) {
    return p >= 0 && p < PHASE_COUNT ? g_seconds[p] : 0.0;
}

const char *phase_name(Phase p) {
    return p >= 0 && p < PHASE_COUNT ? NAMES[p] : "?";
}

double phase_begin(void) {
    return g_enabled ? now_seconds() : 0.0;
}

void phase_end(Phase p, double t0) {
    if (g_enabled) g_seconds[p] += now_seconds() - t0;
}
