/*
 * harness-proc.c -- trystds of a test beside H's: each with its own
 * configuration, log and port, on H's Redis (or another), started,
 * waited for and killed at teardown.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <dirent.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define MAX_PROCS	8

static struct hproc	*procs[MAX_PROCS];

/* ---- trystds of a test ------------------------------------------------ */

/* A port neither H nor another trystd of the test uses. */
int
h_proc_port(int socktype)
{
	int	 port, i, clash;

	do {
		port = h_free_port(socktype);
		clash = port == H.redis_port || port == H.tryst_port ||
		    port == H.tryst_port2;
		for (i = 0; i < MAX_PROCS; i++)
			clash |= procs[i] != NULL && procs[i]->port == port;
	} while (clash);
	return (port);
}

/* A trystd named name on a free port, not started. */
struct hproc *
h_proc_new(const char *name)
{
	struct hproc	*p;
	int		 i;

	for (i = 0; i < MAX_PROCS && procs[i] != NULL; i++)
		;
	ck_assert_msg(i < MAX_PROCS, "too many trystds in one test");
	p = xcalloc(1, sizeof *p);
	p->port = h_proc_port(SOCK_STREAM);
	procs[i] = p;
	snprintf(p->hostport, sizeof p->hostport, "127.0.0.1:%d", p->port);
	snprintf(p->conf, sizeof p->conf, "%s/%s.conf", H.dir, name);
	snprintf(p->log, sizeof p->log, "%s/%s.log", H.dir, name);
	unlink(p->log);
	return (p);
}

/* Write p's configuration. */
void
h_proc_conf(struct hproc *p, const char *listen, const char *cert,
    const char *key, const char *master, const char *extra)
{
	char	 dcert[PATH_MAX + 16], dkey[PATH_MAX + 16];
	char	 dev[PATH_MAX + 32] = "", redis[64], *text, *why = NULL;
	static const char *budget[] = { "codes_per_hour_per_ip",
	    "codes_per_hour_per_prefix", "codes_per_hour" };
	static const char *value[] = { "10000", "10000", "100000" };
	char	 budgets[192] = "", k[48];
	size_t	 n;
	int	 i;

	snprintf(dcert, sizeof dcert, "%s/cert.pem", H.dir);
	snprintf(dkey, sizeof dkey, "%s/key.pem", H.dir);
	/* extra may set verification itself. */
	if (extra == NULL || strstr(extra, "verification =") == NULL)
		snprintf(dev, sizeof dev, "verification = dev:%s\n",
		    H.devfile);
	snprintf(redis, sizeof redis, "127.0.0.1:%d", H.redis_port);
	/* Every test registers from 127.0.0.1, many at once: large code
	 * budgets, each unless extra sets it. */
	for (i = 0; i < 3; i++) {
		snprintf(k, sizeof k, "%s =", budget[i]);
		if (extra != NULL && strstr(extra, k) != NULL)
			continue;
		n = strlen(budgets);
		snprintf(budgets + n, sizeof budgets - n, "%s = %s\n",
		    budget[i], value[i]);
	}
	/* Nodes on one Redis need names of their own: one per port. */
	if (extra == NULL || strstr(extra, "node_name =") == NULL) {
		n = strlen(budgets);
		snprintf(budgets + n, sizeof budgets - n,
		    "node_name = test-%d\n", p->port);
	}
	xasprintf(&text,
	    "listen = %s\ntls_cert = %s\ntls_key = %s\nmaster_key = %s\n"
	    "redis = %s\n%s%s%s",
	    listen != NULL ? listen : p->hostport, cert != NULL ? cert : dcert,
	    key != NULL ? key : dkey, master != NULL ? master : H.master,
	    *p->redis != '\0' ? p->redis : redis, dev, budgets,
	    extra != NULL ? extra : "");
	ck_assert_msg(file_write_atomic(p->conf, text, strlen(text), 0600, 0,
	    &why) == 0, "%s: %s", p->conf, why);
	free(text);
}

/* Start p with env added. */
void
h_proc_start(struct hproc *p, char *const env[])
{
	char	*argv[] = { getenv("TRYSTD"), "-c", p->conf, NULL };

	p->pid = h_spawn(argv, env, p->log);
	ck_assert_int_gt(p->pid, 0);
}

