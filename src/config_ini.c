/* SPDX-License-Identifier: ISC */
/*
 * config_ini.c - the Java server's INI file into the configuration tree:
 * inih parses, a line-counting reader gives every key and section its
 * line, and each key of a section the daemon owns lands in the tree
 * typed by its schema entry, so INI and libconfig syntax meet the same
 * checks and messages.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"

struct ini_entry {
	char *section, *key, *value;
	unsigned line;
};

struct ini_section {
	char *name;
	unsigned line;
};

/* What inih's callbacks gather: every key and section with its line. */
struct ini_reader {
	struct loader *ld;
	struct ini_entry *entries;
	size_t entry_count, entry_cap;
	struct ini_section *sections;
	size_t section_count, section_cap;
	FILE *file;
	int line;
	bool at_line_start;
	size_t line_len;             /* of the physical line read so far */
	unsigned too_long;           /* the line past INI_LINE_MAX, or 0 */
	/* The TLS sections the ports name (sslSection), gathered once: a
	 * file of 50,000 foreign sections is then read in linear time. */
	const char **tls_names;
	size_t tls_count;
};

/* The longest line read: 64 KiB, a value of 64K characters with its key. */
#define INI_LINE_MAX (64 * 1024)

/* inih's reader: fgets that counts lines (inih tells the handler none)
 * and notes section headers with their lines.  inih grows its buffer and
 * calls again for the rest of a long line (ini_allow_realloc), so a
 * chunk without a newline continues the same line. */
static char *read_ini_line(char *str, int num, void *stream)
{
	struct ini_reader *ir = stream;
	if (!fgets(str, num, ir->file))
		return NULL;
	size_t len = strlen(str);
	bool starts_line = ir->at_line_start;
	ir->at_line_start = len > 0 && str[len - 1] == '\n';
	ir->line_len = starts_line ? len : ir->line_len + len;
	if (starts_line)
		ir->line++;
	/* inih would take the rest of a line past its longest for the next
	 * line: stop here and say which line it is. */
	if (!ir->at_line_start && ir->line_len >= INI_LINE_MAX - 1) {
		ir->too_long = ir->line;
		return NULL;
	}
	if (!starts_line)
		return str;
	const char *p = str;
	if (ir->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* a UTF-8 byte order mark, as Windows editors write */
	p = cfg_skip_space(p);
	const char *close = *p == '[' ? strchr(p, ']') : NULL;
	if (!close)
		return str;
	if (ir->section_count == ir->section_cap) {
		size_t cap = ir->section_cap ? ir->section_cap * 2 : 16;
		struct ini_section *grown = realloc(ir->sections, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		ir->sections = grown;
		ir->section_cap = cap;
	}
	/* Trimmed, as inih trims it. */
	p = cfg_skip_space(p + 1);
	const char *e = close;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	char *name = strndup(p, (size_t)(e - p));
	if (!name)
		return NULL;
	ir->sections[ir->section_count++] = (struct ini_section){ name, (unsigned)ir->line };
	return str;
}

static int ini_collect(void *user, const char *section, const char *name, const char *value)
{
	struct ini_reader *ir = user;
	if (ir->entry_count == ir->entry_cap) {
		size_t cap = ir->entry_cap ? ir->entry_cap * 2 : 64;
		struct ini_entry *grown = realloc(ir->entries, cap * sizeof(*grown));
		if (!grown)
			return 0;
		ir->entries = grown;
		ir->entry_cap = cap;
	}
	struct ini_entry *e = &ir->entries[ir->entry_count];
	e->section = strdup(section);
	e->key = strdup(name);
	e->value = strdup(value ? value : "");
	e->line = (unsigned)ir->line;
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return 0;
	}
	ir->entry_count++;
	return 1;
}

/* The group for a section path "A.B", created as needed. */
static config_setting_t *section_group(struct ini_reader *ir, const char *section, unsigned line)
{
	config_setting_t *group = config_root_setting(ir->ld->tree);
	char *copy = strdup(section), *save = NULL;
	if (!copy)
		return NULL;
	for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (!cfg_valid_name(part)) {
			cfg_report(ir->ld, line, false, "section [%s]: '%s' is not a valid name "
			       "(letters, digits, '-', '_', starting with a letter)", section, part);
			free(copy);
			return NULL;
		}
		config_setting_t *child = config_setting_get_member(group, part);
		if (!child) {
			child = config_setting_add(group, part, CONFIG_TYPE_GROUP);
			if (child)
				child->line = line;
		} else if (!config_setting_is_group(child)) {
			cfg_report(ir->ld, line, false, "section [%s] collides with key '%s'", section, part);
			child = NULL;
		}
		group = child;
		if (!group)
			break;
	}
	free(copy);
	return group;
}

