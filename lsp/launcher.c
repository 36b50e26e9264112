/* Launching and watching the program the editor runs (see launcher.h).
 *
 * A run finds the program (the command's or the settings', else the
 * output of the file's link entry in compile_commands.json, else the
 * workspace's executables that carry hotc's runtime: several go back to the
 * editor to pick from), then either hands the editor what to start in its
 * own terminal ({launch}: program, args, cwd and the HOTC_ENDPOINT
 * environment) or starts it itself through uv_spawn, never a shell, with
 * /dev/null as its stdin, stdout and stderr (the server's own stdout carries
 * protocol only, its log never the program's output). A restart first runs
 * the project's build (detected or the `build` setting; its messages become
 * diagnostics, a failure keeps the program running), then starts the
 * program again. */
#include "launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "exec.h"
#include "link.h"
#include "log.h"
#include "protocol.h"
#include "state.h"

extern char **environ;

/* The program started by hotc.server.run. */
struct launched {
    struct launcher *p;
    uv_process_t proc;
    uv_timer_t kill_timer;   /* SIGKILL when SIGTERM did not end it (launched_stop) */
    bool timer_open;
    int open_handles;
    bool exited;
    long pid;
};

/* How long a program the server stops gets after SIGTERM before SIGKILL. */
#define STOP_GRACE_MS 3000

struct launcher {
    uv_loop_t *loop;
    struct server *server;   /* of the last command (borrowed) */
    struct link *link;       /* of the last command (borrowed; NULL once closed) */
    bool closing;
    json_t *program_cfg;     /* the "program" setting, or NULL */
    char *compile_commands;  /* the "compileCommands" setting, or NULL */
    char *build_cfg;         /* the "build" setting (a command line), or NULL */
    struct launched *launched; /* the program the server started, or NULL */
    char **run_argv;         /* what run and restart start */
    char *run_cwd;
    bool terminal;           /* the editor runs the program in its terminal */
    struct server_request *restart_req; /* waits for the program to exit */
    bool building;
    struct build_runner runner; /* the project's build, on restart */
    bool runner_ready;
    json_t *build_uris;      /* uri -> [..]: files with diagnostics from the last build */
    launcher_before_stop_fn before_stop; /* the state hand-over, before restart stops the program */
    void *before_stop_user;
    struct server_request *stopping;     /* the restart waiting for before_stop */
};

#define BUILD_TIMEOUT_MS (10 * 60 * 1000)

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}


/* ---------------------------------------------------------------- the program the server started */

static void launched_maybe_free(struct launched *l)
{
    if (l->open_handles == 0)
        free(l);
}

static void on_launched_closed(uv_handle_t *h)
{
    struct launched *l = h->data;
    l->open_handles--;
    launched_maybe_free(l);
}

static int launch(struct launcher *p, long *pid_out, char *err, size_t errsize);
static void answer_launch(struct launcher *p, struct server_request *req);

static void on_stop_grace_over(uv_timer_t *timer)
{
    struct launched *l = timer->data;

    if (!l->exited) {
        log_warn("program %ld did not end within %d ms of SIGTERM; killing it", l->pid, STOP_GRACE_MS);
        uv_process_kill(&l->proc, SIGKILL);
    }
}

/* Asks the program to end (SIGTERM, and SIGCONT so that a stopped one
 * does), and kills it when it has not after STOP_GRACE_MS: a restart never
 * waits on a program that ignores SIGTERM or sits stopped in a debugger. */
static void launched_stop(struct launched *l, uv_loop_t *loop)
{
    if (l->exited)
        return;
    uv_process_kill(&l->proc, SIGTERM);
    uv_process_kill(&l->proc, SIGCONT);
    if (!l->timer_open && uv_timer_init(loop, &l->kill_timer) == 0) {
        l->kill_timer.data = l;
        l->timer_open = true;
        l->open_handles++;
        uv_timer_start(&l->kill_timer, on_stop_grace_over, STOP_GRACE_MS, 0);
    }
}

/* The program the server started ended: its exit status goes into the
 * "run" member of hotc/status (unless a crash report already said more),
 * and a pending restart starts it again. */
