/*
 * flbhost: loads a Fluent Bit Go output plugin (.so) the way Fluent Bit's Go
 * proxy does (src/proxy/go/go.c, include/fluent-bit/flb_plugin_proxy.h,
 * fluent-bit-go output/flb_output.h) and drives it from tests:
 *
 *   dlopen → FLBPluginRegister(def) → per instance FLBPluginInit(plugin) with
 *   properties served through api->output_get_property(key, o_ins) →
 *   FLBPluginFlushCtx(remote_context, data, size, tag) from N threads →
 *   FLBPluginExitCtx(remote_context) per instance → FLBPluginExit().
 *
 * Usage:
 *   flbhost PLUGIN.so [-retry-max M] [-retry-wait-ms W] [-interval-ms I]
 *           -i NAME [-p key=value]... [-chunk FILE]... [-tag TAG] [-workers N] [-repeat K]
 *           [-i NAME ...]
 *
 * Every instance gets its own properties, chunks, tag and worker threads;
 * all workers of all instances run at once. Worker w of an instance flushes
 * K times, flush k at I*k ms after the start (a fixed schedule); flush k uses chunk
 * (w*K + k) mod (number of chunks). A flush that
 * returns FLB_RETRY is repeated with the same bytes (as Fluent Bit does) up
 * to M times, W ms apart. One line per flush call on stdout:
 *
 *   flush instance=NAME worker=W iter=K attempt=A rc=R ms=T
 *
 * and per instance "done instance=NAME ok=.. retry=.. error=.. gaveup=..".
 * Exit status: 0 all chunks ended FLB_OK, 1 some ended FLB_ERROR or gave up,
 * 2 usage, 3 register/init failed.
 *
 * Like Fluent Bit, properties Fluent Bit's core consumes itself (match,
 * alias, log_level, host, port, tls, tls.*, workers, retry_limit, net.*,
 * storage.*) are not visible to the plugin.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2
#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_GOLANG 11

/* ABI structs: field order and types as in Fluent Bit. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *reserved[8];
};

struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy;
};

struct flbgo_output_plugin {
    char *name;
    void *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
    int (*cb_init)(struct flbgo_output_plugin *);
    int (*cb_flush)(const void *, size_t, const char *);
    int (*cb_flush_ctx)(void *, const void *, size_t, char *);
    int (*cb_exit)(void);
    int (*cb_exit_ctx)(void *);
};

#define MAXP 64
#define MAXC 4096 /* a minute of demo traffic at 1000 records/s is 300 chunks of 200 */
#define MAXI 8

struct chunk {
    char *data;
    size_t size;
};

struct instance {
    char *name;
    char *keys[MAXP];
    char *vals[MAXP];
    int nprops;
    struct chunk chunks[MAXC];
    int nchunks;
    char *tag;
    int workers;
    int repeat;
    struct flb_plugin_proxy_context ctx;
    int ok, error, gaveup;
    pthread_mutex_t mu;
};

static struct instance insts[MAXI];
static int ninsts;
static struct flbgo_output_plugin plugin;
static int retry_max = 0, retry_wait_ms = 200, interval_ms = 0;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *core_keys[] = {"match", "match_regex", "alias", "log_level", "log_suppress_interval",
                                  "host", "port", "ipv6", "retry_limit", "tls", "workers", NULL};

static int core_key(const char *k)
{
    for (int i = 0; core_keys[i]; i++) {
        if (strcasecmp(k, core_keys[i]) == 0) {
            return 1;
        }
    }
    return strncasecmp(k, "tls.", 4) == 0 || strncasecmp(k, "net.", 4) == 0 || strncasecmp(k, "storage.", 8) == 0;
}

