/* SPDX-License-Identifier: ISC */
/*
 * config.c - the configuration's life: the file read into one libconfig
 * tree (INI through config_ini.c), every owned section checked through
 * the schema into the structs of config.h, the cross-key rules, paths
 * made absolute, secrets hidden from -t, and the reference count that
 * frees it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_schema.h"

#define CONFIG_FILE_MAX (16 << 20)

static const char *group_path(const config_setting_t *group, char *buf, size_t size)
{
	const config_setting_t *chain[64];
	int depth = 0;
	for (const config_setting_t *g = group; g && g->name && depth < 64; g = g->parent)
		chain[depth++] = g;
	size_t used = 0;
	buf[0] = '\0';
	while (depth-- > 0 && used < size)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "." : "", chain[depth]->name);
	return buf;
}

static void read_section(struct loader *ld, config_setting_t *group, enum section_kind kind, char *base)
{
	char name[256], want[160], got[256];
	group_path(group, name, sizeof(name));

	/* A module reads keys of its own from its port's section (its init()
	 * asks for them): those are not unknown. */
	config_setting_t *handler_setting = kind == SEC_PORT ? config_setting_get_member(group, "sessionHandler") : NULL;
	const char *handler_text = handler_setting ? cfg_text_of(handler_setting) : NULL;
	bool module_port = handler_text && strncmp(handler_text, "module:", 7) == 0;
	for (int i = 0; i < config_setting_length(group) && !module_port; i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		if (kind == SEC_PORT && strcmp(name, "Port") == 0 && config_setting_is_group(s))
			continue; /* a named port: read on its own */
		if (!cfg_schema_find(kind, config_setting_name(s)))
			cfg_report(ld, config_setting_source_line(s), true, "unknown key '%s' in [%s] ignored",
			       config_setting_name(s), name);
	}
	for (size_t i = 0; i < cfg_schema_size; i++) {
		const struct key_schema *k = &cfg_schema[i];
		if (k->section != kind)
			continue;
		config_setting_t *s = config_setting_get_member(group, k->name);
		if (!s) {
			cfg_add_default(group, k);
			s = config_setting_get_member(group, k->name);
			if (!s)
				continue;
		}
		if (!cfg_store_value(k, s, base)) {
			cfg_describe(s, got, sizeof(got));
			cfg_report(ld, config_setting_source_line(s), false, "key '%s' in [%s]: expected %s, got %s",
			       k->name, name, cfg_schema_type_words(k, want, sizeof(want)), got);
		} else {
			cfg_normalize(group, k, base);
		}
	}
	/* Schema order for -t, whatever order the file used. */
	for (size_t i = 0; i < cfg_schema_size; i++)
		if (cfg_schema[i].section == kind)
			cfg_move_to_end(group, cfg_schema[i].name);
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
		cfg_report(ld, p->line, false, "[%s]: key 'port' is required", name);
	if (!has_map)
		p->map_to_port = p->port;
	if (p->handler.kind == NP_HANDLER_FORWARD && !config_setting_get_member(group, "upstream"))
		cfg_report(ld, p->line, false, "[%s]: sessionHandler = forward needs key 'upstream' (host:port)", name);
	if (p->external_ssl && p->ssl_section)
		cfg_report(ld, p->line, false, "[%s]: externalSSL and sslSection exclude each other", name);
	return 0;
}

/* Secrets stay in the structs but not in what -t prints. */
static void hide_secret(config_setting_t *group, const char *key)
{
	config_setting_t *s = config_setting_get_member(group, key);
	if (s && config_setting_type(s) == CONFIG_TYPE_STRING)
		config_setting_set_string(s, "(hidden)");
}

/* managed: a port naming it has domains, so ACME provides the
 * certificate and certFile/keyFile are optional. */