static void on_launched_exit(uv_process_t *proc, int64_t status, int signal)
{
    struct launched *l = proc->data;
    struct launcher *p = l->p;

    if (signal)
        log_info("program %ld ended by signal %d", l->pid, signal);
    else
        log_info("program %ld exited with status %" PRId64, l->pid, status);
    l->exited = true;
    uv_close((uv_handle_t *)&l->proc, on_launched_closed);
    if (l->timer_open) {
        l->timer_open = false;
        uv_close((uv_handle_t *)&l->kill_timer, on_launched_closed);
    }
    if (!p || p->launched != l)
        return;
    p->launched = NULL;
    if (!p->closing && !p->restart_req) {
        struct state *st = server_state(p->server);
        json_t *run = st->run;
        const char *was = json_string_value(json_object_get(run, "state"));
        if (!(was && strcmp(was, "crashed") == 0 && json_integer_value(json_object_get(run, "pid")) == l->pid)) {
            state_set_run(st, signal ? json_pack("{s:s, s:I, s:i, s:s}", "state", "exited", "pid", (json_int_t)l->pid,
                                                 "signal", signal, "signalName", exec_signal_name(signal))
                                     : json_pack("{s:s, s:I, s:i}", "state", "exited", "pid", (json_int_t)l->pid,
                                                 "status", (int)status));
            server_state_changed(p->server);
        }
    }
    if (p->restart_req && !p->closing) {
        struct server_request *req = p->restart_req;
        p->restart_req = NULL;
        answer_launch(p, req);
    }
}

/* The environment entries that point the program's runtime at this server
 * (new strings in `endpoint` and `token`, token NULL without TCP). With TCP
 * enabled the program attaches over it (it may run where the Unix socket is
 * not reachable: a container, another user). -1 when out of memory. */
static int runtime_env(struct launcher *p, char **endpoint, char **token)
{
    const char *tcp = link_tcp_endpoint(p->link);

    *endpoint = strdup(tcp ? tcp : link_endpoint(p->link));
    *token = tcp ? strdup(link_token(p->link)) : NULL;
    if (!*endpoint || (tcp && !*token)) {
        free(*endpoint);
        free(*token);
        return -1;
    }
    return 0;
}

/* Starts p->run_argv in p->run_cwd with HOTC_ENDPOINT set. Its stdin,
 * stdout and stderr are /dev/null: a program that needs a terminal runs in
 * the editor's (run with "terminal"), and its output never goes through the
 * server's log. Returns 0 (and the pid) or -1 with a reason. */
static int launch(struct launcher *p, long *pid_out, char *err, size_t errsize)
{
    struct launched *l;
    uv_process_options_t opts = { 0 };
    uv_stdio_container_t stdio[3];
    size_t n_env = 0;
    char **env, *endpoint = NULL, *token = NULL, *endpoint_env = NULL, *token_env = NULL;
    int rc;

    if (!p->link) {
        snprintf(err, errsize, "cannot run the program: the server has no runtime socket");
        return -1;
    }
    while (environ[n_env])
        n_env++;
    env = calloc(n_env + 3, sizeof *env);
    l = calloc(1, sizeof *l);
    if (runtime_env(p, &endpoint, &token) == 0) {
        endpoint_env = fmt("HOTC_ENDPOINT=%s", endpoint);
        token_env = token ? fmt("HOTC_TOKEN=%s", token) : NULL;
    }
    if (!env || !l || !endpoint_env || (token && !token_env)) {
        free(env);
        free(l);
        free(endpoint);
        free(token);
        free(endpoint_env);
        free(token_env);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    n_env = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "HOTC_ENDPOINT=", 14) != 0 && strncmp(*e, "HOTC_TOKEN=", 11) != 0)
            env[n_env++] = *e;
    env[n_env++] = endpoint_env;
    if (token_env)
        env[n_env++] = token_env;
    l->p = p;
    for (int i = 0; i < 3; i++)
        stdio[i].flags = UV_IGNORE;
    opts.file = p->run_argv[0];
    opts.args = p->run_argv;
    opts.env = env;
    opts.cwd = p->run_cwd;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = on_launched_exit;
    l->proc.data = l;
    l->open_handles++;
    rc = uv_spawn(p->loop, &l->proc, &opts);
    free(env);
    free(endpoint_env);
    free(token_env);
    free(token);
    if (rc != 0) {
        free(endpoint);
        snprintf(err, errsize, "cannot run %s: %s", p->run_argv[0], uv_strerror(rc));
        l->exited = true;
        l->p = NULL;
        uv_close((uv_handle_t *)&l->proc, on_launched_closed);
        return -1;
    }
    l->pid = l->proc.pid;
    p->launched = l;
    *pid_out = l->pid;
    log_info("started %s (pid %ld) with HOTC_ENDPOINT=%s", p->run_argv[0], l->pid, endpoint);
    free(endpoint);
    return 0;
}

