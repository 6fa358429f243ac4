/* SPDX-License-Identifier: ISC */
/*
 * http_file.c - static files under webRoot (http_file.h).  The target's
 * path is percent-decoded, refused with a NUL or a control byte, and
 * opened with openat2(2)'s RESOLVE_BENEATH under the root's fd: whatever
 * its dots and symbolic links, nothing that resolves outside the root is
 * opened (Linux 5.6 and later).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "http_file.h"
#include "http_response.h"
#include "turn.h"

#define SEND_CHUNK (64 * 1024)

static const struct { const char *ext, *type; } mime_types[] = {
	{ "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
	{ "txt", "text/plain; charset=utf-8" }, { "xml", "application/xml" },
	{ "svg", "image/svg+xml" }, { "png", "image/png" }, { "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "ico", "image/x-icon" },
	{ "webp", "image/webp" }, { "wasm", "application/wasm" }, { "pdf", "application/pdf" },
	{ "woff", "font/woff" }, { "woff2", "font/woff2" }, { "map", "application/json" },
};

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
			if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
				return mime_types[i].type;
	return "application/octet-stream";
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The target's path, decoded into out; 0, -1 when malformed (400), 1
 * when it names something above the root (a ".." segment). */
static int decode_path(const struct np_http_request *req, char *out, size_t size)
{
	const char *p = req->target, *end = req->target + req->target_len;
	if (p == end || *p != '/')
		return -1;
	size_t n = 0;
	for (; p < end && *p != '?' && *p != '#'; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			if (end - p < 3 || hex(p[1]) < 0 || hex(p[2]) < 0)
				return -1;
			c = hex(p[1]) * 16 + hex(p[2]);
			p += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '\\' || n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	/* A ".." segment, however it was written. */
	for (const char *s = out; (s = strstr(s, "..")); s += 2)
		if (s[-1] == '/' && (s[2] == '/' || s[2] == '\0'))
			return 1;
	return 0;
}

static bool etag_listed(const struct np_http_header *h, const char *etag)
{
	if (h->value_len == 1 && h->value[0] == '*')
		return true;
	size_t elen = strlen(etag);
	for (const char *p = h->value, *end = h->value + h->value_len; p < end;) {
		while (p < end && (*p == ' ' || *p == ','))
			p++;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2; /* weak comparison (RFC 9110 13.1.2) */
		if ((size_t)(end - p) >= elen && memcmp(p, etag, elen) == 0)
			return true;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}

static bool not_modified(const struct np_http_request *req, const char *etag, time_t mtime)
{
	const struct np_http_header *inm = np_http_header(req, "if-none-match");
	if (inm)
		return etag_listed(inm, etag);
	const struct np_http_header *ims = np_http_header(req, "if-modified-since");
	if (!ims || ims->value_len >= 64)
		return false;
	char text[64];
	memcpy(text, ims->value, ims->value_len);
	text[ims->value_len] = '\0';
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!rest || *rest)
		return false;
	return mtime <= timegm(&tm);
}

/* One range of "bytes=a-b", "bytes=a-" or "bytes=-n" within size: 1 with
 * [*from, *to], 0 when there is none to honour (absent, several, not
 * bytes), -1 when it cannot be satisfied (416). */
static int parse_range(const struct np_http_request *req, const char *etag, long long size, long long *from,
		       long long *to)
{
	const struct np_http_header *h = np_http_header(req, "range");
	if (!h || h->value_len < 7 || strncasecmp(h->value, "bytes=", 6) != 0 ||
	    memchr(h->value, ',', h->value_len))
		return 0;
	const struct np_http_header *if_range = np_http_header(req, "if-range");
	if (if_range && !(if_range->value_len == strlen(etag) && memcmp(if_range->value, etag, if_range->value_len) == 0))
		return 0;
	char spec[48];
	size_t len = h->value_len - 6;
	if (len >= sizeof(spec))
		return 0;
	memcpy(spec, h->value + 6, len);
	spec[len] = '\0';
	char *dash = strchr(spec, '-'), *end;
	if (!dash)
		return 0;
	*dash = '\0';
	errno = 0;
	if (spec[0] == '\0') {
		long long n = strtoll(dash + 1, &end, 10);
		if (errno || *end || end == dash + 1 || n <= 0)
			return n == 0 && !errno && !*end && end != dash + 1 ? -1 : 0;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
	} else {
		long long a = strtoll(spec, &end, 10);
		if (errno || *end || a < 0)
			return 0;
		long long b = size - 1;
		if (dash[1]) {
			b = strtoll(dash + 1, &end, 10);
			if (errno || *end || b < a)
				return 0;
			if (b >= size)
				b = size - 1;
		}
		*from = a;
		*to = b;
	}
	return *from < size && size > 0 ? 1 : -1;
}

static enum np_http_file_result answered(int rc)
{
	return rc < 0 ? NP_FILE_FAILED : NP_FILE_ANSWERED;
}

/* Sends [from, to] of fd after the head; 0 or -1. */
static int send_body(struct np_socket *s, int fd, long long from, long long to)
{
	size_t cap = to - from + 1 < SEND_CHUNK ? (size_t)(to - from + 1) : SEND_CHUNK;
	unsigned char *buf = malloc(cap ? cap : 1);
	if (!buf)
		return -1;
	int rc = 0;
	for (long long at = from; rc == 0 && at <= to;) {
		size_t want = to - at + 1 < (long long)cap ? (size_t)(to - at + 1) : cap;
		ssize_t n = np_turn_pread(fd, buf, want, at);
		if (n <= 0)
			rc = -1; /* the file shrank or failed under us: the response cannot be completed */
		else if (np_socket_write_all(s, buf, (size_t)n) < 0)
			rc = -1;
		else
			at += n;
	}
	free(buf);
	return rc;
}

/* path (decoded, starting with /) under the root, opened for reading
 * by the kernel's own rule that nothing resolved may leave the root
 * (RESOLVE_BENEATH: "..", absolute symbolic links and links out all
 * fail), in one system call with no race between check and open.
 * The fd, or -1 with errno. */
static int open_beneath(int root_fd, const char *path)
{
	/* O_NONBLOCK: a FIFO put there must not hold the thread in open(). */
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	const char *rel = path[1] ? path + 1 : ".";
	return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
}

/* The body of a file up to this size goes out in the head's write. */
#define SMALL_FILE (16 * 1024)

void np_http_file_cache_drop(struct np_http_file_cache *cache)
{
	if (cache && cache->fd >= 0) {
		close(cache->fd);
		cache->fd = -1;
	}
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The cached file when path still names it, unchanged (*st filled), or
 * -1.  fstatat() follows the path however it resolves now, outside the
 * root too, but only the inode openat2() opened beneath the root, with
 * its mode, size and times as they were (a chmod moves ctime), is taken:
 * anything else is opened again, under the root's rule. */
static int reuse(struct np_http_file_cache *cache, int root_fd, const char *path, struct stat *st)
{
	if (!cache || cache->fd < 0)
		return -1;
	if (strcmp(cache->path, path) == 0 && fstatat(root_fd, path[1] ? path + 1 : ".", st, 0) == 0 &&
	    same_file(st, &cache->st)) {
		int fd = cache->fd;
		cache->fd = -1;
		return fd;
	}
	np_http_file_cache_drop(cache);
	return -1;
}

/* fd, just served from, goes into the cache (or is closed). */
static void keep(struct np_http_file_cache *cache, int fd, const char *path, const struct stat *st)
{
	size_t len = strlen(path);
	if (!cache || len >= sizeof(cache->path)) {
		close(fd);
		return;
	}
	np_http_file_cache_drop(cache);
	cache->fd = fd;
	cache->st = *st;
	memcpy(cache->path, path, len + 1);
}

enum np_http_file_result np_http_file(struct np_socket *s, int root_fd, struct np_http_file_cache *cache,
				      const struct np_http_request *req, bool keep_alive, int *status)
{
	bool head = np_http_method_is(req, "HEAD");
	bool get = np_http_method_is(req, "GET");
	char path[PATH_MAX];
	int d = decode_path(req, path, sizeof(path) - sizeof("index.html"));
	if (d < 0) {
		*status = 400;
		return answered(np_http_send_error(s, 400, keep_alive, head, NULL));
	}
	if (d > 0)
		return NP_FILE_NONE;
	size_t plen = strlen(path);
	if (path[plen - 1] == '/')
		memcpy(path + plen, "index.html", sizeof("index.html"));
	struct stat st;
	int fd = reuse(cache, root_fd, path, &st);
	if (fd < 0) {
		fd = open_beneath(root_fd, path);
		if (fd < 0)
			return NP_FILE_NONE; /* not there, not readable, or outside the root */
		if (fstat(fd, &st) < 0) {
			close(fd);
			return NP_FILE_NONE;
		}
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		/* "/docs" means "/docs/": relative links in its index work. */
		char location[PATH_MAX + 32];
		const char *q = memchr(req->target, '?', req->target_len);
		size_t before = q ? (size_t)(q - req->target) : req->target_len;
		snprintf(location, sizeof(location), "Location: %.*s/%.*s\r\n", (int)before, req->target,
			 (int)(req->target_len - before), req->target + before);
		*status = 301;
		return answered(np_http_send_error(s, 301, keep_alive, head, location));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return NP_FILE_NONE;
	}
	if (!get && !head) {
		close(fd);
		*status = 405;
		return answered(np_http_send_error(s, 405, keep_alive, false, "Allow: GET, HEAD\r\n"));
	}
	char etag[64], extra[512];
	struct np_http_text e = NP_HTTP_TEXT(etag);
	np_http_puts(&e, "\"");
	np_http_put_number(&e, (uint64_t)st.st_size, 16);
	np_http_puts(&e, "-");
	np_http_put_number(&e, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec, 16);
	np_http_puts(&e, "\"");
	struct np_http_text x = NP_HTTP_TEXT(extra);
	np_http_puts(&x, "ETag: ");
	np_http_puts(&x, etag);
	np_http_puts(&x, "\r\nLast-Modified: ");
	np_http_put_date(&x, st.st_mtim.tv_sec);
	np_http_puts(&x, "\r\nAccept-Ranges: bytes\r\n");
	int used = (int)x.len; /* both fit: at most 36 and 110 bytes */
	struct np_http_response r = { .status = 200, .content_type = content_type(path), .extra = extra,
				      .close = !keep_alive };
	long long size = st.st_size, from = 0, to = size - 1;
	int rc;
	if (not_modified(req, etag, st.st_mtim.tv_sec)) {
		r.status = 304;
		r.content_type = NULL;
		r.content_length = -1;
		rc = np_http_send_head(s, &r);
	} else {
		int range = parse_range(req, etag, size, &from, &to);
		if (range < 0) {
			snprintf(extra + used, sizeof(extra) - (size_t)used, "Content-Range: bytes */%lld\r\n", size);
			close(fd);
			*status = 416;
			return answered(np_http_send_error(s, 416, keep_alive, head, extra));
		}
		if (range > 0) {
			r.status = 206;
			snprintf(extra + used, sizeof(extra) - (size_t)used, "Content-Range: bytes %lld-%lld/%lld\r\n", from,
				 to, size);
		}
		long long length = size ? to - from + 1 : 0;
		r.content_length = length;
		unsigned char small[SMALL_FILE];
		if (head || length == 0) {
			rc = np_http_send_head(s, &r);
		} else if (length <= SMALL_FILE) {
			ssize_t n = np_turn_pread(fd, small, (size_t)length, from);
			rc = n == length ? np_http_send(s, &r, small, (size_t)n) : -1;
		} else {
			rc = np_http_send_head(s, &r);
			if (rc == 0)
				rc = send_body(s, fd, from, to);
		}
	}
	keep(cache, fd, path, &st);
	*status = r.status;
	return answered(rc);
}
