/*
 * test-cred.c -- master key files, subkeys, account IDs, credentials,
 * HELLO and CHALLENGE signatures, registration tokens.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "common.h"
#include "unit.h"

static char	 tmpdir[64];

/* Make the scratch directory, once in the parent, so that it goes even
 * when a test fails. */
static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-cred.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

/* Remove the scratch directory and everything in it. */
static void
tmp_teardown(void)
{
	DIR		*d;
	struct dirent	*de;
	char		*p;

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		xasprintf(&p, "%s/%s", tmpdir, de->d_name);
		unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

/* Count the entries of the scratch directory whose names start with
 * prefix (so a temp file left beside a key counts). */
static int
tmp_count(const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(d = opendir(tmpdir));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return (n);
}

/* Write text to a file in the scratch directory; caller frees the path. */
static char *
tmp_file(const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", tmpdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return (path);
}

/* Check that loading path fails with a cause that names it. */
static void
assert_load_fails(const char *path)
{
	uint8_t	 master[MASTER_KEY_LEN];
	char	*cause = NULL;

	ck_assert_int_eq(keys_load_master(path, master, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, path) != NULL, "cause: %s", cause);
	free(cause);
}

/* A fixed master key of one repeated byte. */
static struct keys *
keys_of(uint8_t b)
{
	uint8_t		 master[MASTER_KEY_LEN];
	struct keys	*k;

	memset(master, b, sizeof master);
	ck_assert_ptr_nonnull(k = keys_derive(master));
	return (k);
}

START_TEST(keygen_writes_loads_refuses)
{
	char		*path, *cause = NULL, *buf, *b64;
	uint8_t		 master[MASTER_KEY_LEN], other[MASTER_KEY_LEN];
	struct stat	 st;
	size_t		 len;

	xasprintf(&path, "%s/master.key", tmpdir);
	ck_assert_int_eq(keys_generate_file(path, &cause), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 45);
	ck_assert_int_eq(tmp_count("master.key"), 1);	/* no temp left */

	ck_assert_ptr_nonnull(buf = file_read_small(path, 100, &len, &cause));
	ck_assert_uint_eq(len, 45);
	ck_assert_int_eq(buf[44], '\n');
	ck_assert_int_eq(buf[43], '=');
	ck_assert_int_eq(keys_load_master(path, master, &cause), 0);
	b64 = b64_encode(master, sizeof master);
	ck_assert_int_eq(memcmp(b64, buf, 44), 0);
	free(b64);

	/* A second keygen must not touch the file. */
	ck_assert_int_eq(keys_generate_file(path, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(keys_load_master(path, other, &cause), 0);
	ck_assert_mem_eq(master, other, sizeof master);
	ck_assert_int_eq(tmp_count("master.key"), 1);
	free(buf);
	free(path);

	/* Two keys are not the same. */
	xasprintf(&path, "%s/second.key", tmpdir);
	ck_assert_int_eq(keys_generate_file(path, &cause), 0);
	ck_assert_int_eq(keys_load_master(path, other, &cause), 0);
	ck_assert_mem_ne(master, other, sizeof master);
	free(path);
}
END_TEST

START_TEST(load_accepts_line_without_newline)
{
	uint8_t	 master[MASTER_KEY_LEN], want[MASTER_KEY_LEN];
	char	*path, *cause = NULL;

	/* "AQEB..." is 32 bytes of 0x01. */
	memset(want, 0x01, sizeof want);
	path = tmp_file("k", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
	ck_assert_int_eq(keys_load_master(path, master, &cause), 0);
	ck_assert_mem_eq(master, want, sizeof want);
	free(path);
}
END_TEST

START_TEST(load_rejects_bad_files)
{
	static const char *bad[] = {
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\n",     /* 43 */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n",     /* no = */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB!QE=\n",    /* ! */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\n",    /* 33 B */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQF=\n",    /* bits */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\r\n",
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n",
		" AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=A",
		("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"),  /* two */
		"",
	};
	char	*path, name[16];
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(name, sizeof name, "bad%zu", i);
		path = tmp_file(name, bad[i]);
		assert_load_fails(path);
		free(path);
	}
	xasprintf(&path, "%s/missing", tmpdir);
	assert_load_fails(path);
	free(path);
}
END_TEST

START_TEST(derive_deterministic_and_distinct)
{
	struct keys	*a, *b, *c;

	a = keys_of(0x42);
	b = keys_of(0x42);
	c = keys_of(0x43);
	ck_assert_mem_eq(a->sign_pk, b->sign_pk, 32);
	ck_assert_mem_eq(a->sign_sk, b->sign_sk, 64);
	ck_assert_mem_eq(a->oprf_sk, b->oprf_sk, OPRF_SCALAR);
	ck_assert_mem_eq(a->token_key, b->token_key, 32);
	ck_assert_mem_ne(a->sign_pk, c->sign_pk, 32);
	ck_assert_mem_ne(a->oprf_sk, c->oprf_sk, OPRF_SCALAR);
	ck_assert_mem_ne(a->token_key, c->token_key, 32);
	/* The three subkeys are independent of each other. */
	ck_assert_mem_ne(a->sign_sk, a->token_key, 32);
	ck_assert_mem_ne(a->oprf_sk, a->token_key, 32);
	keys_free(a);
	keys_free(b);
	keys_free(c);
	keys_free(NULL);
}
END_TEST

START_TEST(derive_matches_protocol)
{
	uint8_t		 master[32], sub[32], pk[32], sk[64], osk[32];
	struct keys	*k;

	memset(master, 0x01, sizeof master);
	k = keys_derive(master);
	ck_assert_ptr_nonnull(k);

	crypto_kdf_derive_from_key(sub, 32, 1, "trystkey", master);
	crypto_sign_seed_keypair(pk, sk, sub);
	ck_assert_mem_eq(k->sign_pk, pk, 32);
	ck_assert_mem_eq(k->sign_sk, sk, 64);

	crypto_kdf_derive_from_key(sub, 32, 2, "trystkey", master);
	ck_assert_int_eq(oprf_derive_keypair(osk, NULL, sub, 32,
	    (const uint8_t *)"tryst-oprf-v1", 13), 0);
	ck_assert_mem_eq(k->oprf_sk, osk, 32);

	crypto_kdf_derive_from_key(sub, 32, 3, "trystkey", master);
	ck_assert_mem_eq(k->token_key, sub, 32);
	keys_free(k);
}
END_TEST

START_TEST(number_id_is_oprf_output)
{
	const char	*n1 = "+447700900123", *n2 = "+447700900124";
	uint8_t		 id1[ID_LEN], id1b[ID_LEN], id2[ID_LEN];
	uint8_t		 out[OPRF_OUT], blind[32], bl[32], ev[32];
	struct keys	*k = keys_of(0x07);

	ck_assert_int_eq(keys_number_id(k, n1, id1), 0);
	ck_assert_int_eq(keys_number_id(k, n1, id1b), 0);
	ck_assert_int_eq(keys_number_id(k, n2, id2), 0);
	ck_assert_mem_eq(id1, id1b, ID_LEN);
	ck_assert_mem_ne(id1, id2, ID_LEN);

	ck_assert_int_eq(oprf_evaluate(out, k->oprf_sk, (const uint8_t *)n1,
	    strlen(n1)), 0);
	ck_assert_mem_eq(id1, out, ID_LEN);

	/* The client's blinded route reaches the same ID. */
	ck_assert_int_eq(oprf_blind(blind, bl, (const uint8_t *)n1,
	    strlen(n1), NULL), 0);
	ck_assert_int_eq(oprf_blind_evaluate(ev, k->oprf_sk, bl), 0);
	ck_assert_int_eq(oprf_finalize(out, (const uint8_t *)n1, strlen(n1),
	    blind, ev), 0);
	ck_assert_mem_eq(id1, out, ID_LEN);
	keys_free(k);
}
END_TEST

/* A credential's fixed test inputs. */
static void
cred_inputs(uint8_t id[ID_LEN], uint8_t ipk[32])
{
	size_t	 i;

	for (i = 0; i < ID_LEN; i++) {
		id[i] = (uint8_t)(0xa0 + i);
		ipk[i] = (uint8_t)(0x10 + i);
	}
}

START_TEST(cred_round_trip)
{
	uint8_t		 cr[CRED_LEN], id[ID_LEN], ipk[32];
	struct cred	 c;
	struct keys	*k = keys_of(0x11);

	cred_inputs(id, ipk);
	cred_make(cr, k, id, ipk, 1700000000, 1702592000);
	ck_assert_int_eq(cr[0], 1);
	ck_assert_mem_eq(cr + 1, id, ID_LEN);
	ck_assert_mem_eq(cr + 33, ipk, 32);
	ck_assert_uint_eq(get_u64(cr + 65), 1700000000);
	ck_assert_uint_eq(get_u64(cr + 73), 1702592000);

	memset(&c, 0, sizeof c);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, k->sign_pk, &c), 0);
	ck_assert_int_eq(c.version, 1);
	ck_assert_mem_eq(c.id, id, ID_LEN);
	ck_assert_mem_eq(c.identity_pk, ipk, 32);
	ck_assert_uint_eq(c.created, 1700000000);
	ck_assert_uint_eq(c.expires, 1702592000);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, k->sign_pk, NULL), 0);
	keys_free(k);
}
END_TEST

