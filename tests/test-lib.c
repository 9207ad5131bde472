/*
 * test-lib.c -- libtryst's context without a server: errors as values,
 * the loop interface (tasks, their descriptors and timers on a clock the
 * test sets, a finished task freed on the next pass and never inside its
 * own step), and the account calls' checks that fail before any network:
 * wrong order, bad arguments, a state folder that is not made until set-up
 * writes to it; on a device registered by hand (a credential signed with
 * a key of the test's), what needs no server: the credential's times,
 * contacts by the first digits of an ID, safety numbers of a trusted and
 * a pending key, and requests to a server that refuses; and state kept
 * by the app's callbacks (in memory here): read through the API, written
 * back whole, and when it cannot be read, an error with nothing written
 * over it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include <sodium.h>

#include "lib.h"
#include "unit.h"

static int64_t	 clock_ms;	/* the test's clock */

static int64_t
fake_now(void)
{
	return (clock_ms);
}

/* A task the test drives: how often stepped, when it says done. */
struct probe {
	int		 steps;
	int		 done_at;	/* the step that finishes it */
	int		 freed;
	int		 fd;		/* given by its fds hook, or -1 */
	int64_t		 deadline;
};

static int
probe_step(struct tryst *t, struct task *k, int64_t now)
{
	struct probe	*p = k->data;

	(void)t, (void)now;
	ck_assert_int_eq(p->freed, 0);	/* never stepped once freed */
	return (++p->steps == p->done_at);
}

static void
probe_free(struct task *k)
{
	((struct probe *)k->data)->freed++;
}

static int
probe_fds(const struct task *k, struct pollfd *pfd, int max)
{
	const struct probe	*p = k->data;

	if (p->fd == -1 || max < 1)
		return (0);
	pfd[0].fd = p->fd;
	pfd[0].events = POLLIN | POLLOUT;
	return (1);
}

static int64_t
probe_deadline(const struct task *k)
{
	return (((const struct probe *)k->data)->deadline);
}

/* A context on the fake clock. */
static tryst_t *
ctx_new(void)
{
	tryst_t	*t;

	ck_assert_ptr_nonnull(t = tryst_new(NULL));
	t->now = fake_now;
	clock_ms = 1000000;
	return (t);
}

/* Errors: code, message, server code and retry_after from an ERROR. */
START_TEST(test_errors)
{
	struct tryst_error	*e;
	tryst_error		*got = NULL;
	struct msg		 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_ERROR;
	m.u.error.code = ERR_RATE_LIMITED;
	m.u.error.retry_after_s = 42;
	m.u.error.message.p = (const uint8_t *)"slow down";
	m.u.error.message.len = 9;
	e = lib_err_server(&m);
	ck_assert_int_eq(tryst_error_code(e), TRYST_ESERVER);
	ck_assert_int_eq(tryst_error_server_code(e), ERR_RATE_LIMITED);
	ck_assert_int_eq(tryst_error_retry_after_s(e), 42);
	ck_assert_str_eq(tryst_error_message(e),
	    "server error RATE_LIMITED: slow down");
	ck_assert_int_eq(lib_err_give(e, &got), TRYST_ESERVER);
	ck_assert_ptr_eq(got, e);
	tryst_error_free(got);
	m.u.error.code = ERR_REVOKED;
	e = lib_err_server(&m);
	ck_assert_int_eq(tryst_error_code(e), TRYST_EREVOKED);
	ck_assert_int_eq(lib_err_give(e, NULL), TRYST_EREVOKED);  /* freed */
	ck_assert_int_eq(tryst_error_code(NULL), 0);
	ck_assert_str_eq(tryst_error_message(NULL), "no error");
}
END_TEST

