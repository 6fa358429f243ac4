/* SPDX-License-Identifier: ISC */
/*
 * acme_crypto.c - keys, JWS, CSRs and certificates for ACME
 * (acme_crypto.h), all through GnuTLS: its key generation, signing,
 * base64, hashes, DER decoding of signatures and X.509 builders.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_crypto.h"

/* id-pe-acmeIdentifier (RFC 8737 §6.1). */
#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"
#define P256_COORD 32

char *np_b64url(const void *data, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)data, (unsigned)len }, out = { NULL, 0 };
	if (len == 0)
		return strdup("");
	if (gnutls_base64_encode2(&in, &out) < 0)
		return NULL;
	char *text = malloc(out.size + 1);
	size_t n = 0;
	for (unsigned i = 0; text && i < out.size; i++) {
		char c = (char)out.data[i];
		if (c == '=' || c == '\n' || c == '\r')
			continue;
		text[n++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	if (text)
		text[n] = '\0';
	gnutls_free(out.data);
	return text;
}

int np_acme_key_generate(gnutls_privkey_t *out, char *err, size_t err_size)
{
	int rc = gnutls_privkey_init(out);
	if (rc == 0)
		rc = gnutls_privkey_generate2(*out, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
					      NULL, 0);
	if (rc < 0) {
		snprintf(err, err_size, "cannot make a P-256 key: %s", gnutls_strerror(rc));
		gnutls_privkey_deinit(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int np_acme_key_import(const char *pem, size_t len, gnutls_privkey_t *out, char *err, size_t err_size)
{
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	int rc = gnutls_privkey_init(out);
	if (rc == 0)
		rc = gnutls_privkey_import_x509_raw(*out, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc == 0 && gnutls_privkey_get_pk_algorithm(*out, NULL) != GNUTLS_PK_ECDSA)
		rc = GNUTLS_E_UNKNOWN_PK_ALGORITHM;
	if (rc < 0) {
		snprintf(err, err_size, "not a P-256 key: %s", gnutls_strerror(rc));
		gnutls_privkey_deinit(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

char *np_acme_key_export(gnutls_privkey_t key, size_t *len, char *err, size_t err_size)
{
	gnutls_x509_privkey_t x509 = NULL;
	gnutls_datum_t out = { NULL, 0 };
	int rc = gnutls_privkey_export_x509(key, &x509);
	if (rc == 0)
		rc = gnutls_x509_privkey_export2(x509, GNUTLS_X509_FMT_PEM, &out);
	gnutls_x509_privkey_deinit(x509);
	if (rc < 0) {
		snprintf(err, err_size, "cannot export the key: %s", gnutls_strerror(rc));
		return NULL;
	}
	char *pem = malloc(out.size + 1);
	if (pem) {
		memcpy(pem, out.data, out.size);
		pem[out.size] = '\0';
		*len = out.size;
	} else {
		snprintf(err, err_size, "out of memory");
	}
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return pem;
}

/* A coordinate left-padded to 32 bytes, base64url. */
static char *coordinate(const gnutls_datum_t *d)
{
	unsigned char buf[P256_COORD] = { 0 };
	const unsigned char *p = d->data;
	size_t n = d->size;
	while (n > P256_COORD && *p == 0)
		p++, n--;
	if (n > P256_COORD)
		return NULL;
	memcpy(buf + P256_COORD - n, p, n);
	return np_b64url(buf, sizeof(buf));
}

int np_acme_jwk(gnutls_privkey_t key, char out[NP_ACME_JWK_MAX])
{
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
	if (gnutls_privkey_export_ecc_raw2(key, &curve, &x, &y, NULL, 0) < 0)
		return -1;
	char *bx = curve == GNUTLS_ECC_CURVE_SECP256R1 ? coordinate(&x) : NULL;
	char *by = bx ? coordinate(&y) : NULL;
	int n = by ? snprintf(out, NP_ACME_JWK_MAX, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", bx, by)
		   : -1;
	free(bx);
	free(by);
	gnutls_free(x.data);
	gnutls_free(y.data);
	return n > 0 && n < NP_ACME_JWK_MAX ? 0 : -1;
}

int np_acme_thumbprint(const char *jwk, char out[NP_ACME_THUMBPRINT_MAX])
{
	unsigned char digest[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, jwk, strlen(jwk), digest) < 0)
		return -1;
	char *b = np_b64url(digest, sizeof(digest));
	if (!b)
		return -1;
	snprintf(out, NP_ACME_THUMBPRINT_MAX, "%s", b);
	free(b);
	return 0;
}

int np_acme_ecdsa_raw(const unsigned char *der, size_t der_len, unsigned char *out, size_t size)
{
	gnutls_datum_t sig = { (unsigned char *)der, (unsigned)der_len }, r = { NULL, 0 }, s = { NULL, 0 };
	if (gnutls_decode_rs_value(&sig, &r, &s) < 0)
		return -1;
	int rc = 0;
	const gnutls_datum_t *parts[2] = { &r, &s };
	memset(out, 0, 2 * size);
	for (int i = 0; i < 2 && rc == 0; i++) {
		const unsigned char *p = parts[i]->data;
		size_t n = parts[i]->size;
		while (n > size && *p == 0)
			p++, n--;
		if (n > size)
			rc = -1;
		else
			memcpy(out + (size_t)i * size + size - n, p, n);
	}
	gnutls_free(r.data);
	gnutls_free(s.data);
	return rc;
}

/* A JSON string's body: the few values ACME signs (URLs, nonces) need no
 * escape but these. */
static bool json_safe(const char *s)
{
	for (; s && *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

char *np_acme_jws(gnutls_privkey_t key, const char *jwk, const char *kid, const char *nonce, const char *url,
		  const char *payload, char *err, size_t err_size)
{
	if (!json_safe(kid) || !json_safe(nonce) || !json_safe(url)) {
		snprintf(err, err_size, "a URL or nonce from the CA that cannot be signed as is");
		return NULL;
	}
	char *header = NULL, *prot = NULL, *body = NULL, *input = NULL, *sig64 = NULL, *jws = NULL;
	gnutls_datum_t sig = { NULL, 0 };
	if (asprintf(&header, "{\"alg\":\"ES256\",%s%s%s,\"nonce\":\"%s\",\"url\":\"%s\"}", kid ? "\"kid\":\"" : "\"jwk\":",
		     kid ? kid : jwk, kid ? "\"" : "", nonce, url) < 0) {
		header = NULL;
		goto oom;
	}
	prot = np_b64url(header, strlen(header));
	body = np_b64url(payload ? payload : "", payload ? strlen(payload) : 0);
	if (!prot || !body || asprintf(&input, "%s.%s", prot, body) < 0) {
		input = NULL;
		goto oom;
	}
	gnutls_datum_t data = { (unsigned char *)input, (unsigned)strlen(input) };
	int rc = gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &data, &sig);
	unsigned char raw[2 * P256_COORD];
	if (rc < 0 || np_acme_ecdsa_raw(sig.data, sig.size, raw, P256_COORD) < 0) {
		snprintf(err, err_size, "cannot sign: %s", rc < 0 ? gnutls_strerror(rc) : "an unexpected signature");
		goto out;
	}
	sig64 = np_b64url(raw, sizeof(raw));
	if (!sig64 || asprintf(&jws, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", prot, body,
			       sig64) < 0) {
		jws = NULL;
		goto oom;
	}
	goto out;
oom:
	snprintf(err, err_size, "out of memory");
out:
	gnutls_free(sig.data);
	free(header);
	free(prot);
	free(body);
	free(input);
	free(sig64);
	return jws;
}

/* The public half of key, for a certificate or a request. */
static int public_of(gnutls_privkey_t key, gnutls_pubkey_t *pub)
{
	int rc = gnutls_pubkey_init(pub);
	if (rc == 0)
		rc = gnutls_pubkey_import_privkey(*pub, key, 0, 0);
	return rc;
}

char *np_acme_csr(gnutls_privkey_t key, const struct np_string_list *names, char *err, size_t err_size)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 };
	char *out = NULL;
	int rc = gnutls_x509_crq_init(&crq);
	if (rc == 0)
		rc = public_of(key, &pub);
	if (rc == 0)
		rc = gnutls_x509_crq_set_version(crq, 1);
	if (rc == 0 && names->count)
		rc = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, names->items[0],
						   (unsigned)strlen(names->items[0]));
	for (size_t i = 0; rc == 0 && i < names->count; i++)
		rc = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, names->items[i],
							  (unsigned)strlen(names->items[i]), GNUTLS_FSAN_APPEND);
	if (rc == 0)
		rc = gnutls_x509_crq_set_pubkey(crq, pub);
	if (rc == 0)
		rc = gnutls_x509_crq_privkey_sign(crq, key, GNUTLS_DIG_SHA256, 0);
	if (rc == 0)
		rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der);
	if (rc < 0)
		snprintf(err, err_size, "cannot make the certificate request: %s", gnutls_strerror(rc));
	else if (!(out = np_b64url(der.data, der.size)))
		snprintf(err, err_size, "out of memory");
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	return out;
}

/* The DER of an OCTET STRING holding 32 bytes (the acmeIdentifier). */
static void octet_string32(const unsigned char digest[32], unsigned char out[34])
{
	out[0] = 0x04;
	out[1] = 32;
	memcpy(out + 2, digest, 32);
}

char *np_acme_self_signed(gnutls_privkey_t key, const char *const *names, size_t count, int days,
			  const char *key_authorization, size_t *len, char *err, size_t err_size)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char serial[16];
	char *out = NULL;
	time_t now = time(NULL);
	int rc = gnutls_x509_crt_init(&crt);
	if (rc == 0)
		rc = public_of(key, &pub);
	if (rc == 0)
		rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f; /* a positive INTEGER */
	if (rc == 0)
		rc = gnutls_x509_crt_set_version(crt, 3);
	if (rc == 0)
		rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	if (rc == 0)
		rc = gnutls_x509_crt_set_activation_time(crt, now - 3600);
	if (rc == 0)
		rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
	if (rc == 0 && count)
		rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, names[0],
						   (unsigned)strlen(names[0]));
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i], (unsigned)strlen(names[i]),
							  GNUTLS_FSAN_APPEND);
	if (rc == 0)
		rc = gnutls_x509_crt_set_pubkey(crt, pub);
	if (rc == 0)
		rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	if (rc == 0)
		rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc == 0 && key_authorization) {
		unsigned char digest[32], ext[34];
		rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authorization, strlen(key_authorization), digest);
		octet_string32(digest, ext);
		if (rc == 0)
			rc = gnutls_x509_crt_set_extension_by_oid(crt, ACME_IDENTIFIER_OID, ext, sizeof(ext), 1);
	}
	if (rc == 0)
		rc = gnutls_x509_crt_privkey_sign(crt, crt, key, GNUTLS_DIG_SHA256, 0);
	if (rc == 0)
		rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
	if (rc < 0) {
		snprintf(err, err_size, "cannot make a self-signed certificate: %s", gnutls_strerror(rc));
	} else if ((out = malloc(pem.size + 1))) {
		memcpy(out, pem.data, pem.size);
		out[pem.size] = '\0';
		*len = pem.size;
	} else {
		snprintf(err, err_size, "out of memory");
	}
	gnutls_free(pem.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return out;
}