START_TEST(cred_signature_is_protocol_format)
{
	uint8_t		 cr[CRED_LEN], m[19 + CRED_SIGNED], id[32];
	uint8_t		 ipk[32];
	struct keys	*k = keys_of(0x12);

	cred_inputs(id, ipk);
	cred_make(cr, k, id, ipk, 5, 6);
	memcpy(m, "tryst-credential-v1", 19);
	memcpy(m + 19, cr, CRED_SIGNED);
	ck_assert_int_eq(crypto_sign_verify_detached(cr + CRED_SIGNED, m,
	    sizeof m, k->sign_pk), 0);

	/* A properly signed version 2 is still refused. */
	m[19] = cr[0] = 2;
	crypto_sign_detached(cr + CRED_SIGNED, NULL, m, sizeof m, k->sign_sk);
	ck_assert_int_eq(crypto_sign_verify_detached(cr + CRED_SIGNED, m,
	    sizeof m, k->sign_pk), 0);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, k->sign_pk, NULL), -1);
	keys_free(k);
}
END_TEST

START_TEST(cred_rejects_tampering)
{
	uint8_t		 cr[CRED_LEN], big[CRED_LEN + 1], id[32];
	uint8_t		 ipk[32];
	struct keys	*k = keys_of(0x13), *other = keys_of(0x14);
	size_t		 i;

	cred_inputs(id, ipk);
	cred_make(cr, k, id, ipk, 100, 200);
	for (i = 0; i < CRED_LEN; i++) {
		cr[i] ^= 0x01;
		ck_assert_msg(cred_verify(cr, CRED_LEN, k->sign_pk, NULL) ==
		    -1, "flip 0x01 at %zu accepted", i);
		cr[i] ^= 0x81;
		ck_assert_msg(cred_verify(cr, CRED_LEN, k->sign_pk, NULL) ==
		    -1, "flip 0x80 at %zu accepted", i);
		cr[i] ^= 0x80;
	}
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, k->sign_pk, NULL), 0);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN - 1, k->sign_pk, NULL), -1);
	memcpy(big, cr, CRED_LEN);
	big[CRED_LEN] = 0;
	ck_assert_int_eq(cred_verify(big, sizeof big, k->sign_pk, NULL), -1);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, other->sign_pk, NULL), -1);

	cred_make(cr, other, id, ipk, 100, 200);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, k->sign_pk, NULL), -1);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, other->sign_pk, NULL), 0);
	keys_free(k);
	keys_free(other);
}
END_TEST