/* What the editor needs to start the program in its own terminal:
 * {program, args, cwd, env: {HOTC_ENDPOINT, HOTC_TOKEN?}, title}. The
 * program is this hotc's `exec` (lsp/exec.h) running the user's, so that
 * the status can say which signal killed it; title is the user's program's
 * name, for the terminal. Without our own path, the user's program itself.
 * New reference, NULL without a socket or memory. */
static json_t *launch_spec(struct launcher *p)
{
    char *endpoint, *token, self[4096];
    json_t *args = json_array(), *env = json_object(), *spec;

    if (!p->link || !args || !env || runtime_env(p, &endpoint, &token) != 0) {
        json_decref(args);
        json_decref(env);
        return NULL;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    static const char deleted[] = " (deleted)"; /* replaced since it started */
    if (n > 0 && (size_t)n >= sizeof deleted - 1 && strcmp(self + n - (sizeof deleted - 1), deleted) == 0)
        n = 0;
    if (n > 0) {
        json_array_append_new(args, json_string("exec"));
        json_array_append_new(args, json_string("--"));
    }
    for (size_t i = n > 0 ? 0 : 1; p->run_argv[i]; i++)
        json_array_append_new(args, json_string(p->run_argv[i]));
    json_object_set_new(env, "HOTC_ENDPOINT", json_string(endpoint));
    if (token)
        json_object_set_new(env, "HOTC_TOKEN", json_string(token));
    const char *slash = strrchr(p->run_argv[0], '/');
    spec = json_pack("{s:s, s:o, s:s*, s:o, s:s}", "program", n > 0 ? self : p->run_argv[0], "args", args, "cwd",
                     p->run_cwd, "env", env, "title", slash ? slash + 1 : p->run_argv[0]);
    free(endpoint);
    free(token);
    return spec;
}

/* Starts p->run_argv (the server's child, or the editor's terminal when
 * the command asked for one) and answers `req`: {pid} or {launch}. */
static void answer_launch(struct launcher *p, struct server_request *req)
{
    char err[512];
    long pid = 0;

    if (p->terminal) {
        json_t *spec = launch_spec(p);
        if (!spec) {
            server_reply_error(p->server, req, -32803, "cannot run the program: the server has no runtime socket");
            return;
        }
        log_info("the editor starts %s in its terminal", p->run_argv[0]);
        server_reply(p->server, req, json_pack("{s:o}", "launch", spec));
        return;
    }
    if (launch(p, &pid, err, sizeof err) != 0)
        server_reply_error(p->server, req, -32803, err);
    else
        server_reply(p->server, req, json_pack("{s:I}", "pid", (json_int_t)pid));
}

/* ---------------------------------------------------------------- finding the program, off the loop */

/* Whether `path` is an executable (not a shared library) that carries
 * hotc's runtime: an ELF executable whose symbol tables name `hot_init`
 * (defined when linked with libhotc.a, imported with libhotc.so). Blocking:
 * for a worker thread. */
static bool hot_executable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char magic[4];
    bool found = false, interp = false;
    Elf *elf;
    GElf_Ehdr eh;
    size_t n_phdr = 0;
    Elf_Scn *scn = NULL;

    if (fd < 0)
        return false;
    if (read(fd, magic, 4) != 4 || memcmp(magic, ELFMAG, SELFMAG) != 0) {
        close(fd);
        return false;
    }
    elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!elf || !gelf_getehdr(elf, &eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
        goto done;
    /* a position-independent executable is ET_DYN too: it has an interpreter */
    elf_getphdrnum(elf, &n_phdr);
    for (size_t i = 0; i < n_phdr; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
            interp = true;
    }
    if (eh.e_type == ET_DYN && !interp)
        goto done;
    while (!found && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        Elf_Data *data;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || !sh.sh_entsize)
            continue;
        data = elf_getdata(scn, NULL);
        for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize && !found; i++) {
            GElf_Sym sym;
            const char *name;
            if (!gelf_getsym(data, (int)i, &sym))
                break;
            name = elf_strptr(elf, sh.sh_link, sym.st_name);
            found = name && strcmp(name, "hot_init") == 0;
        }
    }
