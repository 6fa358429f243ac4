/* SPDX-License-Identifier: ISC */
/*
 * tls.c - TLS per port with GnuTLS (the Java NetPhantomJSSEServerSocket):
 * one context per TLS section holds the credentials (PEM pairs chosen by
 * SNI, or a PKCS#12 keystore), the CA and CRL for client certificates,
 * the priority cache and the session-ticket master key.  A context is
 * immutable and reference counted: SIGHUP builds a new one and sessions
 * that began on the old one finish on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"
#include "tls_internal.h"

/* TLS 1.2 and 1.3 only, AEAD ciphers only, forward secrecy only (ECDHE;
 * TLS 1.3 has nothing else), the server's order, safe renegotiation.
 * X25519 leads the groups: in the server's order, a TLS 1.3 client that
 * sent a key share for X25519 only (OpenSSL, browsers, the JDK) would
 * otherwise be asked for SECP256R1 by a HelloRetryRequest, one more
 * round trip and key generation on every new connection. */
#define SECURE_BASE "NORMAL:-VERS-ALL:%s:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:" \
		    "+AES-128-CCM:+AES-256-CCM:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
		    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-X448:" \
		    "+GROUP-SECP521R1:+GROUP-FFDHE2048:+GROUP-FFDHE3072:+GROUP-FFDHE4096:" \
		    "+GROUP-FFDHE6144:+GROUP-FFDHE8192:" \
		    "%%SERVER_PRECEDENCE:%%SAFE_RENEGOTIATION"

#define EXPIRY_WARNING_DAYS 30

