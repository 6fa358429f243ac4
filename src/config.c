/*
 * config.c - reads the configuration into one libconfig tree, checks it
 * against one schema table, and fills the immutable structs of config.h.
 *
 * INI files (the Java server's own) go through inih; each key of a
 * section the daemon owns lands in the tree typed by its schema entry, so
 * the libconfig syntax and INI give the same checks and the same messages.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "net.h"

/* --- the schema ------------------------------------------------------------ */

enum section_kind { SEC_SERVER, SEC_PORT, SEC_TLS };

enum key_type {
	T_INT,       /* integer in [min, max] */
	T_PORT,      /* 0..65535 (min 1 for mapToPort) */
	T_BOOL,
	T_SECONDS,   /* non-negative decimal seconds, stored as ms (int) */
	T_BYTES,     /* integer with K/M/G suffix, stored as size_t */
	T_STRING,
	T_ENUM,      /* one of words[], stored as int values[] */
	T_LIST,      /* comma list of strings */
	T_CIDRS,     /* comma list of address ranges */
	T_HOSTPORT,  /* host:port */
	T_HANDLER,   /* echo | forward | module:PATH */
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

static const char *const level_words[] = { "error", "warning", "notice", "info", "debug", NULL };
static const int level_values[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
static const char *const log_words[] = { "stderr", "syslog", NULL };
static const int log_values[] = { NP_LOG_TO_STDERR, NP_LOG_TO_SYSLOG };
static const char *const auth_words[] = { "none", "optional", "required", NULL };
static const int auth_values[] = { NP_CLIENT_AUTH_NONE, NP_CLIENT_AUTH_OPTIONAL, NP_CLIENT_AUTH_REQUIRED };

#define SRV(field) offsetof(struct np_server_conf, field)
#define PRT(field) offsetof(struct np_port_conf, field)
#define TLS(field) offsetof(struct np_tls_conf, field)
#define NOLIMIT 0, 0

static const struct key_schema schema[] = {
	{ SEC_SERVER, "user", T_STRING, NULL, NOLIMIT, SRV(user), NULL, NULL },
	{ SEC_SERVER, "group", T_STRING, NULL, NOLIMIT, SRV(group), NULL, NULL },
	{ SEC_SERVER, "pidFile", T_STRING, NULL, NOLIMIT, SRV(pid_file), NULL, NULL },
	{ SEC_SERVER, "logLevel", T_ENUM, "info", NOLIMIT, SRV(log_level), level_words, level_values },
	{ SEC_SERVER, "log", T_ENUM, "stderr", NOLIMIT, SRV(log), log_words, log_values },
	{ SEC_SERVER, "maxConnections", T_INT, "10000", 0, INT_MAX, SRV(max_connections), NULL, NULL },
	{ SEC_SERVER, "threadStackSize", T_BYTES, "256K", 64 * 1024, 64 * 1024 * 1024, SRV(thread_stack_size), NULL, NULL },
	{ SEC_SERVER, "shutdownTimeout", T_SECONDS, "10", 0, 3600, SRV(shutdown_timeout_ms), NULL, NULL },

	{ SEC_PORT, "port", T_PORT, NULL, 0, 65535, PRT(port), NULL, NULL },
	{ SEC_PORT, "mapToPort", T_PORT, NULL, 1, 65535, PRT(map_to_port), NULL, NULL },
	{ SEC_PORT, "bindAddress", T_STRING, NULL, NOLIMIT, PRT(bind_address), NULL, NULL },
	{ SEC_PORT, "queueLength", T_INT, "50", 1, 65535, PRT(queue_length), NULL, NULL },
	{ SEC_PORT, "sslSection", T_STRING, NULL, NOLIMIT, PRT(ssl_section), NULL, NULL },
	{ SEC_PORT, "readTimeout", T_SECONDS, "0", 0, 86400, PRT(read_timeout_ms), NULL, NULL },
	{ SEC_PORT, "accepterThreads", T_INT, "1", 1, 64, PRT(accepter_threads), NULL, NULL },
	{ SEC_PORT, "accepterPriority", T_INT, "-5", -20, 19, PRT(accepter_priority), NULL, NULL },
	{ SEC_PORT, "loadBalance", T_BOOL, "false", NOLIMIT, PRT(load_balance), NULL, NULL },
	{ SEC_PORT, "externalSSL", T_BOOL, "false", NOLIMIT, PRT(external_ssl), NULL, NULL },
	{ SEC_PORT, "domains", T_LIST, NULL, NOLIMIT, PRT(domains), NULL, NULL },
	{ SEC_PORT, "sessionHandler", T_HANDLER, "echo", NOLIMIT, PRT(handler), NULL, NULL },
	{ SEC_PORT, "upstream", T_HOSTPORT, NULL, NOLIMIT, PRT(upstream), NULL, NULL },
	{ SEC_PORT, "upstreamConnectTimeout", T_SECONDS, "5", 0, 3600, PRT(upstream_connect_timeout_ms), NULL, NULL },
	{ SEC_PORT, "webUpstream", T_HOSTPORT, NULL, NOLIMIT, PRT(web_upstream), NULL, NULL },
	{ SEC_PORT, "maxTransactionSize", T_BYTES, "8M", 1, 0x7fffffff, PRT(max_transaction_size), NULL, NULL },
	{ SEC_PORT, "compression", T_BOOL, "true", NOLIMIT, PRT(compression), NULL, NULL },
	{ SEC_PORT, "compressionThreshold", T_BYTES, "1K", 0, 0x7fffffff, PRT(compression_threshold), NULL, NULL },
	{ SEC_PORT, "compressionLevel", T_INT, "6", 1, 9, PRT(compression_level), NULL, NULL },
	{ SEC_PORT, "handshakeTimeout", T_SECONDS, "10", 1, 3600, PRT(handshake_timeout_ms), NULL, NULL },
	{ SEC_PORT, "idleTimeout", T_SECONDS, "0", 0, 31 * 86400, PRT(idle_timeout_ms), NULL, NULL },
	{ SEC_PORT, "relayTimeout", T_SECONDS, "300", 1, 86400, PRT(relay_timeout_ms), NULL, NULL },
	{ SEC_PORT, "maxConnections", T_INT, "0", 0, INT_MAX, PRT(max_connections), NULL, NULL },
	{ SEC_PORT, "maxConnectionsPerAddress", T_INT, "0", 0, INT_MAX, PRT(max_connections_per_address), NULL, NULL },
	{ SEC_PORT, "allow", T_CIDRS, NULL, NOLIMIT, PRT(allow), NULL, NULL },
	{ SEC_PORT, "deny", T_CIDRS, NULL, NOLIMIT, PRT(deny), NULL, NULL },
	{ SEC_PORT, "tcpNoDelay", T_BOOL, "true", NOLIMIT, PRT(tcp_no_delay), NULL, NULL },
	{ SEC_PORT, "keepAlive", T_BOOL, "true", NOLIMIT, PRT(keep_alive), NULL, NULL },
	{ SEC_PORT, "keepAliveIdle", T_INT, "0", 0, 32767, PRT(keep_alive_idle), NULL, NULL },
	{ SEC_PORT, "keepAliveInterval", T_INT, "0", 0, 32767, PRT(keep_alive_interval), NULL, NULL },
	{ SEC_PORT, "keepAliveCount", T_INT, "0", 0, 127, PRT(keep_alive_count), NULL, NULL },

	{ SEC_TLS, "certFile", T_LIST, NULL, NOLIMIT, TLS(cert_files), NULL, NULL },
	{ SEC_TLS, "keyFile", T_LIST, NULL, NOLIMIT, TLS(key_files), NULL, NULL },
	{ SEC_TLS, "keyPassword", T_STRING, NULL, NOLIMIT, TLS(key_password), NULL, NULL },
	{ SEC_TLS, "keyStore", T_STRING, NULL, NOLIMIT, TLS(key_store), NULL, NULL },
	{ SEC_TLS, "keyStorePassword", T_STRING, NULL, NOLIMIT, TLS(key_store_password), NULL, NULL },
	{ SEC_TLS, "protocols", T_STRING, "TLSv1.2,TLSv1.3", NOLIMIT, TLS(protocols), NULL, NULL },
	{ SEC_TLS, "priority", T_STRING, NULL, NOLIMIT, TLS(priority), NULL, NULL },
	{ SEC_TLS, "clientAuth", T_ENUM, "none", NOLIMIT, TLS(client_auth), auth_words, auth_values },
	{ SEC_TLS, "caFile", T_STRING, NULL, NOLIMIT, TLS(ca_file), NULL, NULL },
	{ SEC_TLS, "crlFile", T_STRING, NULL, NOLIMIT, TLS(crl_file), NULL, NULL },
	{ SEC_TLS, "sessionTickets", T_BOOL, "true", NOLIMIT, TLS(session_tickets), NULL, NULL },
};

#define SCHEMA_SIZE (sizeof(schema) / sizeof(schema[0]))

static const struct key_schema *schema_find(enum section_kind section, const char *name)
{
	for (size_t i = 0; i < SCHEMA_SIZE; i++)
		if (schema[i].section == section && strcmp(schema[i].name, name) == 0)
			return &schema[i];
	return NULL;
}

static const char *type_words(const struct key_schema *k, char *buf, size_t size)
{
	switch (k->type) {
	case T_INT:
		snprintf(buf, size, "an integer from %lld to %lld", k->min, k->max);
		return buf;
	case T_PORT:
		snprintf(buf, size, "a port number from %lld to %lld", k->min, k->max);
		return buf;
	case T_BOOL: return "true or false";
	case T_SECONDS:
		snprintf(buf, size, "seconds from %lld to %lld", k->min, k->max);
		return buf;
	case T_BYTES:
		snprintf(buf, size, "bytes (K, M, G suffixes) from %lld to %lld", k->min, k->max);
		return buf;
	case T_STRING: return "a string";
	case T_ENUM: {
		size_t used = (size_t)snprintf(buf, size, "one of");
		for (const char *const *w = k->words; *w && used < size; w++)
			used += (size_t)snprintf(buf + used, size - used, "%s %s", w == k->words ? "" : ",", *w);
		return buf;
	}
	case T_LIST: return "a comma list of names";
	case T_CIDRS: return "a comma list of addresses or CIDR ranges (10.0.0.0/8, ::1/128)";
	case T_HOSTPORT: return "host:port";
	case T_HANDLER: return "echo, forward or module:PATH";
	}
	return "a value";
}

/* --- errors ------------------------------------------------------------------ */

struct loader {
	const char *path;
	FILE *errors;
	int error_count;
	config_t *tree;
	bool ini;
	/* INI collection */
	struct ini_entry *entries;
	size_t entry_count, entry_cap;
	struct ini_section *sections;
	size_t section_count, section_cap;
	FILE *file;
	int line;
	bool at_line_start;
};

static void report(struct loader *ld, unsigned line, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct loader *ld, unsigned line, bool warning, const char *fmt, ...)
{
	va_list ap;
	if (line)
		fprintf(ld->errors, "%s:%u: %s", ld->path, line, warning ? "warning: " : "");
	else
		fprintf(ld->errors, "%s: %s", ld->path, warning ? "warning: " : "");
	va_start(ap, fmt);
	vfprintf(ld->errors, fmt, ap);
	va_end(ap);
	fputc('\n', ld->errors);
	if (!warning)
		ld->error_count++;
}

/* A setting's value as the file wrote it, for messages. */
static void describe(const config_setting_t *s, char *buf, size_t size)
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

/* --- value parsing (shared by INI typing and validation) ---------------------- */

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

static bool parse_integer(const char *text, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *skip_space(end))
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *text, bool *out)
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

static bool parse_seconds(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *skip_space(end) || !isfinite(v) || v < 0)
		return false;
	*out = v;
	return true;
}