/* Nothing to do: no descriptor, no timeout, tryst_run returns at once. */
START_TEST(test_idle)
{
	tryst_t	*t = ctx_new();
	int	 fd;
	unsigned ev;

	ck_assert_int_eq(tryst_fd_count(t), 0);
	ck_assert_int_eq(tryst_fd_get(t, 0, &fd, &ev), TRYST_EINVAL);
	ck_assert_int_eq(tryst_timeout_ms(t), -1);
	ck_assert_int_eq(tryst_run(t, -1, NULL), 0);
	ck_assert_int_eq(tryst_status(t), TRYST_OFFLINE);
	tryst_destroy(t);
}
END_TEST

/* A task's timer and deadline hook give the timeout; its fds hook the
 * descriptors; it is stepped on each pass until done, and freed on the
 * pass after, once. */
START_TEST(test_tasks)
{
	tryst_t		*t = ctx_new();
	struct probe	 a = { .done_at = 3, .fd = 7, .deadline = -1 };
	struct probe	 b = { .done_at = 100, .fd = -1, .deadline = -1 };
	struct task	*ka, *kb;
	int		 fd;
	unsigned	 ev;

	ka = lib_task_add(t, probe_step, &a, probe_free);
	ka->fds = probe_fds;
	kb = lib_task_add(t, probe_step, &b, probe_free);
	kb->deadline = probe_deadline;
	/* New work: process at once, whatever it waits for. Without this a
	 * connection that got as far as it could inside tryst_go_online
	 * waited for the server, which waited for its HELLO. */
	ck_assert_int_eq(tryst_timeout_ms(t), 0);
	ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(a.steps, 1);
	ck_assert_int_eq(tryst_fd_count(t), 1);
	ck_assert_int_eq(tryst_fd_get(t, 0, &fd, &ev), 0);
	ck_assert_int_eq(fd, 7);
	ck_assert_uint_eq(ev, TRYST_READ | TRYST_WRITE);
	ck_assert_int_eq(tryst_timeout_ms(t), -1);
	ka->timer = clock_ms + 500;
	b.deadline = clock_ms + 200;
	ck_assert_int_eq(tryst_timeout_ms(t), 200);
	clock_ms += 150;
	ck_assert_int_eq(tryst_timeout_ms(t), 50);
	clock_ms += 100;
	ck_assert_int_eq(tryst_timeout_ms(t), 0);	/* late: at once */
	b.deadline = -1;
	ck_assert_int_eq(tryst_timeout_ms(t), 250);

	ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(a.steps, 2);
	ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);	/* a done */
	ck_assert_int_eq(a.steps, 3);
	ck_assert_int_eq(a.freed, 0);		/* not inside its own pass */
	ck_assert_int_eq(tryst_fd_count(t), 0);	/* nor watched */
	ck_assert_int_eq(tryst_timeout_ms(t), 0);	/* to be freed */
	ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(a.freed, 1);
	ck_assert_int_eq(a.steps, 3);
	ck_assert_int_eq(b.steps, 4);
	lib_due(t);				/* an API call changed work */
	ck_assert_int_eq(tryst_timeout_ms(t), 0);
	ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(tryst_timeout_ms(t), -1);	/* b waits for nothing */
	tryst_destroy(t);
	ck_assert_int_eq(b.freed, 1);		/* destroy frees the rest */
	ck_assert_int_eq(a.freed, 1);
}
END_TEST

struct done {
	int	 called;
	int	 code;
	int	 address;	/* on_check's */
};

static void
on_done(tryst_t *t, const tryst_error *e, void *user)
{
	struct done	*d = user;

	(void)t;
	d->called++;
	d->code = tryst_error_code(e);
}

/* tryst_check_account's answer: as on_done, and whether an address came
 * with it. */
static void
on_check(tryst_t *t, const tryst_error *e, const char *address, void *user)
{
	struct done	*d = user;

	on_done(t, e, user);
	d->address = address != NULL;
}

/* The account calls refuse at once what cannot work, and nothing is
 * written: no state folder yet, then a folder that set-up has not made. */
