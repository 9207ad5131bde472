/*
 * test-state.c -- the client's state folder (client/state.c): the shipped
 * conf/tryst-client.conf.example is a config the client loads as it says,
 * a saved config loads back the same, and a bad line is refused with its
 * line number.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "client.h"
#include "unit.h"
#include "unit-state.h"

#define EXAMPLE	TEST_SRCDIR "/conf/tryst-client.conf.example"

/* A new empty folder; caller removes and frees. */
static char *
temp_dir(void)
{
	char	*dir = xstrdup("/tmp/tryst-state.XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(dir));
	return (dir);
}

/* Copy the file src to dir/config. */
static void
put_config(const char *dir, const char *src)
{
	char	*text, *path, *why = NULL;
	size_t	 len;

	text = file_read_small(src, 1 << 16, &len, &why);
	ck_assert_msg(text != NULL, "%s", why);
	path = unit_state_path(dir, "config");
	ck_assert_int_eq(file_write_atomic(path, text, len, 0600, 0, &why),
	    0);
	free(path);
	free(text);
}

/* Remove dir/config and dir. */
static void
remove_dir(char *dir)
{
	struct blobs	*b = blobs_dir(dir);
	char		*why = NULL;

	ck_assert_msg(state_remove(b, "config", &why) == 0, "%s", why);
	blobs_free(b);
	ck_assert_int_eq(rmdir(dir), 0);
	free(dir);
}

START_TEST(test_example_loads)
{
	struct client_conf	 cf;
	uint8_t			 pk[32];
	char			*dir = temp_dir(), *why = NULL;

	struct blobs		*b = blobs_dir(dir);

	put_config(dir, EXAMPLE);
	ck_assert_msg(state_conf_load(b, &cf, &why) == 0, "%s", why);
	ck_assert_str_eq(cf.server, "tryst.example.org:4433");
	ck_assert_str_eq(cf.country, "44");
	ck_assert_str_eq(cf.number, "+447700900123");
	ck_assert_msg(state_conf_key(&cf, pk, &why) == 0, "%s", why);
	state_conf_free(&cf);
	blobs_free(b);
	remove_dir(dir);
}
END_TEST

START_TEST(test_save_load)
{
	struct client_conf	 cf = { "[2001:db8::1]:4433",
	    "VleK2MAUr8Xn5JkVh1i3bQb8T3y2FfWq0m9X7dR6Pa8=", "1", "" }, back;
	char			*dir = temp_dir(), *why = NULL, *path;
	struct stat		 sb;
	struct blobs		*b = blobs_dir(dir);

	ck_assert_msg(state_conf_save(b, &cf, &why) == 0, "%s", why);
	path = unit_state_path(dir, "config");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	free(path);
	ck_assert_msg(state_conf_load(b, &back, &why) == 0, "%s", why);
	ck_assert_str_eq(back.server, cf.server);
	ck_assert_str_eq(back.key, cf.key);
	ck_assert_str_eq(back.country, cf.country);
	ck_assert_str_eq(back.number, "");
	state_conf_free(&back);
	blobs_free(b);
	remove_dir(dir);
}
END_TEST

START_TEST(test_bad_line)
{
	struct client_conf	 cf;
	char			*dir = temp_dir(), *why = NULL, *path;
	struct blobs		*b = blobs_dir(dir);

	path = unit_state_path(dir, "config");
	ck_assert_int_eq(file_write_atomic(path, "server = a:1\n\nport = 2\n",
	    23, 0600, 0, &why), 0);
	free(path);
	ck_assert_int_eq(state_conf_load(b, &cf, &why), -1);
	ck_assert_msg(strstr(why, "config:3:") != NULL, "%s", why);
	free(why);
	blobs_free(b);
	remove_dir(dir);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("state");
	TCase	*tc = tcase_create("config");

	tcase_add_test(tc, test_example_loads);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_bad_line);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
