/*
 * servers.c -- the endpoints of one deployment that a client may use
 * (tryst init --server HOST:PORT,HOST:PORT...): the list, the one in use,
 * which to try after a failure, the back-off between rounds of failures
 * (PROTOCOL.md §10.3), and where a call's relay is (§5.5). Pure: the
 * randomness comes through a function the caller gives, so the tests can
 * fake it, and nothing here touches a socket.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Check one "HOST:PORT" of the list: a port of 1 to 65535. */
static int
check_one(const char *hp, char **cause)
{
	char	*host, *port;
	long	 n;

	if (sock_split_hostport(hp, &host, &port, cause) != 0)
		return (-1);
	n = strlen(port) > 5 ? 0 : strtol(port, NULL, 10);
	free(host);
	free(port);
	if (*hp == '\0' || n < 1 || n > 65535) {
		xasprintf(cause, "%s: the port is not 1 to 65535", hp);
		return (-1);
	}
	return (0);
}

/* Parse the list and pick where to start at random. */
int
servers_parse(struct servers *sv, const char *list,
    uint32_t (*uniform)(uint32_t), char **cause)
{
	char	*copy, *p, *next;

	memset(sv, 0, sizeof *sv);
	sv->uniform = uniform;
	sv->backoff_ms = SERVERS_BACKOFF_MIN_MS;
	copy = xstrdup(list);
	for (p = copy; p != NULL; p = next) {
		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		if (*p == '\0') {
			xasprintf(cause, "%s: an empty entry in the server "
			    "list", list);
			goto fail;
		}
		if (sv->n == SERVERS_MAX) {
			xasprintf(cause, "more than %d servers in the list",
			    SERVERS_MAX);
			goto fail;
		}
		if (check_one(p, cause) != 0)
			goto fail;
		sv->hp[sv->n++] = xstrdup(p);
	}
	free(copy);
	sv->cur = sv->uniform((uint32_t)sv->n);
	return (0);
fail:
	free(copy);
	servers_free(sv);
	return (-1);
}

/* Free the list. */
void
servers_free(struct servers *sv)
{
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		free(sv->hp[i]);
	sv->n = 0;
}

/* The endpoint to use now. */
const char *
servers_current(const struct servers *sv)
{
	return (sv->hp[sv->cur]);
}

/* Start a round: from now on each endpoint may fail once. */
void
servers_round(struct servers *sv)
{
	sv->failed = 0;
}

/* The current endpoint failed: move to the next one. */
int
servers_failed(struct servers *sv)
{
	sv->cur = (sv->cur + 1) % sv->n;
	if (sv->failed < sv->n)
		sv->failed++;
	return (sv->failed < sv->n);
}

/* Move to another endpoint than the current one, chosen at random. */
void
servers_move(struct servers *sv)
{
	if (sv->n > 1)
		sv->cur = (sv->cur + 1 + sv->uniform((uint32_t)sv->n - 1)) %
		    sv->n;
}

/* The wait before the next round, b × (1 + u); b then doubles. */
uint32_t
servers_backoff_ms(struct servers *sv)
{
	uint32_t	 b = sv->backoff_ms;

	sv->backoff_ms = b >= SERVERS_BACKOFF_MAX_MS / 2 ?
	    SERVERS_BACKOFF_MAX_MS : b * 2;
	return (b + sv->uniform(b + 1));
}

/* Online again: the next back-off starts from the bottom. */
void
servers_backoff_reset(struct servers *sv)
{
	sv->backoff_ms = SERVERS_BACKOFF_MIN_MS;
}

/* 1 if host is the unspecified address of IPv4 or IPv6. */
static int
unspecified(const char *host)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (a4.s_addr == htonl(INADDR_ANY));
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_UNSPECIFIED(&a6));
	return (0);
}

/* Where to join a call's relay: given (tryst/2's relay field), with the
 * host of control for an unspecified address; control when not given. */
int
servers_relay_at(const char *given, const char *control, char *out,
    size_t outlen, char **cause)
{
	char	*host, *port, *chost, *cport;
	int	 n;

	if (given == NULL || *given == '\0')
		n = snprintf(out, outlen, "%s", control);
	else {
		if (sock_split_hostport(given, &host, &port, cause) != 0)
			return (-1);
		n = snprintf(out, outlen, "%s", given);
		if (unspecified(host)) {
			if (sock_split_hostport(control, &chost, &cport,
			    cause) != 0) {
				free(host);
				free(port);
				return (-1);
			}
			n = snprintf(out, outlen, strchr(chost, ':') != NULL ?
			    "[%s]:%s" : "%s:%s", chost, port);
			free(chost);
			free(cport);
		}
		free(host);
		free(port);
	}
	if (n < 0 || (size_t)n >= outlen) {
		xasprintf(cause, "the relay endpoint is too long");
		return (-1);
	}
	return (0);
}
