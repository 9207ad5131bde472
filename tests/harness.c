/*
 * harness.c -- start and stop a private redis-server and trystd on free
 * loopback ports in a temporary folder, and stop them however the test
 * program ends (atexit, fatal signals, and PR_SET_PDEATHSIG in the
 * children).
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"

struct harness H;

static volatile pid_t	 kill_pids[3];	/* for the signal handler */

/* Sleep for ms milliseconds. */
void
h_msleep(int ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The kernel's ephemeral port range, [*lo, *hi]. */
void
h_ephemeral_range(int *lo, int *hi)
{
	FILE	*f;

	*lo = 32768;
	*hi = 60999;
	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) ==
	    NULL)
		return;
	if (fscanf(f, "%d %d", lo, hi) != 2) {
		*lo = 32768;
		*hi = 60999;
	}
	fclose(f);
}

/* A loopback port (SOCK_STREAM or SOCK_DGRAM) that was free a moment
 * ago, from below the ephemeral range: a port bind() picked for port 0
 * is ephemeral, and some other test's outgoing connection may take it as
 * its local port before the server binds it (CI saw "Address already in
 * use").  tests/lib.sh's free_ports does the same for the shell tests. */
int
h_free_port(int socktype)
{
	struct sockaddr_in	 sin;
	int			 fd, i, lo, hi, base, span, port = -1;

	h_ephemeral_range(&lo, &hi);
	base = lo > 11000 ? 10000 : hi + 1;
	span = lo > 11000 ? lo - 10000 : 65536 - base;
	for (i = 0; i < 1000 && port == -1; i++) {
		if ((fd = socket(AF_INET, socktype, 0)) == -1)
			return (-1);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(base + (int)randombytes_uniform(span));
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
			port = ntohs(sin.sin_port);
		close(fd);
	}
	return (port);
}

/* A loopback TCP port that was free a moment ago. */
static int
free_port(void)
{
	return (h_free_port(SOCK_STREAM));
}

/* 1 if a TCP connection to 127.0.0.1:port succeeds. */
static int
port_open(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (ok);
}

/* Fork and exec argv with stdout and stderr appended to logpath and the
 * NAME=VALUE strings of env (NULL-terminated, or NULL) added to the
 * environment; the child dies with the test program. */
pid_t
h_spawn(char *const argv[], char *const env[], const char *logpath)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) != 0)
		return (pid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (; env != NULL && *env != NULL; env++)
		putenv(*env);
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd == -1)
		_exit(126);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Fork and exec argv with stdout and stderr appended to logpath. */
static pid_t
spawn(char *const argv[], const char *logpath)
{
	return (h_spawn(argv, NULL, logpath));
}

