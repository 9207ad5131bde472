/*
 * state.c -- the client's state: config, identity key, credential and a
 * pending registration, each its own small blob (blobs.c: a file of the
 * state directory, written atomically with mode 0600, or the app's).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define STATE_MAX_FILE	4096
#define STATE_MAX_CONF	(1024 * 1024)	/* conf_load's, with comments */
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

/* Remove a state blob if it is there. */
int
state_remove(const struct blobs *b, const char *name, char **cause)
{
	return (blobs_remove(b, name, cause));
}

/* Load a key = value blob through table into dst. */
static int
load_table(const struct conf_entry *table, void *dst, const struct blobs *b,
    const char *name, char **cause)
{
	char	*text, *label;
	size_t	 len;
	int	 rc;

	conf_defaults(table, dst);
	rc = blobs_load(b, name, STATE_MAX_CONF, &text, &len, cause);
	if (rc == BLOBS_ABSENT) {
		label = blobs_label(b, name);
		xasprintf(cause, "%s: %s", label, strerror(ENOENT));
		free(label);
	}
	if (rc != 0) {
		conf_free(table, dst);
		errno = rc == BLOBS_ABSENT ? ENOENT : 0;
		return (-1);
	}
	label = blobs_label(b, name);
	if ((rc = conf_parse(table, dst, label, text, len, cause)) != 0)
		conf_free(table, dst);
	free(label);
	free(text);
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

/* Save text as blob name and free it. */
static int
save_text(const struct blobs *b, const char *name, char *text, char **cause)
{
	int	 rc;

	rc = blobs_save(b, name, text, strlen(text), 0, cause);
	free(text);
	return (rc);
}

/* Read the config. */
int
state_conf_load(const struct blobs *b, struct client_conf *cf, char **cause)
{
	return (load_table(conf_table, cf, b, "config", cause));
}

/* Write the config. */
int
state_conf_save(const struct blobs *b, const struct client_conf *cf,
    char **cause)
{
	char	*text = xstrdup("# tryst client state; see tryst init\n");

	add_line(&text, "server", cf->server);
	add_line(&text, "key", cf->key);
	add_line(&text, "country", cf->country);
	add_line(&text, "number", cf->number);
	return (save_text(b, "config", text, cause));
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

/* Read the pending registration. */
int
state_pending_load(const struct blobs *b, struct client_pending *pd,
    char **cause)
{
	char	*label;

	if (load_table(pending_table, pd, b, "pending", cause) != 0)
		return (-1);
	if (*pd->number == '\0' || *pd->token == '\0' ||
	    strlen(pd->token) % 2 != 0) {
		label = blobs_label(b, "pending");
		xasprintf(cause, "%s: number or token missing", label);
		free(label);
		state_pending_free(pd);
		return (-1);
	}
	return (0);
}

/* Write the pending registration. */
int
state_pending_save(const struct blobs *b, const struct client_pending *pd,
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
	return (save_text(b, "pending", text, cause));
}

/* Free the strings of a pending registration. */
void
state_pending_free(struct client_pending *pd)
{
	conf_free(pending_table, pd);
}

/* Make the identity key pair and write its secret half, if absent. */
int
state_identity_make(const struct blobs *b, char **cause)
{
	char	*text;
	uint8_t	 pk[32], *sk;
	size_t	 len;
	int	 rc;

	/* One that cannot be read is an error: never replace a key. */
	if ((rc = blobs_load(b, "identity", STATE_MAX_FILE, &text, &len,
	    cause)) != BLOBS_ABSENT) {
		if (rc == 0) {
			sodium_memzero(text, len);
			free(text);
		}
		return (rc);
	}
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL)
		fatal("sodium_malloc");
	crypto_sign_keypair(pk, sk);
	text = b64_encode(sk, crypto_sign_SECRETKEYBYTES);
	sodium_free(sk);
	rc = blobs_save(b, "identity", text, strlen(text),
	    BLOBS_SECRET | BLOBS_NEW, cause);
	sodium_memzero(text, strlen(text));
	free(text);
	return (rc == 0 ? 1 : -1);
}

/* Read a blob that must be there: an absent one is an error too. */
static char *
load_needed(const struct blobs *b, const char *name, size_t *len,
    char **cause)
{
	char	*text, *label;
	int	 rc;

	if ((rc = blobs_load(b, name, STATE_MAX_FILE, &text, len,
	    cause)) == 0)
		return (text);
	if (rc == BLOBS_ABSENT) {
		label = blobs_label(b, name);
		xasprintf(cause, "%s: %s", label, strerror(ENOENT));
		free(label);
	}
	return (NULL);
}

/* Read and check the identity secret key. */
uint8_t *
state_identity_load(const struct blobs *b, char **cause)
{
	char	*text, *label;
	uint8_t	*sk, pk[32];
	size_t	 len;

	if ((text = load_needed(b, "identity", &len, cause)) == NULL)
		return (NULL);
	/* The second half is scratch for the check, wiped after it. */
	if ((sk = sodium_malloc(2 * crypto_sign_SECRETKEYBYTES)) == NULL)
		fatal("sodium_malloc");
	if (b64_decode(sk, crypto_sign_SECRETKEYBYTES, text) != 0 ||
	    crypto_sign_seed_keypair(pk, sk + crypto_sign_SECRETKEYBYTES,
	    sk) != 0 || sodium_memcmp(pk, sk + 32, 32) != 0) {
		label = blobs_label(b, "identity");
		xasprintf(cause, "%s: not an Ed25519 secret key in base64",
		    label);
		free(label);
		sodium_free(sk);
		sk = NULL;
	} else
		sodium_memzero(sk + crypto_sign_SECRETKEYBYTES,
		    crypto_sign_SECRETKEYBYTES);
	sodium_memzero(text, len);
	free(text);
	return (sk);
}

/* Read the credential and check it against the server's key. */
int
state_cred_load(const struct blobs *b, const uint8_t sign_pk[32],
    uint8_t raw[CRED_LEN], struct cred *c, char **cause)
{
	char	*text, *label;
	int	 rc = -1;

	if ((text = load_needed(b, "credential", NULL, cause)) == NULL)
		return (-1);
	label = blobs_label(b, "credential");
	if (b64_decode(raw, CRED_LEN, text) != 0)
		xasprintf(cause, "%s: not a credential in base64", label);
	else if (cred_verify(raw, CRED_LEN, sign_pk, c) != 0)
		xasprintf(cause, "%s: not signed by the server's key", label);
	else
		rc = 0;
	free(label);
	free(text);
	return (rc);
}

/* Write the credential as one base64 line. */
int
state_cred_save(const struct blobs *b, const uint8_t raw[CRED_LEN],
    char **cause)
{
	char	*text, *line;

	text = b64_encode(raw, CRED_LEN);
	xasprintf(&line, "%s\n", text);
	free(text);
	return (save_text(b, "credential", line, cause));
}