START_TEST(test_account_checks)
{
	tryst_t		*t = ctx_new();
	tryst_error	*e = NULL;
	char		 dir[] = "/tmp/tryst-lib.XXXXXX", sub[64];
	struct stat	 sb;

	ck_assert_int_eq(tryst_register(t, "+15550100999", NULL, NULL, &e),
	    TRYST_ESTATE);
	tryst_error_free(e);
	ck_assert_int_eq(tryst_setup(t, "127.0.0.1:1", NULL, NULL, NULL, NULL,
	    NULL), TRYST_ESTATE);		/* no state folder */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/state", dir);
	ck_assert_int_eq(tryst_state_dir(t, sub, NULL), 0);
	ck_assert_int_eq(stat(sub, &sb), -1);	/* not made yet */
	ck_assert_ptr_null(tryst_account_number(t));
	ck_assert_ptr_null(tryst_account_id(t));
	ck_assert_ptr_null(tryst_identity_key(t));
	ck_assert_int_eq(tryst_setup(t, "", NULL, NULL, NULL, NULL, NULL),
	    TRYST_EINVAL);
	ck_assert_int_eq(tryst_setup(t, "a b:1", NULL, NULL, NULL, NULL,
	    NULL), TRYST_EINVAL);
	ck_assert_int_eq(tryst_setup(t, "127.0.0.1:99999", NULL, NULL, NULL,
	    NULL, NULL), TRYST_EINVAL);
	ck_assert_int_eq(tryst_setup(t, "127.0.0.1:1", "short", NULL, NULL,
	    NULL, NULL), TRYST_EINVAL);
	ck_assert_int_eq(tryst_setup(t, "127.0.0.1:1", NULL, "044", NULL,
	    NULL, &e), TRYST_EINVAL);
	ck_assert_str_eq(tryst_error_message(e), "country: not a country "
	    "code");
	tryst_error_free(e);
	ck_assert_int_eq(tryst_verify(t, "123456", NULL, NULL, NULL),
	    TRYST_ESTATE);
	ck_assert_int_eq(tryst_go_online(t, NULL, NULL, NULL), TRYST_ESTATE);
	ck_assert_int_eq(tryst_check_account(t, on_check, NULL, NULL),
	    TRYST_ESTATE);
	ck_assert_int_eq(tryst_check_account(t, NULL, NULL, NULL),
	    TRYST_EINVAL);
	ck_assert_int_eq(tryst_delete_account(t, on_done, NULL, NULL),
	    TRYST_ESTATE);
	ck_assert_int_eq(tryst_delete_account(t, NULL, NULL, NULL),
	    TRYST_EINVAL);
	ck_assert_int_eq(tryst_account_created(t), 0);
	ck_assert_int_eq(tryst_account_expires(t), 0);
	ck_assert_ptr_null(tryst_contact_find(t, "abcdef0123456789"));
	ck_assert_int_eq(stat(sub, &sb), -1);	/* still nothing written */
	ck_assert_int_eq(tryst_fd_count(t), 0);
	tryst_destroy(t);
	rmdir(dir);
}
END_TEST

/* A loopback port bound by fd but not listening: a connect to it is
 * refused at once. */
static int
refusing_port(int *fd)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(*fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
	return (ntohs(sin.sin_port));
}

/* A connection refused inside connect() leaves no descriptor and no
 * deadline: the next server must still be tried on the next pass, and the
 * request end, rather than the loop wait for nothing (the same holds for
 * staying online, whose reconnect after a killed server stalled so). */
START_TEST(test_refused_at_once)
{
	tryst_t		*t = ctx_new();
	struct done	 d = { 0, 0, 0 };
	char		 dir[] = "/tmp/tryst-lib.XXXXXX", servers[64];
	int		 fd1, fd2, i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tryst_state_dir(t, dir, NULL), 0);
	snprintf(servers, sizeof servers, "127.0.0.1:%d,127.0.0.1:%d",
	    refusing_port(&fd1), refusing_port(&fd2));
	ck_assert_int_eq(tryst_setup(t, servers, NULL, NULL, on_done, &d,
	    NULL), 0);
	for (i = 0; i < 10 && d.called == 0; i++) {
		ck_assert_int_eq(tryst_timeout_ms(t), 0);
		ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	}
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.code, TRYST_ENET);
	tryst_destroy(t);
	close(fd1);
	close(fd2);
	rmdir(dir);
}
END_TEST

