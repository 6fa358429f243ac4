/* SPDX-License-Identifier: ISC */
/*
 * config_test.c - the configuration loader: INI and libconfig syntax give
 * the same structs and the same messages; defaults, units, lists, CIDR
 * ranges, TLS sections; every kind of mistake reported with file:line.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "config_schema.h"
#include "tap.h"

static char dir[] = "/tmp/npsocketd-config-XXXXXX";
static char *messages_buf;

static const char *write_file(const char *name, const char *text)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return p;
}

/* Loads text as `name`; the messages end up in *messages. */
static struct np_config *load(const char *name, const char *text, char **messages)
{
	static char *buf;
	size_t len;
	free(buf);
	buf = NULL;
	FILE *errors = open_memstream(&buf, &len);
	struct np_config *cfg = np_config_load(write_file(name, text), errors);
	fclose(errors);
	*messages = buf;
	return cfg;
}

static const char *good_ini =
	"; the NetPhantom server's INI holds more than the listener's part\n"
	"[Database]\n"
	"url = jdbc:db2://db/np\n"
	"[Server]\n"
	"logLevel = debug\n"
	"maxConnections = 500\n"
	"threadStackSize = 128K\n"
	"shutdownTimeout = 2.5\n"
	"[Port]\n"
	"port = 9000\n"
	"readTimeout = 30\n"
	"allow = 10.0.0.0/8, ::1, 192.168.1.7\n"
	"deny = 10.1.0.0/16\n"
	"[Port.web]\n"
	"port = 9443\n"
	"mapToPort = 443\n"
	"bindAddress = 127.0.0.1\n"
	"sslSection = SSL\n"
	"maxTransactionSize = 2M\n"
	"compression = no\n"
	"sessionHandler = module:/opt/np/mod.so\n"
	"domains = a.example, b.example\n"
	"[SSL]\n"
	"certFile = a.pem, b.pem\n"
	"keyFile = a.key, b.key\n"
	"clientAuth = optional\n"
	"caFile = ca.pem\n"
	"protocols = TLSv1.3\n"
	"[ACME]\n"
	"agreeTermsOfService = true\n"
	"contact = mailto:ops@a.example\n"
	"renewBefore = 1/4\n";

static const char *good_cfg =
	"Server = { logLevel = \"debug\"; maxConnections = 500; threadStackSize = \"128K\"; shutdownTimeout = 2.5; };\n"
	"Port = {\n"
	"  port = 9000; readTimeout = 30;\n"
	"  allow = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7\"]; deny = \"10.1.0.0/16\";\n"
	"  web = { port = 9443; mapToPort = 443; bindAddress = \"127.0.0.1\"; sslSection = \"SSL\";\n"
	"          maxTransactionSize = 2097152; compression = false; sessionHandler = \"module:/opt/np/mod.so\";\n"
	"          domains = \"a.example, b.example\"; };\n"
	"};\n"
	"SSL = { certFile = \"a.pem, b.pem\"; keyFile = [\"a.key\", \"b.key\"]; clientAuth = \"optional\";\n"
	"        caFile = \"ca.pem\"; protocols = \"TLSv1.3\"; };\n"
	"ACME = { agreeTermsOfService = true; contact = \"mailto:ops@a.example\"; renewBefore = \"1/4\"; };\n";

static bool match(const struct np_cidr_list *list, const char *text)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, text, &v4.sin_addr) == 1)
		return np_cidr_list_match(list, (struct sockaddr *)&v4);
	if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1)
		return np_cidr_list_match(list, (struct sockaddr *)&v6);
	return false;
}

