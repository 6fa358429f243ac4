/* SPDX-License-Identifier: ISC */
/*
 * acme_test.c - ACME's pure parts: base64url, the JWK and its thumbprint,
 * a JWS whose ES256 signature verifies with the public key, the CSR, the
 * tls-alpn-01 certificate's critical acmeIdentifier, what a chain says of
 * its key and names, and the readers of a CA's answers (directory,
 * order, authorization, problem, headers, Retry-After).
 */
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "acme_crypto.h"
#include "acme_proto.h"
#include "tap.h"

/* base64url back to bytes, for checking. */
static size_t unb64url(const char *in, unsigned char *out, size_t max)
{
	size_t n = strlen(in), pad = (4 - n % 4) % 4;
	char *s = malloc(n + pad + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	memset(s + n, '=', pad);
	s[n + pad] = '\0';
	gnutls_datum_t d = { (unsigned char *)s, (unsigned)(n + pad) }, r = { NULL, 0 };
	size_t len = 0;
	if (gnutls_base64_decode2(&d, &r) == 0 && r.size <= max) {
		memcpy(out, r.data, r.size);
		len = r.size;
	}
	gnutls_free(r.data);
	free(s);
	return len;
}

static void crypto_tests(void)
{
	char err[256];
	char *b = np_b64url("\xfb\xff\xfe", 3);
	ok(b && strcmp(b, "-__-") == 0, "base64url uses - and _ and no padding: %s", b ? b : "(null)");
	free(b);
	b = np_b64url("ab", 2);
	ok(b && strcmp(b, "YWI") == 0, "base64url of 2 bytes has no '='");
	free(b);

	gnutls_privkey_t key = NULL;
	ok(np_acme_key_generate(&key, err, sizeof(err)) == 0, "a P-256 key");
	char jwk[NP_ACME_JWK_MAX], thumb[NP_ACME_THUMBPRINT_MAX];
	ok(np_acme_jwk(key, jwk) == 0 && strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31) == 0,
	   "its JWK in RFC 7638's member order: %s", jwk);
	ok(np_acme_thumbprint(jwk, thumb) == 0 && strlen(thumb) == 43, "its thumbprint: 43 base64url characters");

	size_t len = 0;
	char *pem = np_acme_key_export(key, &len, err, sizeof(err));
	gnutls_privkey_t again = NULL;
	char jwk2[NP_ACME_JWK_MAX];
	ok(pem && np_acme_key_import(pem, len, &again, err, sizeof(err)) == 0 && np_acme_jwk(again, jwk2) == 0 &&
	   strcmp(jwk, jwk2) == 0, "exported and imported, the same key");
	gnutls_privkey_deinit(again);
	free(pem);
	ok(np_acme_key_import("garbage", 7, &again, err, sizeof(err)) < 0 && again == NULL, "garbage is not a key: %s", err);

	/* A JWS verifies: protected.payload signed, r||s back to DER. */
	char *jws = np_acme_jws(key, jwk, NULL, "nonce-1", "https://ca.test/new-acct", "{\"a\":1}", err, sizeof(err));
	json_t *j = jws ? json_loads(jws, 0, NULL) : NULL;
	const char *prot = json_string_value(json_object_get(j, "protected"));
	const char *payload = json_string_value(json_object_get(j, "payload"));
	const char *sig = json_string_value(json_object_get(j, "signature"));
	ok(prot && payload && sig, "a JWS in the flattened JSON form");
	unsigned char header[512], raw[128];
	size_t hlen = prot ? unb64url(prot, header, sizeof(header) - 1) : 0;
	header[hlen] = '\0';
	ok(strstr((char *)header, "\"alg\":\"ES256\"") && strstr((char *)header, "\"jwk\":{\"crv\"") &&
	   strstr((char *)header, "\"nonce\":\"nonce-1\"") && strstr((char *)header, "\"url\":\"https://ca.test/new-acct\""),
	   "its protected header: alg, jwk, nonce, url: %s", header);
	size_t slen = sig ? unb64url(sig, raw, sizeof(raw)) : 0;
	ok(slen == 64, "an ES256 signature is r||s, 64 bytes");
	gnutls_datum_t r = { raw, 32 }, s = { raw + 32, 32 }, der = { NULL, 0 };
	gnutls_pubkey_t pub = NULL;
	char *input = NULL;
	int verified = -1;
	if (slen == 64 && gnutls_encode_rs_value(&der, &r, &s) == 0 && gnutls_pubkey_init(&pub) == 0 &&
	    gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 && asprintf(&input, "%s.%s", prot, payload) > 0) {
		gnutls_datum_t data = { (unsigned char *)input, (unsigned)strlen(input) };
		verified = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der);
	}
	ok(verified >= 0, "and verifies with the account's public key");
	free(input);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	json_decref(j);
	free(jws);
	jws = np_acme_jws(key, jwk, "https://ca.test/acct/1", "n", "https://ca.test/x", NULL, err, sizeof(err));
	ok(jws && strstr(jws, "\"payload\":\"\""), "POST-as-GET: an empty payload");
	free(jws);
	ok(!np_acme_jws(key, jwk, NULL, "bad\"nonce", "https://x", NULL, err, sizeof(err)), "a nonce with a quote is not signed: %s", err);

	char *names_v[] = { "a.test", "www.a.test" };
	struct np_string_list names = { names_v, 2 };
	char *csr = np_acme_csr(key, &names, err, sizeof(err));
	unsigned char csr_der[2048];
	size_t clen = csr ? unb64url(csr, csr_der, sizeof(csr_der)) : 0;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t cd = { csr_der, (unsigned)clen };
	char san[64];
	size_t san_len = sizeof(san);
	unsigned critical;
	ok(clen > 0 && gnutls_x509_crq_init(&crq) == 0 && gnutls_x509_crq_import(crq, &cd, GNUTLS_X509_FMT_DER) == 0 &&
	   gnutls_x509_crq_get_subject_alt_name(crq, 1, san, &san_len, NULL, &critical) == GNUTLS_SAN_DNSNAME &&
	   strcmp(san, "www.a.test") == 0 && gnutls_x509_crq_verify(crq, 0) >= 0,
	   "the CSR: DER, base64url, both names as SANs, signed");
	gnutls_x509_crq_deinit(crq);
	free(csr);

	const char *self_names[] = { "a.test", "www.a.test" };
	char *crt = np_acme_self_signed(key, self_names, 2, 7, "tok.thumb", &len, err, sizeof(err));
	gnutls_x509_crt_t x = NULL;
	gnutls_datum_t xd = { (unsigned char *)crt, (unsigned)len };
	unsigned char ext[64];
	size_t ext_len = sizeof(ext);
	unsigned char digest[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, "tok.thumb", 9, digest);
	ok(crt && gnutls_x509_crt_init(&x) == 0 && gnutls_x509_crt_import(x, &xd, GNUTLS_X509_FMT_PEM) == 0 &&
	   gnutls_x509_crt_get_extension_by_oid(x, "1.3.6.1.5.5.7.1.31", 0, ext, &ext_len, &critical) == 0 && critical &&
	   ext_len == 34 && ext[0] == 0x04 && ext[1] == 32 && memcmp(ext + 2, digest, 32) == 0,
	   "the tls-alpn-01 certificate: a critical acmeIdentifier holding SHA-256 of the key authorization");
	gnutls_x509_crt_deinit(x);

	struct np_acme_cert_facts f;
	ok(crt && np_acme_cert_facts(crt, len, key, &names, &f, err, sizeof(err)) == 0 && f.key_matches && !f.missing &&
	   f.not_after > f.not_before && f.chain_length == 1 && f.serial[0], "the chain's facts: our key, every name, dates, serial");
	char *more_v[] = { "a.test", "b.test" };
	struct np_string_list more = { more_v, 2 };
	gnutls_privkey_t other = NULL;
	np_acme_key_generate(&other, err, sizeof(err));
	ok(crt && np_acme_cert_facts(crt, len, other, &more, &f, err, sizeof(err)) == 0 && !f.key_matches && f.missing &&
	   strcmp(f.missing, "b.test") == 0, "another key does not match, and b.test is not covered");
	ok(np_acme_cert_facts("junk", 4, key, &names, &f, err, sizeof(err)) < 0, "junk is not a chain: %s", err);
	gnutls_privkey_deinit(other);
	free(crt);
	unsigned char bad[4] = { 0x30, 0x02, 0x02, 0x00 }, out[64];
	ok(np_acme_ecdsa_raw(bad, sizeof(bad), out, 32) < 0, "a truncated signature is refused");
	gnutls_privkey_deinit(key);
}