int np_tls_global_init(char *err, size_t err_size)
{
	if (!gnutls_check_version("3.6.5")) {
		snprintf(err, err_size, "GnuTLS %s is older than 3.6.5", gnutls_check_version(NULL));
		return -1;
	}
	int rc = gnutls_global_init();
	if (rc < 0) {
		snprintf(err, err_size, "GnuTLS initialisation: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

void np_tls_global_deinit(void)
{
	gnutls_global_deinit();
}

/* Says why a file cannot be used before GnuTLS says it less clearly. */
/* Certificates, keys, CA and CRL files are read whole by GnuTLS: a
 * FIFO would never end and /dev/zero would fill memory, so each must be
 * a regular file of at most this size. */
#define TLS_FILE_MAX (4 << 20)

static int check_readable(const char *what, const char *path, char *err, size_t err_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_size, "%s %s: %s", what, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s %s: %s", what, path,
			 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		return -1;
	}
	if (st.st_size > TLS_FILE_MAX) {
		snprintf(err, err_size, "%s %s: %lld bytes, more than a certificate file may hold (%d)", what, path,
			 (long long)st.st_size, TLS_FILE_MAX);
		return -1;
	}
	return 0;
}

static bool is_jks(const char *path)
{
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool jks = read(fd, magic, 4) == 4 && magic[0] == 0xfe && magic[1] == 0xed && magic[2] == 0xfe &&
		   magic[3] == 0xed;
	close(fd);
	return jks;
}

static int load_key_store(gnutls_certificate_credentials_t cred, const struct np_tls_conf *conf,
			  char *err, size_t err_size)
{
	const char *path = conf->key_store;
	if (check_readable("keyStore", path, err, err_size) < 0)
		return -1;
	if (is_jks(path)) {
		snprintf(err, err_size,
			 "keyStore %s is a Java KeyStore (JKS); convert it to PKCS#12: "
			 "keytool -importkeystore -srckeystore %s -destkeystore %s.p12 -deststoretype PKCS12",
			 path, path, path);
		return -1;
	}
	int rc = gnutls_certificate_set_x509_simple_pkcs12_file(cred, path, GNUTLS_X509_FMT_DER,
								 conf->key_store_password ? conf->key_store_password : "");
	if (rc == GNUTLS_E_MAC_VERIFY_FAILED || rc == GNUTLS_E_DECRYPTION_FAILED) {
		snprintf(err, err_size, "keyStore %s: wrong keyStorePassword (%s)", path, gnutls_strerror(rc));
		return -1;
	}
	if (rc < 0) {
		snprintf(err, err_size, "keyStore %s: not a usable PKCS#12 keystore: %s", path, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

static int load_pairs(gnutls_certificate_credentials_t cred, const struct np_tls_conf *conf,
		      char *err, size_t err_size)
{
	for (size_t i = 0; i < conf->cert_files.count; i++) {
		const char *cert = conf->cert_files.items[i], *key = conf->key_files.items[i];
		if (check_readable("certFile", cert, err, err_size) < 0 ||
		    check_readable("keyFile", key, err, err_size) < 0)
			return -1;
		int rc = gnutls_certificate_set_x509_key_file2(cred, cert, key, GNUTLS_X509_FMT_PEM,
							       conf->key_password, 0);
		if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
			snprintf(err, err_size, "keyFile %s does not match certFile %s", key, cert);
			return -1;
		}
		if (rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_PK_DECRYPTION_FAILED) {
			snprintf(err, err_size, "keyFile %s: %s (keyPassword)", key,
				 conf->key_password ? "wrong password" : "encrypted, and no keyPassword given");
			return -1;
		}
		if (rc < 0) {
			snprintf(err, err_size, "certFile %s / keyFile %s: %s", cert, key, gnutls_strerror(rc));
			return -1;
		}
	}
	return 0;
}

static int build_priority(gnutls_priority_t *priority, const struct np_tls_conf *conf,
			  char *err, size_t err_size)
{
	char text[512];
	const char *err_pos = NULL;
	if (conf->priority) {
		snprintf(text, sizeof(text), "%s", conf->priority);
	} else {
		bool v12 = !conf->protocols || strstr(conf->protocols, "TLSv1.2");
		bool v13 = !conf->protocols || strstr(conf->protocols, "TLSv1.3");
		char versions[64];
		snprintf(versions, sizeof(versions), "%s%s%s", v13 ? "+VERS-TLS1.3" : "",
			 v12 && v13 ? ":" : "", v12 ? "+VERS-TLS1.2" : "");
		snprintf(text, sizeof(text), SECURE_BASE, versions);
	}
	int rc = gnutls_priority_init2(priority, text, &err_pos, 0);
	if (rc < 0) {
		snprintf(err, err_size, "priority \"%s\": %s near \"%s\"", text, gnutls_strerror(rc),
			 err_pos ? err_pos : "");
		return -1;
	}
	return 0;
}

struct np_tls_context *np_tls_context_new(const struct np_tls_conf *conf, char *err, size_t err_size)
{
	return np_tls_context_new_with(conf, NULL, err, err_size);
}

/* The pair ACME issued (or made), from memory. */
static int load_pem_pair(gnutls_certificate_credentials_t cred, const struct np_tls_pem *pem, char *err, size_t err_size)
{
	gnutls_datum_t cert = { (unsigned char *)pem->cert, (unsigned)pem->cert_len };
	gnutls_datum_t key = { (unsigned char *)pem->key, (unsigned)pem->key_len };
	int rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(err, err_size, "%s: %s", pem->what, rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
			 ? "the key does not match the certificate" : gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

struct np_tls_context *np_tls_context_new_with(const struct np_tls_conf *conf, const struct np_tls_pem *pem,
					       char *err, size_t err_size)
{
	struct np_tls_context *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	ctx->client_auth = conf->client_auth;
	ctx->tickets = conf->session_tickets;
	int rc = gnutls_certificate_allocate_credentials(&ctx->cred);
	if (rc < 0) {
		snprintf(err, err_size, "cannot allocate credentials: %s", gnutls_strerror(rc));
		free(ctx);
		return NULL;
	}
	if ((pem ? load_pem_pair(ctx->cred, pem, err, err_size)
		 : conf->key_store ? load_key_store(ctx->cred, conf, err, err_size)
				   : load_pairs(ctx->cred, conf, err, err_size)) < 0)
		goto fail;
	if (conf->ca_file) {
		if (check_readable("caFile", conf->ca_file, err, err_size) < 0)
			goto fail;
		rc = gnutls_certificate_set_x509_trust_file(ctx->cred, conf->ca_file, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			snprintf(err, err_size, "caFile %s: %s", conf->ca_file,
				 rc == 0 ? "no certificate in it" : gnutls_strerror(rc));
			goto fail;
		}
	}
	if (conf->crl_file) {
		if (check_readable("crlFile", conf->crl_file, err, err_size) < 0)
			goto fail;
		rc = gnutls_certificate_set_x509_crl_file(ctx->cred, conf->crl_file, GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			snprintf(err, err_size, "crlFile %s: %s", conf->crl_file, gnutls_strerror(rc));
			goto fail;
		}
	}
	if (build_priority(&ctx->priority, conf, err, err_size) < 0)
		goto fail;
	/* The master key of session tickets.  GnuTLS derives the keys that
	 * encrypt tickets from it and rotates them by itself (TOTP-style,
	 * RFC 5077 keys valid for a bounded period), so a ticket cannot be
	 * decrypted forever; a reload starts from a fresh master key. */
	if (ctx->tickets && (rc = gnutls_session_ticket_key_generate(&ctx->ticket_key)) < 0) {
		snprintf(err, err_size, "cannot make a session ticket key: %s", gnutls_strerror(rc));
		goto fail;
	}
	return ctx;
fail:
	np_tls_context_unref(ctx);
	return NULL;
}

struct np_tls_context *np_tls_context_ref(struct np_tls_context *ctx)
{
	if (ctx)
		atomic_fetch_add(&ctx->refs, 1);
	return ctx;
}

void np_tls_context_unref(struct np_tls_context *ctx)
{
	if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	if (ctx->priority)
		gnutls_priority_deinit(ctx->priority);
	if (ctx->cred)
		gnutls_certificate_free_credentials(ctx->cred);
	if (ctx->ticket_key.data) {
		gnutls_memset(ctx->ticket_key.data, 0, ctx->ticket_key.size);
		gnutls_free(ctx->ticket_key.data);
	}
	free(ctx);
}

void np_tls_context_foreach_cert(struct np_tls_context *ctx, void (*fn)(const char *subject, time_t not_after, void *arg),
				 void *arg)
{
	for (unsigned i = 0;; i++) {
		gnutls_datum_t raw;
		gnutls_x509_crt_t crt;
		if (gnutls_certificate_get_crt_raw(ctx->cred, i, 0, &raw) < 0)
			break;
		if (gnutls_x509_crt_init(&crt) < 0)
			break;
		if (gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_DER) == 0) {
			gnutls_datum_t dn = { NULL, 0 };
			if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0)
				dn.data = NULL;
			fn(dn.data ? (const char *)dn.data : "?", gnutls_x509_crt_get_expiration_time(crt), arg);
			gnutls_free(dn.data);
		}
		gnutls_x509_crt_deinit(crt);
	}
}

struct date_check {
	const struct np_tls_conf *conf;
	FILE *out;
	unsigned n;
	int errors;
};

static void check_date(const char *subject, time_t expires, void *arg)
{
	struct date_check *c = arg;
	time_t now = time(NULL);
	char when[32];
	struct tm tm;
	gmtime_r(&expires, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	c->n++;
	if (expires < now) {
		fprintf(c->out, "[%s]: certificate %u (%s) expired on %s\n", c->conf->name, c->n, subject, when);
		c->errors++;
	} else if (expires < now + EXPIRY_WARNING_DAYS * 86400) {
		fprintf(c->out, "[%s]: warning: certificate %u (%s) expires on %s, within %d days\n", c->conf->name, c->n,
			subject, when, EXPIRY_WARNING_DAYS);
	}
}

/* Each loaded certificate's validity, for -t. */
static int check_dates(const struct np_tls_conf *conf, struct np_tls_context *ctx, FILE *out)
{
	struct date_check c = { .conf = conf, .out = out };
	np_tls_context_foreach_cert(ctx, check_date, &c);
	return c.errors;
}

bool np_tls_key_exposed(const struct np_tls_conf *conf, char *msg, size_t msg_size)
{
	struct stat st;
	const char *path = conf->key_store;
	for (size_t i = 0; !path && i < conf->key_files.count; i++)
		if (stat(conf->key_files.items[i], &st) == 0 && (st.st_mode & S_IROTH))
			path = conf->key_files.items[i];
	if (!path || stat(path, &st) < 0 || !(st.st_mode & S_IROTH))
		return false;
	snprintf(msg, msg_size, "private key %s is readable by every user (mode %04o); chmod o-r it",
		 path, (unsigned)(st.st_mode & 07777));
	return true;
}

int np_tls_check(const struct np_tls_conf *conf, FILE *out)
{
	char exposed[512];
	if (np_tls_key_exposed(conf, exposed, sizeof(exposed)))
		fprintf(out, "[%s]: warning: %s\n", conf->name, exposed);
	char err[512];
	struct np_tls_context *ctx = np_tls_context_new(conf, err, sizeof(err));
	if (!ctx) {
		fprintf(out, "[%s]: %s\n", conf->name, err);
		return 1;
	}
	int errors = check_dates(conf, ctx, out);
	np_tls_context_unref(ctx);
	return errors;
}
