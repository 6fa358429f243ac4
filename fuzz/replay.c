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
	size_t cap = 4096, len = 0;
	unsigned char *data = malloc(cap);
	size_t n;
	while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *grown = realloc(data, cap * 2);
			if (!grown) {
				free(data);
				data = NULL;
				break;
			}
			data = grown;
			cap *= 2;
		}
	}
	int failed = ferror(f);
	fclose(f);
	if (!data || failed) {
		fprintf(stderr, "replay: %s: %s\n", path, data ? "read error" : "out of memory");
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
