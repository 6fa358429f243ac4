/* SPDX-License-Identifier: ISC */
/*
 * config.h - the daemon's configuration as plain, immutable structs.
 *
 * The file (INI through inih in config_ini.c, or libconfig syntax) is
 * read into one libconfig tree, every key checked against the one schema
 * table (config_schema.c) and converted (config_value.c), and these
 * structs filled (config.c).  Threads only ever read them.  A struct
 * np_config is reference counted: whoever keeps using one past the
 * moment a reload may swap in another (a session, for its whole life)
 * holds a reference, and the last np_config_unref() frees it.
 */
#ifndef NP_CONFIG_H
#define NP_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "net.h"

enum np_client_auth { NP_CLIENT_AUTH_NONE, NP_CLIENT_AUTH_OPTIONAL, NP_CLIENT_AUTH_REQUIRED };

enum np_handler_kind { NP_HANDLER_ECHO, NP_HANDLER_FORWARD, NP_HANDLER_MODULE };

/* sessionHandler = echo | forward | module:PATH */
struct np_handler_spec {
	enum np_handler_kind kind;
	char *module_path;              /* with NP_HANDLER_MODULE, absolute */
};

/* A comma list from the configuration ("a.pem, b.pem"): trimmed items. */
struct np_string_list {
	char **items;
	size_t count;
};

/* A TLS section named by some port's sslSection. */
struct np_tls_conf {
	char *name;                     /* section name as written, e.g. "SSL" */
	unsigned line;                  /* line of the section in the file */
	struct np_string_list cert_files;
	struct np_string_list key_files; /* same count as cert_files */
	char *key_password;             /* NULL = keys are not encrypted */
	char *key_store;                /* PKCS#12 file, alternative to cert/key */
	char *key_store_password;
	char *protocols;                /* "TLSv1.2,TLSv1.3" */
	char *priority;                 /* raw GnuTLS priority, overrides protocols */
	enum np_client_auth client_auth;
	char *ca_file;
	char *crl_file;
	bool session_tickets;
};

/* One [Port] or [Port.NAME] section. */
struct np_port_conf {
	char *name;                     /* "Port" or "Port.NAME" */
	unsigned line;
	int port;                       /* 0 = any free port */
	int map_to_port;                /* = port unless set */
	char *bind_address;             /* NULL = all addresses */
	int queue_length;
	char *ssl_section;              /* NULL = plain TCP */
	const struct np_tls_conf *tls;  /* resolved ssl_section, or NULL */
	int accepter_threads;
	int accepter_priority;          /* nice value, -20..19 */
	bool load_balance;
	bool external_ssl;
	struct np_string_list domains;
	int proxy_protocol;             /* NP_PROXY_V1 | NP_PROXY_V2 bits taken; 0 = off */
	struct np_cidr_list proxy_from; /* who may send a PROXY header */
	int upstream_proxy_protocol;    /* 0 = off, 1 or 2: the header sent upstream */

	struct np_handler_spec handler;
	char *upstream;                 /* host:port, for forward */
	char *web_upstream;             /* host:port, or NULL */

	size_t max_transaction_size;    /* bytes, wire and inflated */
	bool compression;
	size_t compression_threshold;   /* bytes */
	int compression_level;          /* 1..9 */

	int read_timeout_ms;            /* 0 = none */
	int handshake_timeout_ms;       /* TLS handshake + protocol byte */
	size_t max_handshake_size;      /* bytes a TLS client may send before its handshake is done */
	int idle_timeout_ms;            /* 0 = none */
	int transaction_timeout_ms;     /* 0 = none */
	size_t inflate_rate;            /* bytes a second, 0 = none */
	int write_timeout_ms;           /* 0 = none */
	int half_closed_timeout_ms;     /* 0 = none */
	int relay_timeout_ms;
	int upstream_connect_timeout_ms;

	int max_connections;            /* 0 = no limit of the port's own */
	int max_connections_per_address;
	struct np_cidr_list allow;      /* empty = everyone */
	struct np_cidr_list deny;

	char *web_socket_path;          /* NULL = no WebSocket */
	struct np_string_list web_socket_origins; /* empty = any Origin */
	char *web_root;                 /* absolute, or NULL = no files */
	char *status_path;              /* NULL = no status page */
	char *metrics_path;             /* NULL = no metrics */
	struct np_cidr_list status_allow; /* who may read them */
	int http_header_timeout_ms;     /* a request head within it */
	int http_keep_alive_timeout_ms; /* the next request within it; 0 = one per connection */
	size_t http_max_header_size;

