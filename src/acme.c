/* SPDX-License-Identifier: ISC */
/*
 * acme.c - the ACME client (acme.h, RFC 8555): one worker thread that
 * keeps every managed TLS section's certificate issued and fresh.
 *
 * A managed section is one named by a port with `domains`; its names are
 * those of all such ports.  Its state lives in stateDirectory/NAME/
 * (NAME its first name): key.pem and cert.pem, each written to a
 * temporary file, fsynced and renamed, mode 0600.  The account key is
 * stateDirectory/account.key.  The worker wakes for the earliest due
 * certificate (renewBefore of its lifetime left), or every hour with
 * jitter, or when asked (`acme renew`); an order that fails is retried
 * with back-off from a minute to six hours, or the CA's Retry-After.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "acme_crypto.h"
#include "acme_http.h"
#include "acme_proto.h"
#include "listener.h"
#include "log.h"
#include "net.h"
#include "registry.h"
#include "tls.h"

#define FILE_MAX (256 * 1024)           /* a key or a chain in the state directory */
#define CHECK_EVERY_S 3600
#define BACKOFF_MIN_S 60
#define BACKOFF_MAX_S (6 * 3600)
#define POLL_MAX 30                     /* status polls of one authorization or order (1-10 s apart) */
#define SELF_SIGNED_DAYS 7
#define NONCE_RETRIES 5
#define WATCH_S 10                      /* how often another instance's result is looked for */
#define LOCK_STALE_S 120                /* a lock file not touched for this long is abandoned */
#define LOCK_BUSY_RETRY_S 60
#define MIN_REORDER_S 10                /* between two orders of one certificate */

struct cert {
	const struct np_tls_conf *tls;   /* inside acme->config */
	struct np_string_list names;     /* the ports' domains, each once (items point into the config) */
	char dir[4096];
	/* Under acme->lock from here on. */
	struct np_tls_context *ctx;      /* what the section serves, NULL = its own files */
	char source[16];                 /* issued, stored, configured, self-signed */
	time_t not_before, not_after;
	char serial[64];
	time_t next_try;                 /* the next order, at the earliest */
	struct timespec seen_mtime;      /* of cert.pem, when last read or written */
	int failures;
	char last_error[512];
	bool renew_asked;
};

struct np_acme {
	struct np_server *server;
	struct np_config *config;        /* referenced: the one ACME was set up from */
	const struct np_acme_conf *conf;
	struct cert *certs;
	size_t count;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	atomic_bool stopping;            /* the same, for libcurl's progress checks */
	pthread_t thread;
	bool running;

	/* The worker's own. */
	gnutls_privkey_t account_key;
	char jwk[NP_ACME_JWK_MAX];
	char thumbprint[NP_ACME_THUMBPRINT_MAX];
	char kid[NP_ACME_URL_MAX];
	struct np_acme_http *http;
	struct np_acme_directory directory;
	bool have_directory;
	char nonce[NP_ACME_NONCE_MAX];
	atomic_uint orders;              /* orders made since start */
	int lock_fd;                     /* the order lock held, or -1 */
	char lock_path[4200];
	char http01_dir[4200], alpn01_dir[4200];
};

/* --- the state directory ---------------------------------------------------- */

/* A file of at most FILE_MAX bytes, NUL-terminated (malloc'd); NULL with
 * errno (ENOENT when it is not there, EFBIG when too long). */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *buf = NULL;
	int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : st.st_size > FILE_MAX ? EFBIG : 0;
	if (bad) {
		close(fd);
		errno = bad;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		free(buf);
		errno = buf ? EIO : ENOMEM;
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* dir/name holds data once this returns 0: a temporary file written,
 * fsynced and renamed over it, then the directory fsynced; mode 0600. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len, char *err, size_t err_size)
{
	char tmp[4200], path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, err_size, "cannot create %.400s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	int saved = errno;
	if (done < len || fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, err_size, "cannot write %.400s: %s", tmp, strerror(done < len ? saved : errno));
		if (done < len)
			close(fd);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, err_size, "cannot rename %.400s to %.400s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			np_log(LOG_WARNING, "acme: fsync of %s: %s", dir, strerror(errno));
		close(dfd);
	}
	return 0;
}

/* As root with `user`: path given to that user (what start-up makes in
 * the state directory, so the worker, running as the user, owns it). */
static int give_to_user(const char *path, const struct np_server_conf *server, char *err, size_t err_size)
{
	if (geteuid() == 0 && server->user) {
		struct passwd *pw = getpwnam(server->user);
		gid_t gid = pw ? pw->pw_gid : (gid_t)-1;
		if (server->group) {
			struct group *gr = getgrnam(server->group);
			if (gr)
				gid = gr->gr_gid;
		}
		if (!pw || chown(path, pw->pw_uid, gid) < 0) {
			snprintf(err, err_size, "cannot give %s to user %s: %s", path, server->user,
				 pw ? strerror(errno) : "no such user");
			return -1;
		}
	}
	return 0;
}

/* A directory of the daemon's (0700), made when missing and given to
 * the user. */
static int make_dir(const char *path, const struct np_server_conf *server, char *err, size_t err_size)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "%s: %s", path, errno ? strerror(errno) : "not a directory");
		return -1;
	}
	return give_to_user(path, server, err, err_size);
}

/* The modification time of c's cert.pem ({0} when there is none). */
static struct timespec cert_mtime(const struct cert *c)
{
	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/cert.pem", c->dir);
	if (stat(path, &st) < 0)
		return (struct timespec){ 0, 0 };
	return st.st_mtim;
}

/* --- certificates served ------------------------------------------------------ */

static time_t renew_at(const struct np_acme *acme, const struct cert *c)
{
	double life = difftime(c->not_after, c->not_before);
	return c->not_after - (time_t)(life * acme->conf->renew_before);
}

/* Under acme->lock: what the section serves from now on. */
static void set_served(struct cert *c, struct np_tls_context *ctx, const char *source, const struct np_acme_cert_facts *f)
{
	np_tls_context_unref(c->ctx);
	c->ctx = ctx;
	snprintf(c->source, sizeof(c->source), "%s", source);
	c->not_before = f ? f->not_before : 0;
	c->not_after = f ? f->not_after : 0;
	snprintf(c->serial, sizeof(c->serial), "%s", f ? f->serial : "");
}

