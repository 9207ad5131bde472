/* file-receiver DIR: take every call, keep its files (libtryst example) */
#include <stdio.h>

#include <tryst.h>

static void
on_file(tryst_call_t *call, int event, const char *name, uint64_t bytes,
    uint64_t size, const tryst_error *err, void *user)
{
	if (event == TRYST_FILE_DONE)
		printf("received %s (%llu bytes)\n", name,
		    (unsigned long long)size);
	else if (event == TRYST_FILE_FAILED)
		printf("refused %s: %s\n", name, tryst_error_message(err));
	fflush(stdout);
}

static void
on_state(tryst_call_t *call, int state, const tryst_error *err, void *user)
{
	if (state == TRYST_CALL_ENDED)
		tryst_call_release(call);
}

static void
on_incoming(tryst_t *t, tryst_call_t *call, void *dir)
{
	tryst_call_on_state(call, on_state, NULL);
	if (tryst_call_receive_files(call, dir, on_file, NULL, NULL) != 0 ||
	    tryst_call_accept(call, 0, NULL) != 0)
		tryst_call_decline(call, NULL);
}

int
main(int argc, char **argv)
{
	tryst_error	*err = NULL;
	tryst_t		*t;

	if (argc != 2 || (t = tryst_new(&err)) == NULL ||
	    tryst_state_dir(t, NULL, &err) != 0 ||
	    tryst_go_online(t, NULL, NULL, &err) != 0) {
		fprintf(stderr, "usage: file-receiver DIR%s%s\n", err != NULL ?
		    ": " : "", err != NULL ? tryst_error_message(err) : "");
		return (1);
	}
	tryst_on_incoming(t, on_incoming, argv[1]);
	return (tryst_run(t, -1, NULL));
}