static void check_good(const char *syntax, struct np_config *c, const char *messages)
{
	if (!ok(c != NULL, "%s: a good configuration loads", syntax)) {
		diag("%s", messages);
		return;
	}
	is_int(c->server.log_level, LOG_DEBUG, "%s: logLevel = debug", syntax);
	is_int(c->server.max_connections, 500, "%s: maxConnections", syntax);
	is_int(c->server.thread_stack_size, 128 * 1024, "%s: threadStackSize 128K in bytes", syntax);
	is_int(c->server.shutdown_timeout_ms, 2500, "%s: shutdownTimeout 2.5 s in ms", syntax);
	is_int(c->port_count, 2, "%s: [Port] and [Port.web]", syntax);
	const struct np_port_conf *p = &c->ports[0], *w = &c->ports[1];
	is_str(p->name, "Port", "%s: first port is [Port]", syntax);
	is_int(p->port, 9000, "%s: port", syntax);
	is_int(p->map_to_port, 9000, "%s: mapToPort defaults to port", syntax);
	is_int(p->read_timeout_ms, 30000, "%s: readTimeout in ms", syntax);
	is_int(p->queue_length, 4096, "%s: queueLength default", syntax);
	is_int(p->handshake_timeout_ms, 10000, "%s: handshakeTimeout default 10 s", syntax);
	is_int(p->max_transaction_size, 8u << 20, "%s: maxTransactionSize default 8M", syntax);
	ok(p->compression && p->compression_threshold == 1024 && p->compression_level == 6,
	   "%s: compression defaults", syntax);
	ok(p->tcp_no_delay && p->keep_alive && p->accepter_threads == 1 && p->accepter_priority == -5,
	   "%s: TCP and accepter defaults", syntax);
	ok(p->handler.kind == NP_HANDLER_ECHO && !p->tls && !p->bind_address, "%s: echo, plain, all addresses", syntax);
	ok(match(&p->allow, "10.2.3.4") && match(&p->allow, "::1") && match(&p->allow, "192.168.1.7"),
	   "%s: allow matches its ranges", syntax);
	ok(!match(&p->allow, "192.168.1.8") && !match(&p->allow, "11.0.0.1") && !match(&p->allow, "::2"),
	   "%s: allow does not match outside them", syntax);
	ok(match(&p->deny, "10.1.200.1") && !match(&p->deny, "10.2.0.1"), "%s: deny /16", syntax);
	is_str(w->name, "Port.web", "%s: second port is [Port.web]", syntax);
	ok(w->port == 9443 && w->map_to_port == 443, "%s: mapToPort kept apart from port", syntax);
	is_str(w->bind_address, "127.0.0.1", "%s: bindAddress", syntax);
	is_int(w->max_transaction_size, 2u << 20, "%s: maxTransactionSize 2M", syntax);
	ok(!w->compression, "%s: compression = no/false", syntax);
	ok(w->handler.kind == NP_HANDLER_MODULE && w->handler.module_path && strcmp(w->handler.module_path, "/opt/np/mod.so") == 0,
	   "%s: sessionHandler = module:PATH", syntax);
	ok(w->domains.count == 2 && strcmp(w->domains.items[1], "b.example") == 0, "%s: domains list", syntax);
	ok(c->acme_used && c->acme.agree_tos && c->acme.renew_before == 0.25 && c->acme.challenge_count == 2 &&
	   c->acme.challenges[0] == NP_ACME_TLS_ALPN_01 && c->acme.contact.count == 1 &&
	   strcmp(c->acme.state_directory, "/var/lib/npsocketd/acme") == 0, "%s: [ACME] with its defaults", syntax);
	ok(w->tls == &c->tls[0] && c->tls_count == 1, "%s: sslSection resolved to the TLS section", syntax);
	const struct np_tls_conf *t = &c->tls[0];
	size_t kl = t->key_files.count == 2 ? strlen(t->key_files.items[1]) : 0;
	ok(t->cert_files.count == 2 && kl > 6 && strcmp(t->key_files.items[1] + kl - 6, "/b.key") == 0 &&
	   t->key_files.items[1][0] == '/', "%s: certFile/keyFile comma lists, relative paths made absolute", syntax);
	ok(t->client_auth == NP_CLIENT_AUTH_OPTIONAL && t->ca_file && t->session_tickets,
	   "%s: clientAuth, caFile, sessionTickets default", syntax);
	is_str(t->protocols, "TLSv1.3", "%s: protocols", syntax);
}

static void expect_error(const char *what, const char *name, const char *text, const char *needle)
{
	char *messages;
	struct np_config *c = load(name, text, &messages);
	ok(c == NULL, "%s: refused", what);
	if (!ok(messages && strstr(messages, needle), "%s: says \"%s\"", what, needle))
		diag("messages: %s", messages ? messages : "(none)");
	np_config_unref(c);
}

/* Every numeric key of the schema at its bounds: min and max load,
 * min - 1, max + 1 and a number past 64 bits are refused by name. */
