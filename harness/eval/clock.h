// The harness's one clock: seconds on the monotonic clock, for durations and ETAs.
#ifndef DINT_EVAL_CLOCK_H
#define DINT_EVAL_CLOCK_H

double now_seconds(void);

#endif
