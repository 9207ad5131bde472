/*
 * test-blobs.c -- where the state is kept (client/blobs.c, and state.c
 * over it): the directory keeps the file names and modes of old (0700
 * folder, 0600 files, the identity key among them), replaces a file
 * whole by renaming, tells a missing file from one that cannot be read,
 * and reports a save that failed; the app's callbacks get the same blobs
 * with the identity marked secret, and what they hand back is copied,
 * checked for size and never taken for absent when it was not.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "client.h"
#include "unit.h"

#define KEY	"VleK2MAUr8Xn5JkVh1i3bQb8T3y2FfWq0m9X7dR6Pa8="

static char	 dir[] = "/tmp/tryst-blobs.XXXXXX";

/* dir/name. Caller frees. */
static char *
path_of(const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", dir, name);
	return (path);
}

/* The mode bits of dir/name, or -1 when it is not there. */
static int
mode_of(const char *name)
{
	struct stat	 sb;
	char		*path = path_of(name);
	int		 rc;

	rc = stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
	free(path);
	return (rc);
}

/* The names in dir, sorted, space separated, into out. */
static void
names(char *out, size_t len)
{
	struct dirent	**list;
	int		  n, i;

	ck_assert_int_ge(n = scandir(dir, &list, NULL, alphasort), 0);
	*out = '\0';
	for (i = 0; i < n; i++) {
		if (*list[i]->d_name != '.')
			snprintf(out + strlen(out), len - strlen(out), "%s%s",
			    *out != '\0' ? " " : "", list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

static void
setup(void)
{
	memcpy(dir, "/tmp/tryst-blobs.XXXXXX", sizeof dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* The modes must come from the code, not from the umask. */
	umask(0);
}

static void
teardown(void)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	umask(022);
}

/* The state's blobs are the files of old, 0600, the key among them;
 * prepare makes the missing folders, the last 0700. */
START_TEST(test_dir_names_modes)
{
	struct client_conf	 cf = { "127.0.0.1:1", KEY, "1", "" };
	struct client_pending	 pd = { "+15550100350", "abcd", 6, 1 };
	uint8_t			 raw[CRED_LEN];
	struct blobs		*b;
	char			*sub, *why = NULL, list[256];
	uint8_t			*sk;

	xasprintf(&sub, "%s/a/b", dir);
	b = blobs_dir(sub);
	ck_assert_msg(blobs_prepare(b, &why) == 0, "%s", why);
	ck_assert_int_eq(mode_of("a/b"), 0700);
	blobs_free(b);
	b = blobs_dir(dir);
	ck_assert_msg(state_conf_save(b, &cf, &why) == 0, "%s", why);
	ck_assert_msg(state_pending_save(b, &pd, &why) == 0, "%s", why);
	memset(raw, 7, sizeof raw);
	ck_assert_msg(state_cred_save(b, raw, &why) == 0, "%s", why);
	ck_assert_int_eq(state_identity_make(b, &why), 1);
	names(list, sizeof list);
	ck_assert_str_eq(list, "a config credential identity pending");
	ck_assert_int_eq(mode_of("config"), 0600);
	ck_assert_int_eq(mode_of("pending"), 0600);
	ck_assert_int_eq(mode_of("credential"), 0600);
	ck_assert_int_eq(mode_of("identity"), 0600);
	/* A second make keeps the key. */
	ck_assert_ptr_nonnull(sk = state_identity_load(b, &why));
	ck_assert_int_eq(state_identity_make(b, &why), 0);
	ck_assert_int_eq(mode_of("identity"), 0600);
	sodium_free(sk);
	blobs_free(b);
	free(sub);
}
END_TEST

/* A save replaces the file by renaming a new one over it: a link to the
 * old file keeps the old bytes, and no temporary file is left. */
START_TEST(test_dir_atomic_replace)
{
	struct blobs	*b = blobs_dir(dir);
	char		*why = NULL, *p, *q, *text, list[256];

	ck_assert_msg(blobs_save(b, "ids", "old\n", 4, 0, &why) == 0, "%s",
	    why);
	p = path_of("ids");
	q = path_of("held");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_msg(blobs_save(b, "ids", "new!\n", 5, 0, &why) == 0, "%s",
	    why);
	ck_assert_ptr_nonnull(text = file_read_small(p, 64, NULL, &why));
	ck_assert_str_eq(text, "new!\n");
	free(text);
	ck_assert_ptr_nonnull(text = file_read_small(q, 64, NULL, &why));
	ck_assert_str_eq(text, "old\n");
	free(text);
	names(list, sizeof list);
	ck_assert_str_eq(list, "held ids");
	free(p);
	free(q);
	blobs_free(b);
}
END_TEST

/* Absent is not unreadable: a directory where the file should be, or a
 * file over the limit, is an error, and the key is not made anew. */
START_TEST(test_dir_missing_unreadable)
{
	struct blobs		*b = blobs_dir(dir);
	struct client_conf	 cf;
	struct stat		 sb;
	char			*why = NULL, *data, *p;
	size_t			 len;
	FILE			*f;

	ck_assert_int_eq(blobs_load(b, "config", 100, &data, &len, &why),
	    BLOBS_ABSENT);
	ck_assert_int_eq(state_conf_load(b, &cf, &why), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(why);
	why = NULL;
	p = path_of("config");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(blobs_load(b, "config", 100, &data, &len, &why), -1);
	ck_assert_msg(strstr(why, p) != NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(state_conf_load(b, &cf, &why), -1);
	ck_assert_int_ne(errno, ENOENT);
	free(why);
	free(p);
	/* An identity that cannot be read is not replaced. */
	p = path_of("identity");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	why = NULL;
	ck_assert_int_eq(state_identity_make(b, &why), -1);
	free(why);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_msg(S_ISDIR(sb.st_mode), "the identity was replaced");
	free(p);
	/* Over the limit. */
	p = path_of("ids");
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	ck_assert_int_eq(fputs("0123456789", f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	why = NULL;
	ck_assert_int_eq(blobs_load(b, "ids", 9, &data, &len, &why), -1);
	free(why);
	ck_assert_int_eq(blobs_load(b, "ids", 10, &data, &len, &why), 0);
	ck_assert_int_eq(len, 10);
	ck_assert_str_eq(data, "0123456789");
	free(data);
	free(p);
	blobs_free(b);
}
END_TEST

/* A save that cannot happen says so, in the caller's result. */
START_TEST(test_dir_failed_save)
{
	struct client_conf	 cf = { "127.0.0.1:1", KEY, "1", "" };
	struct blobs		*b;
	char			*sub, *why = NULL;

	xasprintf(&sub, "%s/none", dir);
	b = blobs_dir(sub);
	ck_assert_int_eq(state_conf_save(b, &cf, &why), -1);
	ck_assert_msg(strstr(why, "none/config") != NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(state_identity_make(b, &why), -1);
	free(why);
	blobs_free(b);
	free(sub);
}
END_TEST

/* ---- the app's callbacks, over an array in memory ---- */

#define SLOTS	8

static struct slot {
	char	 name[32];
	uint8_t	 data[256];
	size_t	 len;
	int	 flags;
} mem[SLOTS];
static int	 load_rc, save_rc, saves;
static int	 set_nothing, set_twice, none_with_bytes;

static struct slot *
slot_of(const char *name, int make)
{
	int	 i;

	for (i = 0; i < SLOTS; i++) {
		if (strcmp(mem[i].name, name) == 0)
			return (&mem[i]);
	}
	for (i = 0; make && i < SLOTS; i++) {
		if (*mem[i].name == '\0') {
			snprintf(mem[i].name, sizeof mem[i].name, "%s", name);
			return (&mem[i]);
		}
	}
	return (NULL);
}

static int
mem_load(const char *name, tryst_blob *blob, void *user)
{
	struct slot	*s = slot_of(name, 0);
	uint8_t		 copy[256];

	ck_assert_ptr_eq(user, mem);
	if (load_rc != 0)
		return (load_rc);
	if (s == NULL)
		return (TRYST_BLOB_NONE);
	if (set_nothing)
		return (0);
	if (set_twice || none_with_bytes)
		ck_assert_int_eq(tryst_blob_set(blob, "x", 1), 0);
	if (none_with_bytes)
		return (TRYST_BLOB_NONE);
	/* From a buffer that is gone once we return: it must be copied. */
	memcpy(copy, s->data, s->len);
	if (tryst_blob_set(blob, copy, s->len) != 0)
		return (-1);
	memset(copy, 'Z', sizeof copy);
	return (0);
}

static int
mem_save(const char *name, const void *data, size_t len, int flags,
    void *user)
{
	struct slot	*s;

	ck_assert_ptr_eq(user, mem);
	saves++;
	if (save_rc != 0)
		return (save_rc);
	ck_assert_ptr_nonnull(s = slot_of(name, 1));
	ck_assert_uint_le(len, sizeof s->data);
	memcpy(s->data, data, len);
	s->len = len;
	s->flags = flags;
	return (0);
}

static int
mem_remove(const char *name, void *user)
{
	struct slot	*s = slot_of(name, 0);

	if (s != NULL)
		memset(s, 0, sizeof *s);
	return (0);
}

static void
mem_setup(void)
{
	memset(mem, 0, sizeof mem);
	load_rc = save_rc = saves = set_nothing = set_twice = 0;
	none_with_bytes = 0;
}

/* The same blobs as the directory's; only the key is secret. */
START_TEST(test_app_round_trip)
{
	struct blobs		*b = blobs_app(mem_load, mem_save,
				    mem_remove, mem);
	struct client_conf	 cf = { "127.0.0.1:1", KEY, "1",
				    "+15550100350" }, back;
	struct client_pending	 pd;
	uint8_t			*sk, pk[32];
	char			*why = NULL;

	ck_assert_int_eq(state_conf_load(b, &back, &why), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(why);
	ck_assert_msg(state_conf_save(b, &cf, &why) == 0, "%s", why);
	ck_assert_msg(state_conf_load(b, &back, &why) == 0, "%s", why);
	ck_assert_str_eq(back.number, "+15550100350");
	ck_assert_msg(state_conf_key(&back, pk, &why) == 0, "%s", why);
	state_conf_free(&back);
	ck_assert_int_eq(slot_of("config", 0)->flags, 0);
	ck_assert_int_eq(state_identity_make(b, &why), 1);
	ck_assert_int_eq(slot_of("identity", 0)->flags, TRYST_BLOB_SECRET);
	ck_assert_int_eq(slot_of("identity", 0)->len, 88);
	ck_assert_ptr_nonnull(sk = state_identity_load(b, &why));
	sodium_free(sk);
	saves = 0;
	ck_assert_int_eq(state_identity_make(b, &why), 0);
	ck_assert_int_eq(saves, 0);
	/* remove, and a blob that is not there. */
	ck_assert_int_eq(state_remove(b, "config", &why), 0);
	ck_assert_ptr_null(slot_of("config", 0));
	ck_assert_int_eq(state_pending_load(b, &pd, &why), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(why);
	blobs_free(b);
}
END_TEST

/* A load that fails is an error, never "none", and nothing is saved over
 * it; so are a 0 without bytes, "none" with bytes, and bytes over the
 * limit. */
START_TEST(test_app_load_failures)
{
	struct blobs		*b = blobs_app(mem_load, mem_save,
				    mem_remove, mem);
	struct client_conf	 cf = { "127.0.0.1:1", KEY, "1", "" }, back;
	char			*why = NULL, *data;
	size_t			 len;

	ck_assert_msg(state_conf_save(b, &cf, &why) == 0, "%s", why);
	load_rc = -3;
	saves = 0;
	ck_assert_int_eq(state_conf_load(b, &back, &why), -1);
	ck_assert_int_ne(errno, ENOENT);
	ck_assert_msg(strstr(why, "\"config\"") != NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(state_identity_make(b, &why), -1);
	free(why);
	ck_assert_int_eq(saves, 0);
	load_rc = 0;
	set_nothing = 1;
	why = NULL;
	ck_assert_int_eq(blobs_load(b, "config", 4096, &data, &len, &why),
	    -1);
	ck_assert_msg(strstr(why, "tryst_blob_set") != NULL, "%s", why);
	free(why);
	set_nothing = 0;
	none_with_bytes = 1;
	why = NULL;
	ck_assert_int_eq(blobs_load(b, "config", 4096, &data, &len, &why),
	    -1);
	ck_assert_msg(strstr(why, "none but gave bytes") != NULL, "%s", why);
	free(why);
	none_with_bytes = 0;
	why = NULL;
	ck_assert_int_eq(blobs_load(b, "config", 10, &data, &len, &why), -1);
	ck_assert_msg(strstr(why, "larger than 10") != NULL, "%s", why);
	free(why);
	/* The last set wins; the bytes are the library's copy. */
	set_twice = 1;
	ck_assert_int_eq(blobs_load(b, "config", 4096, &data, &len, &why), 0);
	ck_assert_uint_eq(len, slot_of("config", 0)->len);
	ck_assert_mem_eq(data, slot_of("config", 0)->data, len);
	ck_assert_int_eq(data[len], '\0');
	free(data);
	ck_assert_int_eq(tryst_blob_set(NULL, "x", 1), TRYST_EINVAL);
	blobs_free(b);
}
END_TEST

/* A save the app could not make fails the caller. */
START_TEST(test_app_failed_save)
{
	struct blobs		*b = blobs_app(mem_load, mem_save,
				    mem_remove, mem);
	struct client_conf	 cf = { "127.0.0.1:1", KEY, "1", "" };
	char			*why = NULL;

	save_rc = -1;
	ck_assert_int_eq(state_conf_save(b, &cf, &why), -1);
	ck_assert_msg(strstr(why, "could not save") != NULL, "%s", why);
	free(why);
	why = NULL;
	ck_assert_int_eq(state_identity_make(b, &why), -1);
	free(why);
	ck_assert_int_eq(saves, 2);
	blobs_free(b);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("blobs");
	TCase	*tc = tcase_create("dir"), *ta = tcase_create("app");

	if (sodium_init() < 0)
		return (1);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dir_names_modes);
	tcase_add_test(tc, test_dir_atomic_replace);
	tcase_add_test(tc, test_dir_missing_unreadable);
	tcase_add_test(tc, test_dir_failed_save);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ta, mem_setup, NULL);
	tcase_add_test(ta, test_app_round_trip);
	tcase_add_test(ta, test_app_load_failures);
	tcase_add_test(ta, test_app_failed_save);
	suite_add_tcase(s, ta);
	return (unit_run(s));
}
