/* SPDX-License-Identifier: ISC */
/*
 * control_fuzz.c - fuzz target: a line from a control client through the
 * command parser, with the invariants the control thread relies on: a
 * command or a reason, words inside the line, printable, at most
 * NP_CONTROL_WORDS_MAX of them, the arguments the command takes.
 */
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 2 * NP_CONTROL_LINE_MAX)
		return 0;
	const char *line = (const char *)data;
	struct np_control_request req;
	size_t args;
	const char *why = NULL;
	const struct np_control_command *c = np_control_parse(line, size, &req, &args, &why);
	if (!c) {
		if (!why)
			abort();
		return 0;
	}
	if (size > NP_CONTROL_LINE_MAX || req.count == 0 || req.count > NP_CONTROL_WORDS_MAX || args > req.count ||
	    !np_control_command_name(c))
		abort();
	for (size_t i = 0; i < req.count; i++) {
		if (req.words[i] < line || req.words[i] + req.lengths[i] > line + size || req.lengths[i] == 0)
			abort();
		for (size_t j = 0; j < req.lengths[i]; j++)
			if ((unsigned char)req.words[i][j] <= 0x20 || (unsigned char)req.words[i][j] >= 0x7f)
				abort();
	}
	return 0;
}