static bool parse_bytes(const char *text, long long *out)
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
	if (*skip_space(end) || v > (LLONG_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* --- INI into the tree --------------------------------------------------------- */

struct ini_entry {
	char *section, *key, *value;
	unsigned line;
};

struct ini_section {
	char *name;
	unsigned line;
};

/* inih's reader: fgets that counts lines (inih tells the handler none)
 * and notes section headers with their lines.  inih grows its buffer and
 * calls again for the rest of a long line (ini_allow_realloc), so a
 * chunk without a newline continues the same line. */
static char *read_ini_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	if (!fgets(str, num, ld->file))
		return NULL;
	size_t len = strlen(str);
	bool starts_line = ld->at_line_start;
	ld->at_line_start = len > 0 && str[len - 1] == '\n';
	if (!starts_line)
		return str;
	ld->line++;
	const char *p = str;
	if (ld->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* a UTF-8 byte order mark, as Windows editors write */
	p = skip_space(p);
	const char *close = *p == '[' ? strchr(p, ']') : NULL;
	if (!close)
		return str;
	if (ld->section_count == ld->section_cap) {
		size_t cap = ld->section_cap ? ld->section_cap * 2 : 16;
		struct ini_section *grown = realloc(ld->sections, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		ld->sections = grown;
		ld->section_cap = cap;
	}
	/* Trimmed, as inih trims it. */
	p = skip_space(p + 1);
	const char *e = close;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	char *name = strndup(p, (size_t)(e - p));
	if (!name)
		return NULL;
	ld->sections[ld->section_count++] = (struct ini_section){ name, (unsigned)ld->line };
	return str;
}

static int ini_collect(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	if (ld->entry_count == ld->entry_cap) {
		size_t cap = ld->entry_cap ? ld->entry_cap * 2 : 64;
		struct ini_entry *grown = realloc(ld->entries, cap * sizeof(*grown));
		if (!grown)
			return 0;
		ld->entries = grown;
		ld->entry_cap = cap;
	}
	struct ini_entry *e = &ld->entries[ld->entry_count];
	e->section = strdup(section);
	e->key = strdup(name);
	e->value = strdup(value ? value : "");
	e->line = (unsigned)ld->line;
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return 0;
	}
	ld->entry_count++;
	return 1;
}

static bool is_port_section(const char *name)
{
	return strcmp(name, "Port") == 0 || (strncmp(name, "Port.", 5) == 0 && name[5]);
}

static bool valid_name(const char *name)
{
	if (!isalpha((unsigned char)name[0]) && name[0] != '*')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '*')
			return false;
	return true;
}

/* The group for a section path "A.B", created as needed. */
static config_setting_t *section_group(struct loader *ld, const char *section, unsigned line)
{
	config_setting_t *group = config_root_setting(ld->tree);
	char *copy = strdup(section), *save = NULL;
	if (!copy)
		return NULL;
	for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (!valid_name(part)) {
			report(ld, line, false, "section [%s]: '%s' is not a valid name "
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
			report(ld, line, false, "section [%s] collides with key '%s'", section, part);
			child = NULL;
		}
		group = child;
		if (!group)
			break;
	}
	free(copy);
	return group;
}

static enum section_kind kind_of(const char *section)
{
	return strcmp(section, "Server") == 0 ? SEC_SERVER : is_port_section(section) ? SEC_PORT : SEC_TLS;
}

/* Adds one INI value to the tree, typed by its schema when it converts. */
static void ini_add_value(struct loader *ld, config_setting_t *group, const struct ini_entry *e)
{
	const struct key_schema *k = schema_find(kind_of(e->section), e->key);
	config_setting_t *s = NULL;
	long long n;
	double d;
	bool b;

	if (!valid_name(e->key)) {
		report(ld, e->line, true, "key '%s' in [%s] is not a valid name; ignored", e->key, e->section);
		return;
	}
	if (k && (k->type == T_INT || k->type == T_PORT) && parse_integer(e->value, &n) && n >= INT_MIN &&
	    n <= INT_MAX) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
	} else if (k && k->type == T_BOOL && parse_bool(e->value, &b)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_BOOL)))
			config_setting_set_bool(s, b);
	} else if (k && k->type == T_SECONDS && parse_integer(e->value, &n) && n >= 0 && n <= INT_MAX) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
	} else if (k && k->type == T_SECONDS && parse_seconds(e->value, &d)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_FLOAT)))
			config_setting_set_float(s, d);
	} else if (k && k->type == T_BYTES && parse_bytes(e->value, &n)) {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_INT64)))
			config_setting_set_int64(s, n);
	} else {
		if ((s = config_setting_add(group, e->key, CONFIG_TYPE_STRING)))
			config_setting_set_string(s, e->value);
	}
	if (!s) {
		report(ld, e->line, false, "cannot add key '%s' to [%s]", e->key, e->section);
		return;
	}
	s->line = e->line;
}

