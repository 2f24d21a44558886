// The one clock: seconds on the monotonic clock, for durations and ETAs (training, evaluation,
// sweeps, the reader check).
#ifndef DINT_CLOCK_H
#define DINT_CLOCK_H

double now_seconds(void);

#endif