/* A device registered without a server, in dir: a config naming
 * servers and a server key of the test's own, an identity key (its
 * public half in identity_pk), and a credential signed with that key,
 * created at 1000 and expiring at 2000. */
static void
fake_registered(const char *dir, const char *servers,
    uint8_t identity_pk[32])
{
	struct client_conf	 cf;
	struct keys		*k;
	struct blobs		*b;
	uint8_t			 master[MASTER_KEY_LEN], raw[CRED_LEN];
	uint8_t			 id[ID_LEN], *sk;
	char			*key, *cause = NULL;

	randombytes_buf(master, sizeof master);
	k = keys_derive(master);
	b = blobs_dir(dir);
	ck_assert_int_eq(blobs_prepare(b, &cause), 0);
	ck_assert_int_eq(state_identity_make(b, &cause), 1);
	ck_assert_ptr_nonnull(sk = state_identity_load(b, &cause));
	memcpy(identity_pk, sk + 32, 32);
	sodium_free(sk);
	randombytes_buf(id, sizeof id);
	cred_make(raw, k, id, identity_pk, 1000, 2000);
	ck_assert_int_eq(state_cred_save(b, raw, &cause), 0);
	key = b64_encode(k->sign_pk, 32);
	cf.server = (char *)servers;
	cf.key = key;
	cf.country = "";
	cf.number = "+15550100360";
	ck_assert_int_eq(state_conf_save(b, &cf, &cause), 0);
	free(key);
	keys_free(k);
	blobs_free(b);
}

/* Remove what fake_registered and the calls made in dir. */
static void
fake_remove(const char *dir)
{
	char	 cmd[64];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* With no server answering, tryst_check_account and tryst_delete_account
 * end in TRYST_ENET through their callbacks (no address), and the
 * registration is left as it was: only DELETED forgets it. */
START_TEST(test_check_unreachable)
{
	tryst_t		*t = ctx_new();
	struct done	 d = { 0, 0, 1 }, dd = { 0, 0, 0 };
	uint8_t		 ipk[32];
	char		 dir[] = "/tmp/tryst-lib.XXXXXX", servers[32], *n;
	int		 fd, i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(servers, sizeof servers, "127.0.0.1:%d",
	    refusing_port(&fd));
	fake_registered(dir, servers, ipk);
	ck_assert_int_eq(tryst_state_dir(t, dir, NULL), 0);
	ck_assert_int_eq(tryst_account_created(t), 1000);
	ck_assert_int_eq(tryst_account_expires(t), 2000);
	ck_assert_int_eq(tryst_check_account(t, on_check, &d, NULL), 0);
	ck_assert_int_eq(tryst_delete_account(t, on_done, &dd, NULL), 0);
	for (i = 0; i < 10 && (d.called == 0 || dd.called == 0); i++)
		ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.code, TRYST_ENET);
	ck_assert_int_eq(d.address, 0);
	ck_assert_int_eq(dd.called, 1);
	ck_assert_int_eq(dd.code, TRYST_ENET);
	ck_assert_str_eq(n = tryst_account_number(t), "+15550100360");
	tryst_free(n);
	ck_assert_int_eq(tryst_account_expires(t), 2000);
	tryst_destroy(t);
	close(fd);
	fake_remove(dir);
}
END_TEST

/* Contacts by the first digits of their IDs, and the safety numbers of
 * the trusted and of a pending key before and after tryst_trust. */