static void read_tls(struct loader *ld, struct np_tls_conf *t, config_setting_t *group, bool managed)
{
	char name[256];
	t->name = strdup(group_path(group, name, sizeof(name)));
	t->line = config_setting_source_line(group);
	unsigned line = t->line;
	config_setting_t *protocols = config_setting_get_member(group, "protocols");
	unsigned protocols_line = protocols ? config_setting_source_line(protocols) : line;
	read_section(ld, group, SEC_TLS, (char *)t);
	/* Read: from here on the tree -t prints holds no secret, whatever
	 * the section's name. */
	hide_secret(group, "keyPassword");
	hide_secret(group, "keyStorePassword");
	if (t->cert_files.count != t->key_files.count)
		cfg_report(ld, line, false, "[%s]: certFile lists %zu file(s) and keyFile %zu; they go in pairs", name,
		       t->cert_files.count, t->key_files.count);
	if (t->key_store && t->cert_files.count)
		cfg_report(ld, line, false, "[%s]: give certFile/keyFile or keyStore, not both", name);
	if (!t->key_store && !t->cert_files.count && !managed)
		cfg_report(ld, line, false, "[%s]: needs certFile and keyFile, or keyStore", name);
	if (t->client_auth != NP_CLIENT_AUTH_NONE && !t->ca_file)
		cfg_report(ld, line, false, "[%s]: clientAuth = %s needs caFile", name,
		       t->client_auth == NP_CLIENT_AUTH_OPTIONAL ? "optional" : "required");
	if (t->protocols && !t->priority) {
		struct np_string_list items = { NULL, 0 };
		bool ok = cfg_split_list(t->protocols, &items);
		for (size_t i = 0; ok && i < items.count; i++)
			ok = strcmp(items.items[i], "TLSv1.2") == 0 || strcmp(items.items[i], "TLSv1.3") == 0;
		if (!ok) {
			cfg_report(ld, protocols_line, false,
			       "key 'protocols' in [%s]: expected TLSv1.2, TLSv1.3 or both, got \"%s\"", name,
			       t->protocols);
		}
		cfg_free_list(&items);
	}
}

/* A name ACME can prove: a DNS name of letters, digits and hyphens in
 * labels of 1..63, at most 253 in all, not a wildcard. */
