/* SPDX-License-Identifier: ISC */
/*
 * fail_tls_init.c - a test's fault: preloaded into npsocketd, it makes
 * every server-side gnutls_init() fail as when memory runs out, so a
 * connection's set-up fails after admission (t/100-tls.t).  Client-side
 * sessions are left alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <gnutls/gnutls.h>

int gnutls_init(gnutls_session_t *session, unsigned int flags)
{
	if (flags & GNUTLS_SERVER)
		return GNUTLS_E_MEMORY_ERROR;
	int (*real)(gnutls_session_t *, unsigned int) =
		(int (*)(gnutls_session_t *, unsigned int))dlsym(RTLD_NEXT, "gnutls_init");
	return real ? real(session, flags) : GNUTLS_E_INTERNAL_ERROR;
}
