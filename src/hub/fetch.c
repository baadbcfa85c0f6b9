/*
 * fetch.c - downloads from the Hugging Face hub into its cache (layout: hub.h), over libcurl.
 *
 * One pull: the revision's commit and file list (GET /api/models/<repo>/revision/<rev>), the files a
 * model needs (sutra_hub_select; modules.json first, since it names the module folders), then per
 * file a HEAD of /<repo>/resolve/<commit>/<file> for its etag, size and location (LFS files
 * redirect to a CDN; a relative redirect, a renamed repository, is followed), and, when its blob is
 * not cached, the download: into blobs/<etag>.incomplete under an exclusive lock on
 * .locks/<folder>/<etag>.lock, resumed with a Range request after a broken transfer or an earlier
 * interrupted run, checked against the announced size and (LFS) sha256, then renamed. The snapshot
 * link follows, and refs/<revision> is written last.
 */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"

#define EC err, errcap

#ifndef SUTRA_HAVE_CURL

sutra_status sutra_hub_fetch(const sutra_hub_cfg *c, const sutra_hub_id *id, char *path, size_t cap, char *err,
                             size_t errcap) {
    (void)path, (void)cap;
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, EC,
                      "%s is not in the hub cache %s, and this build of Sutra cannot download (built without libcurl): "
                      "fetch it with `hf download %s`, or rebuild with libcurl",
                      id->repo, c->cache, id->repo);
}

#else

#include <curl/curl.h>
#include <openssl/evp.h>

#define MAX_API_BODY (32u << 20)
#define ATTEMPTS 5

typedef struct resp {
    long code;
    char location[4096], etag[256], linked_etag[256], commit[64], err_code[64], err_msg[256], content_range[128];
    int64_t linked_size, length;
    /* a small body (API answers, error pages) */
    char *body;
    size_t len, max;
    int overflow;
} resp;

static void resp_reset(resp *r) {
    r->code = 0;
    r->location[0] = r->etag[0] = r->linked_etag[0] = r->commit[0] = r->err_code[0] = r->err_msg[0] = 0;
    r->content_range[0] = 0;
    r->linked_size = r->length = -1;
    r->len = 0;
    r->overflow = 0;
}

/* An empty answer that keeps at most max body bytes (error pages, API answers). */
static void resp_init(resp *r, size_t max) {
    memset(r, 0, sizeof *r);
    resp_reset(r);
    r->max = max;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int64_t parse_size(const char *v, size_t n) {
    int64_t x = 0;
    size_t i = 0;
    while (i < n && v[i] == ' ') i++;
    if (i == n || v[i] < '0' || v[i] > '9') return -1;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (INT64_MAX - 9) / 10) return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* One header line; a status line starts the next response of a redirect chain afresh. */
static size_t on_header(char *buf, size_t size, size_t n, void *user) {
    resp *r = user;
    const size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        resp_reset(r);
        const char *sp = memchr(buf, ' ', len);
        if (sp) r->code = strtol(sp + 1, NULL, 10);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    const size_t k = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vn = len - k - 1;
    while (vn && *v == ' ') v++, vn--;
#define IS(name) (k == sizeof name - 1 && !strncasecmp(buf, name, k))
    if (IS("Location")) copy_value(r->location, sizeof r->location, v, vn);
    else if (IS("ETag")) copy_value(r->etag, sizeof r->etag, v, vn);
    else if (IS("X-Linked-Etag")) copy_value(r->linked_etag, sizeof r->linked_etag, v, vn);
    else if (IS("X-Repo-Commit")) copy_value(r->commit, sizeof r->commit, v, vn);
    else if (IS("X-Error-Code")) copy_value(r->err_code, sizeof r->err_code, v, vn);
    else if (IS("X-Error-Message")) copy_value(r->err_msg, sizeof r->err_msg, v, vn);
    else if (IS("Content-Range")) copy_value(r->content_range, sizeof r->content_range, v, vn);
    else if (IS("X-Linked-Size")) r->linked_size = parse_size(v, vn);
    else if (IS("Content-Length")) r->length = parse_size(v, vn);
#undef IS
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *user) {
    resp *r = user;
    const size_t len = size * n;
    if (r->overflow || r->len + len > r->max) {
        r->overflow = 1;
        return len; /* drained, not kept */
    }
    char *b = realloc(r->body, r->len + len + 1);
    if (!b) return 0;
    r->body = b;
    memcpy(b + r->len, buf, len);
    r->len += len;
    b[r->len] = 0;
    return len;
}

static int origin_len(const char *endpoint) {
    const char *s = strstr(endpoint, "://");
    const char *slash = s ? strchr(s + 3, '/') : NULL;
    return slash ? (int)(slash - endpoint) : (int)strlen(endpoint);
}

/* 1 if url is on the hub's own host (scheme, host and port as the endpoint's): only those
 * requests carry the token, never a CDN's. */
static int same_origin(const sutra_hub_cfg *c, const char *url) {
    const int n = origin_len(c->endpoint);
    return !strncmp(url, c->endpoint, (size_t)n) && (url[n] == '/' || url[n] == 0);
}

/* A curl handle with what every request to url shares. */
static CURL *handle(const sutra_hub_cfg *c, const char *url, resp *r, struct curl_slist **hdrs) {
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    char line[1200];
    *hdrs = NULL;
    if (c->token[0] && same_origin(c, url)) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, line);
    }
    *hdrs = curl_slist_append(*hdrs, "Accept-Encoding: identity");
    snprintf(line, sizeof line, "User-Agent: sutra/%s", sutra_version());
    *hdrs = curl_slist_append(*hdrs, line);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer: abandoned after a minute */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    return h;
}