START_TEST(test_contacts)
{
	tryst_t		*t = ctx_new();
	tryst_error	*e = NULL;
	uint8_t		 ipk[32], a[ID_LEN], b[ID_LEN], pk[3][32];
	char		 dir[] = "/tmp/tryst-lib.XXXXXX", ahex[2 * ID_LEN + 1];
	char		 bhex[2 * ID_LEN + 1], want[36], want2[36], *s, *cause;
	struct blobs	*bl;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fake_registered(dir, "127.0.0.1:1", ipk);
	ck_assert_int_eq(tryst_state_dir(t, dir, NULL), 0);
	bl = blobs_dir(dir);
	/* Two contacts whose IDs differ in the last digit alone. */
	memset(a, 0xab, sizeof a);
	memcpy(b, a, sizeof b);
	b[ID_LEN - 1] = 0xac;
	hex_encode(ahex, a, ID_LEN);
	hex_encode(bhex, b, ID_LEN);
	randombytes_buf(pk, sizeof pk);
	ck_assert_int_eq(contacts_check(bl, a, pk[0], &cause), 0);
	ck_assert_int_eq(contacts_check(bl, b, pk[1], &cause), 0);
	ck_assert_ptr_null(tryst_contact_find(t, "abababababababab"));
	ck_assert_str_eq(s = tryst_contact_find(t, ahex), ahex);
	tryst_free(s);
	bhex[2 * ID_LEN - 1] = 'C';	/* either case */
	ck_assert_ptr_nonnull(s = tryst_contact_find(t, bhex));
	bhex[2 * ID_LEN - 1] = 'c';
	ck_assert_str_eq(s, bhex);
	tryst_free(s);
	ck_assert_ptr_null(tryst_contact_find(t, ""));
	ck_assert_ptr_null(tryst_contact_find(t, "abababababababag"));
	ck_assert_ptr_null(tryst_contact_find(t, "cdcdcdcdcdcdcdcd"));

	safety_number(ipk, pk[0], want);
	ck_assert_str_eq(s = tryst_safety_number(t, ahex, NULL), want);
	tryst_free(s);
	ck_assert_ptr_null(tryst_safety_number_pending(t, ahex, &e));
	ck_assert_int_eq(tryst_error_code(e), TRYST_ESTATE);
	tryst_error_free(e);
	/* a's key changes: the new one waits, the trusted one stays. */
	ck_assert_int_eq(contacts_check(bl, a, pk[2], &cause), 1);
	safety_number(ipk, pk[2], want2);
	ck_assert_str_eq(s = tryst_safety_number(t, ahex, NULL), want);
	tryst_free(s);
	ck_assert_str_eq(s = tryst_safety_number_pending(t, ahex, NULL),
	    want2);
	tryst_free(s);
	ck_assert_int_eq(tryst_trust(t, ahex, NULL), 0);
	ck_assert_str_eq(s = tryst_safety_number(t, ahex, NULL), want2);
	tryst_free(s);
	ck_assert_ptr_null(tryst_safety_number_pending(t, ahex, NULL));
	ck_assert_ptr_null(tryst_safety_number_pending(t, "00", NULL));
	tryst_destroy(t);
	blobs_free(bl);
	fake_remove(dir);
}
END_TEST

/* ---- state in the app's hands: blobs in memory ---- */

#define KEY_B64	"VleK2MAUr8Xn5JkVh1i3bQb8T3y2FfWq0m9X7dR6Pa8="
#define PEER	"ab00000000000000000000000000000000" \
		"000000000000000000000000000001"

struct memstore {
	char		 name[8][16];
	char		*data[8];	/* NUL terminated copies */
	int		 flags[8];
	const char	*broken;	/* this name cannot be loaded */
	int		 loads, saves;
};

static int
mem_find(struct memstore *m, const char *name)
{
	int	 i;

	for (i = 0; i < 8; i++) {
		if (strcmp(m->name[i], name) == 0)
			return (i);
	}
	return (-1);
}