static const struct ini_section *ini_section_named(struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->section_count; i++)
		if (strcmp(ld->sections[i].name, name) == 0)
			return &ld->sections[i];
	return NULL;
}

static bool ini_owned(struct loader *ld, const char *section)
{
	if (strcmp(section, "Server") == 0 || is_port_section(section))
		return true;
	for (size_t i = 0; i < ld->entry_count; i++)
		if (is_port_section(ld->entries[i].section) && strcmp(ld->entries[i].key, "sslSection") == 0 &&
		    strcmp(ld->entries[i].value, section) == 0)
			return true;
	return false;
}

static int load_ini(struct loader *ld)
{
	ini_use_stack = false;       /* heap line buffer that grows: long lines work */
	ini_allow_realloc = true;
	ini_max_line = 64 * 1024;
	ini_allow_multiline = false;

	ld->at_line_start = true;
	ld->file = fopen(ld->path, "r");
	if (!ld->file) {
		report(ld, 0, false, "cannot read: %s", strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(read_ini_line, ld, ini_collect, ld);
	fclose(ld->file);
	ld->file = NULL;
	if (rc == -2) {
		report(ld, 0, false, "out of memory reading the file");
		return -1;
	}
	if (rc > 0)
		report(ld, (unsigned)rc, false, "syntax error: expected [Section], key = value or a comment");

	/* Duplicate owned sections. */
	for (size_t i = 0; i < ld->section_count; i++) {
		if (!ini_owned(ld, ld->sections[i].name))
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ld->sections[i].name, ld->sections[j].name) == 0) {
				report(ld, ld->sections[i].line, false, "section [%s] given twice (first on line %u)",
				       ld->sections[i].name, ld->sections[j].line);
				break;
			}
	}
	/* Owned sections into the tree, keys once each. */
	for (size_t i = 0; i < ld->section_count; i++) {
		const struct ini_section *sec = &ld->sections[i];
		if (!ini_owned(ld, sec->name) || ini_section_named(ld, sec->name) != sec)
			continue;
		config_setting_t *group = section_group(ld, sec->name, sec->line);
		if (!group)
			continue;
		for (size_t j = 0; j < ld->entry_count; j++) {
			const struct ini_entry *e = &ld->entries[j];
			if (strcmp(e->section, sec->name) != 0)
				continue;
			const config_setting_t *seen = config_setting_get_member(group, e->key);
			if (seen) {
				report(ld, e->line, false, "key '%s' in [%s] given twice (first on line %u)", e->key,
				       e->section, seen->line);
				continue;
			}
			ini_add_value(ld, group, e);
		}
	}
	for (size_t i = 0; i < ld->entry_count; i++)
		if (!ld->entries[i].section[0])
			report(ld, ld->entries[i].line, true, "key '%s' outside any section ignored",
			       ld->entries[i].key);
	return 0;
}