/* Adds one INI value to the tree, typed by its schema when it converts. */
static void ini_add_value(struct ini_reader *ir, config_setting_t *group, const struct ini_entry *e)
{
	const struct key_schema *k = cfg_schema_find(cfg_section_kind(e->section), e->key);
	config_setting_t *s = NULL;
	long long n;
	double d;
	bool b;

	if (!cfg_valid_name(e->key)) {
		cfg_report(ir->ld, e->line, true, "key '%s' in [%s] is not a valid name; ignored", e->key, e->section);
		return;
	}
	if (k && (k->type == T_INT || k->type == T_PORT) && cfg_parse_integer(e->value, &n) && n >= INT_MIN &&
	    n <= INT_MAX) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
	} else if (k && k->type == T_BOOL && cfg_parse_bool(e->value, &b)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_BOOL)))
			config_setting_set_bool(s, b);
	} else if (k && k->type == T_SECONDS && cfg_parse_integer(e->value, &n) && n >= 0 && n <= INT_MAX) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
	} else if (k && k->type == T_SECONDS && cfg_parse_seconds(e->value, &d)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_FLOAT)))
			config_setting_set_float(s, d);
	} else if (k && k->type == T_BYTES && np_parse_bytes(e->value, &n)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT64)))
			config_setting_set_int64(s, n);
	} else {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_STRING)))
			config_setting_set_string(s, e->value);
	}
	if (!s) {
		cfg_report(ir->ld, e->line, false, "cannot add key '%s' to [%s]", e->key, e->section);
		return;
	}
	s->line = e->line;
}

static const struct ini_section *ini_section_named(struct ini_reader *ir, const char *name)
{
	for (size_t i = 0; i < ir->section_count; i++)
		if (strcmp(ir->sections[i].name, name) == 0)
			return &ir->sections[i];
	return NULL;
}

static bool ini_owned(struct ini_reader *ir, const char *section)
{
	if (strcmp(section, "Server") == 0 || strcmp(section, "ACME") == 0 || cfg_is_port_section(section))
		return true;
	for (size_t i = 0; i < ir->tls_count; i++)
		if (strcmp(ir->tls_names[i], section) == 0)
			return true;
	return false;
}

/* The sslSection values of the port sections; -1 when out of memory. */
static int gather_tls_names(struct ini_reader *ir)
{
	for (size_t i = 0; i < ir->entry_count; i++) {
		const struct ini_entry *e = &ir->entries[i];
		if (!cfg_is_port_section(e->section) || strcmp(e->key, "sslSection") != 0)
			continue;
		const char **grown = realloc(ir->tls_names, (ir->tls_count + 1) * sizeof(*grown));
		if (!grown)
			return -1;
		ir->tls_names = grown;
		ir->tls_names[ir->tls_count++] = e->value;
	}
	return 0;
}

static int load_ini(struct ini_reader *ir)
{
	ini_use_stack = false;       /* heap line buffer that grows: long lines work */
	ini_allow_realloc = true;
	ini_max_line = INI_LINE_MAX;
	ini_allow_multiline = false;

	ir->at_line_start = true;
	ir->file = fopen(ir->ld->path, "r");
	if (!ir->file) {
		cfg_report(ir->ld, 0, false, "cannot read: %s", strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(read_ini_line, ir, ini_collect, ir);
	fclose(ir->file);
	ir->file = NULL;
	if (rc == -2) {
		cfg_report(ir->ld, 0, false, "out of memory reading the file");
		return -1;
	}
	if (ir->too_long) {
		cfg_report(ir->ld, ir->too_long, false, "line longer than %d bytes", INI_LINE_MAX - 1);
		return -1;
	}
	if (rc > 0)
		cfg_report(ir->ld, (unsigned)rc, false, "syntax error: expected [Section], key = value or a comment");

	if (gather_tls_names(ir) < 0) {
		cfg_report(ir->ld, 0, false, "out of memory reading the file");
		return -1;
	}
	/* Duplicate owned sections. */
	for (size_t i = 0; i < ir->section_count; i++) {
		if (!ini_owned(ir, ir->sections[i].name))
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ir->sections[i].name, ir->sections[j].name) == 0) {
				cfg_report(ir->ld, ir->sections[i].line, false, "section [%s] given twice (first on line %u)",
				       ir->sections[i].name, ir->sections[j].line);
				break;
			}
	}
	/* Owned sections into the tree, keys once each. */
	for (size_t i = 0; i < ir->section_count; i++) {
		const struct ini_section *sec = &ir->sections[i];
		if (!ini_owned(ir, sec->name) || ini_section_named(ir, sec->name) != sec)
			continue;
		config_setting_t *group = section_group(ir, sec->name, sec->line);
		if (!group)
			continue;
		for (size_t j = 0; j < ir->entry_count; j++) {
			const struct ini_entry *e = &ir->entries[j];
			if (strcmp(e->section, sec->name) != 0)
				continue;
			const config_setting_t *seen = config_setting_get_member(group, e->key);
			if (seen) {
				cfg_report(ir->ld, e->line, false, "key '%s' in [%s] given twice (first on line %u)", e->key,
				       e->section, seen->line);
				continue;
			}
			ini_add_value(ir, group, e);
		}
	}
	for (size_t i = 0; i < ir->entry_count; i++)
		if (!ir->entries[i].section[0])
			cfg_report(ir->ld, ir->entries[i].line, true, "key '%s' outside any section ignored",
			       ir->entries[i].key);
	return 0;
}

static void free_ini(struct ini_reader *ir)
{
	for (size_t i = 0; i < ir->entry_count; i++) {
		free(ir->entries[i].section);
		free(ir->entries[i].key);
		free(ir->entries[i].value);
	}
	free(ir->entries);
	for (size_t i = 0; i < ir->section_count; i++)
		free(ir->sections[i].name);
	free(ir->sections);
	free(ir->tls_names);
}

int cfg_read_ini(struct loader *ld)
{
	struct ini_reader ir = { .ld = ld };
	int rc = load_ini(&ir);
	free_ini(&ir);
	return rc;
}
