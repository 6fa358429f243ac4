/* SPDX-License-Identifier: ISC */
/*
 * handler.c - which handler a port's sessionHandler names: echo, forward,
 * or module:PATH, a shared object that exports one struct np_handler
 * named NP_HANDLER_SYMBOL (npsocket/handler.h), checked at start-up so a
 * wrong build is refused before any client comes.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "handler.h"

static const struct np_handler *module_load(const char *path, char *err, size_t err_size)
{
	void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		snprintf(err, err_size, "cannot load module %s: %s", path, dlerror());
		return NULL;
	}
	dlerror();
	const struct np_handler *handler = dlsym(so, NP_HANDLER_SYMBOL);
	const char *why = NULL;
	if (!handler)
		why = "it does not export " NP_HANDLER_SYMBOL;
	else if (handler->abi_version != NP_HANDLER_ABI_VERSION)
		why = "its ABI version differs from this npsocketd's";
	else if (!handler->name || !handler->on_client_connect || !handler->on_remote_application_connect)
		why = "it lacks a name, on_client_connect or on_remote_application_connect";
	if (why) {
		if (handler && handler->abi_version != NP_HANDLER_ABI_VERSION)
			snprintf(err, err_size, "module %s refused: %s (module %u, npsocketd %u)", path, why,
				 handler->abi_version, NP_HANDLER_ABI_VERSION);
		else
			snprintf(err, err_size, "module %s refused: %s", path, why);
		dlclose(so);
		return NULL;
	}
	/* The module stays loaded for the life of the process: its code runs
	 * in session threads until the very end. */
	return handler;
}

const struct np_handler *np_handler_for(const struct np_handler_spec *spec, char *err, size_t err_size)
{
	switch (spec->kind) {
	case NP_HANDLER_ECHO:
		return &np_handler_echo;
	case NP_HANDLER_FORWARD:
		return &np_handler_forward;
	case NP_HANDLER_MODULE:
		return module_load(spec->module_path, err, err_size);
	}
	snprintf(err, err_size, "unknown sessionHandler");
	return NULL;
}