static void free_ini(struct loader *ld)
{
	for (size_t i = 0; i < ld->entry_count; i++) {
		free(ld->entries[i].section);
		free(ld->entries[i].key);
		free(ld->entries[i].value);
	}
	free(ld->entries);
	for (size_t i = 0; i < ld->section_count; i++)
		free(ld->sections[i].name);
	free(ld->sections);
}

/* --- validation: tree -> structs ------------------------------------------------ */

/* Splits "a, b ,c" into trimmed items; false on an empty item. */
static bool split_list(const char *text, struct np_string_list *out)
{
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return false;
	bool ok = true;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		item = (char *)skip_space(item);
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

static void free_list(struct np_string_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static bool parse_cidr(const char *text, struct np_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	if (len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	long long prefix = -1;
	if (slash && !parse_integer(slash + 1, &prefix))
		return false;
	struct in_addr v4;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, &v4) == 1) {
		if (prefix > 32)
			return false;
		out->addr.s6_addr[10] = out->addr.s6_addr[11] = 0xff;
		memcpy(&out->addr.s6_addr[12], &v4, 4);
		out->prefix = 96 + (unsigned)(prefix < 0 ? 32 : prefix);
	} else if (inet_pton(AF_INET6, addr, &out->addr) == 1) {
		if (prefix > 128)
			return false;
		out->prefix = (unsigned)(prefix < 0 ? 128 : prefix);
	} else {
		return false;
	}
	for (unsigned bit = out->prefix; bit < 128; bit++)
		out->addr.s6_addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	return true;
}

bool np_cidr_list_match(const struct np_cidr_list *list, const struct sockaddr *sa)
{
	struct in6_addr a;
	if (!np_net_ip6(sa, &a))
		return false;
	for (size_t i = 0; i < list->count; i++) {
		const struct np_cidr *r = &list->ranges[i];
		unsigned full = r->prefix / 8, rest = r->prefix % 8;
		if (memcmp(&a, &r->addr, full) != 0)
			continue;
		if (rest && ((a.s6_addr[full] ^ r->addr.s6_addr[full]) & (unsigned char)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

/* The setting's text when it is a string, else NULL. */
static const char *text_of(const config_setting_t *s)
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
	const char *t = text_of(s);
	if (t)
		return split_list(t, out);
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return false;
	for (int i = 0; i < config_setting_length(s); i++) {
		const char *item = config_setting_get_string_elem(s, i);
		if (!item || !split_list(item, out))
			return false;
	}
	return out->count > 0;
}

/* Checks one key and stores it at base + offset; false when bad. */
static bool store_value(const struct key_schema *k, const config_setting_t *s, char *base, int *handler_extra,
			char **module_path)
{
	void *field = base + k->offset;
	const char *t = text_of(s);
	long long n = 0;
	double d;
	bool b;

	switch (k->type) {
	case T_INT:
	case T_PORT:
		if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
			n = config_setting_get_int64(s);
		else if (!t || !parse_integer(t, &n))
			return false;
		if (n < k->min || n > k->max)
			return false;
		*(int *)field = (int)n;
		return true;
	case T_BOOL:
		if (config_setting_type(s) == CONFIG_TYPE_BOOL)
			b = config_setting_get_bool(s);
		else if (!t || !parse_bool(t, &b))
			return false;
		*(bool *)field = b;
		return true;
	case T_SECONDS:
		if (!number_of(s, &d) && (!t || !parse_seconds(t, &d)))
			return false;
		if (d < (double)k->min || d > (double)k->max)
			return false;
		*(int *)field = (int)llround(d * 1000.0);
		return true;
	case T_BYTES:
		if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
			n = config_setting_get_int64(s);
		else if (!t || !parse_bytes(t, &n))
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
			ok = parse_cidr(items.items[i], &list->ranges[list->count++]);
		free_list(&items);
		return ok;
	}
	case T_HOSTPORT: {
		char host[256];
		if (!t)
			return false;
		const char *colon = t[0] == '[' ? strstr(t, "]:") : strrchr(t, ':');
		if (!colon || colon == t)
			return false;
		const char *port = colon + (t[0] == '[' ? 2 : 1);
		if (!parse_integer(port, &n) || n < 1 || n > 65535)
			return false;
		size_t hlen = (size_t)(colon - t);
		if (hlen >= sizeof(host) || (t[0] != '[' && memchr(t, ':', hlen)))
			return false;
		return (*(char **)field = strdup(t)) != NULL;
	}
	case T_HANDLER:
		if (!t)
			return false;
		if (strcmp(t, "echo") == 0)
			*handler_extra = NP_HANDLER_ECHO;
		else if (strcmp(t, "forward") == 0)
			*handler_extra = NP_HANDLER_FORWARD;
		else if (strncmp(t, "module:", 7) == 0 && t[7]) {
			*handler_extra = NP_HANDLER_MODULE;
			if (!(*module_path = strdup(t + 7)))
				return false;
		} else {
			return false;
		}
		*(int *)field = *handler_extra;
		return true;
	}
	return false;
}

/* The default written into the tree so -t shows what is in effect. */
static void add_default(config_setting_t *group, const struct key_schema *k)
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
		if (parse_integer(k->def, &n) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)n);
		return;
	case T_BOOL:
		if (parse_bool(k->def, &b) && (s = config_setting_add(group, k->name, CONFIG_TYPE_BOOL)))
			config_setting_set_bool(s, b);
		return;
	case T_SECONDS:
		if (parse_seconds(k->def, &d) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT)))
			config_setting_set_int(s, (int)d);
		return;
	case T_BYTES:
		if (parse_bytes(k->def, &n) && (s = config_setting_add(group, k->name, CONFIG_TYPE_INT64)))
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
			char addr[INET6_ADDRSTRLEN];
			const struct np_cidr *r = &l->ranges[i];
			bool v4 = IN6_IS_ADDR_V4MAPPED(&r->addr) && r->prefix >= 96;
			inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&r->addr.s6_addr[12] : &r->addr, addr,
				  sizeof(addr));
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s/%u", i ? ", " : "", addr,
						 v4 ? r->prefix - 96 : r->prefix);
		}
	}
	config_setting_set_string(s, text);
}