/* The URL of a repository path: endpoint + "/" + parts, each part's characters percent-encoded
 * except unreserved ones and, when keep_slash, '/'. */
static int url_append(char *url, size_t cap, const char *part, int keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(url);
    for (const unsigned char *p = (const unsigned char *)part; *p; p++) {
        const int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                          strchr("-._~", *p) || (keep_slash && *p == '/');
        if (o + 4 >= cap) return 0;
        if (plain) url[o++] = (char)*p;
        else url[o++] = '%', url[o++] = hex[*p >> 4], url[o++] = hex[*p & 15];
    }
    url[o] = 0;
    return 1;
}

/* The hub's refusal, as the user can act on it. */
static sutra_status http_error(const resp *r, const sutra_hub_cfg *c, const char *repo, const char *what, char *err,
                               size_t errcap) {
    const char *msg = r->err_msg[0] ? r->err_msg : "";
    const char *code = r->err_code;
    if (r->code == 401 || (r->code == 403 && !strcmp(code, "GatedRepo"))) {
        if (!c->token[0])
            return sutra_errf(SUTRA_ERR_IO, EC,
                              "%s: the hub %s asks for a token (HTTP %ld%s%s): a gated or private model. Set HF_TOKEN "
                              "(or hub.token, --hub-token), or log in with `hf auth login`, with an account that has "
                              "access. %s", repo, c->endpoint, r->code, code[0] ? ", " : "", code, msg);
        return sutra_errf(SUTRA_ERR_IO, EC,
                          "%s: the hub %s refused the token (HTTP %ld%s%s): %s; for a gated model, accept its "
                          "conditions on its page with the token's account",
                          repo, c->endpoint, r->code, code[0] ? ", " : "", code, msg[0] ? msg : "no access");
    }
    if (r->code == 404)
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s not found on the hub %s (HTTP 404%s%s) %s", repo, what, c->endpoint,
                          code[0] ? ", " : "", code, msg);
    return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s: HTTP %ld from the hub %s %s", repo, what, r->code, c->endpoint, msg);
}

static sutra_status curl_failed(CURLcode rc, const char *errbuf, const char *url, char *err, size_t errcap) {
    return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* GET of a small answer into r->body (at most r->max bytes). */
static sutra_status get_small(const sutra_hub_cfg *c, const char *url, resp *r, char *err, size_t errcap) {
    struct curl_slist *hdrs;
    CURL *h = handle(c, url, r, &hdrs);
    if (!h) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "curl: cannot make a handle");
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) return curl_failed(rc, ebuf, url, EC);
    if (r->overflow) return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: the answer is over %u bytes", url, MAX_API_BODY);
    return SUTRA_OK;
}

