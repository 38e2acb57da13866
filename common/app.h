/*
 * app: the note's Flask application, without Flask.
 *
 * The ten URLs, the two ways of downloading them, and the JSON answer.
 * sync_download() fetches the URLs one after another; async_download()
 * spawns one fiber per URL and joins them all, like the note's
 * gevent.spawn + gevent.joinall.  Neither knows which worker runs it:
 * whether the fibers overlap is decided by io_patch(), not here.
 */
#ifndef APP_H
#define APP_H

#include "http.h"
#include "io.h"

enum { APP_MAX_URLS = 64 };

struct downloads {
	int n;
	double start;		/* now() when the downloads began */
	struct fetch_result r[APP_MAX_URLS];
};

/* Use the note's ten URLs, served by the upstream simulator on this port. */
void app_use_simulator(int port);

/* Use the URLs in a file: one per line, '#' starts a comment.
 * Returns 0, or -1 with a message in err. */
int app_load_urls(const char *path, char *err, size_t errlen);

int app_url_count(void);
const char *app_url(int i);

void sync_download(struct downloads *d);
void async_download(struct downloads *d);

/* On stdout: the statuses, as the note's print(sync_download()), the
 * time, and a timeline with one row per URL -- a bar from the start of its
 * download to its end, so one-after-another and side-by-side show at a
 * glance.  80 columns wide. */
void app_log(const struct downloads *d, double elapsed);

/* The note's answer: {"code": 0, "message": "success", "data": elapsed},
 * or, when a download failed (no answer, or HTTP 5xx), a non-zero code, a
 * message naming the failed URLs and why, and status 502 (504 when one
 * timed out).  With ?trace=1, a "trace" array too: url, status, and start
 * and end in seconds from the start of the downloads. */
void app_answer(const struct http_request *req, struct http_response *res,
		const struct downloads *d, double elapsed);

#endif
