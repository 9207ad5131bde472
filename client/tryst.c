/*
 * tryst.c -- the command line client: the table of subcommands, what they
 * share (the state, one request and its reply, printing a server ERROR),
 * and tryst init.
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
	{ "fingerprint", contacts_fingerprint, "NUMBER" },
	{ "trust", contacts_trust, "NUMBER" },
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

/* Print a server ERROR: its code name, message and when to retry. */
void
tryst_print_error(const struct msg *m)
{
	char	 text[512], when[32];

	log_escape(text, sizeof text, m->u.error.message.p,
	    m->u.error.message.len);
	fprintf(stderr, "tryst: server error %s: %s",
	    proto_err_name(m->u.error.code), text);
	if (m->u.error.retry_after_s > 0)
		fprintf(stderr, " (retry in %u s, after %s)",
		    m->u.error.retry_after_s,
		    tryst_iso_time((uint64_t)time(NULL) +
		    m->u.error.retry_after_s, when, sizeof when));
	fputc('\n', stderr);
}

/* Any reply other than the ones a command expects. */
int
tryst_unexpected(const struct msg *m)
{
	if (m->type == MSG_ERROR)
		tryst_print_error(m);
	else
		warnx("unexpected %s from the server",
		    proto_type_name(m->type));
	return (1);
}

/* Load the state directory's config and pinned key, or exit. */
void
tryst_ctx_load(struct tryst_ctx *c)
{
	char	*cause;

	memset(c, 0, sizeof *c);
	if ((c->dir = state_dir(&cause)) == NULL)
		errx(1, "%s", cause);
	if (state_conf_load(c->dir, &c->conf, &cause) != 0) {
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
	free(c->dir);
}

/* Connect to an endpoint of sv, moving on after each failure. */
struct tconn *
tryst_open(struct servers *sv, const uint8_t *expect_pk,
    struct tconn_challenge *ch, uint16_t *lport, char **cause)
{
	struct tconn	*t;
	uint16_t	 want = lport != NULL ? *lport : 0;
	char		*why;

	for (;;) {
		t = tconn_open_v(servers_current(sv), 2, expect_pk, ch, lport,
		    &why);
		if (t != NULL)
			return (t);
		if (!servers_failed(sv)) {
			*cause = why;
			return (NULL);
		}
		warnx("%s; trying %s", why, servers_current(sv));
		free(why);
		if (lport != NULL)
			*lport = want;
	}
}

/* Connect to the configured servers with the pinned key, or exit. */
struct tconn *
tryst_connect(struct tryst_ctx *c, struct tconn_challenge *ch)
{
	struct tconn	*t;
	char		*cause;

	servers_round(&c->srv);
	if ((t = tryst_open(&c->srv, c->sign_pk, ch, NULL, &cause)) == NULL)
		errx(1, "%s", cause);
	return (t);
}

/* Send one request and wait for its reply: 0, or -1 after saying why. */
int
tryst_request(struct tconn *t, const struct msg *out, struct msg *in, int ms)
{
	char	*cause;
	int	 r;

	if (tconn_send(t, out, &cause) != 0 ||
	    (r = tconn_recv(t, in, ms, &cause)) == -1) {
		warnx("%s", cause);
		free(cause);
		return (-1);
	}
	if (r == 0) {
		warnx("the server closed the connection");
		return (-1);
	}
	if (in->type == MSG_GOAWAY) {
		warnx("the server is going away (reason %u); try again in "
		    "%u s", in->u.goaway.reason,
		    in->u.goaway.reconnect_after_s);
		return (-1);
	}
	return (0);
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

/* 1 if s is a plain config value: printable, no spaces, no '#'. */
static int
plain_value(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s <= ' ' || *s >= 0x7f || *s == '#')
			return (0);
	}
	return (1);
}

/* Check a country code: 1 to 3 digits, the first not 0; "+" dropped. */
static const char *
country_code(const char *s)
{
	size_t	 n;

	if (*s == '+')
		s++;
	n = strlen(s);
	if (n < 1 || n > 3 || strspn(s, "0123456789") != n || *s == '0')
		return (NULL);
	return (s);
}