static void test_schema_bounds(void)
{
	int failures = 0, keys = 0;
	for (size_t i = 0; i < cfg_schema_size; i++) {
		const struct key_schema *k = &cfg_schema[i];
		if ((k->type != T_INT && k->type != T_PORT && k->type != T_BYTES && k->type != T_SECONDS) ||
		    (k->section != SEC_SERVER && k->section != SEC_PORT))
			continue;
		keys++;
		char value[5][32];
		snprintf(value[0], sizeof(value[0]), "%lld", k->min);
		snprintf(value[1], sizeof(value[1]), "%lld", k->max);
		snprintf(value[2], sizeof(value[2]), "%lld", k->max + 1);
		snprintf(value[3], sizeof(value[3]), "%lld", k->min - 1);
		snprintf(value[4], sizeof(value[4]), "%s", "99999999999999999999");
		for (int v = 0; v < 5; v++) {
			char text[512];
			bool is_port_key = k->section == SEC_PORT && strcmp(k->name, "port") == 0;
			if (k->section == SEC_SERVER)
				snprintf(text, sizeof(text), "[Server]\n%s = %s\n[Port]\nport = 0\n", k->name, value[v]);
			else if (is_port_key)
				snprintf(text, sizeof(text), "[Port]\nport = %s\n", value[v]);
			else
				snprintf(text, sizeof(text), "[Port]\nport = 0\n%s = %s\n", k->name, value[v]);
			struct np_config *c = load("bounds.ini", text, &messages_buf);
			bool want = v < 2;
			bool named = c || (messages_buf && strstr(messages_buf, k->name) && strstr(messages_buf, "expected"));
			if ((c != NULL) != want || !named) {
				diag("%s = %s: %s (%s)", k->name, value[v], c ? "accepted" : "refused",
				     messages_buf ? messages_buf : "");
				failures++;
			}
			np_config_unref(c);
		}
	}
	ok(failures == 0 && keys >= 30, "every numeric key (%d): min and max taken; min-1, max+1 and 2^66 refused by name",
	   keys);
}

/* Files of many sections: INI in linear time (50,000 foreign sections
 * took 48 s of CPU when each section looked through every key); a
 * libconfig file over its settings bound refused by name. */
static void test_many_sections(void)
{
	char *messages;
	size_t cap = 60000 * 24, len = 0;
	char *text = malloc(cap);
	if (!text)
		abort();
	len += (size_t)snprintf(text + len, cap - len, "[Port]\nport = 0\n");
	for (int i = 0; i < 50000; i++)
		len += (size_t)snprintf(text + len, cap - len, "[Foreign%d]\na = b\n", i);
	struct np_config *c = load("many.ini", text, &messages);
	ok(c != NULL, "an INI file with 50,000 sections of other programs loads");
	np_config_unref(c);
	len = (size_t)snprintf(text, cap, "Port = { port = 0; };\n");
	for (int i = 0; i < 10001; i++)
		len += (size_t)snprintf(text + len, cap - len, "F%d = 1;\n", i);
	c = load("many.cfg", text, &messages);
	ok(!c && messages && strstr(messages, "more than the libconfig syntax is read with (10000"),
	   "a libconfig file of 10,002 settings is refused, saying why");
	np_config_unref(c);
	free(text);
}