done:
    if (elf)
        elf_end(elf);
    close(fd);
    return found;
}

#define SCAN_DEPTH 4       /* directories below the workspace root */
#define SCAN_ENTRIES 20000 /* entries looked at, at most */
#define SCAN_FOUND 32      /* programs returned, at most */

struct scan {
    json_t *found;         /* [{path, mtime}] */
    int entries;
};

/* Adds the executables under `dir` that carry hotc's runtime to
 * scan->found. Skips hidden directories and node_modules. Blocking: for a
 * worker thread. */
static void scan_dir(struct scan *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *ent;

    if (!d)
        return;
    while ((ent = readdir(d)) != NULL && s->entries++ < SCAN_ENTRIES && json_array_size(s->found) < SCAN_FOUND) {
        char path[PATH_MAX];
        struct stat st;
        if (ent->d_name[0] == '.' || strcmp(ent->d_name, "node_modules") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, ent->d_name) >= sizeof path || lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < SCAN_DEPTH)
            scan_dir(s, path, depth + 1);
        else if (S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR) && st.st_size > 1024 && hot_executable(path))
            json_array_append_new(s->found, json_pack("{s:s, s:I}", "path", path, "mtime", (json_int_t)st.st_mtime));
    }
    closedir(d);
}

static int newest_first(const void *a, const void *b)
{
    json_int_t ma = json_integer_value(json_object_get(*(json_t *const *)a, "mtime"));
    json_int_t mb = json_integer_value(json_object_get(*(json_t *const *)b, "mtime"));
    return ma < mb ? 1 : ma > mb ? -1 : 0;
}

/* The program of a compile_commands.json entry that links one (`-o X`
 * without `-c`), or NULL. New string. */
static char *program_of_entry(const struct build_command *entry)
{
    bool compile_only = false;
    const char *out = NULL;

    for (size_t i = 1; i < entry->argc; i++) {
        if (strcmp(entry->argv[i], "-c") == 0)
            compile_only = true;
        else if (strcmp(entry->argv[i], "-o") == 0 && i + 1 < entry->argc)
            out = entry->argv[i + 1];
    }
    if (compile_only || !out)
        return NULL;
    return out[0] == '/' ? strdup(out) : fmt("%s/%s", entry->directory, out);
}

static void set_run(struct launcher *p, const char *path, json_t *args, const char *cwd)
{
    size_t n = json_array_size(args), k = 0, i;
    json_t *a;

    build_argv_free(p->run_argv);
    free(p->run_cwd);
    p->run_argv = calloc(n + 2, sizeof *p->run_argv);
    if (!p->run_argv)
        return;
    p->run_argv[k++] = strdup(path);
    json_array_foreach(args, i, a)
        if (json_is_string(a))
            p->run_argv[k++] = strdup(json_string_value(a));
    p->run_cwd = cwd ? strdup(cwd) : NULL;
}

/* Launches `path` (NULL: nothing found) with the args and cwd of `cfg`
 * and answers `req`. */
static void run_program(struct launcher *p, struct server_request *req, const char *path, json_t *cfg)
{
    char err[512];

    if (p->launched) {
        snprintf(err, sizeof err, "the program is already running (pid %ld); use restart", p->launched->pid);
        server_reply_error(p->server, req, -32803, err);
        return;
    }
    if (!path) {
        server_reply_error(p->server, req, -32803,
                           "no program to run: no executable in the workspace is linked with libhotc; build it "
                           "(pkg-config --cflags --libs hotc) or set hotc.program {path, args, cwd}");
        return;
    }
    set_run(p, path, json_object_get(cfg, "args"), json_string_value(json_object_get(cfg, "cwd")));
    if (!p->run_argv) {
        server_reply_error(p->server, req, -32803, "out of memory");
        return;
    }
    answer_launch(p, req);
}

/* A run the settings do not name: the output of the file's link entry in
 * compile_commands.json, else the executables of the workspace that carry
 * hotc's runtime, looked up off the loop. */
struct run_lookup {
    uv_work_t work;
    struct launcher *p;
    struct server_request *req;
    json_t *cfg;             /* the program settings when the command came (a reference) */
    char *root, *configured, *path; /* what to look for (copies; any may be NULL) */
    char *found;             /* the program, when the lookup found one */
    json_t *candidates;      /* [path], newest first, when it found several */
};

