/*
 * state.c -- the client's state directory: config, identity key,
 * credential and a pending registration, each its own small file written
 * atomically with mode 0600.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define STATE_MAX_FILE	4096
#define STATE_STR_MAX	1024

#define STR(st, f, text) {						\
	.name = #f, .type = CONF_STR, .offset = offsetof(st, f),	\
	.def = "", .max = STATE_STR_MAX, .help = text }
#define INT(st, f, hi, text) {						\
	.name = #f, .type = CONF_INT, .offset = offsetof(st, f),	\
	.def = "0", .max = hi, .help = text }

static const struct conf_entry conf_table[] = {
	STR(struct client_conf, server, "trystd's host:port"),
	STR(struct client_conf, key, "the server's signing key, base64"),
	STR(struct client_conf, country, "default country code of numbers"),
	STR(struct client_conf, number, "the registered number"),
	{ .name = NULL }
};

static const struct conf_entry pending_table[] = {
	STR(struct client_pending, number, "the number being registered"),
	STR(struct client_pending, token, "the server's token, hex"),
	INT(struct client_pending, code_digits, TOKEN_CODE, "code digits"),
	INT(struct client_pending, expires, INT64_MAX, "when the code expires"),
	{ .name = NULL }
};

/* Name the state directory from the environment. */
char *
state_dir(char **cause)
{
	const char	*s;
	char		*dir;

	if ((s = getenv("TRYST_HOME")) != NULL && *s != '\0')
		return (xstrdup(s));
	if ((s = getenv("XDG_DATA_HOME")) != NULL && *s == '/') {
		xasprintf(&dir, "%s/tryst", s);
		return (dir);
	}
	if ((s = getenv("HOME")) != NULL && *s != '\0') {
		xasprintf(&dir, "%s/.local/share/tryst", s);
		return (dir);
	}
	xasprintf(cause, "neither TRYST_HOME nor HOME is set");
	return (NULL);
}

/* mkdir -p, with mode 0700 for what it makes and for dir itself. */
int
state_mkdir(const char *dir, char **cause)
{
	char	*p, *slash;

	p = xstrdup(dir);
	for (slash = p + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			goto fail;
		*slash = '/';
	}
	if ((mkdir(p, 0700) == -1 && errno != EEXIST) || chmod(p, 0700) == -1)
		goto fail;
	free(p);
	return (0);
fail:
	xasprintf(cause, "%s: %s", p, strerror(errno));
	free(p);
	return (-1);
}

/* Join dir and name. */
char *
state_path(const char *dir, const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", dir, name);
	return (path);
}

/* Remove a state file if it is there. */
int
state_remove(const char *dir, const char *name, char **cause)
{
	char	*path = state_path(dir, name);
	int	 rc = 0;

	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return (rc);
}

/* Load a key = value file of dir through table into dst. */
static int
load_table(const struct conf_entry *table, void *dst, const char *dir,
    const char *name, char **cause)
{
	char	*path = state_path(dir, name);
	int	 rc, saved;

	conf_defaults(table, dst);
	if (access(path, F_OK) == -1) {
		saved = errno;
		xasprintf(cause, "%s: %s", path, strerror(saved));
		conf_free(table, dst);
		free(path);
		errno = saved;
		return (-1);
	}
	if ((rc = conf_load(table, dst, path, cause)) != 0)
		conf_free(table, dst);
	free(path);
	errno = 0;
	return (rc);
}

/* Append "name = value\n" to *text when value is set. */
static void
add_line(char **text, const char *name, const char *value)
{
	char	*old = *text;

	if (value == NULL || *value == '\0')
		return;
	xasprintf(text, "%s%s = %s\n", old, name, value);
	free(old);
}

/* Write text to dir/name atomically, mode 0600, and free it. */
static int
save_text(const char *dir, const char *name, char *text, char **cause)
{
	char	*path = state_path(dir, name);
	int	 rc;

	rc = file_write_atomic(path, text, strlen(text), 0600, 0, cause);
	free(path);
	free(text);
	return (rc);
}

/* Read dir/config. */
int
state_conf_load(const char *dir, struct client_conf *cf, char **cause)
{
	return (load_table(conf_table, cf, dir, "config", cause));
}

/* Write dir/config. */
int
state_conf_save(const char *dir, const struct client_conf *cf, char **cause)
{
	char	*text = xstrdup("# tryst client state; see tryst init\n");

	add_line(&text, "server", cf->server);
	add_line(&text, "key", cf->key);
	add_line(&text, "country", cf->country);
	add_line(&text, "number", cf->number);
	return (save_text(dir, "config", text, cause));
}

/* Free the strings of a config. */
void
state_conf_free(struct client_conf *cf)
{
	conf_free(conf_table, cf);
}

