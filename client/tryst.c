/*
 * tryst.c -- the command line client: a table of subcommands, each one
 * connection to trystd that checks the server's key before it says a word.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client.h"

#define REQUEST_MS	30000
#define REGISTER_MS	60000	/* code delivery may run a slow program */

struct ctx {
	char			*dir;
	struct client_conf	 conf;
	uint8_t			 sign_pk[32];
};

struct cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*args;
};

static int	cmd_init(int, char **);
static int	cmd_register(int, char **);
static int	cmd_verify(int, char **);
static int	cmd_whoami(int, char **);

static const struct cmd cmds[] = {
	{ "init", cmd_init, "--server HOST:PORT [--key BASE64] "
	    "[--country CC]" },
	{ "register", cmd_register, "NUMBER" },
	{ "verify", cmd_verify, "CODE" },
	{ "whoami", cmd_whoami, "" },
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
}

/* Bad arguments: usage and exit 2. */
static __attribute__((noreturn)) void
usage(void)
{
	print_usage(stderr);
	exit(2);
}

/* Unix time t as ISO 8601 UTC into buf. */
static const char *
iso_time(uint64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (t > (uint64_t)INT64_MAX / 2 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%llu", (unsigned long long)t);
	return (buf);
}

/* Print a server ERROR: its code name, message and when to retry. */
static void
print_error(const struct msg *m)
{
	char	 text[512], when[32];

	log_escape(text, sizeof text, m->u.error.message.p,
	    m->u.error.message.len);
	fprintf(stderr, "tryst: server error %s: %s",
	    proto_err_name(m->u.error.code), text);
	if (m->u.error.retry_after_s > 0)
		fprintf(stderr, " (retry in %u s, after %s)",
		    m->u.error.retry_after_s, iso_time((uint64_t)time(NULL) +
		    m->u.error.retry_after_s, when, sizeof when));
	fputc('\n', stderr);
}

/* Any reply other than the ones a command expects. */
static int
unexpected(const struct msg *m)
{
	if (m->type == MSG_ERROR)
		print_error(m);
	else
		warnx("unexpected %s from the server",
		    proto_type_name(m->type));
	return (1);
}

/* Load the state directory's config and pinned key, or exit. */
static void
ctx_load(struct ctx *c)
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
	if (state_conf_key(&c->conf, c->sign_pk, &cause) != 0)
		errx(1, "%s/config: %s; run: tryst init", c->dir, cause);
}

/* Free what ctx_load made. */
static void
ctx_free(struct ctx *c)
{
	state_conf_free(&c->conf);
	free(c->dir);
}

/* Connect to the configured server with its pinned key, or exit. */
static struct tconn *
ctx_connect(struct ctx *c, struct tconn_challenge *ch)
{
	struct tconn	*t;
	char		*cause;

	if ((t = tconn_open(c->conf.server, c->sign_pk, ch, &cause)) == NULL)
		errx(1, "%s", cause);
	return (t);
}

/* Send one request and wait for its reply: 0, or -1 after saying why. */
static int
request(struct tconn *t, const struct msg *out, struct msg *in, int ms)
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
				usage();
			}
			a->have_key = 1;
			break;
		case 'c':
			if ((a->country = country_code(optarg)) == NULL) {
				warnx("--country: not a country code");
				usage();
			}
			break;
		default:
			warnx("init: %s: unknown option or missing value",
			    argv[optind - 1]);
			usage();
		}
	}
	if (optind != argc || a->server == NULL || !plain_value(a->server) ||
	    *a->server == '\0')
		usage();
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
	uint8_t			 buf[32];
	char			*dir, *cause, *key;
	int			 made;

	init_parse(argc, argv, &a);
	if ((dir = state_dir(&cause)) == NULL)
		errx(1, "%s", cause);
	if (state_conf_load(dir, &oldconf, &cause) == 0)
		old = &oldconf;
	else if (errno != ENOENT)
		errx(1, "%s", cause);
	else
		free(cause);
	t = tconn_open(a.server, init_expect(&a, old, buf), &ch, &cause);
	if (t == NULL)
		errx(1, "%s", cause);
	tconn_close(t);		/* nothing sent: the key is all we wanted */
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

/* Keep a REGISTER_CHALLENGE for tryst verify. */
static void
register_save(const struct ctx *c, const char *number, const struct msg *m)
{
	struct client_pending	 pd;
	char			*cause;

	pd.number = (char *)number;
	pd.token = xmalloc(2 * (size_t)m->u.reg_challenge.token.len + 1);
	hex_encode(pd.token, m->u.reg_challenge.token.p,
	    m->u.reg_challenge.token.len);
	pd.code_digits = m->u.reg_challenge.code_digits;
	pd.expires = (long long)time(NULL) + m->u.reg_challenge.expires_in_s;
	if (state_pending_save(c->dir, &pd, &cause) != 0)
		errx(1, "%s", cause);
	free(pd.token);
}