static bool acme_name_ok(const char *name)
{
	size_t len = strlen(name), label = 0;
	if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.')
		return false;
	for (const char *c = name; *c; c++) {
		if (*c == '.') {
			if (label == 0 || c[-1] == '-')
				return false;
			label = 0;
		} else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			   (*c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return name[len - 1] != '-';
}

/* "1/3", "0.25": a fraction strictly between 0 and 1. */
static bool parse_fraction(const char *text, double *out)
{
	double a, b = 1;
	char *end;
	errno = 0;
	a = strtod(text, &end);
	if (end == text || errno)
		return false;
	if (*end == '/') {
		const char *den = end + 1;
		b = strtod(den, &end);
		if (end == den || errno || b <= 0)
			return false;
	}
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end)
		return false;
	*out = a / b;
	return *out > 0 && *out < 1;
}

/* [ACME]: read when present or when some port has domains (its defaults
 * then fill in, for -t); domains only on TLS ports, names ACME can prove,
 * the terms agreed to. */
static void read_acme(struct loader *ld, struct np_config *cfg, config_setting_t *root)
{
	for (size_t i = 0; i < cfg->port_count; i++) {
		const struct np_port_conf *p = &cfg->ports[i];
		if (!p->domains.count)
			continue;
		cfg->acme_used = true;
		if (!p->ssl_section)
			cfg_report(ld, p->line, false, "[%s]: domains needs sslSection: ACME certificates are for TLS "
				   "ports%s", p->name, p->external_ssl ? " (with externalSSL, the balancer holds them)" : "");
		for (size_t j = 0; j < p->domains.count; j++)
			if (!acme_name_ok(p->domains.items[j]))
				cfg_report(ld, p->line, false, "key 'domains' in [%s]: \"%s\" is not a DNS name ACME "
					   "can prove (letters, digits, hyphens and dots; no wildcard)", p->name,
					   p->domains.items[j]);
	}
	config_setting_t *group = config_setting_get_member(root, "ACME");
	if (group && !config_setting_is_group(group)) {
		cfg_report(ld, config_setting_source_line(group), false, "'ACME' must be a section");
		return;
	}
	if (!group && !cfg->acme_used)
		return;
	if (!group)
		group = config_setting_add(root, "ACME", CONFIG_TYPE_GROUP);
	if (!group) {
		cfg_report(ld, 0, false, "out of memory");
		return;
	}
	struct np_acme_conf *a = &cfg->acme;
	a->line = config_setting_source_line(group);
	/* Lines first: reading reorders the settings. */
	static const char *const keys[] = { "directory", "contact", "challenges", "renewBefore", "agreeTermsOfService" };
	unsigned lines[5];
	for (size_t i = 0; i < 5; i++) {
		config_setting_t *k = config_setting_get_member(group, keys[i]);
		lines[i] = k && config_setting_source_line(k) ? config_setting_source_line(k) : a->line;
	}
	read_section(ld, group, SEC_ACME, (char *)a);
	unsigned line = lines[0];
	if (a->directory && (strncmp(a->directory, "https://", 8) != 0 || !a->directory[8] ||
			     strchr("/:?#", a->directory[8]) || strpbrk(a->directory, " \t\"<>\\^`{|}")))
		cfg_report(ld, line, false, "key 'directory' in [ACME]: expected an https:// URL, got \"%s\"",
			   a->directory);
	line = lines[1];
	for (size_t i = 0; i < a->contact.count; i++)
		if (strncmp(a->contact.items[i], "mailto:", 7) != 0 || !strchr(a->contact.items[i] + 7, '@'))
			cfg_report(ld, line, false, "key 'contact' in [ACME]: expected mailto:ADDRESS, got \"%s\"",
				   a->contact.items[i]);
	line = lines[2];
	for (size_t i = 0; i < a->challenges_text.count; i++) {
		const char *c = a->challenges_text.items[i];
		enum np_acme_challenge kind = strcmp(c, "tls-alpn-01") == 0 ? NP_ACME_TLS_ALPN_01 : NP_ACME_HTTP_01;
		bool known = kind == NP_ACME_TLS_ALPN_01 || strcmp(c, "http-01") == 0, again = false;
		for (size_t j = 0; j < a->challenge_count; j++)
			again = again || a->challenges[j] == kind;
		if (!known || again || a->challenge_count == NP_ACME_CHALLENGES_MAX)
			cfg_report(ld, line, false, "key 'challenges' in [ACME]: expected tls-alpn-01, http-01 or both "
				   "(each once, in the order tried), got \"%s\"", c);
		else
			a->challenges[a->challenge_count++] = kind;
	}
	if (a->challenges_text.count == 0)
		cfg_report(ld, line, false, "key 'challenges' in [ACME]: expected tls-alpn-01, http-01 or both");
	line = lines[3];
	if (!a->renew_before_text || !parse_fraction(a->renew_before_text, &a->renew_before))
		cfg_report(ld, line, false, "key 'renewBefore' in [ACME]: expected a fraction of the lifetime "
			   "between 0 and 1 (1/3, 0.25), got \"%s\"", a->renew_before_text ? a->renew_before_text : "");
	line = lines[4];
	if (cfg->acme_used && !a->agree_tos)
		cfg_report(ld, line, false, "[ACME]: agreeTermsOfService must be true to register with the CA "
			   "(read its terms first: %s)", a->directory ? a->directory : "the directory");
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
		cfg_report(ld, 0, false, "'Server' must be a section");
		return -1;
	}
	read_section(ld, server, SEC_SERVER, (char *)&cfg->server);
	cfg->server.agent = config_setting_get_member(server, "agentPort") != NULL;

	config_setting_t *port_groups[256];
	size_t nports = 0;
	/* Sections, not keys: a module's [Port] may hold many of its own. */
	config_setting_t *port_root = config_setting_get_member(root, "Port");
	int sections = 0, own_keys = 0;
	for (int i = 0; port_root && config_setting_is_group(port_root) && i < config_setting_length(port_root); i++) {
		if (config_setting_is_group(config_setting_get_elem(port_root, (unsigned)i)))
			sections++;
		else
			own_keys = 1;
	}
	sections += own_keys;
	if (sections > 255) {
		cfg_report(ld, 0, false, "more than 255 [Port] sections");
		return -1;
	}
	collect_ports(root, port_groups, &nports);
	if (nports == 0) {
		cfg_report(ld, 0, false, "no [Port] section: nothing to listen on");
		return -1;
	}
	cfg->ports = calloc(nports, sizeof(*cfg->ports));
	cfg->tls = calloc(nports, sizeof(*cfg->tls));
	if (!cfg->ports || !cfg->tls) {
		cfg_report(ld, 0, false, "out of memory");
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
		config_setting_t *group = cfg_valid_name(p->ssl_section) || strchr(p->ssl_section, '.')
						  ? config_lookup(ld->tree, p->ssl_section) : NULL;
		if (!group || !config_setting_is_group(group) || strcmp(p->ssl_section, "Server") == 0 ||
		    strcmp(p->ssl_section, "ACME") == 0 || cfg_is_port_section(p->ssl_section)) {
			cfg_report(ld, ssl_lines[i] ? ssl_lines[i] : p->line, false,
			       "key 'sslSection' in [%s]: expected the name of a section in this file, got \"%s\"",
			       p->name, p->ssl_section);
			continue;
		}
		bool managed = false;
		for (size_t j = 0; j < cfg->port_count; j++)
			managed = managed || (cfg->ports[j].domains.count && cfg->ports[j].ssl_section &&
					      strcmp(cfg->ports[j].ssl_section, p->ssl_section) == 0);
		read_tls(ld, &cfg->tls[cfg->tls_count], group, managed);
		p->tls = &cfg->tls[cfg->tls_count++];
	}
	read_acme(ld, cfg, root);

	for (size_t i = 0; i < cfg->port_count; i++)
		for (size_t j = 0; j < i; j++) {
			const struct np_port_conf *a = &cfg->ports[i], *b = &cfg->ports[j];
			const char *ab = a->bind_address ? a->bind_address : "*", *bb = b->bind_address ? b->bind_address : "*";
			if (a->port && a->port == b->port && strcmp(ab, bb) == 0)
				cfg_report(ld, a->line, false, "[%s]: port %d on %s is already taken by [%s]", a->name,
				       a->port, ab, b->name);
		}
	return 0;
}