/* What a file is: from HEAD, without following an absolute redirect (the CDN's headers do not
 * carry the hub's). */
typedef struct meta {
    char url[4096];  /* where its bytes are */
    char etag[160];  /* the blob's name */
    int64_t size;    /* -1: not announced */
    int sha256;      /* the etag is the file's sha256 (an LFS file) */
} meta;

static sutra_status head_file(const sutra_hub_cfg *c, const sutra_hub_id *id, const char *sha, const char *file,
                              meta *m, char *err, size_t errcap) {
    char url[4096];
    snprintf(url, sizeof url, "%s/", c->endpoint);
    if (!url_append(url, sizeof url, id->repo, 1) || !url_append(url, sizeof url, "/resolve/", 1) ||
        !url_append(url, sizeof url, sha, 0) || !url_append(url, sizeof url, "/", 1) ||
        !url_append(url, sizeof url, file, 1))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "%s: URL too long", file);
    for (int hop = 0; hop < 6; hop++) {
        resp r;
        resp_init(&r, 1 << 16);
        struct curl_slist *hdrs;
        CURL *h = handle(c, url, &r, &hdrs);
        if (!h) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "curl: cannot make a handle");
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        const CURLcode rc = curl_easy_perform(h);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        free(r.body);
        if (rc != CURLE_OK) return curl_failed(rc, ebuf, url, EC);
        const int redirect = r.code >= 300 && r.code < 400;
        if (redirect && r.location[0] == '/') { /* relative: the hub itself, elsewhere */
            char next[4096];
            if (snprintf(next, sizeof next, "%.*s%s", origin_len(c->endpoint), c->endpoint, r.location) >= (int)sizeof next)
                return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: redirect too long", file);
            memcpy(url, next, sizeof url);
            continue;
        }
        if (!redirect && (r.code < 200 || r.code >= 300)) return http_error(&r, c, id->repo, file, EC);
        if (redirect && !r.location[0]) return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: a redirect without a Location", url);
        const char *tag = r.linked_etag[0] ? r.linked_etag : r.etag;
        if (!sutra_hub_etag(tag, m->etag, sizeof m->etag))
            return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: the hub gave no usable ETag ('%.100s')", url, tag);
        m->size = r.linked_size >= 0 ? r.linked_size : redirect ? -1 : r.length;
        snprintf(m->url, sizeof m->url, "%s", redirect ? r.location : url);
        m->sha256 = 0;
        if (r.linked_etag[0] && strlen(m->etag) == 64) {
            m->sha256 = 1;
            for (int i = 0; i < 64; i++)
                if (!strchr("0123456789abcdef", m->etag[i])) m->sha256 = 0;
        }
        return SUTRA_OK;
    }
    return sutra_errf(SUTRA_ERR_IO, EC, "%s: too many redirects", file);
}

/* ---- the download of one blob ----------------------------------------------------------------- */

typedef struct sink {
    FILE *f;
    int64_t offset;   /* bytes in the file when this attempt began */
    int64_t written;  /* by this attempt */
    int64_t expected; /* -1: unknown */
    CURL *h;
    int checked;      /* the status was looked at */
    int to_file;      /* 200/206: bytes go to the file; else into r (an error page) */
    int too_long;
    resp *r;
    const sutra_hub_cfg *c;
    const char *file;
} sink;

