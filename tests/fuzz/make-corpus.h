/*
 * make-corpus.h -- what the two files of make-corpus share.
 */
#ifndef TRYST_MAKE_CORPUS_H
#define TRYST_MAKE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

/* Write DIR/target/name with len bytes of p, or die. */
void	 seed(const char *target, const char *name, const void *p,
	    size_t len);
/* A credential signed by the test keys (CRED_LEN bytes). */
const uint8_t *credential(void);
/* The offer of the call seeds: two candidates. Its length. */
size_t	 offer_bytes(uint8_t *out, size_t outlen);
/* corpus-proto.c: one seed per message type. */
void	 corpus_proto(void);
/* corpus-server.c: programs of the whole-server target. */
void	 corpus_server(void);

#endif
