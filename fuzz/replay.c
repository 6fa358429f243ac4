/* SPDX-License-Identifier: ISC */
/*
 * replay.c - runs files, or every file in directories, through a fuzz
 * target once each, without libFuzzer: the corpus as a regression test.
 *
 *   TARGET-replay FILE|DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	unsigned char *data = NULL;
	size_t len = 0;
	const char *why = NULL;
	if (fstat(fileno(f), &st) < 0)
		why = strerror(errno);
	else if (!(data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)))
		why = "out of memory";
	else if ((len = fread(data, 1, (size_t)st.st_size, f)) != (size_t)st.st_size)
		why = "short read";
	fclose(f);
	if (why) {
		fprintf(stderr, "replay: %s: %s\n", path, why);
		free(data);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	long done = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				return 1;
			done++;
			continue;
		}
		DIR *dir = opendir(argv[i]);
		if (!dir) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path) < 0) {
				closedir(dir);
				return 1;
			}
			done++;
		}
		closedir(dir);
	}
	printf("replayed %ld inputs\n", done);
	return 0;
}