static size_t on_data(char *buf, size_t size, size_t n, void *user) {
    sink *s = user;
    const size_t len = size * n;
    if (!s->checked) {
        s->checked = 1;
        long code = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
        if (code == 206 && s->offset > 0) {
            /* the range must start where the file ends */
            const char *cr = s->r->content_range;
            const char *sp = strchr(cr, ' ');
            if (!sp || parse_size(sp + 1, strlen(sp + 1)) != s->offset) return 0;
            s->to_file = 1;
        } else if (code == 200) {
            if (s->offset > 0) { /* the server sent the whole file: start over */
                if (fflush(s->f) || ftruncate(fileno(s->f), 0) || fseek(s->f, 0, SEEK_SET)) return 0;
                s->offset = 0;
            }
            s->to_file = 1;
        }
    }
    if (!s->to_file) return on_body(buf, size, n, s->r);
    if (s->expected >= 0 && s->offset + s->written + (int64_t)len > s->expected) {
        s->too_long = 1;
        return 0;
    }
    if (fwrite(buf, 1, len, s->f) != len) return 0;
    s->written += (int64_t)len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)ultotal, (void)ulnow;
    sink *s = user;
    if (s->c->progress && s->to_file)
        s->c->progress(s->c->progress_data, s->file, (uint64_t)(s->offset + dlnow),
                       s->expected >= 0 ? (uint64_t)s->expected : 0);
    return 0;
}

static int64_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) ? -1 : (int64_t)sb.st_size;
}

static int sha256_file(const char *path, char hexout[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (int i = 0; ok && i < 32; i++) snprintf(hexout + 2 * i, 3, "%02x", md[i]);
    return ok;
}

static int transient(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_HTTP2 ||
           rc == CURLE_HTTP2_STREAM;
}

/* Downloads m's bytes into part (appending to what is there), retrying broken transfers. */
static sutra_status download(const sutra_hub_cfg *c, const sutra_hub_id *id, const char *file, const meta *m,
                             const char *part, char *err, size_t errcap) {
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        int64_t have = file_size(part);
        if (have < 0) have = 0;
        if (m->size >= 0 && have == m->size) return SUTRA_OK;
        if (m->size >= 0 && have > m->size) {
            if (truncate(part, 0)) return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", part, strerror(errno));
            have = 0;
        }
        FILE *f = fopen(part, "ab");
        if (!f) return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", part, strerror(errno));
        resp r;
        resp_init(&r, 1 << 16);
        struct curl_slist *hdrs;
        CURL *h = handle(c, m->url, &r, &hdrs);
        if (!h) {
            fclose(f);
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "curl: cannot make a handle");
        }
        sink s = {.f = f, .offset = have, .expected = m->size, .h = h, .r = &r, .c = c, .file = file};
        char ebuf[CURL_ERROR_SIZE] = "", range[64];
        snprintf(range, sizeof range, "%lld-", (long long)have);
        curl_easy_setopt(h, CURLOPT_URL, m->url);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        if (have > 0) curl_easy_setopt(h, CURLOPT_RANGE, range);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        const CURLcode rc = curl_easy_perform(h);
        long code = r.code;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        const int closed = fclose(f);
        free(r.body);
        r.body = NULL;
        if (closed) return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", part, strerror(errno));
        if (s.too_long)
            return unlink(part), sutra_errf(SUTRA_ERR_IO, EC, "%s: the server sent more than the %lld bytes announced; "
                                            "the partial file was removed", file, (long long)m->size);
        if (rc == CURLE_OK && code == 416 && m->size >= 0) {
            if (file_size(part) == m->size) return SUTRA_OK;
            if (truncate(part, 0)) return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", part, strerror(errno));
            continue;
        }
        if (rc == CURLE_OK && (code == 200 || code == 206)) {
            const int64_t got = file_size(part);
            if (m->size < 0 || got == m->size) return SUTRA_OK;
            continue; /* short: resume */
        }
        if (rc == CURLE_OK && code >= 400 && code < 500) return http_error(&r, c, id->repo, file, EC);
        if (rc != CURLE_OK && !transient(rc) && rc != CURLE_WRITE_ERROR) return curl_failed(rc, ebuf, m->url, EC);
        if (attempt + 1 < ATTEMPTS) sleep(attempt ? 2 : 1); /* a broken transfer or a 5xx: resume */
        if (attempt + 1 == ATTEMPTS)
            return rc != CURLE_OK ? curl_failed(rc, ebuf, m->url, EC)
                                  : sutra_errf(SUTRA_ERR_IO, EC, "%s: HTTP %ld after %d attempts", m->url, code, ATTEMPTS);
    }
    return sutra_errf(SUTRA_ERR_IO, EC, "%s: incomplete after %d attempts (%lld of %lld bytes)", file, ATTEMPTS,
                      (long long)file_size(part), (long long)m->size);
}