int main(void)
{
	char *messages;
	if (!mkdtemp(dir))
		abort();
	test_schema_bounds();
	test_many_sections();

	struct np_config *ini = load("good.ini", good_ini, &messages);
	check_good("INI", ini, messages);
	ok(messages == NULL || !*messages, "INI: no warnings for a good file");
	struct np_config *cfg = load("good.cfg", good_cfg, &messages);
	check_good("libconfig", cfg, messages);

	char *a = NULL, *b = NULL;
	size_t la, lb;
	FILE *fa = open_memstream(&a, &la), *fb = open_memstream(&b, &lb);
	if (ini && cfg) {
		np_config_print(ini, fa);
		np_config_print(cfg, fb);
	}
	fclose(fa);
	fclose(fb);
	const char *ta = a ? strchr(a, '\n') : NULL, *tb = b ? strchr(b, '\n') : NULL;
	ok(ta && tb && strcmp(ta, tb) == 0, "both syntaxes print the same effective configuration");
	const char *printed = write_file("printed.cfg", ta ? ta : "");
	char *again_messages;
	FILE *errors = open_memstream(&again_messages, &la);
	struct np_config *again = np_config_load(printed, errors);
	fclose(errors);
	ok(again != NULL, "the printed configuration loads again as libconfig syntax");
	np_config_unref(again);
	free(again_messages);
	free(a);
	free(b);
	np_config_unref(ini);
	np_config_unref(cfg);

	expect_error("bad number", "n.ini", "[Port]\nport = 9000\nreadTimeout = abc\n",
		     "n.ini:3: key 'readTimeout' in [Port]: expected seconds from 0 to 86400, got \"abc\"");
	expect_error("bad number (libconfig)", "n.cfg", "Port = { port = 9000;\nreadTimeout = \"abc\"; };\n",
		     "n.cfg:2: key 'readTimeout' in [Port]: expected seconds from 0 to 86400, got \"abc\"");
	expect_error("unknown sslSection", "s.ini", "[Port]\nport = 9000\nsslSection = Nope\n",
		     "s.ini:3: key 'sslSection' in [Port]: expected the name of a section in this file, got \"Nope\"");
	expect_error("duplicate section", "d.ini", "[Port.a]\nport = 1\n[Port.a]\nport = 2\n",
		     "d.ini:3: section [Port.a] given twice (first on line 1)");
	expect_error("duplicate key", "k.ini", "[Port]\nport = 1\nport = 2\n",
		     "k.ini:3: key 'port' in [Port] given twice (first on line 2)");
	expect_error("missing port", "m.ini", "[Server]\n[Port.web]\nbindAddress = ::1\n",
		     "m.ini:2: [Port.web]: key 'port' is required");
	expect_error("port out of range", "r.ini", "[Port]\nport = 70000\n",
		     "r.ini:2: key 'port' in [Port]: expected a port number from 0 to 65535, got 70000");
	expect_error("bad bool", "b.ini", "[Port]\nport = 1\nkeepAlive = maybe\n",
		     "key 'keepAlive' in [Port]: expected true or false, got \"maybe\"");
	expect_error("bad enum", "e.ini", "[Server]\nlog = file\n[Port]\nport = 1\n",
		     "e.ini:2: key 'log' in [Server]: expected one of stderr, syslog, got \"file\"");
	expect_error("bad bytes suffix", "y.ini", "[Port]\nport = 1\nmaxTransactionSize = 8X\n",
		     "key 'maxTransactionSize' in [Port]: expected bytes");
	expect_error("bad CIDR", "c.ini", "[Port]\nport = 1\ndeny = 300.1.1.1/8\n",
		     "c.ini:3: key 'deny' in [Port]: expected a comma list of addresses or CIDR ranges");
	expect_error("forward without upstream", "f.ini", "[Port]\nport = 1\nsessionHandler = forward\n",
		     "[Port]: sessionHandler = forward needs key 'upstream'");
	expect_error("bad upstream", "u.ini", "[Port]\nport = 1\nsessionHandler = forward\nupstream = nohost\n",
		     "key 'upstream' in [Port]: expected host:port, got \"nohost\"");
	expect_error("TLS without credentials", "t.ini", "[Port]\nport = 1\nsslSection = S\n[S]\nclientAuth = none\n",
		     "[S]: needs certFile and keyFile, or keyStore");
	expect_error("unequal certFile/keyFile", "p.ini",
		     "[Port]\nport = 1\nsslSection = S\n[S]\ncertFile = a, b\nkeyFile = a\n",
		     "certFile lists 2 file(s) and keyFile 1");
	expect_error("clientAuth without caFile", "ca.ini",
		     "[Port]\nport = 1\nsslSection = S\n[S]\nkeyStore = k.p12\nclientAuth = required\n",
		     "clientAuth = required needs caFile");
	expect_error("old protocol", "v.ini",
		     "[Port]\nport = 1\nsslSection = S\n[S]\nkeyStore = k.p12\nprotocols = TLSv1.1\n",
		     "v.ini:6: key 'protocols' in [S]: expected TLSv1.2, TLSv1.3 or both, got \"TLSv1.1\"");
	expect_error("externalSSL with sslSection", "x.ini",
		     "[Port]\nport = 1\nexternalSSL = true\nsslSection = S\n[S]\nkeyStore = k.p12\n",
		     "externalSSL and sslSection exclude each other");
	expect_error("domains on a plain port", "d.ini", "[Port]\nport = 1\ndomains = a.test\n[ACME]\nagreeTermsOfService = true\n",
		     "d.ini:1: [Port]: domains needs sslSection");
	expect_error("ACME terms not agreed", "tos.ini", "[Port]\nport = 1\nsslSection = S\ndomains = a.test\n[S]\n",
		     "agreeTermsOfService must be true");
	expect_error("ACME directory over http", "url.ini",
		     "[Port]\nport = 1\nsslSection = S\ndomains = a.test\n[S]\n[ACME]\nagreeTermsOfService = true\n"
		     "directory = http://ca.test/dir\n",
		     "url.ini:8: key 'directory' in [ACME]: expected an https:// URL");
	expect_error("ACME wildcard", "w.ini", "[Port]\nport = 1\nsslSection = S\ndomains = *.a.test\n[S]\n[ACME]\n"
		     "agreeTermsOfService = true\n", "is not a DNS name ACME can prove");
	expect_error("ACME renewBefore", "r.ini", "[Port]\nport = 1\nsslSection = S\ndomains = a.test\n[S]\n[ACME]\n"
		     "agreeTermsOfService = true\nrenewBefore = 3/2\n", "r.ini:8: key 'renewBefore' in [ACME]");
	expect_error("ACME challenge twice", "c.ini", "[Port]\nport = 1\nsslSection = S\ndomains = a.test\n[S]\n[ACME]\n"
		     "agreeTermsOfService = true\nchallenges = http-01, http-01\n", "c.ini:8: key 'challenges' in [ACME]");
	expect_error("no port section", "z.ini", "[Server]\nlogLevel = info\n", "no [Port] section: nothing to listen on");
	{
		char path[300];
		snprintf(path, sizeof(path), "%s/none.ini", dir);
		FILE *errs = open_memstream(&messages, &la);
		struct np_config *none = np_config_load(path, errs);
		fclose(errs);
		ok(!none && strstr(messages, "none.ini: cannot read: No such file or directory"),
		   "a file that cannot be read is named with the reason");
		free(messages);
		errs = open_memstream(&messages, &la);
		none = np_config_load(dir, errs);
		fclose(errs);
		ok(!none && messages && *messages, "a directory as the file is refused: %s", messages);
		free(messages);
	}
	{
		/* A reload reads the file against the directory of the first
		 * load, whatever the current one is (-D changed it to /). */
		write_file("rel.ini", "[Port]\nport = 1\nsslSection = S\n[S]\ncertFile = c.pem\nkeyFile = sub/k.pem\n");
		FILE *errs = open_memstream(&messages, &la);
		struct np_config *rel = np_config_load_in("rel.ini", dir, errs);
		fclose(errs);
		char want_path[300], want_cert[300], want_key[300];
		snprintf(want_path, sizeof(want_path), "%s/rel.ini", dir);
		snprintf(want_cert, sizeof(want_cert), "%s/c.pem", dir);
		snprintf(want_key, sizeof(want_key), "%s/sub/k.pem", dir);
		ok(rel && strcmp(rel->path, want_path) == 0 && strcmp(rel->base_dir, dir) == 0,
		   "np_config_load_in: the file is taken from the directory given");
		ok(rel && strcmp(rel->tls[0].cert_files.items[0], want_cert) == 0 &&
		   strcmp(rel->tls[0].key_files.items[0], want_key) == 0, "and so are the relative paths in it");
		np_config_unref(rel);
		free(messages);
		errs = open_memstream(&messages, &la);
		rel = np_config_load_in("rel.ini", "/nonexistent-dir", errs);
		fclose(errs);
		ok(!rel && messages && strstr(messages, "rel.ini: cannot read"),
		   "a file missing there is named as it was given: %s", messages ? messages : "");
		free(messages);
	}
	expect_error("libconfig syntax error", "bad.cfg", "Port = { port = 1\n", "bad.cfg:2: syntax error");
	{
		/* A line past the reader's longest is named, not taken for the
		 * next line's syntax error. */
		size_t n = 200 * 1024;
		char *text = malloc(n + 64);
		int used = snprintf(text, 64, "[Port]\nport = 1\nx = ");
		memset(text + used, 'a', n);
		strcpy(text + used + n, "\nqueueLength = 5\n");
		expect_error("a 200 KB line", "long.ini", text, "long.ini:3: line longer than 65535 bytes");
		free(text);
	}
	expect_error("INI syntax error", "syn.ini", "[Port]\nport = 1\nthis line has no equals sign\n",
		     "syn.ini:3: syntax error");

	struct np_config *several = load("several.ini", "[Port]\nport = -1\nqueueLength = 0\naccepterThreads = 65\n",
					 &messages);
	ok(!several && messages && strstr(messages, ":2:") && strstr(messages, ":3:") && strstr(messages, ":4:"),
	   "several mistakes are all reported");

	struct np_config *warned = load("w.ini", "[Port]\nport = 1\nfrobnicate = 2\n[Elsewhere]\nx = 1\n", &messages);
	ok(warned != NULL, "an unknown key is not fatal");
	ok(messages && strstr(messages, "w.ini:3: warning: unknown key 'frobnicate' in [Port] ignored"),
	   "but draws a warning with its line");
	ok(messages && !strstr(messages, "Elsewhere"), "unknown sections are ignored silently");
	np_config_unref(warned);

	char long_line[5000] = "[Port]\nport = 1\nbindAddress = ";
	memset(long_line + strlen(long_line), 'a', 3000);
	strcat(long_line, "\n");
	struct np_config *longer = load("long.ini", long_line, &messages);
	ok(longer && longer->ports[0].bind_address && strlen(longer->ports[0].bind_address) == 3000,
	   "a 3000-character value is read whole");
	np_config_unref(longer);

	/* The one reader of sizes (the configuration's and npcat's). */
	long long bytes = 0;
	ok(np_parse_bytes("1K", &bytes) && bytes == 1024, "np_parse_bytes: 1K is 1024");
	ok(np_parse_bytes("1KB", &bytes) && bytes == 1024, "np_parse_bytes: 1KB is 1024 too");
	ok(np_parse_bytes("8m", &bytes) && bytes == 8 << 20, "np_parse_bytes: 8m is 8 MiB");
	ok(np_parse_bytes(" 512 ", &bytes) && bytes == 512, "np_parse_bytes: a plain number, spaces around");
	ok(!np_parse_bytes("-1", &bytes) && !np_parse_bytes("1X", &bytes) && !np_parse_bytes("", &bytes) &&
	   !np_parse_bytes("9223372036854775807K", &bytes), "np_parse_bytes: negative, bad suffix, empty, too large");
	struct np_config *kb = load("kb2.ini", "[Port]\nport = 1\ncompressionThreshold = 3KB\nmaxTransactionSize = 2K\n"
				    "[Server]\nthreadStackSize = 64KB\n", &messages);
	ok(kb && kb->ports[0].compression_threshold == 3072 && kb->ports[0].max_transaction_size == 2048 &&
	   kb->server.thread_stack_size == 65536, "sizes with KB and K in a file");
	/* One reader of log levels: -l and logLevel. */
	ok(np_log_level_parse("DEBUG") == LOG_DEBUG && np_log_level_parse("notice") == LOG_NOTICE &&
	   np_log_level_parse("loud") == -1, "np_log_level_parse: any case, and -1 for a stranger");
	/* host:port through net.c's one splitter. */
	expect_error("empty host", "h1.ini", "[Port]\nport = 1\nwebUpstream = []:80\n",
		     "key 'webUpstream' in [Port]: expected host:port, got \"[]:80\"");
	expect_error("two colons", "h2.ini", "[Port]\nport = 1\nwebUpstream = a:b:80\n",
		     "key 'webUpstream' in [Port]: expected host:port, got \"a:b:80\"");
	struct np_config *v6 = load("h3.ini", "[Port]\nport = 1\nwebUpstream = [::1]:8080\n", &messages);
	ok(v6 && v6->ports[0].web_upstream && strcmp(v6->ports[0].web_upstream, "[::1]:8080") == 0,
	   "webUpstream = [::1]:8080 is a host:port");
	np_config_unref(v6);
	/* Reference counted: the last holder frees it (ASan's leak check
	 * and a use after free would say otherwise). */
	ok(np_config_ref(kb) == kb, "np_config_ref returns the configuration");
	np_config_unref(kb);
	ok(kb->ports[0].max_transaction_size == 2048, "after one of two holders let go it is still whole");
	np_config_unref(kb);
	np_config_unref(NULL);
	char *abs = np_absolute_path("rel/x.ini");
	ok(abs && abs[0] == '/' && strstr(abs, "/rel/x.ini"), "np_absolute_path: a relative path made absolute");
	free(abs);
	abs = np_absolute_path("/etc/x");
	ok(abs && strcmp(abs, "/etc/x") == 0, "np_absolute_path: an absolute one kept");
	free(abs);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