/* Put name = text in the store, as a previous run of the app left it. */
static void
mem_put(struct memstore *m, const char *name, const char *text, int flags)
{
	int	 i;

	if ((i = mem_find(m, name)) == -1)
		i = mem_find(m, "");
	ck_assert_int_ne(i, -1);
	snprintf(m->name[i], sizeof m->name[i], "%s", name);
	free(m->data[i]);
	m->data[i] = xstrdup(text);
	m->flags[i] = flags;
}

static const char *
mem_get(struct memstore *m, const char *name)
{
	int	 i = mem_find(m, name);

	return (i == -1 ? NULL : m->data[i]);
}

static int
mem_load(const char *name, tryst_blob *blob, void *user)
{
	struct memstore	*m = user;
	const char	*text;

	m->loads++;
	if (m->broken != NULL && strcmp(name, m->broken) == 0)
		return (-1);
	if ((text = mem_get(m, name)) == NULL)
		return (TRYST_BLOB_NONE);
	return (tryst_blob_set(blob, text, strlen(text)));
}

static int
mem_save(const char *name, const void *data, size_t len, int flags,
    void *user)
{
	struct memstore	*m = user;
	char		*text = xmalloc(len + 1);

	m->saves++;
	memcpy(text, data, len);
	text[len] = '\0';
	mem_put(m, name, text, flags);
	free(text);
	return (0);
}

static int
mem_remove(const char *name, void *user)
{
	struct memstore	*m = user;
	int		 i;

	if ((i = mem_find(m, name)) != -1) {
		free(m->data[i]);
		m->data[i] = NULL;
		m->name[i][0] = '\0';
	}
	return (0);
}

static void
mem_free(struct memstore *m)
{
	int	 i;

	for (i = 0; i < 8; i++)
		free(m->data[i]);
}

static void
on_lookup(tryst_t *t, const tryst_error *e,
    const tryst_lookup_result *res, void *user)
{
	(void)t, (void)e, (void)res, (void)user;
	ck_abort_msg("a lookup that was refused called back");
}

/* A device set up and registered before, its state in the app's store:
 * the account, the identity key and the ID cache read through the
 * callbacks, a changed key trusted and the pins saved back whole; blobs
 * that cannot be read fail the calls that would write them, and nothing
 * is saved over them; a set-up that fails saves nothing either. */
