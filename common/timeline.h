/*
 * timeline: what a lab prints on its terminal for one request -- a row
 * for each download or query, with a bar from its start to its end on an
 * axis shared by the rows, then the axis.  80 columns: a label, the bar,
 * the outcome and the seconds it took.  A time off the axis is drawn at
 * its edge, and even a short one shows as one column.
 */
#ifndef TIMELINE_H
#define TIMELINE_H

/* One row: label, a bar from start to end on the axis [t0, t0 + span],
 * outcome (a status, "ok", "ERR") and end - start. */
void timeline_row(const char *label, double start, double end, double t0,
		  double span, const char *outcome);

/* The axis under the rows: 0s at its left, span at its right. */
void timeline_axis(double span);

#endif