START_TEST(hello_signature)
{
	uint8_t		 ipk[32], isk[64], opk[32], osk[64], nonce[32];
	uint8_t		 cr[CRED_LEN], sig[64], m[14 + 32 + CRED_LEN];
	size_t		 i;

	crypto_sign_keypair(ipk, isk);
	crypto_sign_keypair(opk, osk);
	randombytes_buf(nonce, sizeof nonce);
	randombytes_buf(cr, sizeof cr);
	hello_sign(sig, isk, nonce, cr);
	ck_assert_int_eq(hello_verify(sig, ipk, nonce, cr), 0);
	ck_assert_int_eq(hello_verify(sig, opk, nonce, cr), -1);

	memcpy(m, "tryst-hello-v1", 14);
	memcpy(m + 14, nonce, 32);
	memcpy(m + 46, cr, CRED_LEN);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, m, sizeof m, ipk),
	    0);

	for (i = 0; i < 32; i++) {
		nonce[i] ^= 0x04;
		ck_assert_int_eq(hello_verify(sig, ipk, nonce, cr), -1);
		nonce[i] ^= 0x04;
	}
	for (i = 0; i < CRED_LEN; i++) {
		cr[i] ^= 0x20;
		ck_assert_int_eq(hello_verify(sig, ipk, nonce, cr), -1);
		cr[i] ^= 0x20;
	}
	for (i = 0; i < 64; i++) {
		sig[i] ^= 0x01;
		ck_assert_int_eq(hello_verify(sig, ipk, nonce, cr), -1);
		sig[i] ^= 0x01;
	}
	ck_assert_int_eq(hello_verify(sig, ipk, nonce, cr), 0);
}
END_TEST

