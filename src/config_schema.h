/* SPDX-License-Identifier: ISC */
/*
 * config_schema.h - what the rooms of the configuration share: the
 * schema's types (config_schema.c), the loader that reports problems as
 * FILE:LINE (config.c), INI into the tree (config_ini.c), and typed
 * values between the tree and the structs (config_value.c).
 */
#ifndef NP_CONFIG_SCHEMA_H
#define NP_CONFIG_SCHEMA_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum section_kind { SEC_SERVER, SEC_PORT, SEC_TLS, SEC_ACME };

enum key_type {
	T_INT,       /* integer in [min, max] */
	T_PORT,      /* 0..65535 (min 1 for mapToPort) */
	T_BOOL,
	T_SECONDS,   /* non-negative decimal seconds, stored as ms (int) */
	T_BYTES,     /* integer with K/M/G suffix, stored as size_t */
	T_STRING,
	T_ENUM,      /* one of words[], stored as int values[] */
	T_LEVEL,     /* a log level name (log.h), stored as its syslog priority */
	T_LIST,      /* comma list of strings */
	T_CIDRS,     /* comma list of address ranges */
	T_HOSTPORT,  /* host:port */
	T_HANDLER,   /* echo | forward | module:PATH, stored as struct np_handler_spec */
	T_URLPATH,   /* "/path" as a string, or empty for none (NULL) */
};

struct key_schema {
	enum section_kind section;
	const char *name;
	enum key_type type;
	const char *def;             /* default as written in a file; NULL = unset */
	long long min, max;
	size_t offset;
	const char *const *words;    /* T_ENUM */
	const int *values;
};

/* --- config_schema.c: the one key table ---------------------------------- */

extern const struct key_schema cfg_schema[];
extern const size_t cfg_schema_size;

const struct key_schema *cfg_schema_find(enum section_kind section, const char *name);
/* "seconds from 0 to 3600": what a key takes, for messages. */
const char *cfg_schema_type_words(const struct key_schema *k, char *buf, size_t size);
/* [Server], [Port] / [Port.NAME], or (any other) a TLS section. */
enum section_kind cfg_section_kind(const char *section);
bool cfg_is_port_section(const char *name);
/* A name libconfig takes for a group or a key. */
bool cfg_valid_name(const char *name);

/* --- config_schema.c: the loader's reports ---------------------------------- */

struct loader {
	const char *path;                /* absolute: what is read */
	const char *name;                /* as given: what messages say */
	FILE *errors;
	int error_count;
	config_t *tree;
};

/* "FILE:LINE: ..." (line 0: "FILE: ...") to ld->errors; an error (not a
 * warning) is counted. */
void cfg_report(struct loader *ld, unsigned line, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* --- config_ini.c: INI into the tree -------------------------------------- */

/* Reads ld->path with inih; every key of an owned section lands in
 * ld->tree, typed by its schema entry.  0, or -1 when the file could not
 * be read at all (problems reported). */
int cfg_read_ini(struct loader *ld);

/* --- config_value.c: typed values ------------------------------------------ */

const char *cfg_skip_space(const char *p);
bool cfg_parse_integer(const char *text, long long *out);
bool cfg_parse_bool(const char *text, bool *out);
bool cfg_parse_seconds(const char *text, double *out);
/* Splits "a, b ,c" into trimmed items; false on an empty item. */
bool cfg_split_list(const char *text, struct np_string_list *out);
void cfg_free_list(struct np_string_list *l);

/* A setting's value as the file wrote it, for messages. */
void cfg_describe(const config_setting_t *s, char *buf, size_t size);
/* The setting's text when it is a string, else NULL. */
const char *cfg_text_of(const config_setting_t *s);

/* Checks one key's setting and stores it at base + k->offset; false when
 * it is not what the key takes. */
bool cfg_store_value(const struct key_schema *k, const config_setting_t *s, char *base);
/* The key's default into the group, so -t shows what is in effect. */
void cfg_add_default(config_setting_t *group, const struct key_schema *k);
/* Rewrites a stored key in its canonical type ("1M" -> 1048576L), so -t
 * prints the same tree for either syntax. */
void cfg_normalize(config_setting_t *group, const struct key_schema *k, const char *base);
/* Moves a key to the end of its group (schema order for -t). */
void cfg_move_to_end(config_setting_t *group, const char *name);
/* Frees what the section's fields hold. */
void cfg_free_fields(enum section_kind kind, char *base);

#endif
