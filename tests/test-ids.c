/*
 * test-ids.c -- the cache of IDs and the client's OPRF steps
 * (client/ids.c): lines found only for the exact number, the first ID of
 * a number kept, the file shared through a state folder, a cache that
 * cannot be read never written over, and blinded
 * batches that finalise into the IDs the server's OPRF gives directly.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "client.h"
#include "unit.h"
#include "unit-state.h"

#define HEX_A	"aa00000000000000000000000000000000000000000000000000000000000001"
#define HEX_B	"bb00000000000000000000000000000000000000000000000000000000000002"

/* An ID whose bytes are all b. */
static void
id_of(uint8_t id[ID_LEN], uint8_t b)
{
	memset(id, b, ID_LEN);
}

START_TEST(test_find_exact_number)
{
	const char	*text = "+15550100341 " HEX_A "\n"
			    "+1555010034 " HEX_B "\n";
	uint8_t		 id[ID_LEN];
	char		 hex[2 * ID_LEN + 1];

	ck_assert_int_eq(ids_find(text, "+15550100341", id), 0);
	hex_encode(hex, id, ID_LEN);
	ck_assert_str_eq(hex, HEX_A);
	/* A number that is a prefix of another finds its own line. */
	ck_assert_int_eq(ids_find(text, "+1555010034", id), 0);
	hex_encode(hex, id, ID_LEN);
	ck_assert_str_eq(hex, HEX_B);
	ck_assert_int_eq(ids_find(text, "+155501003", id), -1);
	ck_assert_int_eq(ids_find(text, "+15550100342", id), -1);
	ck_assert_int_eq(ids_find("", "+15550100341", id), -1);
	/* The last line needs no newline. */
	memset(id, 0, sizeof id);
	ck_assert_int_eq(ids_find("+15550100341 " HEX_B, "+15550100341",
	    id), 0);
	hex_encode(hex, id, ID_LEN);
	ck_assert_str_eq(hex, HEX_B);
}
END_TEST

START_TEST(test_find_skips_bad_lines)
{
	uint8_t		 id[ID_LEN];
	char		 hex[2 * ID_LEN + 1];

	/* Not hex, too short, a tab for the space: skipped, not misread. */
	ck_assert_int_eq(ids_find("+15550100341 zz"
	    "00000000000000000000000000000000000000000000000000000000000001\n",
	    "+15550100341", id), -1);
	ck_assert_int_eq(ids_find("+15550100341 aa00\n", "+15550100341",
	    id), -1);
	ck_assert_int_eq(ids_find("+15550100341\t" HEX_A "\n",
	    "+15550100341", id), -1);
	/* A good line after a bad one of the same number is found. */
	ck_assert_int_eq(ids_find("+15550100341 aa00\n+15550100341 " HEX_B
	    "\n", "+15550100341", id), 0);
	hex_encode(hex, id, ID_LEN);
	ck_assert_str_eq(hex, HEX_B);
}
END_TEST

START_TEST(test_find_number_of_id)
{
	const char	*text = "+15550100341 " HEX_A "\n"
			    "+15550100342 " HEX_B "\n";
	uint8_t		 id[ID_LEN];
	char		 n[TRYST_NUMBER_MAX], small[6];

	ck_assert_int_eq(hex_decode(id, ID_LEN, HEX_B), 0);
	ck_assert_int_eq(ids_find_number(text, id, n, sizeof n), 0);
	ck_assert_str_eq(n, "+15550100342");
	ck_assert_int_eq(ids_find_number(text, id, small, sizeof small), 0);
	ck_assert_str_eq(small, "+1555");
	id_of(id, 0xcc);
	ck_assert_int_eq(ids_find_number(text, id, n, sizeof n), -1);
}
END_TEST

START_TEST(test_append_keeps_first)
{
	char		 numbers[3][TRYST_NUMBER_MAX] = { "+15550100341",
			    "+15550100343", "+15550100343" };
	uint8_t		 ids[3][ID_LEN], got[ID_LEN];
	char		*text;

	id_of(ids[0], 0x11);
	id_of(ids[1], 0x22);
	id_of(ids[2], 0x33);
	/* The first is there already (with another ID: that one stays),
	 * the second is new, the third repeats the second. The old text
	 * lacks its final newline. */
	text = ids_append("+15550100341 " HEX_A, numbers, 3, ids);
	ck_assert_str_eq(text, "+15550100341 " HEX_A "\n+15550100343 "
	    "2222222222222222222222222222222222222222222222222222222222222222"
	    "\n");
	ck_assert_int_eq(ids_find(text, "+15550100343", got), 0);
	ck_assert_mem_eq(got, ids[1], ID_LEN);
	free(text);
	text = ids_append("", numbers, 1, ids);
	ck_assert_int_eq(ids_find(text, "+15550100341", got), 0);
	ck_assert_mem_eq(got, ids[0], ID_LEN);
	free(text);
}
END_TEST