/* path against dir (malloc'd), as written when absolute. */
static char *path_in(const char *dir, const char *path)
{
	char *full;
	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&full, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", path) < 0)
		return NULL;
	return full;
}

/* A relative path is taken from the directory npsocketd starts in: made
 * absolute now, so -D (which changes to /) and a reload (which reads the
 * file against the same directory) find the same file. */
static void absolutize(struct loader *ld, struct np_config *cfg, char **path)
{
	if (!*path || (*path)[0] == '/')
		return;
	char *full = path_in(cfg->base_dir, *path);
	if (!full) {
		cfg_report(ld, 0, false, "cannot make '%s' an absolute path: %s", *path, strerror(errno));
		return;
	}
	free(*path);
	*path = full;
}


static void finish(struct loader *ld, struct np_config *cfg)
{
	absolutize(ld, cfg, &cfg->server.pid_file);
	absolutize(ld, cfg, &cfg->acme.state_directory);
	absolutize(ld, cfg, &cfg->acme.ca_file);
	absolutize(ld, cfg, &cfg->server.control_socket);
	if (cfg->server.control_socket && strlen(cfg->server.control_socket) > NP_UNIX_PATH_MAX) {
		config_setting_t *s = config_lookup(ld->tree, "Server.controlSocket");
		cfg_report(ld, s ? config_setting_source_line(s) : 0, false,
			   "key 'controlSocket' in [Server]: %s is %zu bytes; a Unix socket's path is at most %zu",
			   cfg->server.control_socket, strlen(cfg->server.control_socket), NP_UNIX_PATH_MAX);
	}
	for (size_t i = 0; i < cfg->port_count; i++) {
		absolutize(ld, cfg, &cfg->ports[i].handler.module_path);
		absolutize(ld, cfg, &cfg->ports[i].web_root);
	}
	for (size_t i = 0; i < cfg->tls_count; i++) {
		struct np_tls_conf *t = &cfg->tls[i];
		for (size_t j = 0; j < t->cert_files.count; j++) {
			absolutize(ld, cfg, &t->cert_files.items[j]);
			absolutize(ld, cfg, &t->key_files.items[j]);
		}
		absolutize(ld, cfg, &t->key_store);
		absolutize(ld, cfg, &t->ca_file);
		absolutize(ld, cfg, &t->crl_file);
	}
}

static void config_free(struct np_config *config)
{
	cfg_free_fields(SEC_SERVER, (char *)&config->server);
	for (size_t i = 0; i < config->port_count; i++) {
		cfg_free_fields(SEC_PORT, (char *)&config->ports[i]);
		free(config->ports[i].name);
	}
	for (size_t i = 0; i < config->tls_count; i++) {
		cfg_free_fields(SEC_TLS, (char *)&config->tls[i]);
		free(config->tls[i].name);
	}
	cfg_free_fields(SEC_ACME, (char *)&config->acme);
	free(config->ports);
	free(config->tls);
	if (config->tree) {
		config_destroy(config->tree);
		free(config->tree);
	}
	free(config->path);
	free(config->base_dir);
	free(config);
}

static bool libconfig_syntax(const char *path)
{
	size_t len = strlen(path);
	return (len > 4 && strcmp(path + len - 4, ".cfg") == 0) || (len > 5 && strcmp(path + len - 5, ".conf") == 0);
}

struct np_config *np_config_load(const char *path, FILE *errors)
{
	return np_config_load_in(path, NULL, errors);
}

