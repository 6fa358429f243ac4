/* SPDX-License-Identifier: ISC */
/*
 * config_fuzz.c - fuzz target: a configuration file through
 * np_config_load(), as `npsocketd -t -c FILE` reads it.  The first byte
 * picks the syntax (odd: libconfig, FILE.cfg; even: INI); the rest is
 * the file.  A configuration that loads is printed and loaded again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char dir[64];

static void remove_dir(void)
{
	rmdir(dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/npsocketd-fuzz-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	char path[128], printed[128];
	snprintf(path, sizeof(path), "%s/input.%s", dir, (data[0] & 1) ? "cfg" : "ini");
	snprintf(printed, sizeof(printed), "%s/printed.cfg", dir);
	write_file(path, data + 1, size - 1);
	FILE *errors = fopen("/dev/null", "w");
	if (!errors)
		abort();
	struct np_config *cfg = np_config_load(path, errors);
	if (cfg) {
		FILE *out = fopen(printed, "w");
		if (!out)
			abort();
		np_config_print(cfg, out);
		if (fclose(out) != 0)
			abort();
		struct np_config *again = np_config_load(printed, errors);
		if (!again)
			abort(); /* what loaded must load again as printed */
		np_config_unref(again);
		np_config_unref(cfg);
	}
	fclose(errors);
	unlink(path);
	unlink(printed);
	return 0;
}
