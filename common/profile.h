/*
 * profile: the note's ten URLs, in its order, as the simulator's paths,
 * with the delay the simulator gives each -- the one place the kit's
 * numbers come from.  S, the sum of the ten delays, is what sequential
 * downloads take (labs 1-3); M, the longest, is what side-by-side ones take
 * (lab 4).  The bench scripts read the same figures from
 * `./upstream --profile`.
 */
#ifndef PROFILE_H
#define PROFILE_H

enum { PROFILE_URLS = 10 };

struct profile_url {
	const char *path;	/* on the simulator: /qq, /163, ... */
	const char *site;	/* the note's site it stands for */
	double delay;		/* seconds, before --delay-scale */
};

/* The i-th of the note's URLs, 0 <= i < PROFILE_URLS. */
const struct profile_url *profile_url(int i);

/* The delay of a path, in seconds before scaling, or -1 for none. */
double profile_delay(const char *path);

double profile_sum(void);	/* S, unscaled: 2.45 s */
double profile_max(void);	/* M, unscaled: 0.40 s */

#endif
