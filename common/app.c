/*
 * app.c: URL list, downloads, answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fiber.h"

static char *urls[APP_MAX_URLS];
static int nurls;

/* The note's ten sites, in its order, as the simulator's paths. */
static const char *const note_paths[] = {
	"/qq", "/163", "/example", "/nowamagic", "/example",
	"/example", "/example", "/example", "/example", "/example",
};

static void add_url(const char *url)
{
	urls[nurls] = strdup(url);
	if (!urls[nurls])
		abort();
	nurls++;
}

void app_use_simulator(int port)
{
	char url[64];
	for (size_t i = 0; i < sizeof note_paths / sizeof note_paths[0]; i++) {
		snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, note_paths[i]);
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
	d->n = nurls;
	for (int i = 0; i < nurls; i++)
		fetch(urls[i], &d->r[i]);
}

struct job {
	const char *url;
	struct fetch_result *r;
};

static void download_fiber(void *arg)
{
	struct job *j = arg;
	fetch(j->url, j->r);
}

/* The note's async_download(): gevent.spawn for each URL, then joinall. */
void async_download(struct downloads *d)
{
	struct job jobs[APP_MAX_URLS];
	fiber *fibers[APP_MAX_URLS];

	d->n = nurls;
	for (int i = 0; i < nurls; i++) {
		jobs[i] = (struct job){ urls[i], &d->r[i] };
		fibers[i] = fiber_spawn(download_fiber, &jobs[i], "download");
		if (!fibers[i])
			*jobs[i].r = (struct fetch_result){ .error = "no memory for a fiber" };
	}
	for (int i = 0; i < nurls; i++)
		if (fibers[i])
			fiber_join(fibers[i]);
}

void app_log(const struct downloads *d, double elapsed)
{
	printf("[");
	for (int i = 0; i < d->n; i++)
		printf(i ? ", %ld" : "%ld", d->r[i].status);
	printf("] %.3fs\n", elapsed);
	fflush(stdout);
}

static bool failed(const struct fetch_result *r)
{
	return r->status == 0 || r->status >= 500;
}

/* Append s to the body as a JSON string's contents. */
static void json_escape(struct http_response *res, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			http_printf(res, "\\%c", ch);
		else if (ch < 0x20)
			http_printf(res, "\\u%04x", ch);
		else
			http_printf(res, "%c", ch);
	}
}

void app_answer(struct http_response *res, const struct downloads *d,
		double elapsed)
{
	int nfailed = 0;
	bool timed_out = false;
	for (int i = 0; i < d->n; i++) {
		nfailed += failed(&d->r[i]);
		timed_out |= d->r[i].timed_out;
	}
	res->content_type = "application/json; charset=utf-8";
	if (nfailed == 0) {
		http_printf(res, "{\"code\": 0, \"message\": \"success\", "
				 "\"data\": %.6f}", elapsed);
		return;
	}
	res->status = timed_out ? 504 : 502;
	http_printf(res, "{\"code\": 1, \"message\": \"%d of %d downloads failed:",
		    nfailed, d->n);
	for (int i = 0; i < d->n; i++) {
		const struct fetch_result *r = &d->r[i];
		if (!failed(r))
			continue;
		http_printf(res, " ");
		json_escape(res, app_url(i));
		if (r->status)
			http_printf(res, " (HTTP %ld);", r->status);
		else {
			http_printf(res, " (");
			json_escape(res, r->error);
			http_printf(res, ");");
		}
	}
	http_printf(res, "\", \"data\": %.6f}", elapsed);
}