int np_acme_cert_facts(const char *pem, size_t len, gnutls_privkey_t key, const struct np_string_list *names,
		       struct np_acme_cert_facts *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	gnutls_x509_crt_t *chain = NULL;
	unsigned count = 0;
	int rc = gnutls_x509_crt_list_import2(&chain, &count, &d, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || count == 0) {
		snprintf(err, err_size, "not a PEM certificate chain: %s", rc < 0 ? gnutls_strerror(rc) : "empty");
		if (rc >= 0)
			gnutls_free(chain);
		return -1;
	}
	gnutls_x509_crt_t leaf = chain[0];
	out->chain_length = count;
	out->not_before = gnutls_x509_crt_get_activation_time(leaf);
	out->not_after = gnutls_x509_crt_get_expiration_time(leaf);
	unsigned char serial[40];
	size_t serial_len = sizeof(serial);
	if (gnutls_x509_crt_get_serial(leaf, serial, &serial_len) == 0)
		for (size_t i = 0; i < serial_len && 2 * i + 2 < sizeof(out->serial); i++)
			snprintf(out->serial + 2 * i, 3, "%02x", serial[i]);
	if (key) {
		gnutls_pubkey_t mine = NULL, theirs = NULL;
		unsigned char a[64], b[64];
		size_t la = sizeof(a), lb = sizeof(b);
		out->key_matches = public_of(key, &mine) == 0 && gnutls_pubkey_init(&theirs) == 0 &&
				   gnutls_pubkey_import_x509(theirs, leaf, 0) == 0 &&
				   gnutls_pubkey_get_key_id(mine, GNUTLS_KEYID_USE_SHA256, a, &la) == 0 &&
				   gnutls_pubkey_get_key_id(theirs, GNUTLS_KEYID_USE_SHA256, b, &lb) == 0 && la == lb &&
				   memcmp(a, b, la) == 0;
		gnutls_pubkey_deinit(mine);
		gnutls_pubkey_deinit(theirs);
	}
	for (size_t i = 0; names && i < names->count && !out->missing; i++)
		if (!gnutls_x509_crt_check_hostname2(leaf, names->items[i], GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS))
			out->missing = names->items[i];
	for (unsigned i = 0; i < count; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);
	return 0;
}