START_TEST(test_file_shared)
{
	char		 numbers[2][TRYST_NUMBER_MAX] = { "+15550100341",
			    "+15550100342" };
	uint8_t		 ids[2][ID_LEN], got[ID_LEN];
	char		 dir[] = "/tmp/tryst-ids.XXXXXX", name[32], *path;
	struct blobs	*bl;
	char		*cause = NULL;
	struct stat	 st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	bl = blobs_dir(dir);
	id_of(ids[0], 0xab);
	id_of(ids[1], 0xcd);
	ck_assert_int_eq(ids_cached(bl, "+15550100341", got), -1);
	ids_name(bl, ids[0], name, sizeof name);
	ck_assert_str_eq(name, "abababababababab");
	ck_assert_int_eq(ids_add(bl, numbers, 1, ids, &cause), 0);
	ck_assert_int_eq(ids_add(bl, numbers, 2, ids, &cause), 0);
	ck_assert_int_eq(ids_cached(bl, "+15550100342", got), 0);
	ck_assert_mem_eq(got, ids[1], ID_LEN);
	ids_name(bl, ids[0], name, sizeof name);
	ck_assert_str_eq(name, "+15550100341");
	path = unit_state_path(dir, IDS_FILE);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq((int)st.st_size, 2 * (12 + 1 + 64 + 1));
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	blobs_free(bl);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The server's side of a batch: BlindEvaluate each element. */
static void
evaluate(const uint8_t sk[OPRF_SCALAR], const uint8_t *in, int n,
    uint8_t *out)
{
	int	 i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(oprf_blind_evaluate(out + i * OPRF_ELEM, sk,
		    in + i * OPRF_ELEM), 0);
}

/* A cache that cannot be read: ids_add fails and saves nothing (it would
 * keep only the new numbers), ids_read says why, the looks find none. */
START_TEST(test_unreadable_kept)
{
	struct blobs	*bl;
	int		 saves;
	char		 numbers[1][TRYST_NUMBER_MAX] = { "+15550100341" };
	uint8_t		 ids[1][ID_LEN], got[ID_LEN];
	char		*cause = NULL, name[32];

	id_of(ids[0], 0xab);
	bl = unit_blobs_unreadable(&saves);
	ck_assert_int_eq(ids_add(bl, numbers, 1, ids, &cause), -1);
	ck_assert_msg(strstr(cause, "\"ids\"") != NULL, "%s", cause);
	free(cause);
	ck_assert_int_eq(saves, 0);
	ck_assert_ptr_null(ids_read(bl, &cause));
	free(cause);
	ck_assert_int_eq(ids_cached(bl, "+15550100341", got), -1);
	ids_name(bl, ids[0], name, sizeof name);
	ck_assert_str_eq(name, "abababababababab");
	blobs_free(bl);
}
END_TEST

START_TEST(test_blinded_batch_gives_ids)
{
	char		 numbers[3][TRYST_NUMBER_MAX] = { "+15550100341",
			    "+15550100342", "+447700900123" };
	uint8_t		 sk[OPRF_SCALAR], seed[32], out[OPRF_OUT];
	uint8_t		 blinds[3 * OPRF_SCALAR], elems[3 * OPRF_ELEM];
	uint8_t		 evaluated[3 * OPRF_ELEM], ids[3][ID_LEN];
	int		 i;

	memset(seed, 7, sizeof seed);
	ck_assert_int_eq(oprf_derive_keypair(sk, NULL, seed, sizeof seed,
	    (const uint8_t *)"tryst-oprf-v1", 13), 0);
	ck_assert_int_eq(ids_blind(numbers, 3, blinds, elems), 0);
	evaluate(sk, elems, 3, evaluated);
	ck_assert_int_eq(ids_finalize(numbers, 3, blinds, evaluated, ids), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(oprf_evaluate(out, sk,
		    (const uint8_t *)numbers[i], strlen(numbers[i])), 0);
		ck_assert_mem_eq(ids[i], out, ID_LEN);
	}
	ck_assert_mem_ne(ids[0], ids[1], ID_LEN);
	/* Blinds are fresh each time: the server sees other elements. */
	memcpy(evaluated, elems, sizeof elems);
	ck_assert_int_eq(ids_blind(numbers, 3, blinds, elems), 0);
	ck_assert_mem_ne(evaluated, elems, OPRF_ELEM);
}
END_TEST

START_TEST(test_invalid_element_refused)
{
	char		 numbers[2][TRYST_NUMBER_MAX] = { "+15550100341",
			    "+15550100342" };
	uint8_t		 sk[OPRF_SCALAR], seed[32];
	uint8_t		 blinds[2 * OPRF_SCALAR], elems[2 * OPRF_ELEM];
	uint8_t		 evaluated[2 * OPRF_ELEM], ids[2][ID_LEN];

	memset(seed, 9, sizeof seed);
	ck_assert_int_eq(oprf_derive_keypair(sk, NULL, seed, sizeof seed,
	    (const uint8_t *)"tryst-oprf-v1", 13), 0);
	ck_assert_int_eq(ids_blind(numbers, 2, blinds, elems), 0);
	evaluate(sk, elems, 2, evaluated);
	/* The identity as the second answer: the batch fails. */
	memset(evaluated + OPRF_ELEM, 0, OPRF_ELEM);
	ck_assert_int_eq(ids_finalize(numbers, 2, blinds, evaluated, ids), -1);
}
END_TEST

static Suite *
ids_suite(void)
{
	Suite	*s = suite_create("ids");
	TCase	*tc = tcase_create("ids");

	tcase_add_test(tc, test_find_exact_number);
	tcase_add_test(tc, test_find_skips_bad_lines);
	tcase_add_test(tc, test_find_number_of_id);
	tcase_add_test(tc, test_append_keeps_first);
	tcase_add_test(tc, test_file_shared);
	tcase_add_test(tc, test_unreadable_kept);
	tcase_add_test(tc, test_blinded_batch_gives_ids);
	tcase_add_test(tc, test_invalid_element_refused);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (sodium_init() < 0)
		return (1);
	return (unit_run(ids_suite()));
}