/* ---- the cache -------------------------------------------------------------------------------- */

static int mkdir_p(const char *path) {
    char p[4800];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) return 0;
        *s = '/';
    }
    return !mkdir(p, 0755) || errno == EEXIST;
}

static int parent_p(const char *path) {
    char p[4800];
    snprintf(p, sizeof p, "%s", path);
    char *slash = strrchr(p, '/');
    if (!slash || slash == p) return 1;
    *slash = 0;
    return mkdir_p(p);
}

/* Writes text to path through a temporary file and a rename. */
static int write_atomic(const char *path, const char *text) {
    char tmp[4900];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return 0;
    const int ok = fputs(text, f) >= 0;
    if (fclose(f) || !ok || rename(tmp, path)) {
        unlink(tmp);
        return 0;
    }
    return 1;
}

/* snapshots/<sha>/<file> -> ../../blobs/<etag> (one more "../" per folder in file). */
static int link_pointer(const char *repo_dir, const char *sha, const char *file, const char *etag) {
    char pointer[4400], target[4400] = "", tmp[4500];
    snprintf(pointer, sizeof pointer, "%s/snapshots/%s/%s", repo_dir, sha, file);
    if (!parent_p(pointer)) return 0;
    size_t o = 0;
    for (const char *s = file; *s; s++)
        if (*s == '/') o += (size_t)snprintf(target + o, sizeof target - o, "../");
    snprintf(target + o, sizeof target - o, "../../blobs/%s", etag);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", pointer, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp)) return 0;
    if (rename(tmp, pointer)) {
        unlink(tmp);
        return 0;
    }
    return 1;
}

/* Makes snapshots/<sha>/<file> point at a complete, checked blob. */
static sutra_status fetch_file(const sutra_hub_cfg *c, const sutra_hub_id *id, const char *repo_dir, const char *sha,
                               const char *file, char *err, size_t errcap) {
    char pointer[4400];
    snprintf(pointer, sizeof pointer, "%s/snapshots/%s/%s", repo_dir, sha, file);
    if (sutra_file_exists(pointer)) return SUTRA_OK;
    meta m;
    sutra_status st = head_file(c, id, sha, file, &m, EC);
    if (st) return st;
    char blob[4400], part[4500], lockdir[4400], lock[4600];
    snprintf(blob, sizeof blob, "%s/blobs/%s", repo_dir, m.etag);
    snprintf(part, sizeof part, "%s.incomplete", blob);
    snprintf(lockdir, sizeof lockdir, "%s/.locks/%s", c->cache, id->folder);
    snprintf(lock, sizeof lock, "%s/%s.lock", lockdir, m.etag);
    if (!parent_p(blob) || !mkdir_p(lockdir)) return sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", lockdir, strerror(errno));
    const int lfd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX)) {
        if (lfd >= 0) close(lfd);
        return sutra_errf(SUTRA_ERR_IO, EC, "%s: cannot lock: %s", lock, strerror(errno));
    }
    /* under the lock: another process may have written it meanwhile */
    if (!sutra_file_exists(blob) || (m.size >= 0 && file_size(blob) != m.size)) {
        st = download(c, id, file, &m, part, EC);
        char got[65];
        if (!st && m.sha256) {
            if (!sha256_file(part, got)) st = sutra_errf(SUTRA_ERR_IO, EC, "%s: cannot read back", part);
            else if (strcmp(got, m.etag)) {
                unlink(part);
                st = sutra_errf(SUTRA_ERR_IO, EC, "%s: sha256 mismatch (the hub announced %s, the bytes have %s); "
                                "nothing was kept", file, m.etag, got);
            }
        }
        if (!st && rename(part, blob)) st = sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", blob, strerror(errno));
        if (!st && c->progress) c->progress(c->progress_data, file, (uint64_t)file_size(blob), (uint64_t)file_size(blob));
    }
    close(lfd);
    if (!st && !link_pointer(repo_dir, sha, file, m.etag))
        st = sutra_errf(SUTRA_ERR_IO, EC, "%s: cannot link into the snapshot: %s", pointer, strerror(errno));
    return st;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

