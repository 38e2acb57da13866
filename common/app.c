/*
 * app.c: the URL list and the two ways of downloading it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fiber.h"
#include "profile.h"
#include "util.h"

static char *urls[APP_MAX_URLS];
static int nurls;

static void add_url(const char *url)
{
	urls[nurls] = strdup(url);
	if (!urls[nurls])
		die("app: out of memory");
	nurls++;
}

void app_use_simulator(int port)
{
	char url[64];
	for (int i = 0; i < PROFILE_URLS; i++) {
		snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, profile_url(i)->path);
		add_url(url);
	}
}

int app_load_urls(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %m", path);
		return -1;
	}
	char line[2048];
	while (fgets(line, sizeof line, f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *url = strtok(line, " \t\r\n");
		if (!url)
			continue;
		if (nurls == APP_MAX_URLS) {
			snprintf(err, errlen, "%s: more than %d URLs", path, APP_MAX_URLS);
			fclose(f);
			return -1;
		}
		add_url(url);
	}
	fclose(f);
	if (nurls == 0) {
		snprintf(err, errlen, "%s: no URLs in it", path);
		return -1;
	}
	return 0;
}

int app_url_count(void)
{
	return nurls;
}

const char *app_url(int i)
{
	return urls[i];
}

/* The note's sync_download(): list(map(_download, URLS)). */
void sync_download(struct downloads *d)
{
	d->start = now();
	/* $begin sequential: fetch each URL in turn (fetch), urls[i] into d->r[i], i < nurls; set d->n to how many */
	d->n = nurls;
	for (int i = 0; i < nurls; i++)
		fetch(urls[i], &d->r[i]);
	/* $end sequential; stub: d->n = 0; */
}

/* $begin spawn-join: what one download fiber runs: fetch one URL into its result */
struct job {
	const char *url;
	struct fetch_result *r;
};

static void download_fiber(void *arg)
{
	struct job *j = arg;
	fetch(j->url, j->r);
}
/* $end spawn-join */

/* The note's async_download(): gevent.spawn for each URL, then joinall. */
void async_download(struct downloads *d)
{
	d->start = now();
	/* $begin spawn-join: spawn one fiber per URL (fiber_spawn; NULL: that download fails at once), then join them all (fiber_join); set d->n to how many */
	struct job jobs[APP_MAX_URLS];
	fiber *fibers[APP_MAX_URLS];

	d->n = nurls;
	for (int i = 0; i < nurls; i++) {
		jobs[i] = (struct job){ urls[i], &d->r[i] };
		fibers[i] = fiber_spawn(download_fiber, &jobs[i], "download");
		if (!fibers[i]) {	/* this download fails, at once */
			double t = now();
			*jobs[i].r = (struct fetch_result){ .start = t, .end = t,
							    .error = "no memory for a fiber" };
		}
	}
	for (int i = 0; i < nurls; i++)
		if (fibers[i])
			fiber_join(fibers[i]);
	/* $end spawn-join; stub: d->n = 0; */
}