/* Blocking (stat, reads of compile_commands.json and of executables): for
 * a worker thread. The compile_commands.json that applies to rl->path
 * (configured, at the root, in root/build, else in a parent of the file or
 * its build/) and the program its entry for the file links; when there is
 * none, the executables under the root that carry hotc's runtime. */
static void run_lookup_work(uv_work_t *req)
{
    struct run_lookup *rl = req->data;
    char found[PATH_MAX], err[512];
    const char *db_path = build_db_find(rl->root, rl->configured, found, sizeof found);
    struct build_db *db = NULL;
    const struct build_command *entry;
    struct scan s = { 0 };

    if (!db_path && rl->path) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", rl->path);
        for (char *slash = strrchr(dir, '/'); slash && !db_path; slash = strrchr(dir, '/')) {
            *slash = '\0';
            db_path = build_db_find(*dir ? dir : "/", NULL, found, sizeof found);
        }
    }
    if (rl->path && db_path && build_db_load(&db, db_path, err, sizeof err) == 0) {
        struct stat st;
        entry = build_db_lookup(db, rl->path);
        rl->found = entry ? program_of_entry(entry) : NULL;
        build_db_free(db);
        if (rl->found && stat(rl->found, &st) == 0)
            return;
        free(rl->found);
        rl->found = NULL;
    }
    s.found = json_array();
    if (!s.found || !rl->root)
        goto out;
    scan_dir(&s, rl->root, 0);
    if (json_array_size(s.found) == 1) {
        rl->found = strdup(json_string_value(json_object_get(json_array_get(s.found, 0), "path")));
    } else if (json_array_size(s.found) > 1) {
        size_t n = json_array_size(s.found);
        json_t **v = malloc(n * sizeof *v);
        rl->candidates = json_array();
        for (size_t i = 0; v && i < n; i++)
            v[i] = json_array_get(s.found, i);
        if (v)
            qsort(v, n, sizeof *v, newest_first);
        for (size_t i = 0; v && rl->candidates && i < n; i++)
            json_array_append(rl->candidates, json_object_get(v[i], "path"));
        free(v);
    }
out:
    json_decref(s.found);
}

static void run_lookup_free(struct run_lookup *rl)
{
    json_decref(rl->cfg);
    json_decref(rl->candidates);
    free(rl->root);
    free(rl->configured);
    free(rl->path);
    free(rl->found);
    free(rl);
}

static void on_run_lookup(uv_work_t *req, int status)
{
    struct run_lookup *rl = req->data;
    struct launcher *p = rl->p;

    (void)status;
    if (p->closing) {
        server_reply_error(p->server, rl->req, -32803, "the server is shutting down");
    } else if (rl->candidates && json_array_size(rl->candidates) > 1) {
        /* the editor asks the user and runs again with {program} */
        server_reply(p->server, rl->req, json_pack("{s:O}", "candidates", rl->candidates));
    } else {
        if (rl->found)
            log_info("running %s, found in the workspace", rl->found);
        run_program(p, rl->req, rl->found, rl->cfg);
    }
    run_lookup_free(rl);
}

void launcher_run(struct launcher *p, struct server *server, struct link *link, struct server_request *req,
                  json_t *arguments)
{
    json_t *arg = json_array_get(arguments, 0);
    json_t *cfg = json_is_object(arg) && json_object_get(arg, "program") ? arg : p->program_cfg;
    const char *path = json_string_value(json_object_get(cfg, json_is_object(arg) && cfg == arg ? "program" : "path"));
    const char *file = json_is_string(arg) ? json_string_value(arg) : json_string_value(json_object_get(arg, "file"));
    const char *root = server_root(server);
    struct run_lookup *rl;

    p->server = server;
    p->link = link;
    p->terminal = json_is_true(json_object_get(arg, "terminal"));
    if (p->launched || path) {
        run_program(p, req, path, cfg);
        return;
    }
    rl = calloc(1, sizeof *rl);
    if (rl) {
        rl->root = root ? strdup(root) : NULL;
        rl->configured = p->compile_commands ? strdup(p->compile_commands) : NULL;
        rl->path = file ? protocol_uri_to_path(file) : NULL;
    }
    if (!rl || (root && !rl->root) || (p->compile_commands && !rl->configured) || (file && !rl->path)) {
        server_reply_error(server, req, -32803, "out of memory");
        if (rl)
            run_lookup_free(rl);
        return;
    }
    rl->p = p;
    rl->req = req;
    rl->cfg = json_incref(cfg);
    rl->work.data = rl;
    if (uv_queue_work(p->loop, &rl->work, run_lookup_work, on_run_lookup) != 0) {
        server_reply_error(server, req, -32803, "cannot look for the program in the workspace");
        run_lookup_free(rl);
    }
}

