/*
 * tryst.c -- the command line client: the table of subcommands, what they
 * share (the state, one request and its reply, printing a server ERROR,
 * the library on the CLI's state), and tryst init.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client.h"

struct cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*args;
};

static int	cmd_init(int, char **);

static const struct cmd cmds[] = {
	{ "init", cmd_init, "--server HOST:PORT[,HOST:PORT...] "
	    "[--key BASE64] [--country CC]" },
	{ "register", account_register, "NUMBER" },
	{ "verify", account_verify, "CODE" },
	{ "whoami", account_whoami, "" },
	{ "lookup", lookup_cmd, "NUMBER..." },
	{ "listen", listen_cmd, "[--dir DIR] [--chat] "
	    "[--decline | --ignore]" },
	{ "chat", talk_chat, "[--relay-only] NUMBER" },
	{ "send", talk_send, "[--relay-only] NUMBER FILE..." },
	{ "fingerprint", trust_fingerprint, "NUMBER" },
	{ "trust", trust_cmd, "NUMBER" },
	{ "delete-account", account_delete, "" },
};

/* Print the usage of every subcommand to f. */
static void
print_usage(FILE *f)
{
	size_t	 i;

	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "%s tryst %s%s%s\n", i == 0 ? "usage:" : "      ",
		    cmds[i].name, *cmds[i].args != '\0' ? " " : "",
		    cmds[i].args);
	fprintf(f, "       tryst -v COMMAND ...: with debugging details\n");
}

/* Bad arguments: usage and exit 2. */
void
tryst_usage(void)
{
	print_usage(stderr);
	exit(2);
}

/* Unix time t as ISO 8601 UTC into buf. */
const char *
tryst_iso_time(uint64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (t > (uint64_t)INT64_MAX / 2 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%llu", (unsigned long long)t);
	return (buf);
}

/* Load the state directory's config and pinned key, or exit. */
void
tryst_ctx_load(struct tryst_ctx *c)
{
	char	*cause;

	memset(c, 0, sizeof *c);
	if ((c->dir = state_dir(&cause)) == NULL)
		errx(1, "%s", cause);
	c->blobs = blobs_dir(c->dir);
	if (state_conf_load(c->blobs, &c->conf, &cause) != 0) {
		if (errno == ENOENT)
			errx(1, "no state in %s; run: tryst init --server "
			    "HOST:PORT", c->dir);
		errx(1, "%s", cause);
	}
	if (*c->conf.server == '\0')
		errx(1, "%s/config: no server; run: tryst init", c->dir);
	if (servers_parse(&c->srv, c->conf.server, randombytes_uniform,
	    &cause) != 0)
		errx(1, "%s/config: %s; run: tryst init", c->dir, cause);
	if (state_conf_key(&c->conf, c->sign_pk, &cause) != 0)
		errx(1, "%s/config: %s; run: tryst init", c->dir, cause);
}

/* Free what ctx_load made. */
void
tryst_ctx_free(struct tryst_ctx *c)
{
	servers_free(&c->srv);
	state_conf_free(&c->conf);
	blobs_free(c->blobs);
	free(c->dir);
}

/* Normalise a typed number, or exit 1 saying how to write it. */
void
tryst_number(const struct tryst_ctx *c, const char *typed,
    char out[TRYST_NUMBER_MAX])
{
	if (e164_normalise(typed, c->conf.country, out,
	    TRYST_NUMBER_MAX) != 0)
		errx(1, "%s: not a phone number; write + and the country "
		    "code, or set a default with tryst init --country CC",
		    typed);
}

/* Peer text for a terminal: UTF-8 kept, C0, DEL and C1 controls are
 * replaced, so a message cannot move the cursor or retitle a window. */
void
tryst_clean_text(char *out, size_t outlen, const uint8_t *p, size_t len)
{
	size_t	 i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < len && o + 1 < outlen; i++) {
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] < 0xa0) {
			out[o++] = '?';
			i++;
		} else if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			out[o++] = '?';
		else
			out[o++] = (char)p[i];
	}
	out[o] = '\0';
}