/* api->output_get_property: case-insensitive, NULL when unset (flb_config_prop_get). */
static const char *get_property(const char *key, void *o_ins)
{
    struct instance *in = o_ins;
    for (int i = 0; i < in->nprops; i++) {
        if (strcasecmp(in->keys[i], key) == 0) {
            return in->vals[i];
        }
    }
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int load_chunk(struct chunk *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || stat(path, &st) != 0) {
        fprintf(stderr, "flbhost: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* malloc'd like Fluent Bit's chunk buffers; freed only at exit. */
    c->size = st.st_size;
    c->data = malloc(c->size ? c->size : 1);
    if (c->size && fread(c->data, 1, c->size, f) != c->size) {
        fprintf(stderr, "flbhost: short read %s\n", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

struct worker {
    struct instance *in;
    int id;
    pthread_t th;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct instance *in = w->in;
    double start = now_ms();
    for (int k = 0; k < in->repeat; k++) {
        /* A fixed schedule (flush k at start + k*I), not I after the previous
         * flush: slow flushes must not make the paced stream drift behind
         * the timestamps of the records it carries. */
        double due = start + (double)k * interval_ms;
        if (interval_ms > 0 && due > now_ms()) {
            usleep((useconds_t)((due - now_ms()) * 1000));
        }
        struct chunk *c = &in->chunks[(w->id * in->repeat + k) % in->nchunks];
        int rc = FLB_RETRY;
        for (int attempt = 0; rc == FLB_RETRY && attempt <= retry_max; attempt++) {
            if (attempt > 0) {
                usleep(retry_wait_ms * 1000);
            }
            /* Fluent Bit hands the plugin a tag copy per flush (go.c). */
            char *tag = strdup(in->tag);
            double t0 = now_ms();
            rc = plugin.cb_flush_ctx(in->ctx.remote_context, c->data, c->size, tag);
            double dt = now_ms() - t0;
            free(tag);
            pthread_mutex_lock(&out_mu);
            printf("flush instance=%s worker=%d iter=%d attempt=%d rc=%d ms=%.1f\n", in->name, w->id, k, attempt, rc, dt);
            fflush(stdout);
            pthread_mutex_unlock(&out_mu);
        }
        pthread_mutex_lock(&in->mu);
        if (rc == FLB_OK) {
            in->ok++;
        } else if (rc == FLB_ERROR) {
            in->error++;
        } else {
            in->gaveup++;
        }
        pthread_mutex_unlock(&in->mu);
    }
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: flbhost PLUGIN.so [-retry-max M] [-retry-wait-ms W] [-interval-ms I] -i NAME [-p k=v]... "
                    "[-chunk FILE]... [-tag TAG] [-workers N] [-repeat K] [-i NAME ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return usage();
    }
    struct instance *cur = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            return usage();
        }
        i++;
        if (strcmp(a, "-i") == 0) {
            if (ninsts == MAXI) {
                return usage();
            }
            cur = &insts[ninsts++];
            cur->name = (char *) v;
            cur->tag = "app.log";
            cur->workers = 1;
            cur->repeat = 1;
            pthread_mutex_init(&cur->mu, NULL);
        }
        else if (strcmp(a, "-retry-max") == 0) {
            retry_max = atoi(v);
        }
        else if (strcmp(a, "-retry-wait-ms") == 0) {
            retry_wait_ms = atoi(v);
        }
        else if (strcmp(a, "-interval-ms") == 0) {
            interval_ms = atoi(v);
        }
        else if (!cur) {
            return usage();
        }
        else if (strcmp(a, "-p") == 0) {
            char *kv = strdup(v), *eq = strchr(kv, '=');
            if (!eq || cur->nprops == MAXP) {
                return usage();
            }
            *eq = '\0';
            if (core_key(kv)) {
                fprintf(stderr, "flbhost: %s is a Fluent Bit core property; the plugin will not see it\n", kv);
                continue;
            }
            cur->keys[cur->nprops] = kv;
            cur->vals[cur->nprops++] = eq + 1;
        }
        else if (strcmp(a, "-chunk") == 0) {
            if (cur->nchunks == MAXC) {
                fprintf(stderr, "flbhost: more than %d chunks for instance %s\n", MAXC, cur->name);
                return 2;
            }
            if (load_chunk(&cur->chunks[cur->nchunks++], v) != 0) {
                return 2;
            }
        }
        else if (strcmp(a, "-tag") == 0) {
            cur->tag = (char *) v;
        }
        else if (strcmp(a, "-workers") == 0) {
            cur->workers = atoi(v);
        }
        else if (strcmp(a, "-repeat") == 0) {
            cur->repeat = atoi(v);
        }
        else {
            return usage();
        }
    }
    if (ninsts == 0) {
        return usage();
    }

    /* flb_plugin_proxy_create: dlopen + the registration callback. */
    void *dso = dlopen(argv[1], RTLD_LAZY);
    if (!dso) {
        fprintf(stderr, "flbhost: dlopen: %s\n", dlerror());
        return 3;
    }
    int (*cb_register)(struct flb_plugin_proxy_def *) = dlsym(dso, "FLBPluginRegister");
    if (!cb_register) {
        fprintf(stderr, "flbhost: no FLBPluginRegister\n");
        return 3;
    }
    struct flb_plugin_proxy_def def = {0};
    if (cb_register(&def) == -1 || def.type != FLB_PROXY_OUTPUT_PLUGIN || def.proxy != FLB_PROXY_GOLANG) {
        fprintf(stderr, "flbhost: registration failed (type=%d proxy=%d)\n", def.type, def.proxy);
        return 3;
    }
    printf("registered name=%s\n", def.name);

    /* proxy_go_output_register: resolve the entry points. */
    plugin.name = def.name;
    plugin.cb_init = dlsym(dso, "FLBPluginInit");
    plugin.cb_flush = dlsym(dso, "FLBPluginFlush");
    plugin.cb_flush_ctx = dlsym(dso, "FLBPluginFlushCtx");
    plugin.cb_exit = dlsym(dso, "FLBPluginExit");
    plugin.cb_exit_ctx = dlsym(dso, "FLBPluginExitCtx");
    if (!plugin.cb_init || !plugin.cb_flush_ctx) {
        fprintf(stderr, "flbhost: missing FLBPluginInit or FLBPluginFlushCtx\n");
        return 3;
    }
    static struct flb_api api = {.output_get_property = get_property};

    /* proxy_go_output_init, once per [OUTPUT] section, in order. */
    for (int i = 0; i < ninsts; i++) {
        struct instance *in = &insts[i];
        plugin.api = &api;
        plugin.o_ins = in;
        plugin.context = &in->ctx;
        int rc = plugin.cb_init(&plugin);
        printf("init instance=%s rc=%d\n", in->name, rc);
        fflush(stdout);
        if (rc <= 0) {
            fprintf(stderr, "[go proxy]: plugin '%s' failed to initialize\n", plugin.name);
            return 3;
        }
    }

    struct worker *ws[MAXI];
    for (int i = 0; i < ninsts; i++) {
        struct instance *in = &insts[i];
        ws[i] = calloc(in->workers, sizeof(struct worker));
        if (in->nchunks == 0) {
            continue;
        }
        for (int w = 0; w < in->workers; w++) {
            ws[i][w].in = in;
            ws[i][w].id = w;
            pthread_create(&ws[i][w].th, NULL, run_worker, &ws[i][w]);
        }
    }
    int status = 0;
    for (int i = 0; i < ninsts; i++) {
        struct instance *in = &insts[i];
        if (in->nchunks > 0) {
            for (int w = 0; w < in->workers; w++) {
                pthread_join(ws[i][w].th, NULL);
            }
        }
        printf("done instance=%s ok=%d error=%d gaveup=%d\n", in->name, in->ok, in->error, in->gaveup);
        if (in->error || in->gaveup) {
            status = 1;
        }
    }

    /* Shutdown: proxy_go_output_destroy per instance, then the global exit. */
    double t0 = now_ms();
    for (int i = 0; i < ninsts; i++) {
        if (plugin.cb_exit_ctx) {
            plugin.cb_exit_ctx(insts[i].ctx.remote_context);
        }
    }
    if (plugin.cb_exit) {
        plugin.cb_exit();
    }
    printf("exit ms=%.1f\n", now_ms() - t0);
    fflush(stdout);
    return status;
}