struct init_args {
	const char	*server;
	const char	*country;
	int		 have_key;
	uint8_t		 key[32];
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
			if (b64_decode(a->key, 32, optarg) != 0) {
				warnx("--key: not 32 bytes of base64");
				tryst_usage();
			}
			a->have_key = 1;
			break;
		case 'c':
			if ((a->country = country_code(optarg)) == NULL) {
				warnx("--country: not a country code");
				tryst_usage();
			}
			break;
		default:
			warnx("init: %s: unknown option or missing value",
			    argv[optind - 1]);
			tryst_usage();
		}
	}
	if (optind != argc || a->server == NULL || !plain_value(a->server) ||
	    *a->server == '\0')
		tryst_usage();
}

/* The key init expects: --key, else the one pinned for this server. */
static const uint8_t *
init_expect(const struct init_args *a, const struct client_conf *old,
    uint8_t buf[32])
{
	char	*cause;

	if (a->have_key)
		return (a->key);
	if (old == NULL || strcmp(old->server, a->server) != 0)
		return (NULL);
	if (state_conf_key(old, buf, &cause) != 0) {
		free(cause);
		return (NULL);
	}
	return (buf);
}

/* Refuse to move a registered device to another server key. */
static void
init_check_old(const char *dir, const struct client_conf *old,
    const uint8_t pk[32])
{
	uint8_t	 oldpk[32];
	char	*cause;

	if (old == NULL || *old->number == '\0')
		return;
	if (state_conf_key(old, oldpk, &cause) == 0 &&
	    sodium_memcmp(oldpk, pk, 32) == 0)
		return;
	errx(1, "%s is registered as %s with a server whose key was %s; "
	    "move it away to start afresh", dir, old->number, old->key);
}

/* Write the new config, keeping what still holds from the old one. */
static void
init_save(const char *dir, const struct init_args *a,
    const struct client_conf *old, const uint8_t pk[32])
{
	struct client_conf	 cf;
	char			*key, *cause;

	key = b64_encode(pk, 32);
	cf.server = (char *)a->server;
	cf.key = key;
	cf.country = (char *)(a->country != NULL ? a->country :
	    old != NULL ? old->country : "");
	cf.number = old != NULL && strcmp(old->key, key) == 0 ?
	    old->number : "";
	if (state_conf_save(dir, &cf, &cause) != 0)
		errx(1, "%s", cause);
	free(key);
}

/* tryst init: pin the server's key, write the config, make an identity. */
static int
cmd_init(int argc, char **argv)
{
	struct init_args	 a;
	struct client_conf	 oldconf, *old = NULL;
	struct tconn_challenge	 ch;
	struct tconn		*t;
	struct servers		 sv;
	uint8_t			 buf[32];
	char			*dir, *cause, *key;
	int			 made;

	init_parse(argc, argv, &a);
	if (servers_parse(&sv, a.server, randombytes_uniform, &cause) != 0)
		errx(1, "--server: %s", cause);
	if ((dir = state_dir(&cause)) == NULL)
		errx(1, "%s", cause);
	if (state_conf_load(dir, &oldconf, &cause) == 0)
		old = &oldconf;
	else if (errno != ENOENT)
		errx(1, "%s", cause);
	else
		free(cause);
	t = tryst_open(&sv, init_expect(&a, old, buf), &ch, NULL, &cause);
	if (t == NULL)
		errx(1, "%s", cause);
	tconn_close(t);		/* nothing sent: the key is all we wanted */
	servers_free(&sv);
	init_check_old(dir, old, ch.sign_pk);
	if (state_mkdir(dir, &cause) != 0 ||
	    (made = state_identity_make(dir, &cause)) == -1)
		errx(1, "%s", cause);
	init_save(dir, &a, old, ch.sign_pk);
	key = b64_encode(ch.sign_pk, 32);
	printf("server %s\nsigning key %s%s\n", a.server, key,
	    init_expect(&a, old, buf) != NULL ? " (checked)" : " (first "
	    "use: remembered; compare it with the one the operator "
	    "publishes)");
	printf("identity key %s in %s\n", made ? "created" : "kept", dir);
	free(key);
	if (old != NULL)
		state_conf_free(old);
	free(dir);
	return (0);
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