/* tryst register NUMBER: ask the server to send a code to NUMBER. */
static int
cmd_register(int argc, char **argv)
{
	struct ctx	 c;
	struct tconn	*t;
	struct msg	 out, in;
	char		 number[PROTO_MAX_NUMBER + 1];
	int		 rc = 1;

	if (argc != 2)
		usage();
	ctx_load(&c);
	if (e164_normalise(argv[1], c.conf.country, number,
	    sizeof number) != 0)
		errx(1, "%s: not a phone number; write + and the country "
		    "code, or set a default with tryst init --country CC",
		    argv[1]);
	t = ctx_connect(&c, NULL);
	memset(&out, 0, sizeof out);
	out.type = MSG_REGISTER_BEGIN;
	out.u.reg_begin.number.p = (const uint8_t *)number;
	out.u.reg_begin.number.len = (uint16_t)strlen(number);
	if (request(t, &out, &in, REGISTER_MS) != 0)
		goto out;
	if (in.type != MSG_REGISTER_CHALLENGE ||
	    in.u.reg_challenge.token.len == 0 ||
	    in.u.reg_challenge.code_digits > TOKEN_CODE) {
		rc = unexpected(&in);
		goto out;
	}
	register_save(&c, number, &in);
	printf("code sent to %s; run: tryst verify CODE\n", number);
	rc = 0;
out:
	tconn_close(t);
	ctx_free(&c);
	return (rc);
}

/* Store what REGISTERED brought, after checking it is ours. */
static int
verify_finish(struct ctx *c, const char *number, const struct msg *m,
    const uint8_t identity_pk[32])
{
	struct cred	 cr;
	char		*cause;

	if (cred_verify(m->u.registered.credential.p,
	    m->u.registered.credential.len, c->sign_pk, &cr) != 0 ||
	    memcmp(cr.identity_pk, identity_pk, 32) != 0) {
		warnx("the server sent a credential that does not verify");
		return (1);
	}
	free(c->conf.number);
	c->conf.number = xstrdup(number);
	if (state_cred_save(c->dir, m->u.registered.credential.p,
	    &cause) != 0 || state_conf_save(c->dir, &c->conf, &cause) != 0 ||
	    state_remove(c->dir, "pending", &cause) != 0)
		errx(1, "%s", cause);
	printf("registered %s\n", number);
	return (0);
}

/* What verify says to an ERROR: BAD_CODE keeps pending, EXPIRED not. */
static int
verify_error(struct ctx *c, const struct msg *m)
{
	char	*cause;

	print_error(m);
	if (m->u.error.code == ERR_BAD_CODE)
		fprintf(stderr, "tryst: wrong code; try again: tryst verify "
		    "CODE\n");
	else if (m->u.error.code == ERR_EXPIRED) {
		if (state_remove(c->dir, "pending", &cause) != 0)
			errx(1, "%s", cause);
		fprintf(stderr, "tryst: the code expired or was used up; "
		    "start again: tryst register NUMBER\n");
	}
	return (1);
}

/* Load the pending registration and check code against it, or exit. */
static void
verify_load(struct ctx *c, const char *code, struct client_pending *pd)
{
	char	*cause;
	size_t	 n = strlen(code);

	if (state_pending_load(c->dir, pd, &cause) != 0) {
		if (errno == ENOENT)
			errx(1, "no registration is waiting for a code; run: "
			    "tryst register NUMBER");
		errx(1, "%s", cause);
	}
	/* A code of the wrong shape would cost one of the attempts. */
	if (strspn(code, "0123456789") != n || n == 0 || n > TOKEN_CODE ||
	    (pd->code_digits != 0 && n != (size_t)pd->code_digits))
		errx(1, "%s: the code is %lld digits", code, pd->code_digits);
}

/* tryst verify CODE: finish the pending registration. */
static int
cmd_verify(int argc, char **argv)
{
	struct ctx		 c;
	struct client_pending	 pd;
	struct tconn		*t;
	struct msg		 out, in;
	uint8_t			*sk, *token;
	size_t			 toklen;
	char			*cause;
	int			 rc = 1;

	if (argc != 2)
		usage();
	ctx_load(&c);
	verify_load(&c, argv[1], &pd);
	toklen = strlen(pd.token) / 2;
	token = xmalloc(toklen);
	if (toklen > UINT16_MAX || hex_decode(token, toklen, pd.token) != 0)
		errx(1, "%s/pending: the token is not hex", c.dir);
	t = ctx_connect(&c, NULL);
	if ((sk = state_identity_load(c.dir, &cause)) == NULL) {
		tconn_close(t);
		errx(1, "%s", cause);
	}
	memset(&out, 0, sizeof out);
	out.type = MSG_REGISTER_FINISH;
	out.u.reg_finish.token.p = token;
	out.u.reg_finish.token.len = (uint16_t)toklen;
	out.u.reg_finish.code.p = (const uint8_t *)argv[1];
	out.u.reg_finish.code.len = (uint16_t)strlen(argv[1]);
	memcpy(out.u.reg_finish.identity_pk, sk + 32, 32);
	if (request(t, &out, &in, REQUEST_MS) == 0) {
		if (in.type == MSG_REGISTERED)
			rc = verify_finish(&c, pd.number, &in, sk + 32);
		else if (in.type == MSG_ERROR)
			rc = verify_error(&c, &in);
		else
			rc = unexpected(&in);
	}
	sodium_free(sk);
	tconn_close(t);
	free(token);
	state_pending_free(&pd);
	ctx_free(&c);
	return (rc);
}

