/* SPDX-License-Identifier: ISC */
/*
 * config_value.c - typed configuration values: integers, booleans,
 * seconds, byte sizes, strings, comma lists, address ranges, host:port,
 * the session handler, log levels and paths; checked from the tree into
 * the structs, and written back in canonical form for -t.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_schema.h"

/* A setting's value as the file wrote it, for messages. */
void cfg_describe(const config_setting_t *s, char *buf, size_t size)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING: snprintf(buf, size, "\"%s\"", config_setting_get_string(s)); break;
	case CONFIG_TYPE_INT: snprintf(buf, size, "%d", config_setting_get_int(s)); break;
	case CONFIG_TYPE_INT64: snprintf(buf, size, "%lld", config_setting_get_int64(s)); break;
	case CONFIG_TYPE_FLOAT: snprintf(buf, size, "%g", config_setting_get_float(s)); break;
	case CONFIG_TYPE_BOOL: snprintf(buf, size, "%s", config_setting_get_bool(s) ? "true" : "false"); break;
	case CONFIG_TYPE_GROUP: snprintf(buf, size, "a group"); break;
	default: snprintf(buf, size, "a list"); break;
	}
}

const char *cfg_skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

bool cfg_parse_integer(const char *text, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *cfg_skip_space(end))
		return false;
	*out = v;
	return true;
}

bool cfg_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(text, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

bool cfg_parse_seconds(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *cfg_skip_space(end) || !isfinite(v) || v < 0)
		return false;
	*out = v;
	return true;
}

bool np_parse_bytes(const char *text, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || v < 0)
		return false;
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*cfg_skip_space(end) || v > (LLONG_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* Splits "a, b ,c" into trimmed items; false on an empty item. */
bool cfg_split_list(const char *text, struct np_string_list *out)
{
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return false;
	bool ok = true;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		item = (char *)cfg_skip_space(item);
		for (size_t n = strlen(item); n > 0 && isspace((unsigned char)item[n - 1]); n--)
			item[n - 1] = '\0';
		if (!*item) {
			ok = false;
			break;
		}
		char **grown = realloc(out->items, (out->count + 1) * sizeof(char *));
		if (!grown || !(grown[out->count] = strdup(item))) {
			if (grown)
				out->items = grown;
			ok = false;
			break;
		}
		out->items = grown;
		out->count++;
	}
	free(copy);
	return ok && out->count > 0;
}

void cfg_free_list(struct np_string_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}



/* The setting's text when it is a string, else NULL. */
const char *cfg_text_of(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
}

static bool number_of(const config_setting_t *s, double *out)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: *out = config_setting_get_int(s); return true;
	case CONFIG_TYPE_INT64: *out = (double)config_setting_get_int64(s); return true;
	case CONFIG_TYPE_FLOAT: *out = config_setting_get_float(s); return true;
	default: return false;
	}
}

/* A string, or a libconfig list/array of strings, as one comma list. */
static bool list_of(const config_setting_t *s, struct np_string_list *out)
{
	const char *t = cfg_text_of(s);
	if (t)
		return cfg_split_list(t, out);
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return false;
	for (int i = 0; i < config_setting_length(s); i++) {
		const char *item = config_setting_get_string_elem(s, i);
		if (!item || !cfg_split_list(item, out))
			return false;
	}
	return out->count > 0;
}

