/* SPDX-License-Identifier: ISC */
/*
 * config_schema.c - the one table of every configuration key: its
 * section, type, default and range, and how a problem with one is told
 * (FILE:LINE).  The INI reader, the validator, the -t printer and the
 * manual (by review) all follow it.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "config_schema.h"
#include "proxy.h"

static const char *const log_words[] = { "stderr", "syslog", NULL };
static const int log_values[] = { NP_LOG_TO_STDERR, NP_LOG_TO_SYSLOG };
static const char *const facility_words[] = { "daemon", "user", "local0", "local1", "local2", "local3",
					       "local4", "local5", "local6", "local7", NULL };
static const int facility_values[] = { LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
				       LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7 };
static const char *const auth_words[] = { "none", "optional", "required", NULL };
static const int auth_values[] = { NP_CLIENT_AUTH_NONE, NP_CLIENT_AUTH_OPTIONAL, NP_CLIENT_AUTH_REQUIRED };
static const char *const proxy_in_words[] = { "off", "v1", "v2", "any", NULL };
static const int proxy_in_values[] = { 0, NP_PROXY_V1, NP_PROXY_V2, NP_PROXY_ANY };
static const char *const proxy_out_words[] = { "off", "v1", "v2", NULL };
static const int proxy_out_values[] = { 0, 1, 2 };
static const char *const key_type_words[] = { "ecdsa-p256", NULL };
static const int key_type_values[] = { 0 };

#define SRV(field) offsetof(struct np_server_conf, field)
#define PRT(field) offsetof(struct np_port_conf, field)
#define TLS(field) offsetof(struct np_tls_conf, field)
#define ACME(field) offsetof(struct np_acme_conf, field)
#define NOLIMIT 0, 0

const struct key_schema cfg_schema[] = {
	{ SEC_SERVER, "user", T_STRING, NULL, NOLIMIT, SRV(user), NULL, NULL },
	{ SEC_SERVER, "group", T_STRING, NULL, NOLIMIT, SRV(group), NULL, NULL },
	{ SEC_SERVER, "pidFile", T_STRING, NULL, NOLIMIT, SRV(pid_file), NULL, NULL },
	{ SEC_SERVER, "logLevel", T_LEVEL, "info", NOLIMIT, SRV(log_level), NULL, NULL },
	{ SEC_SERVER, "log", T_ENUM, "stderr", NOLIMIT, SRV(log), log_words, log_values },
	{ SEC_SERVER, "logFacility", T_ENUM, "daemon", NOLIMIT, SRV(log_facility), facility_words, facility_values },
	{ SEC_SERVER, "maxConnections", T_INT, "10000", 0, INT_MAX, SRV(max_connections), NULL, NULL },
	{ SEC_SERVER, "maxMemory", T_BYTES, "0", 0, 1LL << 50, SRV(max_memory), NULL, NULL },
	{ SEC_SERVER, "spareThreads", T_INT, "64", 0, 4096, SRV(spare_threads), NULL, NULL },
	{ SEC_SERVER, "runningThreads", T_INT, "0", -1, 65536, SRV(running_threads), NULL, NULL },
	{ SEC_SERVER, "threadStackSize", T_BYTES, "256K", 64 * 1024, 64 * 1024 * 1024, SRV(thread_stack_size), NULL, NULL },
	{ SEC_SERVER, "shutdownTimeout", T_SECONDS, "10", 0, 3600, SRV(shutdown_timeout_ms), NULL, NULL },
	{ SEC_SERVER, "controlSocket", T_STRING, NULL, NOLIMIT, SRV(control_socket), NULL, NULL },
	{ SEC_SERVER, "agentPort", T_PORT, NULL, 0, 65535, SRV(agent_port), NULL, NULL },
	{ SEC_SERVER, "agentBindAddress", T_STRING, "127.0.0.1", NOLIMIT, SRV(agent_bind_address), NULL, NULL },

	{ SEC_PORT, "port", T_PORT, NULL, 0, 65535, PRT(port), NULL, NULL },
	{ SEC_PORT, "mapToPort", T_PORT, NULL, 1, 65535, PRT(map_to_port), NULL, NULL },
	{ SEC_PORT, "bindAddress", T_STRING, NULL, NOLIMIT, PRT(bind_address), NULL, NULL },
	{ SEC_PORT, "queueLength", T_INT, "4096", 1, 65535, PRT(queue_length), NULL, NULL },
	{ SEC_PORT, "sslSection", T_STRING, NULL, NOLIMIT, PRT(ssl_section), NULL, NULL },
	{ SEC_PORT, "readTimeout", T_SECONDS, "0", 0, 86400, PRT(read_timeout_ms), NULL, NULL },
	{ SEC_PORT, "accepterThreads", T_INT, "1", 1, 64, PRT(accepter_threads), NULL, NULL },
	{ SEC_PORT, "accepterPriority", T_INT, "-5", -20, 19, PRT(accepter_priority), NULL, NULL },
	{ SEC_PORT, "loadBalance", T_BOOL, "false", NOLIMIT, PRT(load_balance), NULL, NULL },
	{ SEC_PORT, "externalSSL", T_BOOL, "false", NOLIMIT, PRT(external_ssl), NULL, NULL },
	{ SEC_PORT, "domains", T_LIST, NULL, NOLIMIT, PRT(domains), NULL, NULL },
	{ SEC_PORT, "proxyProtocol", T_ENUM, "off", NOLIMIT, PRT(proxy_protocol), proxy_in_words, proxy_in_values },
	{ SEC_PORT, "proxyFrom", T_CIDRS, "127.0.0.0/8, ::1", NOLIMIT, PRT(proxy_from), NULL, NULL },
	{ SEC_PORT, "upstreamProxyProtocol", T_ENUM, "off", NOLIMIT, PRT(upstream_proxy_protocol), proxy_out_words, proxy_out_values },
	{ SEC_PORT, "sessionHandler", T_HANDLER, "echo", NOLIMIT, PRT(handler), NULL, NULL },
	{ SEC_PORT, "upstream", T_HOSTPORT, NULL, NOLIMIT, PRT(upstream), NULL, NULL },
	{ SEC_PORT, "upstreamConnectTimeout", T_SECONDS, "5", 0, 3600, PRT(upstream_connect_timeout_ms), NULL, NULL },
	{ SEC_PORT, "webUpstream", T_HOSTPORT, NULL, NOLIMIT, PRT(web_upstream), NULL, NULL },
	{ SEC_PORT, "maxTransactionSize", T_BYTES, "8M", 1, 0x7fffffff, PRT(max_transaction_size), NULL, NULL },
	{ SEC_PORT, "compression", T_BOOL, "true", NOLIMIT, PRT(compression), NULL, NULL },
	{ SEC_PORT, "inflateRate", T_BYTES, "16M", 0, 0x7fffffff, PRT(inflate_rate), NULL, NULL },
	{ SEC_PORT, "compressionThreshold", T_BYTES, "1K", 0, 0x7fffffff, PRT(compression_threshold), NULL, NULL },
	{ SEC_PORT, "compressionLevel", T_INT, "6", 1, 9, PRT(compression_level), NULL, NULL },
	{ SEC_PORT, "handshakeTimeout", T_SECONDS, "10", 1, 3600, PRT(handshake_timeout_ms), NULL, NULL },
	{ SEC_PORT, "maxHandshakeSize", T_BYTES, "64K", 4096, 16 * 1024 * 1024, PRT(max_handshake_size), NULL, NULL },
	{ SEC_PORT, "idleTimeout", T_SECONDS, "0", 0, 24 * 86400, PRT(idle_timeout_ms), NULL, NULL },
	{ SEC_PORT, "transactionTimeout", T_SECONDS, "120", 0, 86400, PRT(transaction_timeout_ms), NULL, NULL },
	{ SEC_PORT, "writeTimeout", T_SECONDS, "60", 0, 86400, PRT(write_timeout_ms), NULL, NULL },
	{ SEC_PORT, "halfClosedTimeout", T_SECONDS, "60", 0, 86400, PRT(half_closed_timeout_ms), NULL, NULL },
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
	{ SEC_PORT, "webSocketPath", T_URLPATH, "/netphantom", NOLIMIT, PRT(web_socket_path), NULL, NULL },
	{ SEC_PORT, "webSocketOrigins", T_LIST, NULL, NOLIMIT, PRT(web_socket_origins), NULL, NULL },
	{ SEC_PORT, "webRoot", T_STRING, NULL, NOLIMIT, PRT(web_root), NULL, NULL },
	{ SEC_PORT, "statusPath", T_URLPATH, NULL, NOLIMIT, PRT(status_path), NULL, NULL },
	{ SEC_PORT, "metricsPath", T_URLPATH, NULL, NOLIMIT, PRT(metrics_path), NULL, NULL },
	{ SEC_PORT, "statusAllow", T_CIDRS, "127.0.0.0/8, ::1", NOLIMIT, PRT(status_allow), NULL, NULL },
	{ SEC_PORT, "httpHeaderTimeout", T_SECONDS, "10", 1, 3600, PRT(http_header_timeout_ms), NULL, NULL },
	{ SEC_PORT, "httpKeepAliveTimeout", T_SECONDS, "15", 0, 3600, PRT(http_keep_alive_timeout_ms), NULL, NULL },
	{ SEC_PORT, "httpMaxHeaderSize", T_BYTES, "8K", 1024, 65536, PRT(http_max_header_size), NULL, NULL },

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

	{ SEC_ACME, "directory", T_STRING, "https://acme-v02.api.letsencrypt.org/directory", NOLIMIT, ACME(directory), NULL, NULL },
	{ SEC_ACME, "contact", T_LIST, NULL, NOLIMIT, ACME(contact), NULL, NULL },
	{ SEC_ACME, "agreeTermsOfService", T_BOOL, "false", NOLIMIT, ACME(agree_tos), NULL, NULL },
	{ SEC_ACME, "stateDirectory", T_STRING, "/var/lib/npsocketd/acme", NOLIMIT, ACME(state_directory), NULL, NULL },
	{ SEC_ACME, "caFile", T_STRING, NULL, NOLIMIT, ACME(ca_file), NULL, NULL },
	{ SEC_ACME, "challenges", T_LIST, "tls-alpn-01, http-01", NOLIMIT, ACME(challenges_text), NULL, NULL },
	{ SEC_ACME, "renewBefore", T_STRING, "1/3", NOLIMIT, ACME(renew_before_text), NULL, NULL },
	{ SEC_ACME, "keyType", T_ENUM, "ecdsa-p256", NOLIMIT, ACME(key_type), key_type_words, key_type_values },
};

const size_t cfg_schema_size = sizeof(cfg_schema) / sizeof(cfg_schema[0]);

const struct key_schema *cfg_schema_find(enum section_kind section, const char *name)
{
	for (size_t i = 0; i < cfg_schema_size; i++)
		if (cfg_schema[i].section == section && strcmp(cfg_schema[i].name, name) == 0)
			return &cfg_schema[i];
	return NULL;
}

const char *cfg_schema_type_words(const struct key_schema *k, char *buf, size_t size)
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
	case T_LEVEL: return "one of " NP_LOG_LEVEL_WORDS;
	case T_LIST: return "a comma list of names";
	case T_CIDRS: return "a comma list of addresses or CIDR ranges (10.0.0.0/8, ::1/128)";
	case T_HOSTPORT: return "host:port";
	case T_HANDLER: return "echo, forward or module:PATH";
	case T_URLPATH: return "a URL path starting with /, or nothing for none";
	}
	return "a value";
}

bool cfg_is_port_section(const char *name)
{
	return strcmp(name, "Port") == 0 || (strncmp(name, "Port.", 5) == 0 && name[5]);
}

bool cfg_valid_name(const char *name)
{
	if (!isalpha((unsigned char)name[0]) && name[0] != '*')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '*')
			return false;
	return true;
}

enum section_kind cfg_section_kind(const char *section)
{
	return strcmp(section, "Server") == 0 ? SEC_SERVER : strcmp(section, "ACME") == 0 ? SEC_ACME
	       : cfg_is_port_section(section) ? SEC_PORT : SEC_TLS;
}

void cfg_report(struct loader *ld, unsigned line, bool warning, const char *fmt, ...)
{
	va_list ap;
	if (line)
		fprintf(ld->errors, "%s:%u: %s", ld->name, line, warning ? "warning: " : "");
	else
		fprintf(ld->errors, "%s: %s", ld->name, warning ? "warning: " : "");
	va_start(ap, fmt);
	vfprintf(ld->errors, fmt, ap);
	va_end(ap);
	fputc('\n', ld->errors);
	if (!warning)
		ld->error_count++;
}