/* ---------------------------------------------------------------- restart: rebuild, then run again */

/* The project's build command, found off the loop: the `build` setting,
 * else `make` where the root has a Makefile, `ninja -C <dir>` where a
 * build.ninja is, `cmake --build <dir>` where a CMakeCache.txt is (the root
 * or its build/). */
struct rebuild {
    uv_work_t work;
    struct launcher *p;
    struct server_request *req;
    char *root, *configured;
    char **argv;             /* the command found, or NULL: nothing to build */
    char *cwd;
};

/* Blocking (stat): for a worker thread. */
static void rebuild_work(uv_work_t *req)
{
    struct rebuild *rb = req->data;
    static const char *const makefiles[] = { "GNUmakefile", "makefile", "Makefile" };
    static const char *const dirs[] = { "", "/build" };
    char path[PATH_MAX];
    struct stat st;
    size_t argc;

    if (rb->configured) {
        rb->argv = build_split_command(rb->configured, &argc);
        rb->cwd = rb->root ? strdup(rb->root) : NULL;
        return;
    }
    if (!rb->root)
        return;
    for (size_t i = 0; i < sizeof makefiles / sizeof *makefiles; i++) {
        snprintf(path, sizeof path, "%s/%s", rb->root, makefiles[i]);
        if (stat(path, &st) == 0) {
            rb->argv = build_split_command("make", &argc);
            rb->cwd = strdup(rb->root);
            return;
        }
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char *cmd = NULL;
        snprintf(path, sizeof path, "%s%s/build.ninja", rb->root, dirs[i]);
        if (stat(path, &st) == 0) {
            cmd = fmt("ninja -C '%s%s'", rb->root, dirs[i]);
        } else {
            snprintf(path, sizeof path, "%s%s/CMakeCache.txt", rb->root, dirs[i]);
            if (stat(path, &st) == 0)
                cmd = fmt("cmake --build '%s%s'", rb->root, dirs[i]);
        }
        if (cmd) {
            rb->argv = build_split_command(cmd, &argc);
            rb->cwd = strdup(rb->root);
            free(cmd);
            return;
        }
    }
}

static void rebuild_free(struct rebuild *rb)
{
    free(rb->root);
    free(rb->configured);
    build_argv_free(rb->argv);
    free(rb->cwd);
    free(rb);
}

static void stop_and_relaunch(struct launcher *p, struct server_request *req);

/* before_stop is done: the restart goes on. */
static void resume_restart(void *arg)
{
    struct launcher *p = arg;
    struct server_request *req = p->stopping;

    p->stopping = NULL;
    if (!req)
        return;
    if (p->closing) {
        server_reply_error(p->server, req, -32803, "the server is shutting down");
        return;
    }
    stop_and_relaunch(p, req);
}

/* Lets the program hand its state over (before_stop), then stops and
 * starts it again. */
static void relaunch(struct launcher *p, struct server_request *req)
{
    if (p->before_stop && !p->stopping) {
        p->stopping = req;
        p->before_stop(p->launched ? p->launched->pid : 0, p->run_argv[0], resume_restart, p, p->before_stop_user);
        return;
    }
    stop_and_relaunch(p, req);
}

void launcher_set_before_stop(struct launcher *p, launcher_before_stop_fn fn, void *user)
{
    p->before_stop = fn;
    p->before_stop_user = user;
}

/* Stops the program the server started (the restart goes on from its exit
 * callback) or starts it again right away. */
static void stop_and_relaunch(struct launcher *p, struct server_request *req)
{
    if (p->launched) {
        p->restart_req = req;
        launched_stop(p->launched, p->loop);
        return;
    }
    answer_launch(p, req);
}

/* Publishes the build's messages as diagnostics (source "build") and
 * clears the ones of the previous build. */
