/*
 * driver.c -- a main() for fuzz targets where libFuzzer is not at hand
 * (gcc, the CI build): run the target over every seed of a corpus folder,
 * then over deterministic mutations of them.
 *
 *	fuzz-NAME CORPUS_DIR [N]	the seeds, then N (default 20000)
 *					mutations of them
 *	fuzz-NAME FILE			one input, to replay a reproducer
 *
 * The mutations come from a fixed-seed xorshift generator, so every run
 * tries the same inputs and a failure can be replayed. Each input is
 * handed over in a buffer of exactly its size, so that AddressSanitizer
 * sees a read past its end. A target reports a broken property with
 * abort(); a crash ends the run, so a run that finishes found none. With
 * FUZZ_LAST=FILE in the environment each input is first written to FILE,
 * which after a crash holds the input that caused it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#define FUZZ_NAME	"fuzz"
#endif

#define MAX_LEN	(128 * 1024)	/* longest input made or read */
#define MAX_SEEDS	1024
#define DEFAULT_RUNS	20000
#define MAX_STACK	4		/* mutations applied to one input */
#define RNG_SEED	0x9e3779b97f4a7c15ULL

/* A byte string: a seed, or the input being made. */
struct buf {
	uint8_t		*p;
	size_t		 len;
};

/* Everything a run works with. */
struct run {
	struct buf	 seeds[MAX_SEEDS];
	size_t		 nseeds;
	uint64_t	 rng;
	uint8_t		*work;		/* MAX_LEN bytes */
	size_t		 len;
	unsigned long	 inputs;
	const char	*last;		/* $FUZZ_LAST */
};

/* The next number of the xorshift64* generator. */
static uint64_t
rnd(struct run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (r->rng * 0x2545f4914f6cdd1dULL);
}

/* A number in [0, n), 0 when n is 0. */
static size_t
below(struct run *r, size_t n)
{
	return (n == 0 ? 0 : (size_t)(rnd(r) % n));
}