START_TEST(test_state_store)
{
	tryst_t		*t = ctx_new();
	tryst_error	*e = NULL;
	struct memstore	 m;
	struct done	 d = { 0, 0, 0 };
	uint8_t		 pk[32], sk[64], k1[32], k2[32];
	char		*s, *ident, *b1, *b2, line[256], servers[64];
	const char	*numbers[1] = { "+15550100352" };
	int		 fd1, i;

	memset(&m, 0, sizeof m);
	crypto_sign_keypair(pk, sk);
	ident = b64_encode(sk, 64);
	memset(k1, 1, 32);
	memset(k2, 2, 32);
	b1 = b64_encode(k1, 32);
	b2 = b64_encode(k2, 32);
	snprintf(servers, sizeof servers, "127.0.0.1:%d",
	    refusing_port(&fd1));
	snprintf(line, sizeof line, "server = %s\nkey = %s\nnumber = "
	    "+15550100350\n", servers, KEY_B64);
	mem_put(&m, "config", line, 0);
	mem_put(&m, "identity", ident, TRYST_BLOB_SECRET);
	mem_put(&m, "ids", "+15550100351 " PEER "\n", 0);
	snprintf(line, sizeof line, "%s %s %s\n", PEER, b1, b2);
	mem_put(&m, "contacts", line, 0);

	ck_assert_int_eq(tryst_state_store(t, mem_load, NULL, mem_remove, &m,
	    NULL), TRYST_EINVAL);
	/* A config that cannot be read is an error, not a fresh device. */
	m.broken = "config";
	ck_assert_int_eq(tryst_state_store(t, mem_load, mem_save, mem_remove,
	    &m, &e), TRYST_EIO);
	ck_assert_msg(strstr(tryst_error_message(e), "\"config\"") != NULL,
	    "%s", tryst_error_message(e));
	tryst_error_free(e);
	ck_assert_ptr_null(tryst_account_number(t));
	m.broken = NULL;
	ck_assert_int_eq(tryst_state_store(t, mem_load, mem_save, mem_remove,
	    &m, NULL), 0);
	ck_assert_ptr_nonnull(s = tryst_account_number(t));
	ck_assert_str_eq(s, "+15550100350");
	tryst_free(s);
	ck_assert_ptr_nonnull(s = tryst_account_servers(t));
	ck_assert_str_eq(s, servers);
	tryst_free(s);
	free(ident);
	ident = b64_encode(pk, 32);
	ck_assert_ptr_nonnull(s = tryst_identity_key(t));
	ck_assert_str_eq(s, ident);
	tryst_free(s);
	ck_assert_ptr_nonnull(s = tryst_cached_id(t, "+15550100351"));
	ck_assert_str_eq(s, PEER);
	tryst_free(s);
	ck_assert_ptr_nonnull(s = tryst_cached_number(t, PEER));
	ck_assert_str_eq(s, "+15550100351");
	tryst_free(s);
	ck_assert_int_eq(m.saves, 0);

	/* Pins that cannot be read: tryst_trust fails, saves nothing. */
	m.broken = "contacts";
	ck_assert_int_eq(tryst_trust(t, PEER, &e), TRYST_EIO);
	tryst_error_free(e);
	ck_assert_int_eq(m.saves, 0);
	m.broken = NULL;
	ck_assert_int_eq(tryst_trust(t, PEER, NULL), 0);
	ck_assert_int_eq(m.saves, 1);
	snprintf(line, sizeof line, "%s %s -\n", PEER, b2);
	ck_assert_str_eq(mem_get(&m, "contacts"), line);
	ck_assert_int_eq(tryst_trust(t, PEER, NULL), TRYST_ESTATE);

	/* An ID cache that cannot be read: a lookup, which would save it
	 * whole, refuses at once. */
	m.broken = "ids";
	ck_assert_int_eq(tryst_lookup(t, numbers, 1, NULL, NULL, NULL),
	    TRYST_EINVAL);
	ck_assert_int_eq(tryst_lookup(t, numbers, 1, on_lookup, NULL, &e),
	    TRYST_EIO);
	ck_assert_msg(strstr(tryst_error_message(e), "\"ids\"") != NULL,
	    "%s", tryst_error_message(e));
	tryst_error_free(e);
	ck_assert_ptr_null(tryst_cached_id(t, "+15550100351"));
	m.broken = NULL;

	/* A set-up that reaches no server writes nothing; the state cannot
	 * change under it. */
	m.saves = 0;
	ck_assert_int_eq(tryst_setup(t, servers, NULL, NULL, on_done, &d,
	    NULL), 0);
	ck_assert_int_eq(tryst_state_store(t, mem_load, mem_save, mem_remove,
	    &m, NULL), TRYST_EBUSY);
	for (i = 0; i < 10 && d.called == 0; i++)
		ck_assert_int_eq(tryst_process(t, -1, 0, NULL), 0);
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.code, TRYST_ENET);
	ck_assert_int_eq(m.saves, 0);
	ck_assert_int_eq(mem_get(&m, "identity") != NULL, 1);
	ck_assert_int_eq(m.flags[mem_find(&m, "identity")], TRYST_BLOB_SECRET);
	tryst_destroy(t);
	close(fd1);
	free(ident);
	free(b1);
	free(b2);
	mem_free(&m);
}
END_TEST

static Suite *
lib_suite(void)
{
	Suite	*s = suite_create("lib");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_idle);
	tcase_add_test(tc, test_tasks);
	tcase_add_test(tc, test_account_checks);
	tcase_add_test(tc, test_refused_at_once);
	tcase_add_test(tc, test_check_unreachable);
	tcase_add_test(tc, test_contacts);
	tcase_add_test(tc, test_state_store);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(lib_suite()));
}
