/*
 * test-contacts.c -- trust on first use of contacts' keys
 * (client/contacts.c): a peek that writes nothing, the first key
 * remembered, a changed key kept as pending and never trusted until it
 * is accepted, contacts named by the first digits of their ID, and pins
 * that cannot be read left alone rather than written over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "client.h"
#include "unit.h"
#include "unit-state.h"

/* A key or ID whose bytes are all b. */
static void
fill(uint8_t *p, size_t len, uint8_t b)
{
	memset(p, b, len);
}

/* Remove the contacts file and the folder. */
static void
clean(const char *dir)
{
	char	*path = unit_state_path(dir, "contacts");

	(void)unlink(path);
	free(path);
	ck_assert_int_eq(rmdir(dir), 0);
}

START_TEST(test_first_key_then_changed)
{
	char	 dir[] = "/tmp/tryst-contacts.XXXXXX", *cause = NULL;
	struct blobs	*bl;
	uint8_t	 id[ID_LEN], k1[32], k2[32], trusted[32], pending[32];
	int	 has_pending;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	bl = blobs_dir(dir);
	fill(id, ID_LEN, 0xab);
	fill(k1, 32, 1);
	fill(k2, 32, 2);
	/* Looking stores nothing: still new after the peek. */
	ck_assert_int_eq(contacts_state(bl, id, k1), CONTACT_NEW);
	ck_assert_int_eq(contacts_get(bl, id, trusted, pending,
	    &has_pending), -1);
	ck_assert_int_eq(contacts_check(bl, id, k1, &cause), 0);
	ck_assert_int_eq(contacts_state(bl, id, k1), CONTACT_KNOWN);
	ck_assert_int_eq(contacts_state(bl, id, k2), CONTACT_CHANGED);
	ck_assert_int_eq(contacts_get(bl, id, trusted, pending,
	    &has_pending), 0);
	ck_assert_int_eq(has_pending, 0);
	/* A changed key is pending; the first one stays trusted. */
	ck_assert_int_eq(contacts_check(bl, id, k2, &cause), 1);
	ck_assert_int_eq(contacts_state(bl, id, k2), CONTACT_CHANGED);
	ck_assert_int_eq(contacts_get(bl, id, trusted, pending,
	    &has_pending), 0);
	ck_assert_int_eq(has_pending, 1);
	ck_assert_mem_eq(trusted, k1, 32);
	ck_assert_mem_eq(pending, k2, 32);
	blobs_free(bl);
	clean(dir);
}
END_TEST

START_TEST(test_accept)
{
	char	 dir[] = "/tmp/tryst-contacts.XXXXXX", *cause = NULL;
	struct blobs	*bl;
	uint8_t	 id[ID_LEN], other[ID_LEN], k1[32], k2[32], pk[32];
	uint8_t	 trusted[32], pending[32];
	int	 has_pending;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	bl = blobs_dir(dir);
	fill(id, ID_LEN, 0xab);
	fill(other, ID_LEN, 0xcd);
	fill(k1, 32, 1);
	fill(k2, 32, 2);
	ck_assert_int_eq(contacts_accept(bl, id, pk, &cause),
	    CONTACT_UNKNOWN);
	ck_assert_int_eq(contacts_check(bl, id, k1, &cause), 0);
	ck_assert_int_eq(contacts_check(bl, other, k1, &cause), 0);
	ck_assert_int_eq(contacts_accept(bl, id, pk, &cause),
	    CONTACT_NO_PENDING);
	ck_assert_int_eq(contacts_check(bl, id, k2, &cause), 1);
	ck_assert_int_eq(contacts_accept(bl, id, pk, &cause), 0);
	ck_assert_mem_eq(pk, k2, 32);
	ck_assert_int_eq(contacts_state(bl, id, k2), CONTACT_KNOWN);
	ck_assert_int_eq(contacts_state(bl, id, k1), CONTACT_CHANGED);
	ck_assert_int_eq(contacts_get(bl, id, trusted, pending,
	    &has_pending), 0);
	ck_assert_int_eq(has_pending, 0);
	/* The other contact is untouched. */
	ck_assert_int_eq(contacts_state(bl, other, k1), CONTACT_KNOWN);
	ck_assert_int_eq(contacts_accept(bl, id, pk, &cause),
	    CONTACT_NO_PENDING);
	blobs_free(bl);
	clean(dir);
}
END_TEST

START_TEST(test_find_prefix)
{
	char	 dir[] = "/tmp/tryst-contacts.XXXXXX", *cause = NULL;
	struct blobs	*bl;
	uint8_t	 a[ID_LEN], b[ID_LEN], k[32], got[ID_LEN];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	bl = blobs_dir(dir);
	fill(a, ID_LEN, 0xab);
	fill(b, ID_LEN, 0xab);
	b[ID_LEN - 1] = 0xcd;
	fill(k, 32, 7);
	ck_assert_int_eq(contacts_find_prefix(bl, "abababababababab", got),
	    -1);
	ck_assert_int_eq(contacts_check(bl, a, k, &cause), 0);
	ck_assert_int_eq(contacts_find_prefix(bl, "ABABABABABABABAB", got),
	    0);
	ck_assert_mem_eq(got, a, ID_LEN);
	/* Two IDs with the prefix: neither is meant. */
	ck_assert_int_eq(contacts_check(bl, b, k, &cause), 0);
	ck_assert_int_eq(contacts_find_prefix(bl, "abababababababab", got),
	    -1);
	ck_assert_int_eq(contacts_find_prefix(bl, "ababababababababababab"
	    "ababababababababababababababababababababcd", got), 0);
	ck_assert_mem_eq(got, b, ID_LEN);
	blobs_free(bl);
	clean(dir);
}
END_TEST

/* Pins that cannot be read: checking or accepting a key fails and saves
 * nothing, where taking them for none would replace every pin with one. */
START_TEST(test_unreadable_kept)
{
	struct blobs	*bl;
	int		 saves;
	uint8_t		 id[ID_LEN], k[32], trusted[32], pending[32];
	char		*cause = NULL;
	int		 has_pending;

	fill(id, ID_LEN, 0xab);
	fill(k, 32, 1);
	bl = unit_blobs_unreadable(&saves);
	ck_assert_int_eq(contacts_check(bl, id, k, &cause), -1);
	ck_assert_msg(strstr(cause, "\"contacts\"") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(contacts_accept(bl, id, k, &cause), -1);
	free(cause);
	ck_assert_int_eq(saves, 0);
	/* Looks that write nothing see no contact. */
	ck_assert_int_eq(contacts_state(bl, id, k), CONTACT_NEW);
	ck_assert_int_eq(contacts_get(bl, id, trusted, pending,
	    &has_pending), -1);
	blobs_free(bl);
}
END_TEST

static Suite *
contacts_suite(void)
{
	Suite	*s = suite_create("contacts");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_first_key_then_changed);
	tcase_add_test(tc, test_accept);
	tcase_add_test(tc, test_find_prefix);
	tcase_add_test(tc, test_unreadable_kept);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (sodium_init() < 0)
		return (1);
	return (unit_run(contacts_suite()));
}
