/*
 * config.h - the daemon's configuration as plain, immutable structs.
 *
 * config.c reads the file (INI through inih, or libconfig syntax) into one
 * libconfig tree, checks every key against one schema table, and fills
 * these structs.  Threads only ever read them; a reload builds a new
 * struct np_config and swaps the pointer.
 */
#ifndef NP_CONFIG_H
#define NP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

enum np_log_target { NP_LOG_TO_STDERR, NP_LOG_TO_SYSLOG };

enum np_client_auth { NP_CLIENT_AUTH_NONE, NP_CLIENT_AUTH_OPTIONAL, NP_CLIENT_AUTH_REQUIRED };

enum np_handler_kind { NP_HANDLER_ECHO, NP_HANDLER_FORWARD, NP_HANDLER_MODULE };

/* One address range of an allow/deny list, e.g. 10.0.0.0/8 or ::1/128.
 * IPv4 ranges are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n) so one
 * comparison serves both families. */
struct np_cidr {
	struct in6_addr addr; /* network address, host bits zero */
	unsigned prefix;      /* 0..128 */
};

struct np_cidr_list {
	struct np_cidr *ranges;
	size_t count;
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

	enum np_handler_kind handler;
	char *module_path;              /* for module:PATH */
	char *upstream;                 /* host:port, for forward */
	char *web_upstream;             /* host:port, or NULL */

	size_t max_transaction_size;    /* bytes, wire and inflated */
	bool compression;
	size_t compression_threshold;   /* bytes */
	int compression_level;          /* 1..9 */

	int read_timeout_ms;            /* 0 = none */
	int handshake_timeout_ms;       /* TLS handshake + protocol byte */
	int idle_timeout_ms;            /* 0 = none */
	int relay_timeout_ms;
	int upstream_connect_timeout_ms;

	int max_connections;            /* 0 = no limit of the port's own */
	int max_connections_per_address;
	struct np_cidr_list allow;      /* empty = everyone */
	struct np_cidr_list deny;

	bool tcp_no_delay;
	bool keep_alive;
	int keep_alive_idle;            /* seconds, 0 = kernel default */
	int keep_alive_interval;
	int keep_alive_count;
};

/* The [Server] section. */
struct np_server_conf {
	char *user;
	char *group;
	char *pid_file;
	int log_level;                  /* syslog priority: LOG_ERR..LOG_DEBUG */
	enum np_log_target log;
	int max_connections;            /* 0 = no global limit */
	size_t thread_stack_size;       /* bytes */
	int shutdown_timeout_ms;
};

struct np_config {
	char *path;
	struct np_server_conf server;
	struct np_port_conf *ports;
	size_t port_count;
	struct np_tls_conf *tls;
	size_t tls_count;
	void *tree;                     /* config_t *: the effective tree, for -t */
};

/*
 * Reads and checks the file.  Every problem is written to `errors` as
 * "FILE:LINE: key 'K' in [SECTION]: expected WHAT, got "VALUE"" (warnings
 * as "FILE:LINE: warning: ...").  Returns NULL when any error was found,
 * after reporting all of them.
 */
struct np_config *np_config_load(const char *path, FILE *errors);

/* Prints the effective configuration (defaults filled in) in libconfig
 * syntax. */
void np_config_print(const struct np_config *config, FILE *out);

void np_config_free(struct np_config *config);

/* The text of a key in a port's section that the schema does not own
 * (a module's own key, a string in the tree), or NULL. */
const char *np_config_port_setting(const struct np_config *config, const struct np_port_conf *port,
				   const char *key);

/* true when `addr` (any family; IPv4-mapped accepted) falls in the list. */
bool np_cidr_list_match(const struct np_cidr_list *list, const struct sockaddr *addr);

#endif
