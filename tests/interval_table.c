// The C side of tests/test_interval.py: reads requests from stdin, one a line, and prints the
// answers of harness/stats/interval.h with 17 significant digits:
//   wilson K N            -> LO HI
//   t_quantile P DF       -> Q
//   t_interval X1 ... Xn  -> MEAN LO HI   (no values: the empty sample)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"

#define MAX_VALUES 256

static int answer(char *line) {
    char *word = strtok(line, " \t\n");
    if (!word) return 0;
    if (!strcmp(word, "wilson")) {
        long k = strtol(strtok(NULL, " \t\n"), NULL, 10),
             n = strtol(strtok(NULL, " \t\n"), NULL, 10);
        double lo, hi;
        wilson_interval(k, n, &lo, &hi);
        printf("%.17g %.17g\n", lo, hi);
    } else if (!strcmp(word, "t_quantile")) {
        double p = strtod(strtok(NULL, " \t\n"), NULL), df = strtod(strtok(NULL, " \t\n"), NULL);
        printf("%.17g\n", t_quantile(p, df));
    } else if (!strcmp(word, "t_interval")) {
        double xs[MAX_VALUES], mean, lo, hi;
        int n = 0;
        for (char *x; n < MAX_VALUES && (x = strtok(NULL, " \t\n"));) xs[n++] = strtod(x, NULL);
        t_interval(xs, n, &mean, &lo, &hi);
        printf("%.17g %.17g %.17g\n", mean, lo, hi);
    } else {
        fprintf(stderr, "interval_table: unknown request %s\n", word);
        return 2;
    }
    return 0;
}

int main(void) {
    char line[8192];
    while (fgets(line, sizeof line, stdin))
        if (answer(line)) return 2;
    return 0;
}