/* Rewrites a checked value in its canonical type ("1M" -> 1048576L,
 * "yes" -> true), so -t prints the same tree for either syntax. */
static void normalize(config_setting_t *group, const struct key_schema *k, const char *base)
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
	if (s && config_setting_type(s) == type && type != CONFIG_TYPE_STRING)
		return;
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

static void move_to_end(config_setting_t *group, const char *name)
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

static const char *group_path(const config_setting_t *group, char *buf, size_t size)
{
	const config_setting_t *chain[8];
	int depth = 0;
	for (const config_setting_t *g = group; g && g->name && depth < 8; g = g->parent)
		chain[depth++] = g;
	size_t used = 0;
	buf[0] = '\0';
	while (depth-- > 0 && used < size)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "." : "", chain[depth]->name);
	return buf;
}

/* Reads one owned section through the schema into the struct at base. */
static void read_section(struct loader *ld, config_setting_t *group, enum section_kind kind, char *base)
{
	char name[256], want[160], got[256];
	int handler = NP_HANDLER_ECHO;
	char *module_path = NULL;
	group_path(group, name, sizeof(name));

	/* A module reads keys of its own from its port's section (its init()
	 * asks for them): those are not unknown. */
	config_setting_t *handler_setting = kind == SEC_PORT ? config_setting_get_member(group, "sessionHandler") : NULL;
	const char *handler_text = handler_setting ? text_of(handler_setting) : NULL;
	bool module_port = handler_text && strncmp(handler_text, "module:", 7) == 0;
	for (int i = 0; i < config_setting_length(group) && !module_port; i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		if (kind == SEC_PORT && strcmp(name, "Port") == 0 && config_setting_is_group(s))
			continue; /* a named port: read on its own */
		if (!schema_find(kind, config_setting_name(s)))
			report(ld, config_setting_source_line(s), true, "unknown key '%s' in [%s] ignored",
			       config_setting_name(s), name);
	}
	for (size_t i = 0; i < SCHEMA_SIZE; i++) {
		const struct key_schema *k = &schema[i];
		if (k->section != kind)
			continue;
		config_setting_t *s = config_setting_get_member(group, k->name);
		if (!s) {
			add_default(group, k);
			s = config_setting_get_member(group, k->name);
			if (!s)
				continue;
		}
		if (!store_value(k, s, base, &handler, &module_path)) {
			describe(s, got, sizeof(got));
			report(ld, config_setting_source_line(s), false, "key '%s' in [%s]: expected %s, got %s",
			       k->name, name, type_words(k, want, sizeof(want)), got);
		} else {
			normalize(group, k, base);
		}
	}
	/* Schema order for -t, whatever order the file used. */
	for (size_t i = 0; i < SCHEMA_SIZE; i++)
		if (schema[i].section == kind)
			move_to_end(group, schema[i].name);
	if (kind == SEC_PORT)
		((struct np_port_conf *)(void *)base)->module_path = module_path;
	else
		free(module_path);
}