static void publish_build(struct launcher *p, const struct build_diags *diags, const char *cwd)
{
    json_t *uris = json_object();
    const char *uri;
    json_t *v;

    for (size_t i = 0; uris && i < diags->count; i++) {
        const struct build_diag *d = &diags->items[i];
        char *path, *u;
        struct server_diagnostic sd = { 0 };
        json_t *list;
        if (!d->file || d->line < 0)
            continue;
        path = d->file[0] == '/' || !cwd ? strdup(d->file) : fmt("%s/%s", cwd, d->file);
        u = path ? protocol_path_to_uri(path) : NULL;
        free(path);
        if (!u)
            continue;
        list = json_object_get(uris, u);
        if (!list) {
            list = json_array();
            json_object_set_new(uris, u, list);
        }
        sd.range.start.row = sd.range.end.row = (uint32_t)d->line;
        sd.range.start.column = (uint32_t)(d->column < 0 ? 0 : d->column);
        sd.range.end.column = sd.range.start.column + 1;
        json_array_append_new(list, json_pack("{s:i, s:i, s:i, s:s}", "line", d->line, "column",
                                              (int)sd.range.start.column, "level", (int)d->severity, "text",
                                              d->message ? d->message : ""));
        free(u);
    }
    json_object_foreach(p->build_uris, uri, v)
        if (!json_object_get(uris, uri))
            server_set_diagnostics(p->server, uri, "build", NULL, 0);
    json_object_foreach(uris, uri, v) {
        size_t n = json_array_size(v), i;
        struct server_diagnostic *ds = calloc(n ? n : 1, sizeof *ds);
        json_t *item;
        if (!ds)
            continue;
        json_array_foreach(v, i, item) {
            int line = (int)json_integer_value(json_object_get(item, "line"));
            int col = (int)json_integer_value(json_object_get(item, "column"));
            ds[i].range.start.row = ds[i].range.end.row = (uint32_t)line;
            ds[i].range.start.column = (uint32_t)col;
            ds[i].range.end.column = (uint32_t)col + 1;
            ds[i].severity = (int)json_integer_value(json_object_get(item, "level"));
            ds[i].code = "build";
            ds[i].message = json_string_value(json_object_get(item, "text"));
        }
        server_set_diagnostics(p->server, uri, "build", ds, n);
        free(ds);
    }
    json_decref(p->build_uris);
    p->build_uris = uris ? uris : json_object();
}

struct built {
    struct launcher *p;
    struct server_request *req;
    char *cwd;
};

static void on_built(const struct build_result *r, void *user)
{
    struct built *b = user;
    struct launcher *p = b->p;
    char *message;

    p->building = false;
    if (p->closing) {
        server_reply_error(p->server, b->req, -32803, "the server is shutting down");
    } else {
        publish_build(p, &r->diags, b->cwd);
        if (r->status == 0) {
            log_info("the build succeeded in %" PRIu64 " ms; restarting %s", r->duration_us / 1000, p->run_argv[0]);
            relaunch(p, b->req);
        } else {
            const struct build_diag *first = NULL;
            for (size_t i = 0; i < r->diags.count && !first; i++)
                if (r->diags.items[i].severity == BUILD_ERROR)
                    first = &r->diags.items[i];
            message = first ? fmt("cannot restart: the build failed: %s:%d: %s; the program keeps running",
                                  first->file ? first->file : "?", first->line + 1, first->message)
                            : fmt("cannot restart: the build failed (%s); the program keeps running%s",
                                  r->status == BUILD_ETIMEOUT ? "timed out" : r->status == BUILD_ESPAWN
                                      ? "the build command could not start" : "see the log",
                                  "");
            log_error("%s\n%.*s", message ? message : "the build failed", (int)r->output_len,
                      r->output ? r->output : "");
            server_reply_error(p->server, b->req, -32803, message ? message : "the build failed");
            free(message);
        }
    }
    free(b->cwd);
    free(b);
}

static void on_rebuild_found(uv_work_t *req, int status)
{
    struct rebuild *rb = req->data;
    struct launcher *p = rb->p;
    struct built *b;

    (void)status;
    p->building = false;
    if (p->closing) {
        server_reply_error(p->server, rb->req, -32803, "the server is shutting down");
        rebuild_free(rb);
        return;
    }
    if (!rb->argv) {
        log_info("no build command found (no Makefile, build.ninja or CMakeCache.txt at the root; set hotc.build): "
                 "restarting without a rebuild");
        relaunch(p, rb->req);
        rebuild_free(rb);
        return;
    }
    if (!p->runner_ready) {
        build_runner_init(&p->runner, p->loop);
        p->runner_ready = true;
    }
    b = calloc(1, sizeof *b);
    if (b) {
        b->p = p;
        b->req = rb->req;
        b->cwd = rb->cwd ? strdup(rb->cwd) : NULL;
    }
    log_info("restart: building with %s in %s", rb->argv[0], rb->cwd ? rb->cwd : ".");
    p->building = true;
    if (!b || build_run(&p->runner, "hotc-restart-build", rb->argv, NULL, rb->cwd, BUILD_TIMEOUT_MS, on_built, b) != 0) {
        p->building = false;
        server_reply_error(p->server, rb->req, -32803, "cannot start the build: out of memory");
        if (b)
            free(b->cwd);
        free(b);
    }
    rebuild_free(rb);
}