/* Wait until a connection to p, checked against H.sign_pk, opens. */
void
h_proc_ready(struct hproc *p)
{
	h_proc_ready_key(p, H.sign_pk);
}

/* Wait until a connection to p, checked against pk, opens. */
void
h_proc_ready_key(struct hproc *p, const uint8_t pk[32])
{
	struct tconn	*tc;
	char		*why = NULL;
	int		 i;

	for (i = 0; i < 100; i++) {
		ck_assert_msg(!h_proc_wait(p, 0), "trystd exited (see %s)",
		    p->log);
		if ((tc = tconn_open(p->hostport, pk, NULL, &why)) !=
		    NULL) {
			tconn_close(tc);
			return;
		}
		free(why);
		why = NULL;
		h_msleep(100);
	}
	ck_abort_msg("trystd not ready after 10 s (see %s)", p->log);
}

/* A trystd named name on H's keys (master NULL) or on the master key file
 * master, whose signing key is pk, with the extra lines: started, and
 * taking connections. */
struct hproc *
h_proc_up(const char *name, const char *master, const uint8_t pk[32],
    const char *extra)
{
	struct hproc	*p = h_proc_new(name);

	h_proc_conf(p, NULL, NULL, NULL, master, extra);
	h_proc_start(p, NULL);
	h_proc_ready_key(p, master != NULL ? pk : H.sign_pk);
	return (p);
}

/* The least shift s, 0 <= s < period, that puts the wall clock at `at`
 * seconds into a UTC period (3600, an hour; 86400, a day). Never behind:
 * Redis's own clock is not shifted, so a trystd ahead of it keeps a
 * window's counter up to s seconds longer, never shorter. */
long long
h_clock_shift(long long period, long long at)
{
	long long	 now = (long long)(h_wall_ms() / 1000);

	return (((at - now % period) % period + period) % period);
}

/* h_proc_up on H's keys, with trystd's clock shifted by shift seconds
 * (TRYST_CLOCK_SHIFT_S). */
struct hproc *
h_proc_up_shifted(const char *name, long long shift, const char *extra)
{
	struct hproc	*p = h_proc_new(name);
	char		 env[64], *envp[] = { env, NULL };

	snprintf(env, sizeof env, "TRYST_CLOCK_SHIFT_S=%lld", shift);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, envp);
	h_proc_ready(p);
	return (p);
}

/* Descriptors that process pid has open. */
int
h_nfds(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return (n);
}

/* Wait up to ms for p to exit. */
int
h_proc_wait(struct hproc *p, int ms)
{
	int64_t	 end = h_mono_ms() + ms;

	if (p->pid <= 0)
		return (1);
	for (;;) {
		if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
			p->pid = 0;
			return (1);
		}
		if (h_mono_ms() >= end)
			return (0);
		h_msleep(10);
	}
}

/* How often text occurs in the file at path (0 when it is missing). */
int
h_file_count(const char *path, const char *text)
{
	char		*buf, *why = NULL;
	const char	*s;
	size_t		 len;
	int		 n = 0;

	if ((buf = file_read_small(path, 1 << 22, &len, &why)) == NULL) {
		free(why);
		return (0);
	}
	for (s = buf; (s = strstr(s, text)) != NULL; s += strlen(text))
		n++;
	free(buf);
	return (n);
}

/* How often text occurs in p's log. */
int
h_proc_log_count(struct hproc *p, const char *text)
{
	return (h_file_count(p->log, text));
}

/* Kill and forget every trystd of the test. */
void
h_proc_stop_all(void)
{
	int	 i;

	for (i = 0; i < MAX_PROCS; i++) {
		if (procs[i] == NULL)
			continue;
		if (procs[i]->pid > 0) {
			kill(procs[i]->pid, SIGKILL);
			waitpid(procs[i]->pid, NULL, 0);
		}
		free(procs[i]);
		procs[i] = NULL;
	}
}

/* Stop the trystds of the test, then the harness's teardown. */
void
h_proc_teardown(void)
{
	h_proc_stop_all();
	h_test_teardown();
}