sutra_status sutra_hub_fetch(const sutra_hub_cfg *c, const sutra_hub_id *id, char *path, size_t cap, char *err,
                             size_t errcap) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return sutra_errf(SUTRA_ERR_IO, EC, "curl: cannot initialise");
    char url[4096];
    snprintf(url, sizeof url, "%s/api/models/", c->endpoint);
    resp r;
    resp_init(&r, MAX_API_BODY);
    sutra_status st = SUTRA_OK;
    if (!url_append(url, sizeof url, id->repo, 1) || !url_append(url, sizeof url, "/revision/", 1) ||
        !url_append(url, sizeof url, id->rev, 0))
        st = sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "%s: URL too long", id->repo);
    if (!st) st = get_small(c, url, &r, EC);
    if (!st && r.code != 200) st = http_error(&r, c, id->repo, sutra_hub_is_commit(id->rev) ? "commit" : "revision", EC);
    char sha[41], **files = NULL;
    size_t nfiles = 0;
    if (!st) st = sutra_hub_parse_revision(r.body ? r.body : "", r.len, sha, &files, &nfiles, EC);
    free(r.body);
    char repo_dir[4400];
    snprintf(repo_dir, sizeof repo_dir, "%s/%s", c->cache, id->folder);
    if (!st && !mkdir_p(repo_dir)) st = sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", repo_dir, strerror(errno));
    /* modules.json first: it names the folders the rest are chosen from */
    char *modules = NULL;
    size_t mlen = 0;
    for (size_t i = 0; !st && i < nfiles; i++) {
        if (strcmp(files[i], "modules.json")) continue;
        char p[4500];
        if (!(st = fetch_file(c, id, repo_dir, sha, "modules.json", EC))) {
            snprintf(p, sizeof p, "%s/snapshots/%s/modules.json", repo_dir, sha);
            st = sutra_read_file(p, &modules, &mlen, EC);
        }
    }
    unsigned char *want = nfiles ? calloc(nfiles, 1) : NULL;
    if (!st && nfiles && !want) st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "out of memory");
    if (!st) {
        if (nfiles) qsort(files, nfiles, sizeof *files, cmp_names);
        if (!sutra_hub_select(files, nfiles, modules, mlen, want))
            st = sutra_errf(SUTRA_ERR_MODEL, EC, "%s: the repository has no model files (config, tokenizer, weights)",
                            id->repo);
    }
    for (size_t i = 0; !st && i < nfiles; i++)
        if (want[i]) st = fetch_file(c, id, repo_dir, sha, files[i], EC);
    free(want);
    free(modules);
    sutra_hub_files_free(files, nfiles);
    char snap[4500];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, sha);
    if (!st && !sutra_hub_snapshot_complete(snap))
        st = sutra_errf(SUTRA_ERR_MODEL, EC, "%s: downloaded, but the repository lacks what a model needs here "
                        "(config.json, tokenizer.json or vocab.txt, weights, module configs): %s", id->repo, snap);
    if (!st && !sutra_hub_is_commit(id->rev)) {
        char ref[4700];
        snprintf(ref, sizeof ref, "%s/refs/%s", repo_dir, id->rev);
        if (!parent_p(ref) || !write_atomic(ref, sha))
            st = sutra_errf(SUTRA_ERR_IO, EC, "%s: %s", ref, strerror(errno));
    }
    if (!st && strlen(snap) >= cap) st = sutra_errf(SUTRA_ERR_IO, EC, "%s: path too long", snap);
    if (!st) memcpy(path, snap, strlen(snap) + 1);
    curl_global_cleanup();
    return st;
}

#endif /* SUTRA_HAVE_CURL */