void launcher_restart(struct launcher *p, struct server *server, struct link *link, struct server_request *req,
                      json_t *arguments)
{
    json_t *arg = json_array_get(arguments, 0);
    const char *path = json_string_value(json_object_get(arg, "program"));
    const char *root = server_root(server);
    struct rebuild *rb;

    p->server = server;
    p->link = link;
    if (json_is_object(arg))
        p->terminal = json_is_true(json_object_get(arg, "terminal"));
    if (path)
        set_run(p, path, json_object_get(arg, "args"), json_string_value(json_object_get(arg, "cwd")));
    if (!p->run_argv) {
        server_reply_error(p->server, req, -32803, "nothing to restart: start the program with run first");
        return;
    }
    if (p->restart_req || p->building || p->stopping) {
        server_reply_error(p->server, req, -32803, "a restart is already under way");
        return;
    }
    rb = calloc(1, sizeof *rb);
    if (rb) {
        rb->root = root ? strdup(root) : NULL;
        rb->configured = p->build_cfg ? strdup(p->build_cfg) : NULL;
    }
    if (!rb || (root && !rb->root) || (p->build_cfg && !rb->configured)) {
        server_reply_error(p->server, req, -32803, "out of memory");
        if (rb)
            rebuild_free(rb);
        return;
    }
    rb->p = p;
    rb->req = req;
    rb->work.data = rb;
    if (uv_queue_work(p->loop, &rb->work, rebuild_work, on_rebuild_found) != 0) {
        server_reply_error(p->server, req, -32803, "cannot look for the build command");
        rebuild_free(rb);
        return;
    }
    p->building = true;
}

/* ---------------------------------------------------------------- lifetime */

struct launcher *launcher_new(uv_loop_t *loop)
{
    struct launcher *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->loop = loop;
    p->build_uris = json_object();
    if (!p->build_uris) {
        free(p);
        return NULL;
    }
    elf_version(EV_CURRENT); /* once, before any worker reads an executable */
    return p;
}

void launcher_configure(struct launcher *p, json_t *settings)
{
    const char *s = json_string_value(json_object_get(settings, "compileCommands"));
    const char *b = json_string_value(json_object_get(settings, "build"));

    json_decref(p->program_cfg);
    p->program_cfg = json_is_object(json_object_get(settings, "program"))
                         ? json_deep_copy(json_object_get(settings, "program"))
                         : NULL;
    free(p->compile_commands);
    p->compile_commands = s ? strdup(s) : NULL;
    free(p->build_cfg);
    p->build_cfg = b && *b ? strdup(b) : NULL;
}

void launcher_close(struct launcher *p)
{
    p->closing = true;
    p->link = NULL;
    if (p->runner_ready)
        build_runner_close(&p->runner);
    p->runner_ready = false;
    if (p->restart_req) {
        server_reply_error(p->server, p->restart_req, -32803, "the server is shutting down");
        p->restart_req = NULL;
    }
    if (p->launched) {
        struct launched *l = p->launched;
        uv_process_kill(&l->proc, SIGTERM);
        uv_process_kill(&l->proc, SIGCONT);
        l->p = NULL;
        p->launched = NULL;
        if (!l->exited)
            uv_close((uv_handle_t *)&l->proc, on_launched_closed);
        if (l->timer_open) {
            l->timer_open = false;
            uv_close((uv_handle_t *)&l->kill_timer, on_launched_closed);
        }
    }
}

void launcher_free(struct launcher *p)
{
    if (!p)
        return;
    json_decref(p->program_cfg);
    json_decref(p->build_uris);
    free(p->compile_commands);
    free(p->build_cfg);
    build_argv_free(p->run_argv);
    free(p->run_cwd);
    free(p);
}
