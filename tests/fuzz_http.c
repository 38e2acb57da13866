/*
 * fuzz_http: libFuzzer over the request-handling path.
 *
 * Each input is what a client sends on one connection.  It goes through
 * http_serve_connection() exactly as a lab runs it (keep-alive on, as in
 * the evented worker), on one end of a socketpair whose other end has
 * already said all it will say.  The sanitizers are the oracle: any
 * overflow, leak or undefined behaviour is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static void handler(const struct http_request *req, struct http_response *res)
{
	http_printf(res, "%s %s ?%s\n", req->method, req->path, req->query);
	if (strcmp(req->path, "/405") == 0) {
		http_error(res, 405);
		res->allow = "GET, HEAD";
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	int big = 1 << 20;
	if (size > 16384 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	http_serve_connection(sv[0], handler, true, 0.05);	/* closes sv[0] */
	close(sv[1]);
	return 0;
}