/* Checks one key and stores it at base + offset; false when bad. */
bool cfg_store_value(const struct key_schema *k, const config_setting_t *s, char *base)
{
	void *field = base + k->offset;
	const char *t = cfg_text_of(s);
	long long n = 0;
	double d;
	bool b;

	switch (k->type) {
	case T_INT:
	case T_PORT:
		if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
			n = config_setting_get_int64(s);
		else if (!t || !cfg_parse_integer(t, &n))
			return false;
		if (n < k->min || n > k->max)
			return false;
		*(int *)field = (int)n;
		return true;
	case T_BOOL:
		if (config_setting_type(s) == CONFIG_TYPE_BOOL)
			b = config_setting_get_bool(s);
		else if (!t || !cfg_parse_bool(t, &b))
			return false;
		*(bool *)field = b;
		return true;
	case T_SECONDS:
		if (!number_of(s, &d) && (!t || !cfg_parse_seconds(t, &d)))
			return false;
		if (d < (double)k->min || d > (double)k->max || d * 1000.0 > (double)INT_MAX)
			return false;
		/* Milliseconds; a bound above 0 never becomes 0 (= none). */
		*(int *)field = (int)llround(d * 1000.0);
		if (d > 0 && *(int *)field == 0)
			*(int *)field = 1;
		return true;
	case T_BYTES:
		if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
			n = config_setting_get_int64(s);
		else if (!t || !np_parse_bytes(t, &n))
			return false;
		if (n < k->min || n > k->max)
			return false;
		*(size_t *)field = (size_t)n;
		return true;
	case T_STRING:
		if (!t || !*t)
			return false;
		return (*(char **)field = strdup(t)) != NULL;
	case T_ENUM:
		if (!t)
			return false;
		for (size_t i = 0; k->words[i]; i++)
			if (strcasecmp(t, k->words[i]) == 0) {
				*(int *)field = k->values[i];
				return true;
			}
		return false;
	case T_LIST:
		return list_of(s, field);
	case T_CIDRS: {
		struct np_string_list items = { NULL, 0 };
		struct np_cidr_list *list = field;
		bool ok = list_of(s, &items);
		if (ok && !(list->ranges = calloc(items.count, sizeof(*list->ranges))))
			ok = false;
		for (size_t i = 0; ok && i < items.count; i++)
			ok = np_cidr_parse(items.items[i], &list->ranges[list->count++]);
		cfg_free_list(&items);
		return ok;
	}
	case T_HOSTPORT: {
		char host[256], port[16];
		if (!t || np_net_split_host_port(t, host, sizeof(host), port, sizeof(port)) < 0 ||
		    !cfg_parse_integer(port, &n) || n < 1 || n > 65535)
			return false;
		return (*(char **)field = strdup(t)) != NULL;
	}
	case T_HANDLER: {
		struct np_handler_spec *spec = field;
		if (!t)
			return false;
		if (strcmp(t, "echo") == 0) {
			spec->kind = NP_HANDLER_ECHO;
		} else if (strcmp(t, "forward") == 0) {
			spec->kind = NP_HANDLER_FORWARD;
		} else if (strncmp(t, "module:", 7) == 0 && t[7]) {
			spec->kind = NP_HANDLER_MODULE;
			free(spec->module_path);
			if (!(spec->module_path = strdup(t + 7)))
				return false;
		} else {
			return false;
		}
		return true;
	}
	case T_URLPATH:
		if (!t)
			return false;
		if (!*t)
			return true; /* none */
		if (t[0] != '/')
			return false;
		for (const char *c = t; *c; c++)
			if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '?' || *c == '#')
				return false;
		return (*(char **)field = strdup(t)) != NULL;
	case T_LEVEL: {
		int level = t ? np_log_level_parse(t) : -1;
		if (level < 0)
			return false;
		*(int *)field = level;
		return true;
	}
	}
	return false;
}

/* The default written into the tree so -t shows what is in effect. */
void cfg_add_default(config_setting_t *group, const struct key_schema *k)
{
	long long n;
	double d;
	bool b;
	config_setting_t *s;
	if (!k->def)
		return;
	switch (k->type) {
	case T_INT:
	case T_PORT:
		if (cfg_parse_integer(k->def, &n) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
		return;
	case T_BOOL:
		if (cfg_parse_bool(k->def, &b) && (s = config_setting_add(group, k->name, CONFIG_TYPE_BOOL)))
			config_setting_set_bool(s, b);
		return;
	case T_SECONDS:
		if (cfg_parse_seconds(k->def, &d) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)d);
		return;
	case T_BYTES:
		if (np_parse_bytes(k->def, &n) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT64)))
			config_setting_set_int64(s, n);
		return;
	default:
		if ((s = config_setting_add(group, k->name, CONFIG_TYPE_STRING)))
			config_setting_set_string(s, k->def);
		return;
	}
}

static void set_joined(config_setting_t *s, const struct key_schema *k, const void *field)
{
	char text[4096];
	size_t used = 0;
	text[0] = '\0';
	if (k->type == T_LIST) {
		const struct np_string_list *l = field;
		for (size_t i = 0; i < l->count && used < sizeof(text); i++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", i ? ", " : "", l->items[i]);
	} else {
		const struct np_cidr_list *l = field;
		for (size_t i = 0; i < l->count && used < sizeof(text); i++) {
			char range[INET6_ADDRSTRLEN + 8];
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", i ? ", " : "",
						 np_cidr_format(&l->ranges[i], range, sizeof(range)));
		}
	}
	config_setting_set_string(s, text);
}