/* The pinned signing key of a config. */
int
state_conf_key(const struct client_conf *cf, uint8_t pk[32], char **cause)
{
	if (cf->key == NULL || *cf->key == '\0') {
		xasprintf(cause, "no server key in the config");
		return (-1);
	}
	if (b64_decode(pk, 32, cf->key) != 0) {
		xasprintf(cause, "config: key is not 32 bytes of base64");
		return (-1);
	}
	return (0);
}

/* Read dir/pending. */
int
state_pending_load(const char *dir, struct client_pending *pd, char **cause)
{
	if (load_table(pending_table, pd, dir, "pending", cause) != 0)
		return (-1);
	if (*pd->number == '\0' || *pd->token == '\0' ||
	    strlen(pd->token) % 2 != 0) {
		xasprintf(cause, "%s/pending: number or token missing", dir);
		state_pending_free(pd);
		return (-1);
	}
	return (0);
}

/* Write dir/pending. */
int
state_pending_save(const char *dir, const struct client_pending *pd,
    char **cause)
{
	char	*text, *num;

	text = xstrdup("# a registration waiting for: tryst verify CODE\n");
	add_line(&text, "number", pd->number);
	add_line(&text, "token", pd->token);
	xasprintf(&num, "%lld", pd->code_digits);
	add_line(&text, "code_digits", num);
	free(num);
	xasprintf(&num, "%lld", pd->expires);
	add_line(&text, "expires", num);
	free(num);
	return (save_text(dir, "pending", text, cause));
}

/* Free the strings of a pending registration. */
void
state_pending_free(struct client_pending *pd)
{
	conf_free(pending_table, pd);
}

/* Make the identity key pair and write its secret half, if absent. */
int
state_identity_make(const char *dir, char **cause)
{
	char	*path = state_path(dir, "identity"), *text;
	uint8_t	 pk[32], *sk;
	int	 rc;

	if (access(path, F_OK) == 0) {
		free(path);
		return (0);
	}
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL)
		fatal("sodium_malloc");
	crypto_sign_keypair(pk, sk);
	text = b64_encode(sk, crypto_sign_SECRETKEYBYTES);
	sodium_free(sk);
	rc = file_write_atomic(path, text, strlen(text), 0600, 1, cause);
	sodium_memzero(text, strlen(text));
	free(text);
	free(path);
	return (rc == 0 ? 1 : -1);
}

/* Read and check the identity secret key. */
uint8_t *
state_identity_load(const char *dir, char **cause)
{
	char	*path = state_path(dir, "identity"), *text;
	uint8_t	*sk, pk[32];
	size_t	 len;

	if ((text = file_read_small(path, STATE_MAX_FILE, &len,
	    cause)) == NULL) {
		free(path);
		return (NULL);
	}
	/* The second half is scratch for the check, wiped after it. */
	if ((sk = sodium_malloc(2 * crypto_sign_SECRETKEYBYTES)) == NULL)
		fatal("sodium_malloc");
	if (b64_decode(sk, crypto_sign_SECRETKEYBYTES, text) != 0 ||
	    crypto_sign_seed_keypair(pk, sk + crypto_sign_SECRETKEYBYTES,
	    sk) != 0 || sodium_memcmp(pk, sk + 32, 32) != 0) {
		xasprintf(cause, "%s: not an Ed25519 secret key in base64",
		    path);
		sodium_free(sk);
		sk = NULL;
	} else
		sodium_memzero(sk + crypto_sign_SECRETKEYBYTES,
		    crypto_sign_SECRETKEYBYTES);
	sodium_memzero(text, len);
	free(text);
	free(path);
	return (sk);
}

/* Read dir/credential and check it against the server's key. */
int
state_cred_load(const char *dir, const uint8_t sign_pk[32],
    uint8_t raw[CRED_LEN], struct cred *c, char **cause)
{
	char	*path = state_path(dir, "credential"), *text;
	int	 rc = -1;

	if ((text = file_read_small(path, STATE_MAX_FILE, NULL,
	    cause)) == NULL) {
		free(path);
		return (-1);
	}
	if (b64_decode(raw, CRED_LEN, text) != 0)
		xasprintf(cause, "%s: not a credential in base64", path);
	else if (cred_verify(raw, CRED_LEN, sign_pk, c) != 0)
		xasprintf(cause, "%s: not signed by the server's key", path);
	else
		rc = 0;
	free(text);
	free(path);
	return (rc);
}

/* Write dir/credential as one base64 line. */
int
state_cred_save(const char *dir, const uint8_t raw[CRED_LEN], char **cause)
{
	char	*text, *line;

	text = b64_encode(raw, CRED_LEN);
	xasprintf(&line, "%s\n", text);
	free(text);
	return (save_text(dir, "credential", line, cause));
}