START_TEST(tls_signature)
{
	uint8_t		 nonce[32], hash[32], sig[64], m[12 + 64];
	struct keys	*k = keys_of(0x21), *other = keys_of(0x22);
	size_t		 i;

	randombytes_buf(nonce, sizeof nonce);
	randombytes_buf(hash, sizeof hash);
	tls_sig_make(sig, k, nonce, hash);
	ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash), 0);
	ck_assert_int_eq(tls_sig_verify(sig, other->sign_pk, nonce, hash),
	    -1);

	memcpy(m, "tryst-tls-v1", 12);
	memcpy(m + 12, nonce, 32);
	memcpy(m + 44, hash, 32);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, m, sizeof m,
	    k->sign_pk), 0);

	for (i = 0; i < 32; i++) {
		nonce[i] ^= 0x10;
		ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash),
		    -1);
		nonce[i] ^= 0x10;
		hash[i] ^= 0x10;
		ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash),
		    -1);
		hash[i] ^= 0x10;
	}
	for (i = 0; i < 64; i++) {
		sig[i] ^= 0x80;
		ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash),
		    -1);
		sig[i] ^= 0x80;
	}
	ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash), 0);

	/* The label matters: a bare signature over nonce || hash fails. */
	crypto_sign_detached(sig, NULL, m + 12, 64, k->sign_sk);
	ck_assert_int_eq(tls_sig_verify(sig, k->sign_pk, nonce, hash), -1);
	keys_free(k);
	keys_free(other);
}
END_TEST

START_TEST(token_round_trip)
{
	static const char *codes[] = { "123456", "0", "98765432" };
	uint8_t		 tok[TOKEN_LEN], tok2[TOKEN_LEN], id[ID_LEN];
	uint8_t		 got_id[ID_LEN], nonce[TOKEN_NONCE];
	char		 code[TOKEN_CODE + 1];
	uint64_t	 exp;
	struct keys	*k = keys_of(0x31);
	size_t		 i;

	ck_assert_uint_eq(TOKEN_LEN, 88);
	randombytes_buf(id, sizeof id);
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		token_seal(tok, k, id, codes[i], 1700000000123ULL + i);
		ck_assert_int_eq(token_open(tok, TOKEN_LEN, k, got_id, code,
		    &exp, nonce), 0);
		ck_assert_mem_eq(got_id, id, ID_LEN);
		ck_assert_str_eq(code, codes[i]);
		ck_assert_uint_eq(exp, 1700000000123ULL + i);
		ck_assert_mem_eq(nonce, tok, TOKEN_NONCE);
	}
	/* Fresh nonce each time. */
	token_seal(tok, k, id, "123456", 1);
	token_seal(tok2, k, id, "123456", 1);
	ck_assert_mem_ne(tok, tok2, TOKEN_NONCE);
	keys_free(k);
}
END_TEST

START_TEST(token_rejects_tampering)
{
	uint8_t		 tok[TOKEN_LEN + 1], id[ID_LEN];
	uint8_t		 nonce[TOKEN_NONCE];
	char		 code[TOKEN_CODE + 1];
	uint64_t	 exp;
	struct keys	*k = keys_of(0x32), *other = keys_of(0x33);
	size_t		 i;

	memset(id, 0x5a, sizeof id);
	token_seal(tok, k, id, "424242", 99);
	for (i = 0; i < TOKEN_LEN; i++) {
		tok[i] ^= 0xff;
		ck_assert_msg(token_open(tok, TOKEN_LEN, k, id, code, &exp,
		    nonce) == -1, "flip at %zu opened", i);
		tok[i] ^= 0xff;
	}
	ck_assert_int_eq(token_open(tok, TOKEN_LEN, other, id, code, &exp,
	    nonce), -1);
	ck_assert_int_eq(token_open(tok, TOKEN_LEN - 1, k, id, code, &exp,
	    nonce), -1);
	tok[TOKEN_LEN] = 0;
	ck_assert_int_eq(token_open(tok, TOKEN_LEN + 1, k, id, code, &exp,
	    nonce), -1);
	ck_assert_int_eq(token_open(tok, TOKEN_LEN, k, id, code, &exp,
	    nonce), 0);
	ck_assert_str_eq(code, "424242");
	keys_free(k);
	keys_free(other);
}
END_TEST