/* libconfig looks a new setting's name up among its siblings, so a
 * group of n settings costs n^2 (50,000 foreign groups: 62 s).  Its
 * files are bounded by their settings, counted as their '=' and ':'
 * (strings and comments count too: an upper bound). */
#define LIBCONFIG_SETTINGS_MAX 10000

static size_t count_settings(FILE *f)
{
	size_t n = 0;
	for (int c; (c = getc(f)) != EOF;)
		n += c == '=' || c == ':';
	return n;
}

struct np_config *np_config_load_in(const char *path, const char *dir, FILE *errors)
{
	struct np_config *cfg = calloc(1, sizeof(*cfg));
	config_t *tree = calloc(1, sizeof(*tree));
	char *cwd = dir ? NULL : getcwd(NULL, 0);
	if (!dir)
		dir = cwd;
	char *full = cfg && tree && dir ? path_in(dir, path) : NULL;
	if (!full) {
		fprintf(errors, "%s: %s\n", path, dir ? "out of memory" : "cannot tell the current directory");
		free(cfg);
		free(tree);
		free(cwd);
		return NULL;
	}
	cfg->base_dir = cwd ? cwd : strdup(dir);
	cfg->path = full;
	if (!cfg->base_dir) {
		fprintf(errors, "%s: out of memory\n", path);
		free(full);
		free(cfg);
		free(tree);
		return NULL;
	}
	struct loader ld = { .path = full, .name = path, .errors = errors };
	path = full;
	config_init(tree);
	ld.tree = tree;
	cfg->tree = tree;

	/* A configuration is read whole: a directory, a FIFO (never ending)
	 * or a device (/dev/zero) is refused before, and so is a file over
	 * CONFIG_FILE_MAX. */
	int rc;
	struct stat st;
	if (stat(path, &st) < 0) {
		cfg_report(&ld, 0, false, "cannot read: %s", strerror(errno));
		rc = -1;
	} else if (!S_ISREG(st.st_mode)) {
		cfg_report(&ld, 0, false, "%s", S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		rc = -1;
	} else if (st.st_size > CONFIG_FILE_MAX) {
		cfg_report(&ld, 0, false, "%lld bytes: more than a configuration file may hold (%d)",
			   (long long)st.st_size, CONFIG_FILE_MAX);
		rc = -1;
	} else if (libconfig_syntax(path)) {
		FILE *probe = fopen(path, "r");
		size_t settings = 0;
		if (!probe) {
			cfg_report(&ld, 0, false, "cannot read: %s", strerror(errno));
			rc = -1;
		} else if ((settings = count_settings(probe)) > LIBCONFIG_SETTINGS_MAX) {
			fclose(probe);
			cfg_report(&ld, 0, false, "about %zu settings: more than the libconfig syntax is read with (%d; "
				   "libconfig takes time growing with their square: use the INI syntax)",
				   settings, LIBCONFIG_SETTINGS_MAX);
			rc = -1;
		} else {
			fclose(probe);
			rc = config_read_file(tree, path) == CONFIG_TRUE ? 0 : -1;
			if (rc < 0)
				cfg_report(&ld, (unsigned)config_error_line(tree), false, "syntax error: %s",
				       config_error_text(tree));
		}
	} else {
		rc = cfg_read_ini(&ld);
	}
	if (rc == 0)
		validate(&ld, cfg);
	if (rc == 0 && ld.error_count == 0)
		finish(&ld, cfg);
	if (rc < 0 || ld.error_count) {
		config_free(cfg);
		return NULL;
	}
	atomic_init(&cfg->refs, 1);
	return cfg;
}

const char *np_config_port_setting(const struct np_config *config, const struct np_port_conf *port,
				   const char *key)
{
	char path[512];
	snprintf(path, sizeof(path), "%s.%s", port->name, key);
	const config_setting_t *s = config_lookup(config->tree, path);
	return s ? cfg_text_of(s) : NULL;
}

void np_config_print(const struct np_config *config, FILE *out)
{
	fprintf(out, "# npsocketd: effective configuration of %s\n", config->path);
	config_write(config->tree, out);
}

struct np_config *np_config_ref(struct np_config *config)
{
	atomic_fetch_add_explicit(&config->refs, 1, memory_order_relaxed);
	return config;
}

void np_config_unref(struct np_config *config)
{
	if (config && atomic_fetch_sub_explicit(&config->refs, 1, memory_order_acq_rel) == 1)
		config_free(config);
}
