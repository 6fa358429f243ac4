/* SPDX-License-Identifier: ISC */
/*
 * acme_http.c - the ACME client's HTTPS (acme_http.h), with libcurl.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_http.h"

#define CONNECT_TIMEOUT_S 10L
#define REQUEST_TIMEOUT_S 30L

struct np_acme_http {
	CURL *curl;
	const atomic_bool *cancel;
	char *ca_file;
	struct curl_slist *jose;         /* Content-Type for POSTs */
};

struct np_acme_http *np_acme_http_new(const char *ca_file, const atomic_bool *cancel, char *err, size_t err_size)
{
	struct np_acme_http *http = calloc(1, sizeof(*http));
	if (http)
		http->cancel = cancel;
	if (!http || !(http->curl = curl_easy_init()) || (ca_file && !(http->ca_file = strdup(ca_file))) ||
	    !(http->jose = curl_slist_append(NULL, "Content-Type: application/jose+json"))) {
		snprintf(err, err_size, "cannot set up HTTPS (libcurl): out of memory");
		np_acme_http_free(http);
		return NULL;
	}
	return http;
}

void np_acme_http_free(struct np_acme_http *http)
{
	if (!http)
		return;
	if (http->curl)
		curl_easy_cleanup(http->curl);
	curl_slist_free_all(http->jose);
	free(http->ca_file);
	free(http);
}

void np_acme_response_clear(struct np_acme_response *response)
{
	free(response->body);
	memset(response, 0, sizeof(*response));
	response->retry_after = -1;
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
	struct np_acme_response *r = arg;
	size_t n = size * count;
	if (n > NP_ACME_BODY_MAX - r->len)
		return 0;                /* libcurl fails the transfer: CURLE_WRITE_ERROR */
	char *grown = realloc(r->body, r->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + r->len, data, n);
	r->len += n;
	grown[r->len] = '\0';
	r->body = grown;
	return n;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
	struct np_acme_response *r = arg;
	size_t n = size * count;
	char value[64];
	/* A new status line (a 100 Continue before): what came before goes. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->nonce[0] = r->location[0] = r->content_type[0] = '\0';
		r->retry_after = -1;
	}
	if (!np_acme_header(data, n, "Replay-Nonce", r->nonce, sizeof(r->nonce)) &&
	    !np_acme_header(data, n, "Location", r->location, sizeof(r->location)) &&
	    !np_acme_header(data, n, "Content-Type", r->content_type, sizeof(r->content_type)) &&
	    np_acme_header(data, n, "Retry-After", value, sizeof(value)))
		r->retry_after = np_acme_retry_after(value, time(NULL));
	return n;
}

/* libcurl asks about once a second, and on every chunk: non-zero ends the
 * transfer. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	const struct np_acme_http *http = arg;
	return http->cancel && atomic_load(http->cancel);
}

static int perform(struct np_acme_http *http, const char *method, const char *url, const char *body,
		   struct np_acme_response *out, char *err, size_t err_size)
{
	CURL *c = http->curl;
	np_acme_response_clear(out);
	curl_easy_reset(c);
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc = CURLE_OK;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	SET(CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
	SET(CURLOPT_USERAGENT, "npsocketd (ACME client)");
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, out);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, out);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)NP_ACME_BODY_MAX);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, http);
	if (http->ca_file)
		SET(CURLOPT_CAINFO, http->ca_file);
	if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (body) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		SET(CURLOPT_HTTPHEADER, http->jose);
	}
#undef SET
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(err, err_size, "%s %s: %s", method, url,
			 rc == CURLE_ABORTED_BY_CALLBACK ? "abandoned: the daemon stops"
			 : rc == CURLE_WRITE_ERROR || rc == CURLE_FILESIZE_EXCEEDED
				 ? "the answer is longer than 1 MiB"
				 : errbuf[0] ? errbuf : curl_easy_strerror(rc));
		np_acme_response_clear(out);
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (!out->body && !(out->body = calloc(1, 1))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

int np_acme_http_get(struct np_acme_http *http, const char *url, struct np_acme_response *out, char *err,
		     size_t err_size)
{
	return perform(http, "GET", url, NULL, out, err, err_size);
}

int np_acme_http_head(struct np_acme_http *http, const char *url, struct np_acme_response *out, char *err,
		      size_t err_size)
{
	return perform(http, "HEAD", url, NULL, out, err, err_size);
}

int np_acme_http_post(struct np_acme_http *http, const char *url, const char *jws, struct np_acme_response *out,
		      char *err, size_t err_size)
{
	return perform(http, "POST", url, jws, out, err, err_size);
}