/* Seal a token by hand with the protocol's layout and a raw code field. */
static void
hand_seal(uint8_t tok[TOKEN_LEN], const struct keys *k, const uint8_t f[8])
{
	uint8_t	 plain[48];

	memset(plain, 0x77, 32);
	memcpy(plain + 32, f, 8);
	put_u64(plain + 40, 123456789);
	randombytes_buf(tok, TOKEN_NONCE);
	crypto_secretbox_easy(tok + TOKEN_NONCE, plain, sizeof plain, tok,
	    k->token_key);
}

START_TEST(token_code_field)
{
	static const uint8_t bad[][8] = {
		{ 0, 0, 0, 0, 0, 0, 0, 0 },
		{ '1', '2', 'a', '4', 0, 0, 0, 0 },
		{ '1', '2', 0, '4', 0, 0, 0, 0 },
		{ '1', '2', '3', 0, 0, 0, 0, ' ' },
		{ ' ', '1', '2', '3', 0, 0, 0, 0 },
		{ '1', '2', '3', '4', '5', '6', '7', '/' },
	};
	static const uint8_t good[8] = { '0', '7', '1', 0, 0, 0, 0, 0 };
	uint8_t		 tok[TOKEN_LEN], id[ID_LEN], nonce[TOKEN_NONCE];
	char		 code[TOKEN_CODE + 1];
	uint64_t	 exp;
	struct keys	*k = keys_of(0x34);
	size_t		 i;

	hand_seal(tok, k, good);
	ck_assert_int_eq(token_open(tok, TOKEN_LEN, k, id, code, &exp,
	    nonce), 0);
	ck_assert_str_eq(code, "071");
	ck_assert_uint_eq(exp, 123456789);
	ck_assert_int_eq(id[0], 0x77);
	ck_assert_int_eq(id[31], 0x77);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		hand_seal(tok, k, bad[i]);
		ck_assert_msg(token_open(tok, TOKEN_LEN, k, id, code, &exp,
		    nonce) == -1, "bad code %zu opened", i);
	}
	keys_free(k);
}
END_TEST

START_TEST(identity_pk_checks)
{
	uint8_t	 pk[32], sk[64], p[32], sum[32];

	crypto_sign_keypair(pk, sk);
	ck_assert_int_eq(identity_pk_valid(pk), 1);

	memset(p, 0, sizeof p);			/* y = 0: order 4 */
	ck_assert_int_eq(identity_pk_valid(p), 0);
	p[0] = 1;				/* the identity point */
	ck_assert_int_eq(identity_pk_valid(p), 0);
	memset(p, 0xff, sizeof p);		/* y >= p: not canonical */
	ck_assert_int_eq(identity_pk_valid(p), 0);

	/* y = 2 is on no point of the curve. */
	memset(p, 0, sizeof p);
	p[0] = 2;
	ck_assert_int_eq(crypto_core_ed25519_add(sum, pk, p), -1);
	ck_assert_int_eq(identity_pk_valid(p), 0);

	/* A real key plus a point of order 4 is off the main subgroup. */
	memset(p, 0, sizeof p);
	ck_assert_int_eq(crypto_core_ed25519_add(sum, pk, p), 0);
	ck_assert_int_eq(identity_pk_valid(sum), 0);
}
END_TEST

/* Build the suite. */
static Suite *
cred_suite(void)
{
	Suite	*s = suite_create("cred");
	TCase	*tc;

	tc = tcase_create("keyfile");
	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, keygen_writes_loads_refuses);
	tcase_add_test(tc, load_accepts_line_without_newline);
	tcase_add_test(tc, load_rejects_bad_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, derive_deterministic_and_distinct);
	tcase_add_test(tc, derive_matches_protocol);
	tcase_add_test(tc, number_id_is_oprf_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("signatures");
	tcase_add_test(tc, cred_round_trip);
	tcase_add_test(tc, cred_signature_is_protocol_format);
	tcase_add_test(tc, cred_rejects_tampering);
	tcase_add_test(tc, hello_signature);
	tcase_add_test(tc, tls_signature);
	tcase_add_test(tc, identity_pk_checks);
	suite_add_tcase(s, tc);

	tc = tcase_create("tokens");
	tcase_add_test(tc, token_round_trip);
	tcase_add_test(tc, token_rejects_tampering);
	tcase_add_test(tc, token_code_field);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (sodium_init() < 0)
		return (1);
	return (unit_run(cred_suite()));
}