/* Print who this device is, from the stored credential. */
static void
whoami_print(const struct ctx *c, const struct cred *cr)
{
	char	 id[2 * ID_LEN + 1], t1[32], t2[32];

	hex_encode(id, cr->id, ID_LEN);
	printf("number: %s\nid: %s\nserver: %s\nserver key: %s\n"
	    "credential created: %s\ncredential expires: %s\n",
	    c->conf.number, id, c->conf.server, c->conf.key,
	    iso_time(cr->created, t1, sizeof t1),
	    iso_time(cr->expires, t2, sizeof t2));
	fflush(stdout);
}

/* Print WELCOME and keep a renewed credential if it is ours. */
static void
whoami_welcome(const struct ctx *c, const struct cred *old,
    const struct msg *m)
{
	struct cred	 cr;
	char		 addr[INET6_ADDRSTRLEN], when[32], *cause;
	const struct vb	*v = &m->u.welcome.credential;

	if (inet_ntop(m->u.welcome.family == 4 ? AF_INET : AF_INET6,
	    m->u.welcome.addr, addr, sizeof addr) == NULL)
		snprintf(addr, sizeof addr, "?");
	printf("status: online\n");
	printf(m->u.welcome.family == 4 ? "address: %s:%u\n" :
	    "address: [%s]:%u\n", addr, m->u.welcome.port);
	if (v->len == 0)
		return;
	if (cred_verify(v->p, v->len, c->sign_pk, &cr) != 0 ||
	    memcmp(cr.id, old->id, ID_LEN) != 0 ||
	    memcmp(cr.identity_pk, old->identity_pk, 32) != 0) {
		warnx("the server sent a renewed credential that does not "
		    "verify; kept the old one");
		return;
	}
	if (state_cred_save(c->dir, v->p, &cause) != 0)
		errx(1, "%s", cause);
	printf("credential renewed: expires %s\n",
	    iso_time(cr.expires, when, sizeof when));
}

/* Sign and send HELLO and handle what comes back. */
static int
whoami_hello(const struct ctx *c, struct tconn *t,
    const struct tconn_challenge *ch, const uint8_t raw[CRED_LEN],
    const struct cred *cr)
{
	struct msg	 out, in;
	uint8_t		*sk;
	char		*cause;

	if ((sk = state_identity_load(c->dir, &cause)) == NULL) {
		warnx("%s", cause);
		return (1);
	}
	if (memcmp(sk + 32, cr->identity_pk, 32) != 0) {
		sodium_free(sk);
		warnx("the credential belongs to another identity key");
		return (1);
	}
	memset(&out, 0, sizeof out);
	out.type = MSG_HELLO;
	out.u.hello.credential.p = raw;
	out.u.hello.credential.len = CRED_LEN;
	hello_sign(out.u.hello.signature, sk, ch->nonce, raw);
	sodium_free(sk);
	if (request(t, &out, &in, REQUEST_MS) != 0)
		return (1);
	if (in.type == MSG_WELCOME) {
		whoami_welcome(c, cr, &in);
		return (0);
	}
	if (in.type == MSG_ERROR && in.u.error.code == ERR_REVOKED) {
		print_error(&in);
		fprintf(stderr, "tryst: this device's registration was revoked "
		    "(the number was registered again elsewhere or "
		    "deleted)\n");
		return (1);
	}
	return (unexpected(&in));
}

/* tryst whoami: who this device is, and whether the server agrees. */
static int
cmd_whoami(int argc, char **argv)
{
	struct ctx		 c;
	struct cred		 cr;
	struct tconn_challenge	 ch;
	struct tconn		*t;
	uint8_t			 raw[CRED_LEN];
	char			*cause;
	int			 rc;

	if (argc != 1)
		usage();
	ctx_load(&c);
	if (*c.conf.number == '\0')
		errx(1, "not registered; run: tryst register NUMBER");
	if (state_cred_load(c.dir, c.sign_pk, raw, &cr, &cause) != 0)
		errx(1, "%s", cause);
	whoami_print(&c, &cr);
	if ((t = tconn_open(c.conf.server, c.sign_pk, &ch, &cause)) == NULL) {
		printf("status: offline\n");
		errx(1, "%s", cause);
	}
	rc = whoami_hello(&c, t, &ch, raw, &cr);
	tconn_close(t);
	ctx_free(&c);
	return (rc);
}

int
main(int argc, char **argv)
{
	size_t	 i;

	umask(077);
	if (sodium_init() < 0)
		errx(1, "libsodium failed to start");
	if (argc < 2)
		usage();
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
	usage();
}
