/*
 * timeline: see timeline.h.
 */
#include <stdio.h>

#include "timeline.h"

enum { BAR = 44, LABEL = 18 };	/* label + bar + outcome and time: 80 columns */

/* Where time t falls on a bar of BAR columns that spans [t0, t0 + span],
 * kept on the bar: a time outside it must not become an int it cannot be. */
static int column(double t, double t0, double span, double round)
{
	double c = (t - t0) / span * BAR + round;
	return c < 0 ? 0 : c > BAR ? BAR : (int)c;
}

void timeline_row(const char *label, double start, double end, double t0,
		  double span, const char *outcome)
{
	char bar[BAR + 1];
	int from = column(start, t0, span, 0);
	int to = column(end, t0, span, 0.5);
	if (to <= from)
		to = from + 1;	/* even a fast one shows */
	for (int i = 0; i < BAR; i++)
		bar[i] = i >= from && i < to ? '#' : ' ';
	bar[BAR] = '\0';
	printf("  %-*.*s|%s| %3s %5.3fs\n", LABEL, LABEL, label, bar, outcome, end - start);
}

void timeline_axis(double span)
{
	printf("  %-*s 0s%*.3fs\n", LABEL, "", BAR - 2, span);
}