static int read_port(struct loader *ld, struct np_config *cfg, config_setting_t *group)
{
	struct np_port_conf *p = &cfg->ports[cfg->port_count++];
	char name[256];
	p->name = strdup(group_path(group, name, sizeof(name)));
	p->line = config_setting_source_line(group);
	bool has_port = config_setting_get_member(group, "port") != NULL;
	bool has_map = config_setting_get_member(group, "mapToPort") != NULL;
	read_section(ld, group, SEC_PORT, (char *)p);
	if (!has_port)
		report(ld, p->line, false, "[%s]: key 'port' is required", name);
	if (!has_map)
		p->map_to_port = p->port;
	if (p->handler == NP_HANDLER_FORWARD && !config_setting_get_member(group, "upstream"))
		report(ld, p->line, false, "[%s]: sessionHandler = forward needs key 'upstream' (host:port)", name);
	if (p->external_ssl && p->ssl_section)
		report(ld, p->line, false, "[%s]: externalSSL and sslSection exclude each other", name);
	return 0;
}

static void read_tls(struct loader *ld, struct np_tls_conf *t, config_setting_t *group)
{
	char name[256];
	t->name = strdup(group_path(group, name, sizeof(name)));
	t->line = config_setting_source_line(group);
	unsigned line = t->line;
	config_setting_t *protocols = config_setting_get_member(group, "protocols");
	unsigned protocols_line = protocols ? config_setting_source_line(protocols) : line;
	read_section(ld, group, SEC_TLS, (char *)t);
	if (t->cert_files.count != t->key_files.count)
		report(ld, line, false, "[%s]: certFile lists %zu file(s) and keyFile %zu; they go in pairs", name,
		       t->cert_files.count, t->key_files.count);
	if (t->key_store && t->cert_files.count)
		report(ld, line, false, "[%s]: give certFile/keyFile or keyStore, not both", name);
	if (!t->key_store && !t->cert_files.count)
		report(ld, line, false, "[%s]: needs certFile and keyFile, or keyStore", name);
	if (t->client_auth != NP_CLIENT_AUTH_NONE && !t->ca_file)
		report(ld, line, false, "[%s]: clientAuth = %s needs caFile", name,
		       t->client_auth == NP_CLIENT_AUTH_OPTIONAL ? "optional" : "required");
	if (t->protocols && !t->priority) {
		struct np_string_list items = { NULL, 0 };
		bool ok = split_list(t->protocols, &items);
		for (size_t i = 0; ok && i < items.count; i++)
			ok = strcmp(items.items[i], "TLSv1.2") == 0 || strcmp(items.items[i], "TLSv1.3") == 0;
		if (!ok) {
			report(ld, protocols_line, false,
			       "key 'protocols' in [%s]: expected TLSv1.2, TLSv1.3 or both, got \"%s\"", name,
			       t->protocols);
		}
		free_list(&items);
	}
}