static void proto_tests(void)
{
	char err[256];
	struct np_acme_directory d;
	const char *dir = "{\"newNonce\":\"https://ca.test/n\",\"newAccount\":\"https://ca.test/a\",\"newOrder\":"
			  "\"https://ca.test/o\",\"meta\":{\"termsOfService\":\"https://ca.test/tos\"}}";
	ok(np_acme_parse_directory(dir, strlen(dir), &d, err, sizeof(err)) == 0 && strcmp(d.new_order, "https://ca.test/o") == 0 &&
	   strcmp(d.terms_of_service, "https://ca.test/tos") == 0, "a directory");
	const char *plain = "{\"newNonce\":\"http://ca.test/n\",\"newAccount\":\"https://ca.test/a\",\"newOrder\":\"https://ca.test/o\"}";
	ok(np_acme_parse_directory(plain, strlen(plain), &d, err, sizeof(err)) < 0 && strstr(err, "newNonce"),
	   "a directory pointing to http: refused: %s", err);
	ok(np_acme_parse_directory("[]", 2, &d, err, sizeof(err)) < 0, "not an object: %s", err);
	ok(np_acme_parse_directory("{\"a\":1,\"a\":2}", 13, &d, err, sizeof(err)) < 0, "duplicate members: refused");

	struct np_acme_order o;
	const char *order = "{\"status\":\"pending\",\"authorizations\":[\"https://ca.test/z/1\",\"https://ca.test/z/2\"],"
			    "\"finalize\":\"https://ca.test/f\"}";
	ok(np_acme_parse_order(order, strlen(order), &o, err, sizeof(err)) == 0 && o.authz_count == 2 &&
	   strcmp(o.authorizations[1], "https://ca.test/z/2") == 0 && !o.certificate[0], "an order with two authorizations");
	np_acme_order_free(&o);
	const char *invalid = "{\"status\":\"invalid\",\"authorizations\":[\"https://x/1\"],\"finalize\":\"https://x/f\","
			      "\"error\":{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"no\\nthanks\"}}";
	ok(np_acme_parse_order(invalid, strlen(invalid), &o, err, sizeof(err)) == 0 &&
	   strcmp(o.error.type, "rejectedIdentifier") == 0 && strcmp(o.error.detail, "no thanks") == 0,
	   "its error: the type's last part, the detail made printable");
	np_acme_order_free(&o);
	const char *none = "{\"status\":\"pending\",\"authorizations\":[],\"finalize\":\"https://x/f\"}";
	ok(np_acme_parse_order(none, strlen(none), &o, err, sizeof(err)) < 0 && !o.authorizations, "no authorization: refused");

	struct np_acme_authz a;
	const char *authz = "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},\"challenges\":["
			    "{\"type\":\"http-01\",\"url\":\"https://x/c/1\",\"token\":\"T0k-_\",\"status\":\"pending\"},"
			    "{\"type\":\"dns-01\",\"url\":\"https://x/c/2\",\"token\":\"bad token\",\"status\":\"pending\"},"
			    "{\"type\":\"tls-alpn-01\",\"url\":\"https://x/c/3\",\"token\":\"abc\",\"status\":\"pending\"}]}";
	ok(np_acme_parse_authz(authz, strlen(authz), &a, err, sizeof(err)) == 0 && strcmp(a.identifier, "a.test") == 0 &&
	   a.challenge_count == 2 && strcmp(a.challenges[1].type, "tls-alpn-01") == 0,
	   "an authorization: a challenge with a token that is not base64url is left out");

	struct np_acme_problem p;
	const char *problem = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"stale\"}";
	ok(np_acme_parse_problem(problem, strlen(problem), &p) == 0 && strcmp(p.type, "badNonce") == 0, "a badNonce problem");
	ok(np_acme_parse_problem("<html>", 6, &p) < 0, "HTML is no problem document");

	char v[64];
	ok(np_acme_header("replay-nonce:  abc-_1 \r\n", 23, "Replay-Nonce", v, sizeof(v)) && strcmp(v, "abc-_1") == 0,
	   "a header, case-insensitive, trimmed");
	ok(!np_acme_header("Replay-Nonces: x\r\n", 18, "Replay-Nonce", v, sizeof(v)), "another header is not it");
	ok(np_acme_retry_after("120", 0) == 120 && np_acme_retry_after("999999999", 0) == 86400, "Retry-After seconds, capped at a day");
	ok(np_acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30) == 30, "Retry-After as an HTTP-date");
	ok(np_acme_retry_after("soon", 0) == -1, "Retry-After that is neither: -1");
}

int main(void)
{
	gnutls_global_init();
	crypto_tests();
	proto_tests();
	gnutls_global_deinit();
	return done_testing();
}