/* What the reports (status page, metrics) say of each certificate. */
static void publish(struct np_acme *acme)
{
	struct np_acme_info *info = calloc(acme->count + 1, sizeof(*info));
	if (!info)
		return;
	pthread_mutex_lock(&acme->lock);
	for (size_t i = 0; i < acme->count; i++) {
		const struct cert *c = &acme->certs[i];
		struct np_acme_info *o = &info[i];
		snprintf(o->name, sizeof(o->name), "%s", c->names.items[0]);
		size_t used = 0;
		for (size_t j = 0; j < c->names.count && used < sizeof(o->names); j++)
			used += (size_t)snprintf(o->names + used, sizeof(o->names) - used, "%s%s", j ? "," : "", c->names.items[j]);
		snprintf(o->source, sizeof(o->source), "%s", c->source);
		o->not_after = c->not_after;
		o->renew_at = c->not_after ? renew_at(acme, c) : 0;
		o->next_try = c->failures ? c->next_try : 0;
		o->failures = c->failures;
		snprintf(o->last_error, sizeof(o->last_error), "%.*s", (int)sizeof(o->last_error) - 1, c->last_error);
	}
	pthread_mutex_unlock(&acme->lock);
	np_registry_set_acme(&acme->server->registry, info, acme->count);
	free(info);
}

/* A chain and its key as a context for the section, checked: the key
 * is the chain's, every name is covered, it is valid now.  NULL with err. */
static struct np_tls_context *context_of(const struct cert *c, const char *cert_pem, size_t cert_len,
					 const char *key_pem, size_t key_len, struct np_acme_cert_facts *facts,
					 char *err, size_t err_size)
{
	gnutls_privkey_t key = NULL;
	char why[256];
	if (np_acme_key_import(key_pem, key_len, &key, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "key: %s", why);
		return NULL;
	}
	int rc = np_acme_cert_facts(cert_pem, cert_len, key, &c->names, facts, why, sizeof(why));
	gnutls_privkey_deinit(key);
	time_t now = time(NULL);
	if (rc < 0) {
		snprintf(err, err_size, "certificate: %s", why);
		return NULL;
	}
	if (!facts->key_matches) {
		snprintf(err, err_size, "the certificate is not for this key");
		return NULL;
	}
	if (facts->missing) {
		snprintf(err, err_size, "the certificate does not cover %s", facts->missing);
		return NULL;
	}
	if (facts->not_after <= now || facts->not_before > now + 86400) {
		snprintf(err, err_size, "the certificate is not valid now");
		return NULL;
	}
	char what[320];
	snprintf(what, sizeof(what), "ACME certificate for %s", c->names.items[0]);
	struct np_tls_pem pem = { cert_pem, key_pem, cert_len, key_len, what };
	return np_tls_context_new_with(c->tls, &pem, err, err_size);
}

/* The pair stored for c as a checked context (context_of()); NULL with
 * err, or with *missing set when there is no cert.pem at all. */
static struct np_tls_context *load_stored(const struct cert *c, struct np_acme_cert_facts *facts, bool *missing,
					  char *err, size_t err_size)
{
	char path[4200];
	size_t cert_len = 0, key_len = 0;
	snprintf(path, sizeof(path), "%s/cert.pem", c->dir);
	char *cert_pem = read_file(path, &cert_len);
	*missing = !cert_pem && errno == ENOENT;
	snprintf(path, sizeof(path), "%s/%s.pem", c->dir, cert_pem ? "key" : "cert");
	char *key_pem = cert_pem ? read_file(path, &key_len) : NULL;
	struct np_tls_context *ctx = NULL;
	if (key_pem)
		ctx = context_of(c, cert_pem, cert_len, key_pem, key_len, facts, err, err_size);
	else
		snprintf(err, err_size, "cannot read %.400s: %s", path, strerror(errno));
	free(cert_pem);
	if (key_pem)
		gnutls_memset(key_pem, 0, key_len);
	free(key_pem);
	return ctx;
}

/* At start: the stored certificate when it is still good, else the
 * section's own files, else a self-signed stand-in. */
static int choose_start(struct np_acme *acme, struct cert *c)
{
	char path[4200], err[512];
	struct np_acme_cert_facts facts;
	bool missing;
	struct np_tls_context *ctx = load_stored(c, &facts, &missing, err, sizeof(err));
	if (!ctx && !missing)
		np_log(LOG_WARNING, "acme: %s: the stored certificate in %s is not used (%s); a new one is ordered",
		       c->names.items[0], c->dir, err);
	pthread_mutex_lock(&acme->lock);
	if (ctx) {
		set_served(c, ctx, "stored", &facts);
		np_log(LOG_NOTICE, "acme: %s: serving the stored certificate (serial %s, expires %s)", c->names.items[0],
		       facts.serial, np_net_format_time(facts.not_after, path, sizeof(path)));
	} else if (c->tls->cert_files.count || c->tls->key_store) {
		set_served(c, NULL, "configured", NULL);
	} else {
		/* A stand-in until the first issue: handshakes work (with a
		 * warning at the client) and tls-alpn-01 can run. */
		gnutls_privkey_t key = NULL;
		char *crt = NULL, *kpem = NULL;
		size_t crt_len = 0, kpem_len = 0;
		int rc = np_acme_key_generate(&key, err, sizeof(err));
		if (rc == 0)
			crt = np_acme_self_signed(key, (const char *const *)c->names.items, c->names.count, SELF_SIGNED_DAYS,
						  NULL, &crt_len, err, sizeof(err));
		if (crt)
			kpem = np_acme_key_export(key, &kpem_len, err, sizeof(err));
		struct np_tls_pem pem = { crt, kpem, crt_len, kpem_len, "self-signed stand-in" };
		if (kpem)
			ctx = np_tls_context_new_with(c->tls, &pem, err, sizeof(err));
		gnutls_privkey_deinit(key);
		free(crt);
		if (kpem)
			gnutls_memset(kpem, 0, kpem_len);
		free(kpem);
		if (!ctx) {
			pthread_mutex_unlock(&acme->lock);
			np_log(LOG_ERR, "[%s]: no certificate to serve before the first issue: %s", c->tls->name, err);
			return -1;
		}
		set_served(c, ctx, "self-signed", NULL);
		np_log(LOG_NOTICE, "acme: %s: a self-signed certificate serves until the first one is issued",
		       c->names.items[0]);
	}
	pthread_mutex_unlock(&acme->lock);
	return 0;
}

/* --- setting up ------------------------------------------------------------------ */

static bool listed(const struct np_string_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcasecmp(l->items[i], name) == 0)
			return true;
	return false;
}