static void collect_ports(config_setting_t *root, config_setting_t **out, size_t *count)
{
	config_setting_t *port = config_setting_get_member(root, "Port");
	if (!port || !config_setting_is_group(port))
		return;
	bool has_own = false;
	for (int i = 0; i < config_setting_length(port); i++) {
		config_setting_t *s = config_setting_get_elem(port, (unsigned)i);
		if (config_setting_is_group(s))
			out[(*count)++] = s;
		else
			has_own = true;
	}
	/* [Port] with keys of its own is a port too. */
	if (has_own || *count == 0) {
		memmove(out + 1, out, *count * sizeof(*out));
		out[0] = port;
		(*count)++;
	}
}

static int validate(struct loader *ld, struct np_config *cfg)
{
	config_setting_t *root = config_root_setting(ld->tree);
	config_setting_t *server = config_setting_get_member(root, "Server");
	if (!server)
		server = config_setting_add(root, "Server", CONFIG_TYPE_GROUP);
	if (!server || !config_setting_is_group(server)) {
		report(ld, 0, false, "'Server' must be a section");
		return -1;
	}
	read_section(ld, server, SEC_SERVER, (char *)&cfg->server);

	config_setting_t *port_groups[256];
	size_t nports = 0;
	config_setting_t *port_root = config_setting_get_member(root, "Port");
	if (port_root && config_setting_length(port_root) > 255) {
		report(ld, 0, false, "more than 255 [Port] sections");
		return -1;
	}
	collect_ports(root, port_groups, &nports);
	if (nports == 0) {
		report(ld, 0, false, "no [Port] section: nothing to listen on");
		return -1;
	}
	cfg->ports = calloc(nports, sizeof(*cfg->ports));
	cfg->tls = calloc(nports, sizeof(*cfg->tls));
	if (!cfg->ports || !cfg->tls) {
		report(ld, 0, false, "out of memory");
		return -1;
	}
	unsigned ssl_lines[256] = { 0 }; /* read_port() reorders the settings */
	for (size_t i = 0; i < nports; i++) {
		config_setting_t *s = config_setting_get_member(port_groups[i], "sslSection");
		ssl_lines[i] = s ? config_setting_source_line(s) : 0;
		read_port(ld, cfg, port_groups[i]);
	}

	/* TLS sections named by the ports, each read once. */
	for (size_t i = 0; i < cfg->port_count; i++) {
		struct np_port_conf *p = &cfg->ports[i];
		if (!p->ssl_section)
			continue;
		for (size_t j = 0; j < cfg->tls_count; j++)
			if (strcmp(cfg->tls[j].name, p->ssl_section) == 0)
				p->tls = &cfg->tls[j];
		if (p->tls)
			continue;
		config_setting_t *group = valid_name(p->ssl_section) || strchr(p->ssl_section, '.')
						  ? config_lookup(ld->tree, p->ssl_section) : NULL;
		if (!group || !config_setting_is_group(group) || strcmp(p->ssl_section, "Server") == 0 ||
		    is_port_section(p->ssl_section)) {
			report(ld, ssl_lines[i] ? ssl_lines[i] : p->line, false,
			       "key 'sslSection' in [%s]: expected the name of a section in this file, got \"%s\"",
			       p->name, p->ssl_section);
			continue;
		}
		read_tls(ld, &cfg->tls[cfg->tls_count], group);
		p->tls = &cfg->tls[cfg->tls_count++];
	}

	for (size_t i = 0; i < cfg->port_count; i++)
		for (size_t j = 0; j < i; j++) {
			const struct np_port_conf *a = &cfg->ports[i], *b = &cfg->ports[j];
			const char *ab = a->bind_address ? a->bind_address : "*", *bb = b->bind_address ? b->bind_address : "*";
			if (a->port && a->port == b->port && strcmp(ab, bb) == 0)
				report(ld, a->line, false, "[%s]: port %d on %s is already taken by [%s]", a->name,
				       a->port, ab, b->name);
		}
	return 0;
}

