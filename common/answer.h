/*
 * answer: what a lab says about one /hello, once its downloads are done --
 * on its terminal, the statuses and a timeline; to the client, the note's
 * JSON.  The C counterpart of the note's print() and jsonify().
 */
#ifndef ANSWER_H
#define ANSWER_H

#include "app.h"
#include "http.h"

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