	bool tcp_no_delay;
	bool keep_alive;
	int keep_alive_idle;            /* seconds, 0 = kernel default */
	int keep_alive_interval;
	int keep_alive_count;
};

/* ACME challenge types (SPEC §8), in the order tried. */
enum np_acme_challenge { NP_ACME_TLS_ALPN_01, NP_ACME_HTTP_01 };
#define NP_ACME_CHALLENGES_MAX 2

/* The [ACME] section: how ports with `domains` get their certificates. */
struct np_acme_conf {
	unsigned line;                  /* of the section; 0 = not in the file */
	char *directory;                /* the CA's directory URL */
	struct np_string_list contact;  /* mailto: URLs */
	bool agree_tos;                 /* agreeTermsOfService */
	char *state_directory;          /* absolute */
	char *ca_file;                  /* trust for the CA's own HTTPS; NULL = the system's */
	struct np_string_list challenges_text;
	enum np_acme_challenge challenges[NP_ACME_CHALLENGES_MAX];
	size_t challenge_count;
	char *renew_before_text;        /* "1/3" or "0.25" */
	double renew_before;            /* fraction of the lifetime left that makes it due */
	int key_type;                   /* 0 = ecdsa-p256, the only one */
};

/* The [Server] section. */
struct np_server_conf {
	char *user;
	char *group;
	char *pid_file;
	int log_level;                  /* syslog priority: LOG_ERR..LOG_DEBUG */
	enum np_log_target log;
	int log_facility;               /* syslog facility, LOG_DAEMON by default */
	int max_connections;            /* 0 = no global limit */
	size_t max_memory;              /* bytes of resident memory, 0 = from the cgroup */
	int spare_threads;              /* connection threads kept parked */
	int running_threads;            /* at once; -1 no bound, 0 auto */
	size_t thread_stack_size;       /* bytes */
	int shutdown_timeout_ms;
	char *control_socket;           /* path, or NULL = none */
	bool agent;                     /* agentPort given */
	int agent_port;                 /* HAProxy agent-check; 0 = any free port */
	char *agent_bind_address;
};

struct np_config {
	atomic_int refs;
	char *path;                     /* absolute */
	char *base_dir;                 /* relative paths in the file are taken from it */
	struct np_server_conf server;
	struct np_port_conf *ports;
	size_t port_count;
	struct np_tls_conf *tls;
	size_t tls_count;
	struct np_acme_conf acme;
	bool acme_used;                 /* some port has domains */
	void *tree;                     /* config_t *: the effective tree, for -t */
};

/*
 * Reads and checks the file.  Every problem is written to `errors` as
 * "FILE:LINE: key 'K' in [SECTION]: expected WHAT, got "VALUE"" (warnings
 * as "FILE:LINE: warning: ...").  Returns NULL when any error was found,
 * after reporting all of them; else a configuration holding one
 * reference, the caller's.
 */
struct np_config *np_config_load(const char *path, FILE *errors);
/* The same with relative paths (path itself, and those in the file)
 * taken from dir rather than the current directory: a reload passes the
 * base_dir of the configuration it replaces. */
struct np_config *np_config_load_in(const char *path, const char *dir, FILE *errors);

/* Prints the effective configuration (defaults filled in) in libconfig
 * syntax. */
void np_config_print(const struct np_config *config, FILE *out);

/* One more holder; returns config. */
struct np_config *np_config_ref(struct np_config *config);
/* One holder less; the last frees it.  NULL is allowed. */
void np_config_unref(struct np_config *config);

/* The text of a key in a port's section that the schema does not own
 * (a module's own key, a string in the tree), or NULL. */
const char *np_config_port_setting(const struct np_config *config, const struct np_port_conf *port,
				   const char *key);

/* "64M", "1K", "1KB", " 512 ": a byte count, K, M and G being 2^10, 2^20
 * and 2^30 (a B after the suffix is allowed).  false when it is not one,
 * or negative, or does not fit a long long.  The configuration and npcat
 * both read sizes with it. */
bool np_parse_bytes(const char *text, long long *out);

/* Whether two optional strings of a configuration (NULL = unset) say
 * the same: what a reload compares. */
bool np_same_text(const char *a, const char *b);

/* path made absolute against the current directory (as it was written
 * when already absolute): malloc'd, or NULL with errno set. */
char *np_absolute_path(const char *path);

#endif
