/*
 * app: the note's Flask application, without Flask.
 *
 * The ten URLs and the two ways of downloading them; what the lab then
 * says about them is answer.h's.  sync_download() fetches the URLs one
 * after another; async_download() spawns one fiber per URL and joins them
 * all, like the note's
 * gevent.spawn + gevent.joinall.  Neither knows which worker runs it:
 * whether the fibers overlap is decided by io_patch(), not here.
 */
#ifndef APP_H
#define APP_H

#include "fetch.h"

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

#endif