/* The library on the state directory of the CLI, or exit 1. */
tryst_t *
cli_lib(void)
{
	tryst_error	*e = NULL;
	tryst_t		*t;

	if ((t = tryst_new(&e)) == NULL || tryst_state_dir(t, NULL, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	return (t);
}

/* cli_lib for a registered device, its notices printed, or exit 1
 * (tryst_ctx_load first, for its messages about a device not set up). */
tryst_t *
cli_registered_lib(void)
{
	struct tryst_ctx	 c;
	tryst_t			*t;
	char			*number;

	tryst_ctx_load(&c);
	tryst_ctx_free(&c);
	t = cli_lib();
	if ((number = tryst_account_number(t)) == NULL)
		errx(1, "not registered; run: tryst register NUMBER");
	tryst_free(number);
	tryst_on_notice(t, cli_notice, NULL);
	return (t);
}

/* A request's done callback: keep the outcome for cli_wait. */
void
cli_done(tryst_t *t, const tryst_error *e, void *user)
{
	struct cli_result	*r = user;

	(void)t;
	r->done = 1;
	r->code = tryst_error_code(e);
	r->server_code = tryst_error_server_code(e);
	if (e != NULL) {
		free(r->message);
		r->message = xstrdup(tryst_error_message(e));
		r->retry_after_s = tryst_error_retry_after_s(e);
	}
}

/* Run t until r is done: 0, or 1 after printing why it failed (with
 * when to try again, when the server said). */
int
cli_wait(tryst_t *t, struct cli_result *r)
{
	char	 when[32];

	while (!r->done && tryst_run(t, 1000, NULL) == 0)
		;
	if (r->code == 0)
		return (0);
	fprintf(stderr, "tryst: %s", r->message);
	if (r->retry_after_s > 0)
		fprintf(stderr, " (retry in %ld s, after %s)",
		    r->retry_after_s, tryst_iso_time((uint64_t)time(NULL) +
		    (uint64_t)r->retry_after_s, when, sizeof when));
	fputc('\n', stderr);
	return (1);
}

struct init_args {
	const char	*server;
	const char	*key;
	const char	*country;
};

/* Parse init's options, or print usage and exit 2. */
static void
init_parse(int argc, char **argv, struct init_args *a)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "country", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(a, 0, sizeof *a);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "s:k:c:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			a->server = optarg;
			break;
		case 'k':
			a->key = optarg;
			break;
		case 'c':
			a->country = optarg;
			break;
		default:
			warnx("init: %s: unknown option or missing value",
			    argv[optind - 1]);
			tryst_usage();
		}
	}
	if (optind != argc || a->server == NULL)
		tryst_usage();
}

/* tryst init: pin the server's key, write the config, make an identity
 * (tryst_setup), and say what was done. */
static int
cmd_init(int argc, char **argv)
{
	struct init_args	 a;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			*old, *ident, *key, *dir, *why = NULL;
	int			 checked, rc;

	init_parse(argc, argv, &a);
	t = cli_lib();
	old = tryst_account_servers(t);
	checked = a.key != NULL || (old != NULL && strcmp(old, a.server) == 0);
	ident = tryst_identity_key(t);
	memset(&r, 0, sizeof r);
	if (tryst_setup(t, a.server, a.key, a.country, cli_done, &r,
	    &e) != 0) {
		warnx("init: %s", tryst_error_message(e));
		tryst_usage();
	}
	if ((rc = cli_wait(t, &r)) == 0) {
		key = tryst_account_server_key(t);
		printf("server %s\nsigning key %s%s\n", a.server, key,
		    checked ? " (checked)" : " (first use: remembered; compare "
		    "it with the one the operator publishes)");
		dir = state_dir(&why);
		printf("identity key %s in %s\n", ident == NULL ? "created" :
		    "kept", dir != NULL ? dir : why);
		tryst_free(key);
		free(dir);
		free(why);
	}
	free(r.message);
	tryst_free(old);
	tryst_free(ident);
	tryst_destroy(t);
	return (rc);
}

int
main(int argc, char **argv)
{
	size_t	 i;

	umask(077);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (sodium_init() < 0)
		errx(1, "libsodium failed to start");
	if (argc >= 2 && strcmp(argv[1], "-v") == 0) {
		log_set_level(LOG_DEBUG);	/* candidates, paths */
		argc--;
		argv++;
	}
	if (argc < 2)
		tryst_usage();
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0)
			return (cmds[i].fn(argc - 1, argv + 1));
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		print_usage(stdout);
		return (0);
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("tryst %s\n", TRYST_VERSION);
		return (0);
	}
	tryst_usage();
}
