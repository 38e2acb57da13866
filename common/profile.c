/*
 * profile.c: the note's ten URLs and their delays.
 */
#include <string.h>

#include "profile.h"
#include "util.h"

/* The note fetched www.example.com seven times; each fetch is one row. */
static const struct profile_url urls[PROFILE_URLS] = {
	{ "/qq", "www.qq.com", 0.15 },
	{ "/163", "www.163.com", 0.15 },
	{ "/example", "www.example.com", 0.25 },
	{ "/nowamagic", "www.nowamagic.net/academy/detail/13321037", 0.40 },
	{ "/example", "www.example.com", 0.25 },
	{ "/example", "www.example.com", 0.25 },
	{ "/example", "www.example.com", 0.25 },
	{ "/example", "www.example.com", 0.25 },
	{ "/example", "www.example.com", 0.25 },
	{ "/example", "www.example.com", 0.25 },
};

const struct profile_url *profile_url(int i)
{
	if (i < 0 || i >= PROFILE_URLS)
		die("profile: no URL number %d", i);
	return &urls[i];
}

double profile_delay(const char *path)
{
	for (int i = 0; i < PROFILE_URLS; i++)
		if (strcmp(path, urls[i].path) == 0)
			return urls[i].delay;
	return -1;
}

double profile_sum(void)
{
	double s = 0;
	for (int i = 0; i < PROFILE_URLS; i++)
		s += urls[i].delay;
	return s;
}

double profile_max(void)
{
	double m = 0;
	for (int i = 0; i < PROFILE_URLS; i++)
		m = urls[i].delay > m ? urls[i].delay : m;
	return m;
}
