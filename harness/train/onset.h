// Retrieval onset: the step at which a run's needle answer loss on episodes with two or more
// needles (/train/answer_loss_multi) first falls below a threshold, smoothed so that one lucky
// step does not count. A pure function of the stored history, so a resumed run and an
// uninterrupted one get the same onset to the bit. The run file stores it in /train/onset.
#ifndef DINT_ONSET_H
#define DINT_ONSET_H

// The threshold theta in nats per answer token. An answer is 8 byte tokens (a space and 7
// digits). A model that copies SOME needle of the context, not the asked one, spreads its
// probability over the N numbers and pays ln N nats on the answer's first distinguishing digit
// and nothing on the others: ln(N) / 8 per token. On episodes with N >= 2 that is at least
// ln(2) / 8 = 0.087, whatever the mixture's N distribution (over the training mixture's answers:
// 0.087 at seq_len 256, where only N = 2 fits, 0.137 at 512, 0.142 at 1024; test_needle logs
// them), while retrieval by key goes towards 0. 0.04 is below half of the smallest of them (with
// GPT-2 tokens an answer is fewer tokens, so the copier's level per token is higher still).
#define ONSET_THRESHOLD 0.04
// The trailing window W in steps: long enough that a single step (a handful of answers) cannot
// move the mean across theta, short against the thousands of steps the plateau lasts; the
// crossing lags a sudden drop by less than W steps.
#define ONSET_WINDOW 100

typedef struct {
    long step;        // the onset, or the last step of the series when censored (0: no steps)
    int censored;     // 1: the smoothed loss never reached the threshold
    double threshold; // theta
    long window;      // W
    long min_values;  // values a window needs to count: half of W, rounded up
} RetrievalOnset;

// Smooth loss (n entries, one per optimizer step; step[i] its step number; NaN where the step had
// no answer of an N >= 2 episode) with a trailing mean: smoothed[i] = mean of the finite values
// among loss[i - W + 1 .. i], defined (else NaN) when i + 1 >= W (a full window) and at least
// ceil(W / 2) of those W values are finite. The onset is step[i] of the first i with
// smoothed[i] <= threshold; when there is none, the run is censored at step[n - 1]. smoothed
// (n entries) may be NULL.
RetrievalOnset retrieval_onset(const long *step, const double *loss, long n, double threshold,
                               long window, double *smoothed);

// Recall onset: the first evaluation at which a run's held-out recall accuracy (one value per
// evaluation, at val_step; NaN where not measured) is >= threshold. tokens and seconds are those
// of the training history (step[i], n entries) at that step (0 at step 0). When it never
// happened, censored at the last evaluation that measured it.
typedef struct {
    long step, tokens;
    double seconds, threshold, accuracy; // accuracy at the onset (or at the last evaluation)
    int censored;
} RecallOnset;

RecallOnset recall_onset(const long *val_step, const double *accuracy, long n_val, double threshold,
                         const long *step, const long *tokens, const double *seconds, long n);

#endif