static int add_name(struct np_string_list *l, char *name)
{
	if (listed(l, name))
		return 0;
	char **grown = realloc(l->items, (l->count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	grown[l->count++] = name;
	l->items = grown;
	return 0;
}

/* The names of the ports that name tls, each once (items point into
 * config).  0, or -1 when out of memory. */
static int section_names(const struct np_config *config, const struct np_tls_conf *tls, struct np_string_list *names)
{
	for (size_t i = 0; i < config->port_count; i++) {
		const struct np_port_conf *p = &config->ports[i];
		for (size_t j = 0; p->tls == tls && j < p->domains.count; j++)
			if (add_name(names, p->domains.items[j]) < 0)
				return -1;
	}
	return 0;
}

static int load_account_key(struct np_acme *acme, char *err, size_t err_size)
{
	char path[4200];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/account.key", acme->conf->state_directory);
	char *pem = read_file(path, &len);
	if (!pem && errno != ENOENT) {
		snprintf(err, err_size, "cannot read %.400s: %s", path, strerror(errno));
		return -1;
	}
	if (pem) {
		int rc = np_acme_key_import(pem, len, &acme->account_key, err, err_size);
		gnutls_memset(pem, 0, len);
		free(pem);
		if (rc < 0) {
			char why[256];
			snprintf(why, sizeof(why), "%.255s", err);
			snprintf(err, err_size, "%.300s: %.200s (move it away to register a new account)", path, why);
			return -1;
		}
	} else {
		if (np_acme_key_generate(&acme->account_key, err, err_size) < 0)
			return -1;
		pem = np_acme_key_export(acme->account_key, &len, err, err_size);
		int rc = pem ? write_atomic(acme->conf->state_directory, "account.key", pem, len, err, err_size) : -1;
		if (pem)
			gnutls_memset(pem, 0, len);
		free(pem);
		if (rc < 0 || give_to_user(path, &acme->config->server, err, err_size) < 0)
			return -1;
		np_log(LOG_NOTICE, "acme: a new account key in %s", path);
	}
	if (np_acme_jwk(acme->account_key, acme->jwk) < 0 || np_acme_thumbprint(acme->jwk, acme->thumbprint) < 0) {
		snprintf(err, err_size, "%.400s: cannot read its public key", path);
		return -1;
	}
	return 0;
}

int np_acme_open(struct np_server *server, struct np_config *config, struct np_acme **out)
{
	*out = NULL;
	if (!config->acme_used)
		return 0;
	struct np_acme *acme = calloc(1, sizeof(*acme));
	char err[640];
	if (!acme || pthread_mutex_init(&acme->lock, NULL) || pthread_cond_init(&acme->wake, NULL)) {
		np_log(LOG_ERR, "acme: out of memory");
		free(acme);
		return -1;
	}
	acme->server = server;
	acme->lock_fd = -1;
	acme->config = np_config_ref(config);
	acme->conf = &config->acme;
	acme->certs = calloc(config->tls_count + 1, sizeof(*acme->certs));
	if (!acme->certs)
		goto oom;
	for (size_t t = 0; t < config->tls_count; t++) {
		struct cert *c = &acme->certs[acme->count];
		if (section_names(config, &config->tls[t], &c->names) < 0)
			goto oom;
		if (!c->names.count)
			continue;
		c->tls = &config->tls[t];
		snprintf(c->dir, sizeof(c->dir), "%s/%s", acme->conf->state_directory, c->names.items[0]);
		acme->count++;
	}
	*out = acme;
	snprintf(acme->http01_dir, sizeof(acme->http01_dir), "%s/http-01", acme->conf->state_directory);
	snprintf(acme->alpn01_dir, sizeof(acme->alpn01_dir), "%s/tls-alpn-01", acme->conf->state_directory);
	if (make_dir(acme->conf->state_directory, &config->server, err, sizeof(err)) < 0 ||
	    make_dir(acme->http01_dir, &config->server, err, sizeof(err)) < 0 ||
	    make_dir(acme->alpn01_dir, &config->server, err, sizeof(err)) < 0 ||
	    load_account_key(acme, err, sizeof(err)) < 0) {
		np_log(LOG_ERR, "[ACME]: %s", err);
		return -1;
	}
	if (np_registry_set_challenge_dirs(&server->registry, acme->http01_dir, acme->alpn01_dir) < 0)
		goto oom;
	for (size_t i = 0; i < acme->count; i++) {
		if (make_dir(acme->certs[i].dir, &config->server, err, sizeof(err)) < 0) {
			np_log(LOG_ERR, "[ACME]: %s", err);
			return -1;
		}
		if (choose_start(acme, &acme->certs[i]) < 0)
			return -1;
		acme->certs[i].seen_mtime = cert_mtime(&acme->certs[i]);
	}
	publish(acme);
	return 0;
oom:
	np_log(LOG_ERR, "acme: out of memory");
	*out = acme;
	return -1;
}

struct np_tls_context *np_acme_context_for(struct np_acme *acme, const struct np_tls_conf *tls)
{
	struct np_tls_context *ctx = NULL;
	if (!acme)
		return NULL;
	pthread_mutex_lock(&acme->lock);
	for (size_t i = 0; i < acme->count; i++)
		if (strcmp(acme->certs[i].tls->name, tls->name) == 0)
			ctx = np_tls_context_ref(acme->certs[i].ctx);
	pthread_mutex_unlock(&acme->lock);
	return ctx;
}

/* --- talking to the CA ---------------------------------------------------------- */

/* The CA's complaint, for the log: problem type and detail, or status. */
static void describe_failure(const struct np_acme_response *r, const char *what, char *err, size_t err_size)
{
	struct np_acme_problem p;
	if (np_acme_parse_problem(r->body, r->len, &p) == 0)
		snprintf(err, err_size, "%s: HTTP %ld, %s: %s", what, r->status, p.type, p.detail);
	else
		snprintf(err, err_size, "%s: HTTP %ld from the CA (no problem document)", what, r->status);
}

static int get_directory(struct np_acme *acme, char *err, size_t err_size)
{
	if (acme->have_directory)
		return 0;
	struct np_acme_response r = { .retry_after = -1 };
	char why[512];
	int rc = np_acme_http_get(acme->http, acme->conf->directory, &r, err, err_size);
	if (rc == 0 && r.status != 200) {
		describe_failure(&r, "directory", err, err_size);
		rc = -1;
	} else if (rc == 0 && np_acme_parse_directory(r.body, r.len, &acme->directory, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "directory %s: %s", acme->conf->directory, why);
		rc = -1;
	}
	np_acme_response_clear(&r);
	acme->have_directory = rc == 0;
	return rc;
}

static int fresh_nonce(struct np_acme *acme, char *err, size_t err_size)
{
	struct np_acme_response r = { .retry_after = -1 };
	int rc = np_acme_http_head(acme->http, acme->directory.new_nonce, &r, err, err_size);
	if (rc == 0 && !r.nonce[0]) {
		snprintf(err, err_size, "newNonce: HTTP %ld without a Replay-Nonce", r.status);
		rc = -1;
	}
	if (rc == 0)
		snprintf(acme->nonce, sizeof(acme->nonce), "%s", r.nonce);
	np_acme_response_clear(&r);
	return rc;
}

/* A signed POST (payload NULL: POST-as-GET), with the account's kid, or
 * its jwk when there is none yet; a badNonce is retried with the nonce
 * it came with.  0 with the answer (any status), -1 with err. */
static int post(struct np_acme *acme, const char *url, const char *payload, struct np_acme_response *r,
		char *err, size_t err_size)
{
	for (int attempt = 0; attempt < NONCE_RETRIES; attempt++) {
		if (!acme->nonce[0] && fresh_nonce(acme, err, err_size) < 0)
			return -1;
		char *jws = np_acme_jws(acme->account_key, acme->jwk, acme->kid[0] ? acme->kid : NULL, acme->nonce,
					url, payload, err, err_size);
		acme->nonce[0] = '\0';
		if (!jws)
			return -1;
		int rc = np_acme_http_post(acme->http, url, jws, r, err, err_size);
		free(jws);
		if (rc < 0)
			return -1;
		snprintf(acme->nonce, sizeof(acme->nonce), "%s", r->nonce);
		struct np_acme_problem p;
		if (r->status == 400 && np_acme_parse_problem(r->body, r->len, &p) == 0 && strcmp(p.type, "badNonce") == 0) {
			np_log(LOG_DEBUG, "acme: %s: badNonce, again with the new one", url);
			continue;
		}
		return 0;
	}
	snprintf(err, err_size, "%s: the CA refused %d nonces in a row", url, NONCE_RETRIES);
	return -1;
}

static int ensure_account(struct np_acme *acme, char *err, size_t err_size)
{
	if (acme->kid[0])
		return 0;
	json_t *body = json_pack("{sb}", "termsOfServiceAgreed", 1);
	json_t *contact = json_array();
	for (size_t i = 0; body && contact && i < acme->conf->contact.count; i++)
		json_array_append_new(contact, json_string(acme->conf->contact.items[i]));
	if (body && contact && acme->conf->contact.count)
		json_object_set(body, "contact", contact);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(contact);
	json_decref(body);
	if (!payload) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	struct np_acme_response r = { .retry_after = -1 };
	int rc = post(acme, acme->directory.new_account, payload, &r, err, err_size);
	free(payload);
	if (rc == 0 && (r.status != 200 && r.status != 201)) {
		describe_failure(&r, "newAccount", err, err_size);
		rc = -1;
	} else if (rc == 0 && strncmp(r.location, "https://", 8) != 0) {
		snprintf(err, err_size, "newAccount: no account URL (Location) in the answer");
		rc = -1;
	}
	if (rc == 0) {
		snprintf(acme->kid, sizeof(acme->kid), "%s", r.location);
		np_log(r.status == 201 ? LOG_NOTICE : LOG_INFO, "acme: account %s %s", acme->kid,
		       r.status == 201 ? "registered" : "in use");
	}
	np_acme_response_clear(&r);
	return rc;
}

/* Waits (bounded, interruptible by the stop) before polling again. */
static bool pause_for(struct np_acme *acme, long seconds)
{
	if (seconds < 1)
		seconds = 1;
	if (seconds > 10)
		seconds = 10;
	struct timespec until = np_time_in(CLOCK_REALTIME, (int64_t)seconds * 1000);
	pthread_mutex_lock(&acme->lock);
	while (!acme->stop && pthread_cond_timedwait(&acme->wake, &acme->lock, &until) != ETIMEDOUT)
		;
	bool go_on = !acme->stop;
	pthread_mutex_unlock(&acme->lock);
	/* The heartbeat of the order lock: others see it is alive. */
	if (acme->lock_fd >= 0 && futimens(acme->lock_fd, NULL) < 0)
		np_log(LOG_WARNING, "acme: cannot touch %s: %s", acme->lock_path, strerror(errno));
	return go_on;
}

/* --- several instances on one state directory ----------------------------------- */

/* The order lock of c: 0 taken, 1 held by a live other instance, -1
 * with err.  One untouched for LOCK_STALE_S is an instance that died. */
static int take_lock(struct np_acme *acme, const struct cert *c, char *err, size_t err_size)
{
	snprintf(acme->lock_path, sizeof(acme->lock_path), "%s/order.lock", c->dir);
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(acme->lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			char who[128];
			char host[64] = "";
			gethostname(host, sizeof(host) - 1);
			int n = snprintf(who, sizeof(who), "%ld %s %lld\n", (long)getpid(), host, (long long)time(NULL));
			if (write(fd, who, (size_t)n) != n)
				np_log(LOG_WARNING, "acme: cannot write %s: %s", acme->lock_path, strerror(errno));
			acme->lock_fd = fd;
			return 0;
		}
		struct stat st;
		if (errno != EEXIST || stat(acme->lock_path, &st) < 0) {
			snprintf(err, err_size, "cannot create %.400s: %s", acme->lock_path, strerror(errno));
			return -1;
		}
		if (time(NULL) - st.st_mtime < LOCK_STALE_S)
			return 1;
		np_log(LOG_WARNING, "acme: %s was left by an instance that stopped touching it %lds ago; taking it over",
		       acme->lock_path, (long)(time(NULL) - st.st_mtime));
		if (unlink(acme->lock_path) < 0 && errno != ENOENT) {
			snprintf(err, err_size, "cannot remove the stale %.400s: %s", acme->lock_path, strerror(errno));
			return -1;
		}
	}
	return 1;
}

static void release_lock(struct np_acme *acme)
{
	if (acme->lock_fd < 0)
		return;
	if (unlink(acme->lock_path) < 0)
		np_log(LOG_WARNING, "acme: cannot remove %s: %s", acme->lock_path, strerror(errno));
	close(acme->lock_fd);
	acme->lock_fd = -1;
}

/* The answers, also where other instances sharing the state directory
 * read them (the CA may reach any of them). */
static void share_answer(const char *dir, const char *name, const char *suffix, const char *data, size_t len)
{
	char file[400], err[512];
	snprintf(file, sizeof(file), "%s%s", name, suffix);
	if (write_atomic(dir, file, data, len, err, sizeof(err)) < 0)
		np_log(LOG_WARNING, "acme: the answer is not shared with other instances: %s", err);
}

static void unshare_answer(const char *dir, const char *name, const char *suffix)
{
	char path[4800];
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
	if (unlink(path) < 0 && errno != ENOENT)
		np_log(LOG_WARNING, "acme: cannot remove %s: %s", path, strerror(errno));
}

/* Proves one authorization with the first challenge of ours it offers. */
static int prove(struct np_acme *acme, const char *authz_url, char *err, size_t err_size)
{
	struct np_acme_response r = { .retry_after = -1 };
	struct np_acme_authz a;
	char why[512], key_auth[NP_ACME_TOKEN_MAX + NP_ACME_THUMBPRINT_MAX + 2];
	const struct np_acme_challenge_offer *chosen = NULL;
	const char *token_set = NULL, *alpn_set = NULL;
	bool alpn = false;
	int rc = post(acme, authz_url, NULL, &r, err, err_size);
	if (rc == 0 && r.status != 200) {
		describe_failure(&r, "authorization", err, err_size);
		rc = -1;
	}
	if (rc == 0 && np_acme_parse_authz(r.body, r.len, &a, why, sizeof(why)) < 0) {
		snprintf(err, err_size, "authorization %s: %s", authz_url, why);
		rc = -1;
	}
	if (rc < 0 || strcmp(a.status, "valid") == 0)
		goto out;
	for (size_t k = 0; k < acme->conf->challenge_count && !chosen; k++) {
		const char *want = acme->conf->challenges[k] == NP_ACME_HTTP_01 ? "http-01" : "tls-alpn-01";
		for (size_t i = 0; i < a.challenge_count && !chosen; i++)
			if (strcmp(a.challenges[i].type, want) == 0 && a.challenges[i].token[0])
				chosen = &a.challenges[i];
		alpn = acme->conf->challenges[k] == NP_ACME_TLS_ALPN_01;
	}
	if (!chosen) {
		snprintf(err, err_size, "%s: the CA offers none of the challenges this server answers (challenges = %s%s%s)",
			 a.identifier, acme->conf->challenges_text.items[0], acme->conf->challenges_text.count > 1 ? ", " : "",
			 acme->conf->challenges_text.count > 1 ? acme->conf->challenges_text.items[1] : "");
		rc = -1;
		goto out;
	}
	snprintf(key_auth, sizeof(key_auth), "%s.%s", chosen->token, acme->thumbprint);
	if (alpn) {
		/* RFC 8737: a certificate for the name alone, with the key
		 * authorization's digest in its acmeIdentifier extension. */
		gnutls_privkey_t key = NULL;
		char *crt = NULL, *kpem = NULL;
		size_t crt_len = 0, kpem_len = 0;
		const char *name = a.identifier;
		if (np_acme_key_generate(&key, err, err_size) == 0 &&
		    (crt = np_acme_self_signed(key, &name, 1, 7, key_auth, &crt_len, err, err_size)) &&
		    (kpem = np_acme_key_export(key, &kpem_len, err, err_size))) {
			if (np_registry_alpn_set(&acme->server->registry, a.identifier, crt, crt_len, kpem, kpem_len) == 0) {
				alpn_set = a.identifier;
				share_answer(acme->alpn01_dir, a.identifier, ".crt", crt, crt_len);
				share_answer(acme->alpn01_dir, a.identifier, ".key", kpem, kpem_len);
			} else
				snprintf(err, err_size, "%s: too many tls-alpn-01 challenges pending", a.identifier);
		}
		gnutls_privkey_deinit(key);
		free(crt);
		free(kpem);
		if (!alpn_set) {
			rc = -1;
			goto out;
		}
	} else {
		if (np_registry_challenge_set(&acme->server->registry, chosen->token, key_auth) < 0) {
			snprintf(err, err_size, "%s: too many challenges pending", a.identifier);
			rc = -1;
			goto out;
		}
		token_set = chosen->token;
		share_answer(acme->http01_dir, chosen->token, "", key_auth, strlen(key_auth));
	}
	np_log(LOG_INFO, "acme: %s: answering %s", a.identifier, chosen->type);
	rc = post(acme, chosen->url, "{}", &r, err, err_size);
	if (rc == 0 && r.status != 200) {
		describe_failure(&r, chosen->type, err, err_size);
		rc = -1;
	}
	for (int poll = 0; rc == 0; poll++) {
		if (poll == POLL_MAX) {
			snprintf(err, err_size, "%s: the authorization stays pending", a.identifier);
			rc = -1;
			break;
		}
		if (!pause_for(acme, r.retry_after > 0 ? r.retry_after : 1)) {
			snprintf(err, err_size, "stopping");
			rc = -1;
			break;
		}
		struct np_acme_authz now;
		rc = post(acme, authz_url, NULL, &r, err, err_size);
		if (rc == 0 && (r.status != 200 || np_acme_parse_authz(r.body, r.len, &now, why, sizeof(why)) < 0)) {
			describe_failure(&r, "authorization", err, err_size);
			rc = -1;
		}
		if (rc < 0 || strcmp(now.status, "pending") == 0 || strcmp(now.status, "processing") == 0)
			continue;
		if (strcmp(now.status, "valid") != 0) {
			const struct np_acme_problem *p = NULL;
			for (size_t i = 0; i < now.challenge_count && !p; i++)
				if (now.challenges[i].error.type[0])
					p = &now.challenges[i].error;
			snprintf(err, err_size, "%s: authorization %s%s%s%s%s", a.identifier, now.status, p ? ": " : "",
				 p ? p->type : "", p ? ": " : "", p ? p->detail : "");
			rc = -1;
		}
		break;
	}
out:
	if (token_set) {
		np_registry_challenge_set(&acme->server->registry, token_set, NULL);
		unshare_answer(acme->http01_dir, token_set, "");
	}
	if (alpn_set) {
		np_registry_alpn_set(&acme->server->registry, alpn_set, NULL, 0, NULL, 0);
		unshare_answer(acme->alpn01_dir, alpn_set, ".crt");
		unshare_answer(acme->alpn01_dir, alpn_set, ".key");
	}
	np_acme_response_clear(&r);
	return rc;
}

/* Polls the order until it is `want` (or a final status). */
static int order_until(struct np_acme *acme, const char *url, const char *want, struct np_acme_order *order,
		       struct np_acme_response *r, char *err, size_t err_size)
{
	char why[512];
	for (int poll = 0; poll < POLL_MAX; poll++) {
		if (strcmp(order->status, want) == 0)
			return 0;
		if (strcmp(order->status, "invalid") == 0) {
			snprintf(err, err_size, "the order is invalid%s%s%s%s", order->error.type[0] ? ": " : "",
				 order->error.type, order->error.type[0] ? ": " : "", order->error.detail);
			return -1;
		}
		if (!pause_for(acme, r->retry_after > 0 ? r->retry_after : 1)) {
			snprintf(err, err_size, "stopping");
			return -1;
		}
		np_acme_order_free(order);
		if (post(acme, url, NULL, r, err, err_size) < 0)
			return -1;
		if (r->status != 200 || np_acme_parse_order(r->body, r->len, order, why, sizeof(why)) < 0) {
			describe_failure(r, "order", err, err_size);
			return -1;
		}
	}
	snprintf(err, err_size, "the order stays %s", order->status);
	return -1;
}

/* The request body of newOrder: every name of the certificate. */
static char *order_payload(const struct cert *c)
{
	json_t *ids = json_array();
	for (size_t i = 0; ids && i < c->names.count; i++)
		json_array_append_new(ids, json_pack("{ssss}", "type", "dns", "value", c->names.items[i]));
	json_t *body = ids ? json_pack("{so}", "identifiers", ids) : NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

/* Installs a new context for the section: every current listener of
 * the section takes it for new handshakes; live sessions keep theirs. */
static void install(struct np_acme *acme, struct cert *c, struct np_tls_context *ctx,
		    const struct np_acme_cert_facts *facts)
{
	pthread_mutex_lock(&acme->lock);
	set_served(c, np_tls_context_ref(ctx), "issued", facts);
	c->failures = 0;
	c->last_error[0] = '\0';
	pthread_mutex_unlock(&acme->lock);
	np_server_install_tls(acme->server, c->tls->name, ctx);
	publish(acme);
}

/* One whole order for c: 0 when a certificate is installed. */
static int order(struct np_acme *acme, struct cert *c, char *err, size_t err_size)
{
	struct np_acme_response r = { .retry_after = -1 };
	struct np_acme_order o = { 0 };
	gnutls_privkey_t key = NULL;
	char *payload = NULL, *csr = NULL, *key_pem = NULL, why[512], order_url[NP_ACME_URL_MAX];
	size_t key_len = 0;
	int rc = -1;

	if (get_directory(acme, err, err_size) < 0 || ensure_account(acme, err, err_size) < 0)
		goto out;
	if (!(payload = order_payload(c))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	atomic_fetch_add(&acme->orders, 1);
	np_log(LOG_NOTICE, "acme: %s: ordering a certificate for %zu name%s", c->names.items[0], c->names.count,
	       c->names.count == 1 ? "" : "s");
	if (post(acme, acme->directory.new_order, payload, &r, err, err_size) < 0)
		goto out;
	if (r.status != 201 || np_acme_parse_order(r.body, r.len, &o, why, sizeof(why)) < 0 ||
	    strncmp(r.location, "https://", 8) != 0) {
		if (r.status == 201)
			snprintf(err, err_size, "newOrder: %s", r.location[0] ? why : "no order URL (Location)");
		else
			describe_failure(&r, "newOrder", err, err_size);
		goto out;
	}
	snprintf(order_url, sizeof(order_url), "%s", r.location);
	for (size_t i = 0; i < o.authz_count; i++)
		if (prove(acme, o.authorizations[i], err, err_size) < 0)
			goto out;
	if (order_until(acme, order_url, "ready", &o, &r, err, err_size) < 0)
		goto out;

	/* A new key for each certificate. */
	if (np_acme_key_generate(&key, err, err_size) < 0 || !(csr = np_acme_csr(key, &c->names, err, err_size)))
		goto out;
	free(payload);
	if (asprintf(&payload, "{\"csr\":\"%s\"}", csr) < 0) {
		payload = NULL;
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (post(acme, o.finalize, payload, &r, err, err_size) < 0)
		goto out;
	np_acme_order_free(&o);
	if (r.status != 200 || np_acme_parse_order(r.body, r.len, &o, why, sizeof(why)) < 0) {
		describe_failure(&r, "finalize", err, err_size);
		goto out;
	}
	if (order_until(acme, order_url, "valid", &o, &r, err, err_size) < 0)
		goto out;
	if (!o.certificate[0]) {
		snprintf(err, err_size, "the order is valid but names no certificate");
		goto out;
	}
	if (post(acme, o.certificate, NULL, &r, err, err_size) < 0)
		goto out;
	if (r.status != 200) {
		describe_failure(&r, "certificate", err, err_size);
		goto out;
	}
	if (!(key_pem = np_acme_key_export(key, &key_len, err, err_size)))
		goto out;
	struct np_acme_cert_facts facts;
	struct np_tls_context *ctx = context_of(c, r.body, r.len, key_pem, key_len, &facts, why, sizeof(why));
	if (!ctx) {
		snprintf(err, err_size, "the CA's certificate is refused: %s", why);
		goto out;
	}
	if (write_atomic(c->dir, "key.pem", key_pem, key_len, err, err_size) < 0 ||
	    write_atomic(c->dir, "cert.pem", r.body, r.len, err, err_size) < 0) {
		np_tls_context_unref(ctx);
		goto out;
	}
	install(acme, c, ctx, &facts);
	np_tls_context_unref(ctx);
	/* A renewBefore that makes a new certificate due at once must not
	 * turn into a stream of orders. */
	pthread_mutex_lock(&acme->lock);
	c->next_try = time(NULL) + MIN_REORDER_S;
	pthread_mutex_unlock(&acme->lock);
	char when[64];
	np_log(LOG_NOTICE, "acme: %s: certificate issued for", c->names.items[0]);
	for (size_t i = 0; i < c->names.count; i++)
		np_log(LOG_NOTICE, "acme:   %s", c->names.items[i]);
	np_log(LOG_NOTICE, "acme: %s: serial %s, expires %s; new handshakes on [%s] use it", c->names.items[0],
	       facts.serial, np_net_format_time(facts.not_after, when, sizeof(when)), c->tls->name);
	rc = 0;
out:
	if (rc < 0 && r.retry_after > 0) {
		pthread_mutex_lock(&acme->lock);
		c->next_try = time(NULL) + r.retry_after;
		pthread_mutex_unlock(&acme->lock);
	}
	if (key_pem)
		gnutls_memset(key_pem, 0, key_len);
	free(key_pem);
	free(csr);
	free(payload);
	gnutls_privkey_deinit(key);
	np_acme_order_free(&o);
	np_acme_response_clear(&r);
	return rc;
}

/* What another instance stored for c (or this one before a restart):
 * installed when it is good and not what is served already.  1 when
 * it was installed, 0 when not. */
static int pick_up(struct np_acme *acme, struct cert *c)
{
	char err[512], when[64];
	struct timespec mtime = cert_mtime(c);
	struct np_acme_cert_facts facts;
	bool missing;
	struct np_tls_context *ctx = load_stored(c, &facts, &missing, err, sizeof(err));
	pthread_mutex_lock(&acme->lock);
	c->seen_mtime = mtime;
	bool fresh = ctx && strcmp(facts.serial, c->serial) != 0 && facts.not_after >= c->not_after;
	pthread_mutex_unlock(&acme->lock);
	if (!fresh) {
		np_tls_context_unref(ctx);
		return 0;
	}
	pthread_mutex_lock(&acme->lock);
	set_served(c, np_tls_context_ref(ctx), "stored", &facts);
	c->failures = 0;
	c->last_error[0] = '\0';
	pthread_mutex_unlock(&acme->lock);
	np_server_install_tls(acme->server, c->tls->name, ctx);
	np_tls_context_unref(ctx);
	publish(acme);
	np_log(LOG_NOTICE, "acme: %s: picked up the certificate stored in %s (serial %s, expires %s); new handshakes on "
	       "[%s] use it", c->names.items[0], c->dir, facts.serial, np_net_format_time(facts.not_after, when, sizeof(when)),
	       c->tls->name);
	return 1;
}

/* Under the order lock, or told another instance holds it: 0 when a
 * certificate was installed, 1 when there was nothing to do now, -1
 * with err. */
static int order_shared(struct np_acme *acme, struct cert *c, bool forced, char *err, size_t err_size)
{
	int lock = take_lock(acme, c, err, err_size);
	if (lock < 0)
		return -1;
	if (lock == 1) {
		np_log(LOG_INFO, "acme: %s: another instance is ordering (%s); its result is picked up here",
		       c->names.items[0], acme->lock_path);
		pthread_mutex_lock(&acme->lock);
		c->next_try = time(NULL) + LOCK_BUSY_RETRY_S;
		pthread_mutex_unlock(&acme->lock);
		return 1;
	}
	/* Another instance may have just finished: its result, unless an
	 * operator asked for a new one. */
	int rc;
	pthread_mutex_lock(&acme->lock);
	time_t now = time(NULL);
	pthread_mutex_unlock(&acme->lock);
	if (!forced && pick_up(acme, c) == 1) {
		pthread_mutex_lock(&acme->lock);
		bool still_due = now >= renew_at(acme, c);
		pthread_mutex_unlock(&acme->lock);
		if (!still_due) {
			release_lock(acme);
			return 1;
		}
	}
	rc = order(acme, c, err, err_size);
	if (rc == 0) {
		pthread_mutex_lock(&acme->lock);
		c->seen_mtime = cert_mtime(c);
		pthread_mutex_unlock(&acme->lock);
	}
	release_lock(acme);
	return rc;
}

/* Every WATCH_S: a cert.pem changed by another instance is taken in. */
static void watch(struct np_acme *acme)
{
	for (size_t i = 0; i < acme->count; i++) {
		struct cert *c = &acme->certs[i];
		struct timespec now = cert_mtime(c);
		pthread_mutex_lock(&acme->lock);
		bool changed = now.tv_sec != c->seen_mtime.tv_sec || now.tv_nsec != c->seen_mtime.tv_nsec;
		pthread_mutex_unlock(&acme->lock);
		if (changed && now.tv_sec)
			pick_up(acme, c);
	}
}

/* --- the worker ------------------------------------------------------------------ */

/* Under the lock: whether c needs an order now. */
static bool due(const struct np_acme *acme, const struct cert *c, time_t now)
{
	if (c->next_try > now)
		return false;
	if (c->renew_asked || (strcmp(c->source, "issued") != 0 && strcmp(c->source, "stored") != 0))
		return true;
	return now >= renew_at(acme, c);
}

static void *worker_main(void *arg)
{
	struct np_acme *acme = arg;
	char err[1024];
	pthread_setname_np(pthread_self(), "acme");
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (;;) {
		pthread_mutex_lock(&acme->lock);
		if (acme->stop) {
			pthread_mutex_unlock(&acme->lock);
			break;
		}
		time_t now = time(NULL), next = now + CHECK_EVERY_S + (time_t)(rand_r(&seed) % 600);
		if (next > now + WATCH_S)
			next = now + WATCH_S;
		struct cert *todo = NULL;
		for (size_t i = 0; i < acme->count; i++) {
			struct cert *c = &acme->certs[i];
			if (!todo && due(acme, c, now))
				todo = c;
			time_t at = c->next_try > now ? c->next_try : strcmp(c->source, "issued") == 0 ||
				     strcmp(c->source, "stored") == 0 ? renew_at(acme, c) : now;
			if (at < next)
				next = at;
		}
		if (!todo) {
			struct timespec until = { .tv_sec = next > now ? next : now + 1 };
			pthread_cond_timedwait(&acme->wake, &acme->lock, &until);
			bool stop = acme->stop;
			pthread_mutex_unlock(&acme->lock);
			if (!stop)
				watch(acme);
			continue;
		}
		bool forced = todo->renew_asked;
		todo->renew_asked = false;
		pthread_mutex_unlock(&acme->lock);

		if (order_shared(acme, todo, forced, err, sizeof(err)) >= 0)
			continue;
		pthread_mutex_lock(&acme->lock);
		bool stopping = acme->stop;
		todo->failures++;
		long backoff = BACKOFF_MIN_S;
		for (int i = 1; i < todo->failures && backoff < BACKOFF_MAX_S; i++)
			backoff *= 2;
		if (backoff > BACKOFF_MAX_S)
			backoff = BACKOFF_MAX_S;
		time_t retry = time(NULL) + backoff;
		if (todo->next_try < retry)
			todo->next_try = retry;
		snprintf(todo->last_error, sizeof(todo->last_error), "%.*s", (int)sizeof(todo->last_error) - 1, err);
		time_t left = todo->not_after - time(NULL);
		int failures = todo->failures;
		long wait = (long)(todo->next_try - time(NULL));
		pthread_mutex_unlock(&acme->lock);
		if (stopping) {
			np_log(LOG_NOTICE, "acme: %s: the order is left unfinished: %s", todo->names.items[0], err);
			break;
		}
		publish(acme);
		/* A problem may leave the nonce or the directory stale. */
		acme->nonce[0] = '\0';
		acme->have_directory = false;
		np_log(LOG_ERR, "acme: %s: no certificate this time (failure %d): %s; next try in %lds; the "
		       "certificate in force stays", todo->names.items[0], failures, err, wait);
		if (todo->not_after && left < 7 * 86400)
			np_log(LOG_WARNING, "acme: %s: the certificate served expires in %ld hours and renewal keeps failing",
			       todo->names.items[0], (long)(left / 3600));
	}
	return NULL;
}

int np_acme_start(struct np_acme *acme)
{
	if (!acme)
		return 0;
	char err[256];
	acme->http = np_acme_http_new(acme->conf->ca_file, &acme->stopping, err, sizeof(err));
	if (!acme->http) {
		np_log(LOG_ERR, "acme: %s", err);
		return -1;
	}
	int rc = pthread_create(&acme->thread, NULL, worker_main, acme);
	if (rc) {
		np_log(LOG_ERR, "acme: cannot start the worker thread: %s", strerror(rc));
		return -1;
	}
	acme->running = true;
	return 0;
}

void np_acme_stop(struct np_acme *acme)
{
	if (!acme || !acme->running)
		return;
	pthread_mutex_lock(&acme->lock);
	acme->stop = true;
	atomic_store(&acme->stopping, true);
	pthread_cond_broadcast(&acme->wake);
	pthread_mutex_unlock(&acme->lock);
	pthread_join(acme->thread, NULL);
	acme->running = false;
}

void np_acme_free(struct np_acme *acme)
{
	if (!acme)
		return;
	np_acme_stop(acme);
	for (size_t i = 0; acme->certs && i < acme->count; i++) {
		np_tls_context_unref(acme->certs[i].ctx);
		free(acme->certs[i].names.items);
	}
	if (acme->certs && acme->certs[acme->count].names.items)
		free(acme->certs[acme->count].names.items);
	free(acme->certs);
	gnutls_privkey_deinit(acme->account_key);
	np_acme_http_free(acme->http);
	np_config_unref(acme->config);
	pthread_cond_destroy(&acme->wake);
	pthread_mutex_destroy(&acme->lock);
	free(acme);
}

void np_acme_status(struct np_acme *acme, FILE *out)
{
	fprintf(out, "# name names source serial expires renew_at failures next_try last_error\n");
	if (!acme)
		return;
	pthread_mutex_lock(&acme->lock);
	for (size_t i = 0; i < acme->count; i++) {
		const struct cert *c = &acme->certs[i];
		char expires[64] = "-", renew[64] = "-", next[64] = "-";
		bool dated = c->not_after != 0;
		if (dated) {
			np_net_format_time(c->not_after, expires, sizeof(expires));
			np_net_format_time(renew_at(acme, c), renew, sizeof(renew));
		}
		if (c->next_try && c->failures)
			np_net_format_time(c->next_try, next, sizeof(next));
		char error[512];
		snprintf(error, sizeof(error), "%s", c->last_error[0] ? c->last_error : "-");
		for (char *p = error; *p; p++)
			if (*p == ' ' || (unsigned char)*p < 0x20)
				*p = '_';
		fprintf(out, "%s ", c->names.items[0]);
		for (size_t j = 0; j < c->names.count; j++)
			fprintf(out, "%s%s", j ? "," : "", c->names.items[j]);
		fprintf(out, " %s %s %s %s %d %s %s\n", c->source, c->serial[0] ? c->serial : "-", expires, renew,
			c->failures, next, error);
	}
	pthread_mutex_unlock(&acme->lock);
}

int np_acme_renew(struct np_acme *acme, const char *name)
{
	int n = 0;
	if (!acme)
		return 0;
	pthread_mutex_lock(&acme->lock);
	for (size_t i = 0; i < acme->count; i++) {
		struct cert *c = &acme->certs[i];
		if (name && !listed(&c->names, name))
			continue;
		c->renew_asked = true;
		c->next_try = 0;
		n++;
	}
	pthread_cond_broadcast(&acme->wake);
	pthread_mutex_unlock(&acme->lock);
	return n;
}

void np_acme_check(const struct np_config *config, FILE *out)
{
	if (!config->acme_used)
		return;
	for (size_t t = 0; t < config->tls_count; t++) {
		struct np_string_list names = { NULL, 0 };
		if (section_names(config, &config->tls[t], &names) < 0 || !names.count) {
			free(names.items);
			continue;
		}
		char path[4200], when[64], due_at[64], err[256];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s/cert.pem", config->acme.state_directory, names.items[0]);
		char *pem = read_file(path, &len);
		struct np_acme_cert_facts f;
		if (!pem) {
			fprintf(out, "%s: [%s] %s: no certificate stored yet (%s): one is ordered at start\n", config->path,
				config->tls[t].name, names.items[0], strerror(errno));
		} else if (np_acme_cert_facts(pem, len, NULL, &names, &f, err, sizeof(err)) < 0) {
			fprintf(out, "%s: warning: [%s] %s: %s is not usable (%s): a new one is ordered at start\n",
				config->path, config->tls[t].name, names.items[0], path, err);
		} else {
			double life = difftime(f.not_after, f.not_before);
			time_t due = f.not_after - (time_t)(life * config->acme.renew_before);
			fprintf(out, "%s: [%s] %s: issued certificate, serial %s, expires %s, renewal due %s%s%s\n",
				config->path, config->tls[t].name, names.items[0], f.serial,
				np_net_format_time(f.not_after, when, sizeof(when)), np_net_format_time(due, due_at, sizeof(due_at)),
				f.missing ? "; it does not cover " : "", f.missing ? f.missing : "");
		}
		free(pem);
		free(names.items);
	}
}