/* Rewrites a checked value in its canonical type ("1M" -> 1048576L,
 * "yes" -> true), so -t prints the same tree for either syntax. */
void cfg_normalize(config_setting_t *group, const struct key_schema *k, const char *base)
{
	const void *field = base + k->offset;
	int type;
	switch (k->type) {
	case T_INT: case T_PORT: type = CONFIG_TYPE_INT; break;
	case T_BOOL: type = CONFIG_TYPE_BOOL; break;
	case T_BYTES: type = CONFIG_TYPE_INT64; break;
	case T_SECONDS: type = *(const int *)field % 1000 ? CONFIG_TYPE_FLOAT : CONFIG_TYPE_INT; break;
	case T_LIST: case T_CIDRS: type = CONFIG_TYPE_STRING; break;
	default: return;
	}
	config_setting_t *s = config_setting_get_member(group, k->name);
	if (s && config_setting_type(s) == type && type != CONFIG_TYPE_STRING) {
		/* Seconds as float: what is in effect (a rounded value). */
		if (type == CONFIG_TYPE_FLOAT)
			config_setting_set_float(s, *(const int *)field / 1000.0);
		return;
	}
	if (s && config_setting_remove(group, k->name) != CONFIG_TRUE)
		return;
	if (!(s = config_setting_add(group, k->name, type)))
		return;
	if (type == CONFIG_TYPE_STRING) {
		/* A list written as a libconfig array: one comma list, as in INI. */
		set_joined(s, k, field);
		return;
	}
	switch (k->type) {
	case T_INT: case T_PORT: config_setting_set_int(s, *(const int *)field); break;
	case T_BOOL: config_setting_set_bool(s, *(const bool *)field); break;
	case T_BYTES: config_setting_set_int64(s, (long long)*(const size_t *)field); break;
	default:
		if (type == CONFIG_TYPE_INT)
			config_setting_set_int(s, *(const int *)field / 1000);
		else
			config_setting_set_float(s, *(const int *)field / 1000.0);
		break;
	}
}

void cfg_move_to_end(config_setting_t *group, const char *name)
{
	config_setting_t *s = config_setting_get_member(group, name);
	if (!s || config_setting_is_aggregate(s))
		return;
	int type = config_setting_type(s);
	char *text = type == CONFIG_TYPE_STRING ? strdup(config_setting_get_string(s)) : NULL;
	long long n = type == CONFIG_TYPE_INT64 || type == CONFIG_TYPE_INT ? config_setting_get_int64(s) : 0;
	double d = type == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : 0;
	int b = type == CONFIG_TYPE_BOOL ? config_setting_get_bool(s) : 0;
	if ((type == CONFIG_TYPE_STRING && !text) || config_setting_remove(group, name) != CONFIG_TRUE ||
	    !(s = config_setting_add(group, name, type))) {
		free(text);
		return;
	}
	switch (type) {
	case CONFIG_TYPE_STRING: config_setting_set_string(s, text); break;
	case CONFIG_TYPE_INT: config_setting_set_int(s, (int)n); break;
	case CONFIG_TYPE_INT64: config_setting_set_int64(s, n); break;
	case CONFIG_TYPE_FLOAT: config_setting_set_float(s, d); break;
	default: config_setting_set_bool(s, b); break;
	}
	free(text);
}


void cfg_free_fields(enum section_kind kind, char *base)
{
	for (size_t i = 0; i < cfg_schema_size; i++) {
		const struct key_schema *k = &cfg_schema[i];
		if (k->section != kind)
			continue;
		void *field = base + k->offset;
		if (k->type == T_STRING || k->type == T_HOSTPORT || k->type == T_URLPATH)
			free(*(char **)field);
		else if (k->type == T_LIST)
			cfg_free_list(field);
		else if (k->type == T_CIDRS)
			free(((struct np_cidr_list *)field)->ranges);
		else if (k->type == T_HANDLER)
			free(((struct np_handler_spec *)field)->module_path);
	}
}

bool np_same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

char *np_absolute_path(const char *path)
{
	char *cwd, *full;
	if (path[0] == '/')
		return strdup(path);
	if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	int n = asprintf(&full, "%s/%s", cwd, path);
	free(cwd);
	if (n < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return full;
}