/* --- public ------------------------------------------------------------------------ */

/* A relative path is taken from the directory npsocketd starts in: made
 * absolute now, so -D (which changes to /) and SIGHUP find the same file. */
static void absolutize(struct loader *ld, char **path)
{
	char cwd[4096], *full;
	if (!*path || (*path)[0] == '/')
		return;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&full, "%s/%s", cwd, *path) < 0) {
		report(ld, 0, false, "cannot make '%s' an absolute path: %s", *path, strerror(errno));
		return;
	}
	free(*path);
	*path = full;
}

/* Secrets stay in the structs but not in what -t prints. */
static void hide_secret(config_setting_t *group, const char *key)
{
	config_setting_t *s = config_setting_get_member(group, key);
	if (s && config_setting_type(s) == CONFIG_TYPE_STRING)
		config_setting_set_string(s, "(hidden)");
}

static void finish(struct loader *ld, struct np_config *cfg)
{
	absolutize(ld, &cfg->server.pid_file);
	for (size_t i = 0; i < cfg->port_count; i++)
		absolutize(ld, &cfg->ports[i].module_path);
	for (size_t i = 0; i < cfg->tls_count; i++) {
		struct np_tls_conf *t = &cfg->tls[i];
		for (size_t j = 0; j < t->cert_files.count; j++) {
			absolutize(ld, &t->cert_files.items[j]);
			absolutize(ld, &t->key_files.items[j]);
		}
		absolutize(ld, &t->key_store);
		absolutize(ld, &t->ca_file);
		absolutize(ld, &t->crl_file);
		config_setting_t *group = config_lookup(ld->tree, t->name);
		if (group) {
			hide_secret(group, "keyPassword");
			hide_secret(group, "keyStorePassword");
		}
	}
}

static bool libconfig_syntax(const char *path)
{
	size_t len = strlen(path);
	return (len > 4 && strcmp(path + len - 4, ".cfg") == 0) || (len > 5 && strcmp(path + len - 5, ".conf") == 0);
}

struct np_config *np_config_load(const char *path, FILE *errors)
{
	struct loader ld = { .path = path, .errors = errors };
	struct np_config *cfg = calloc(1, sizeof(*cfg));
	config_t *tree = calloc(1, sizeof(*tree));
	if (!cfg || !tree) {
		fprintf(errors, "%s: out of memory\n", path);
		free(cfg);
		free(tree);
		return NULL;
	}
	config_init(tree);
	ld.tree = tree;
	cfg->tree = tree;
	cfg->path = strdup(path);

	int rc;
	if (libconfig_syntax(path)) {
		FILE *probe = fopen(path, "r");
		if (!probe) {
			report(&ld, 0, false, "cannot read: %s", strerror(errno));
			rc = -1;
		} else {
			fclose(probe);
			rc = config_read_file(tree, path) == CONFIG_TRUE ? 0 : -1;
			if (rc < 0)
				report(&ld, (unsigned)config_error_line(tree), false, "syntax error: %s",
				       config_error_text(tree));
		}
	} else {
		rc = load_ini(&ld);
	}
	if (rc == 0)
		validate(&ld, cfg);
	if (rc == 0 && ld.error_count == 0)
		finish(&ld, cfg);
	free_ini(&ld);
	if (rc < 0 || ld.error_count) {
		np_config_free(cfg);
		return NULL;
	}
	return cfg;
}

const char *np_config_port_setting(const struct np_config *config, const struct np_port_conf *port,
				   const char *key)
{
	char path[512];
	snprintf(path, sizeof(path), "%s.%s", port->name, key);
	const config_setting_t *s = config_lookup(config->tree, path);
	return s ? text_of(s) : NULL;
}

void np_config_print(const struct np_config *config, FILE *out)
{
	fprintf(out, "# npsocketd: effective configuration of %s\n", config->path);
	config_write(config->tree, out);
}

static void free_fields(enum section_kind kind, char *base)
{
	for (size_t i = 0; i < SCHEMA_SIZE; i++) {
		const struct key_schema *k = &schema[i];
		if (k->section != kind)
			continue;
		void *field = base + k->offset;
		if (k->type == T_STRING || k->type == T_HOSTPORT)
			free(*(char **)field);
		else if (k->type == T_LIST)
			free_list(field);
		else if (k->type == T_CIDRS)
			free(((struct np_cidr_list *)field)->ranges);
	}
}

void np_config_free(struct np_config *config)
{
	if (!config)
		return;
	free_fields(SEC_SERVER, (char *)&config->server);
	for (size_t i = 0; i < config->port_count; i++) {
		free_fields(SEC_PORT, (char *)&config->ports[i]);
		free(config->ports[i].name);
		free(config->ports[i].module_path);
	}
	for (size_t i = 0; i < config->tls_count; i++) {
		free_fields(SEC_TLS, (char *)&config->tls[i]);
		free(config->tls[i].name);
	}
	free(config->ports);
	free(config->tls);
	if (config->tree) {
		config_destroy(config->tree);
		free(config->tree);
	}
	free(config->path);
	free(config);
}