/* Keep the input about to run in $FUZZ_LAST, for after a crash. */
static void
keep_last(const char *path, const uint8_t *p, size_t len)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	if (len > 0 && fwrite(p, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

/* Run the target on p[0..len) copied to a buffer of exactly len bytes. */
static void
run_one(struct run *r, const uint8_t *p, size_t len)
{
	uint8_t	*copy = malloc(len > 0 ? len : 1);

	if (copy == NULL) {
		perror("malloc");
		exit(1);
	}
	if (len > 0)
		memcpy(copy, p, len);
	if (r->last != NULL)
		keep_last(r->last, p, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	r->inputs++;
}

/* Read one file (at most MAX_LEN bytes) into b. -1 on error. */
static int
read_file(const char *path, struct buf *b)
{
	FILE	*f;
	uint8_t	*p;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	b->p = malloc(MAX_LEN);
	if (b->p == NULL) {
		fclose(f);
		return (-1);
	}
	n = fread(b->p, 1, MAX_LEN, f);
	fclose(f);
	b->len = n;
	if ((p = realloc(b->p, n > 0 ? n : 1)) != NULL)
		b->p = p;
	return (0);
}

/* scandir filter: skip dot files. */
static int
visible(const struct dirent *d)
{
	return (d->d_name[0] != '.');
}

/* Load every file of dir, in name order. -1 when there is none. */
static int
load_seeds(struct run *r, const char *dir)
{
	struct dirent	**names;
	char		 path[4096];
	int		 n, i;

	if ((n = scandir(dir, &names, visible, alphasort)) == -1) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (r->nseeds < MAX_SEEDS &&
		    read_file(path, &r->seeds[r->nseeds]) == 0)
			r->nseeds++;
		free(names[i]);
	}
	free(names);
	if (r->nseeds == 0) {
		fprintf(stderr, "%s: no seeds\n", dir);
		return (-1);
	}
	return (0);
}

/* Insert n bytes at off (n fits); their content is left to the caller. */
static void
make_room(struct run *r, size_t off, size_t n)
{
	memmove(r->work + off + n, r->work + off, r->len - off);
	r->len += n;
}

/* Write v big-endian in w bytes at off, if they fit. */
static void
put_be(struct run *r, size_t off, uint64_t v, size_t w)
{
	size_t	 i;

	if (off + w > r->len)
		return;
	for (i = 0; i < w; i++)
		r->work[off + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
}

/* A value a length or count field might have to hold to go wrong. */
static uint64_t
length_value(struct run *r, size_t off)
{
	static const uint64_t	 fixed[] = {
		0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400,
		0x7fff, 0x8000, 0xffff, 0x10000, 0x10001, 0x7fffffff,
		0x80000000, 0xffffffff,
	};
	size_t			 left = r->len - off;

	switch (below(r, 4)) {
	case 0:
		return (left);			/* the rest, exactly */
	case 1:
		return (left - below(r, left < 8 ? left + 1 : 8));
	case 2:
		return (left + 1 + below(r, 4));	/* a little too much */
	default:
		return (fixed[below(r, nitems(fixed))]);
	}
}

/* Overwrite a u8, u16 or u32 at a random offset with a length value. */
static void
mutate_length(struct run *r)
{
	static const size_t	 widths[] = { 1, 2, 2, 4 };
	size_t			 w = widths[below(r, nitems(widths))];
	size_t			 off;

	if (r->len < w)
		return;
	off = below(r, r->len - w + 1);
	put_be(r, off, length_value(r, off + w), w);
}

/* Insert 1..16 bytes: random, or one repeated value. */
static void
mutate_insert(struct run *r)
{
	size_t	 n = 1 + below(r, 16), off = below(r, r->len + 1), i;
	int	 same = below(r, 2) == 0;
	uint8_t	 v = (uint8_t)rnd(r);

	if (r->len + n > MAX_LEN)
		return;
	make_room(r, off, n);
	for (i = 0; i < n; i++)
		r->work[off + i] = same ? v : (uint8_t)rnd(r);
}

/* Delete 1..16 bytes. */
static void
mutate_delete(struct run *r)
{
	size_t	 off, n;

	if (r->len == 0)
		return;
	off = below(r, r->len);
	n = 1 + below(r, 16);
	if (n > r->len - off)
		n = r->len - off;
	memmove(r->work + off, r->work + off + n, r->len - off - n);
	r->len -= n;
}

/* Replace the tail with the tail of another seed, or insert a piece. */
static void
mutate_splice(struct run *r)
{
	const struct buf	*s = &r->seeds[below(r, r->nseeds)];
	size_t			 off = below(r, r->len + 1);
	size_t			 from = below(r, s->len + 1);
	size_t			 n = s->len - from;

	if (below(r, 2) == 0) {
		if (off + n > MAX_LEN)
			n = MAX_LEN - off;
		memcpy(r->work + off, s->p + from, n);
		r->len = off + n;
		return;
	}
	if (n > 64)
		n = 1 + below(r, 64);
	if (r->len + n > MAX_LEN)
		return;
	make_room(r, off, n);
	memcpy(r->work + off, s->p + from, n);
}

/* Copy a block of the input over another place in it. */
static void
mutate_copy(struct run *r)
{
	size_t	 from, to, n;

	if (r->len < 2)
		return;
	from = below(r, r->len);
	to = below(r, r->len);
	n = 1 + below(r, 32);
	if (n > r->len - from)
		n = r->len - from;
	if (n > r->len - to)
		n = r->len - to;
	memmove(r->work + to, r->work + from, n);
}

/* Apply one mutation to the input being made. */
static void
mutate(struct run *r)
{
	static const uint8_t	 interesting[] = { 0, 0xff, 0x7f, 0x80, 1 };
	size_t			 at = below(r, r->len);

	switch (below(r, 10)) {
	case 0:
		if (r->len > 0)
			r->work[at] ^= (uint8_t)(1 << below(r, 8));
		break;
	case 1:
		if (r->len > 0)
			r->work[at] = (uint8_t)rnd(r);
		break;
	case 2:
		if (r->len > 0)
			r->work[at] = interesting[below(r,
			    nitems(interesting))];
		break;
	case 3:
		mutate_insert(r);
		break;
	case 4:
		mutate_delete(r);
		break;
	case 5:
		mutate_splice(r);
		break;
	case 6:
		r->len = below(r, r->len + 1);		/* truncate */
		break;
	case 7:
		mutate_copy(r);
		break;
	default:
		mutate_length(r);
		break;
	}
}

/* Make and run n mutants of the seeds. */
static void
run_mutants(struct run *r, unsigned long n)
{
	const struct buf	*s;
	unsigned long		 i;
	size_t			 k, stack;

	for (i = 0; i < n; i++) {
		s = &r->seeds[below(r, r->nseeds)];
		memcpy(r->work, s->p, s->len);
		r->len = s->len;
		stack = 1 + below(r, MAX_STACK);
		for (k = 0; k < stack; k++)
			mutate(r);
		run_one(r, r->work, r->len);
	}
}

/* Run the seeds, the empty input and the mutants; 0 once all are done. */
static int
run_corpus(struct run *r, const char *dir, unsigned long n)
{
	size_t	 i;

	if (load_seeds(r, dir) != 0)
		return (1);
	if ((r->work = malloc(MAX_LEN)) == NULL)
		return (1);
	r->rng = RNG_SEED;
	run_one(r, NULL, 0);
	for (i = 0; i < r->nseeds; i++)
		run_one(r, r->seeds[i].p, r->seeds[i].len);
	run_mutants(r, n);
	for (i = 0; i < r->nseeds; i++)
		free(r->seeds[i].p);
	free(r->work);
	return (0);
}

/* Run a corpus folder and its mutants, or one file. */
int
main(int argc, char **argv)
{
	struct run	*r;
	struct stat	 sb;
	struct buf	 one;
	unsigned long	 n = DEFAULT_RUNS;
	char		*end;
	int		 rc = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s CORPUS_DIR [N] | FILE\n", argv[0]);
		return (2);
	}
	if (argc == 3 && ((n = strtoul(argv[2], &end, 10)) == 0 ||
	    *end != '\0')) {
		fprintf(stderr, "%s: bad count %s\n", argv[0], argv[2]);
		return (2);
	}
	if ((r = calloc(1, sizeof *r)) == NULL)
		return (1);
	r->last = getenv("FUZZ_LAST");
	if (stat(argv[1], &sb) == 0 && S_ISREG(sb.st_mode)) {
		if ((rc = read_file(argv[1], &one)) == 0) {
			run_one(r, one.p, one.len);
			free(one.p);
		}
	} else
		rc = run_corpus(r, argv[1], n);
	if (rc == 0)
		printf("%s: %lu inputs, 0 crashes\n", FUZZ_NAME, r->inputs);
	free(r);
	return (rc != 0);
}