/* SIGTERM, then SIGKILL after 5 s; reap. */
static void
stop_pid(pid_t pid)
{
	int	 i, status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		h_msleep(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* Kill the children and die of the same signal. */
static void
on_fatal_signal(int sig)
{
	if (kill_pids[0] > 0)
		kill(kill_pids[0], SIGKILL);
	if (kill_pids[1] > 0)
		kill(kill_pids[1], SIGKILL);
	if (kill_pids[2] > 0)
		kill(kill_pids[2], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Start redis-server on H.redis_port and wait until it answers. */
static int
redis_spawn(char **cause)
{
	char	 port[16], log[PATH_MAX + 16];
	char	*argv[] = { "redis-server", "--port", port, "--bind",
	    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", H.dir,
	    NULL };
	int	 i;

	snprintf(port, sizeof port, "%d", H.redis_port);
	snprintf(log, sizeof log, "%s/redis.log", H.dir);
	H.redis_pid = spawn(argv, log);
	kill_pids[0] = H.redis_pid;
	for (i = 0; i < 100; i++) {
		if (port_open(H.redis_port))
			return (0);
		if (waitpid(H.redis_pid, NULL, WNOHANG) == H.redis_pid) {
			H.redis_pid = kill_pids[0] = 0;
			break;
		}
		h_msleep(100);
	}
	xasprintf(cause, "redis-server did not start (see %s)", log);
	return (-1);
}

/* Write a trystd configuration listening on hostport to path. */
static int
write_conf(const char *path, const char *hostport, const char *extra,
    char **cause)
{
	char	*text;
	int	 rv;

	xasprintf(&text,
	    "listen = %s\n"
	    "tls_cert = %s/cert.pem\n"
	    "tls_key = %s/key.pem\n"
	    "master_key = %s\n"
	    "redis = 127.0.0.1:%d\n"
	    "verification = dev:%s\n"
	    "node_name = test-%s\n"
	    "# every test registers from 127.0.0.1\n"
	    "codes_per_hour_per_ip = 10000\n"
	    "codes_per_hour_per_prefix = 10000\n"
	    "codes_per_hour = 100000\n"
	    "%s",
	    hostport, H.dir, H.dir, H.master, H.redis_port, H.devfile,
	    strrchr(hostport, ':') + 1, extra != NULL ? extra : "");
	rv = file_write_atomic(path, text, strlen(text), 0600, 0, cause);
	free(text);
	return (rv);
}

/* Certificate, master key, signing key and derived keys. */
static int
make_keys(char **cause)
{
	uint8_t	 master[MASTER_KEY_LEN];
	int	 st;

	st = h_run(NULL, "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -keyout %s/key.pem "
	    "-out %s/cert.pem -days 2 -subj /CN=localhost >/dev/null 2>&1",
	    H.dir, H.dir);
	if (st != 0) {
		xasprintf(cause, "openssl req failed (%d)", st);
		return (-1);
	}
	if (h_run(NULL, "\"$TRYSTCTL\" keygen %s", H.master) != 0) {
		xasprintf(cause, "trystctl keygen failed");
		return (-1);
	}
	if (keys_load_master(H.master, master, cause) == -1)
		return (-1);
	H.keys = keys_derive(master);
	sodium_memzero(master, sizeof master);
	return (0);
}

/* Ask trystctl for the signing key and check it against ours. */
static int
read_pubkey(char **cause)
{
	char	*out = NULL;
	int	 st;

	st = h_run(&out, "\"$TRYSTCTL\" -c %s pubkeys", H.conf);
	if (st != 0 || b64_decode(H.sign_pk, sizeof H.sign_pk, out) == -1) {
		xasprintf(cause, "trystctl pubkeys: status %d, output '%s'",
		    st, out != NULL ? out : "");
		free(out);
		return (-1);
	}
	free(out);
	if (memcmp(H.sign_pk, H.keys->sign_pk, 32) != 0) {
		xasprintf(cause, "trystctl pubkeys differs from the master "
		    "key's signing key");
		return (-1);
	}
	return (0);
}

/* 1 while the process of *pid (kill slot k) runs; reaps it if not. */
static int
alive(pid_t *pid, int k)
{
	int	 status;

	if (*pid <= 0)
		return (0);
	if (waitpid(*pid, &status, WNOHANG) == *pid) {
		*pid = kill_pids[k] = 0;
		return (0);
	}
	return (1);
}

/* Start trystd with conf (log to log, kill slot k) and wait up to 10 s
 * until a checked tconn to hostport opens. */
static int
trystd_spawn(char *conf, const char *log, const char *hostport, int port,
    pid_t *pid, int k, char **cause)
{
	struct tconn_challenge	 ch;
	struct tconn		*tc;
	char			*argv[] = { getenv("TRYSTD"), "-c", conf,
	    NULL };
	char			*why = NULL;
	int			 i;

	*pid = spawn(argv, log);
	kill_pids[k] = *pid;
	for (i = 0; i < 100; i++) {
		if (!alive(pid, k)) {
			xasprintf(cause, "trystd exited (see %s)", log);
			return (-1);
		}
		if (port_open(port) && (tc = tconn_open(hostport,
		    H.sign_pk, &ch, &why)) != NULL) {
			tconn_close(tc);
			return (0);
		}
		free(why);
		why = NULL;
		h_msleep(100);
	}
	xasprintf(cause, "trystd not ready after 10 s (see %s)", log);
	return (-1);
}

/* Start redis-server and trystd. */
int
h_start(const char *extra_conf, char **cause)
{
	const char	*tmp;

	if (sodium_init() == -1 || getenv("TRYSTD") == NULL ||
	    getenv("TRYSTCTL") == NULL || getenv("TRYST") == NULL) {
		xasprintf(cause, "sodium_init failed or TRYSTD, TRYSTCTL, "
		    "TRYST not set");
		return (-1);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGSEGV, on_fatal_signal);
	atexit(h_stop);

	if ((tmp = getenv("TMPDIR")) == NULL || strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(H.dir, sizeof H.dir, "%s/tryst-integ.XXXXXX", tmp);
	if (mkdtemp(H.dir) == NULL) {
		xasprintf(cause, "mkdtemp: %s", strerror(errno));
		return (-1);
	}
	snprintf(H.conf, sizeof H.conf, "%s/trystd.conf", H.dir);
	snprintf(H.devfile, sizeof H.devfile, "%s/codes.txt", H.dir);
	snprintf(H.log, sizeof H.log, "%s/trystd.log", H.dir);
	snprintf(H.master, sizeof H.master, "%s/master.key", H.dir);
	H.redis_port = free_port();
	do
		H.tryst_port = free_port();
	while (H.tryst_port == H.redis_port);
	snprintf(H.hostport, sizeof H.hostport, "127.0.0.1:%d",
	    H.tryst_port);

	if (redis_spawn(cause) == -1 || make_keys(cause) == -1 ||
	    write_conf(H.conf, H.hostport, extra_conf, cause) == -1 ||
	    read_pubkey(cause) == -1)
		return (-1);
	return (trystd_spawn(H.conf, H.log, H.hostport, H.tryst_port,
	    &H.trystd_pid, 1, cause));
}

/* Start the second trystd: same Redis and keys, its own port, config
 * and log. */
int
h_start2(const char *extra_conf, char **cause)
{
	snprintf(H.conf2, sizeof H.conf2, "%s/trystd2.conf", H.dir);
	snprintf(H.log2, sizeof H.log2, "%s/trystd2.log", H.dir);
	do
		H.tryst_port2 = free_port();
	while (H.tryst_port2 == H.redis_port ||
	    H.tryst_port2 == H.tryst_port);
	snprintf(H.hostport2, sizeof H.hostport2, "127.0.0.1:%d",
	    H.tryst_port2);
	if (write_conf(H.conf2, H.hostport2, extra_conf, cause) == -1)
		return (-1);
	return (trystd_spawn(H.conf2, H.log2, H.hostport2, H.tryst_port2,
	    &H.trystd2_pid, 2, cause));
}

/* Stop the trystds and redis-server. */
void
h_stop(void)
{
	stop_pid(H.trystd2_pid);
	H.trystd2_pid = kill_pids[2] = 0;
	stop_pid(H.trystd_pid);
	H.trystd_pid = kill_pids[1] = 0;
	stop_pid(H.redis_pid);
	H.redis_pid = kill_pids[0] = 0;
}

/* Remove the temporary folder (when everything passed). */
void
h_remove_dir(void)
{
	if (H.dir[0] != '\0')
		h_run(NULL, "rm -rf '%s'", H.dir);
}

/* 1 while trystd still runs. */
int
h_trystd_alive(void)
{
	return (alive(&H.trystd_pid, 1));
}

/* Stop redis-server. */
void
h_redis_stop(void)
{
	stop_pid(H.redis_pid);
	H.redis_pid = kill_pids[0] = 0;
}

/* Start redis-server again on the same port. */
int
h_redis_start(char **cause)
{
	if (H.redis_pid > 0)
		return (0);
	return (redis_spawn(cause));
}

/* Run a shell command, capturing its stdout. */
int
h_run(char **out, const char *fmt, ...)
{
	va_list	 ap;
	FILE	*f;
	char	*cmd, *buf = NULL;
	size_t	 len = 0, n;
	char	 chunk[4096];
	int	 st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		abort();
	va_end(ap);
	fflush(NULL);
	if ((f = popen(cmd, "r")) == NULL)
		abort();
	free(cmd);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf = xrealloc(buf, len + n + 1);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	if (buf == NULL)
		buf = xcalloc(1, 1);
	buf[len] = '\0';
	st = pclose(f);
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return (st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Midnight UTC of today. */
long long
h_today(void)
{
	time_t	 now = time(NULL);

	return ((long long)(now - now % 86400));
}
