/* The state of programs across restarts, on disk (see statestore.h). */
#include "statestore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"

/* mkdir of a parent that may be missing (~/.local/state), private. */
static int make_dir(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int statestore_dir(char *out, size_t size, char *err, size_t errsize)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char base[4096];
    struct stat st;

    if (xdg && *xdg == '/') {
        snprintf(base, sizeof base, "%s", xdg);
    } else if (home && *home == '/') {
        snprintf(base, sizeof base, "%s/.local", home);
        make_dir(base);
        snprintf(base, sizeof base, "%s/.local/state", home);
    } else {
        snprintf(err, errsize, "cannot keep program state: neither XDG_STATE_HOME nor HOME is set");
        return -1;
    }
    make_dir(base);
    if ((size_t)snprintf(out, size, "%s/hotc", base) >= size || make_dir(out) != 0) {
        snprintf(err, errsize, "cannot keep program state: cannot create %s/hotc: %s", base, strerror(errno));
        return -1;
    }
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errsize, "cannot keep program state in %s: not a folder", out);
        return -1;
    }
    if (st.st_uid != getuid()) {
        snprintf(err, errsize, "cannot keep program state in %s: it belongs to another user; remove it", out);
        return -1;
    }
    if ((st.st_mode & 077) != 0 && chmod(out, 0700) != 0) {
        snprintf(err, errsize, "cannot keep program state in %s: cannot make it private: %s", out, strerror(errno));
        return -1;
    }
    return 0;
}

void statestore_key(const char *executable, char *out, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *slash = strrchr(executable, '/');
    char name[64];
    for (const char *p = executable; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    }
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : executable);
    for (char *p = name; *p; p++)
        if (*p == '.' || *p == ' ')
            *p = '_';
    snprintf(out, size, "%s-%016" PRIx64, name, h);
}

/* The file of `executable`: its key (statestore_key) in `dir`. */
static void file_of(const char *dir, const char *executable, char *out, size_t size)
{
    char key[96];
    statestore_key(executable, key, sizeof key);
    snprintf(out, size, "%s/%s.json", dir, key);
}

/* Writes all of `n` bytes. Returns 0 or -1 (errno set). */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int statestore_write(const char *dir, json_t *state, char *err, size_t errsize)
{
    const char *exe = json_string_value(json_object_get(state, "executable"));
    char path[4200], tmp[4300];
    int fd;
    /* in memory first: jansson's json_dumpfd writes piece by piece */
    char *text = json_dumps(state, JSON_COMPACT);

    if (!exe || !*exe || !text) {
        snprintf(err, errsize, "cannot save the program's state: %s",
                 text ? "it did not say its executable" : "out of memory");
        free(text);
        return -1;
    }
    file_of(dir, exe, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        snprintf(err, errsize, "cannot save the program's state in %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(text);
        return -1;
    }
    free(text);
    return 0;
}

json_t *statestore_read(const char *dir, const char *executable, char *err, size_t errsize)
{
    char path[4200];
    struct stat st;
    json_error_t e;
    json_t *state;
    int fd;

    *err = '\0';
    file_of(dir, executable, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT)
            snprintf(err, errsize, "cannot read the saved state %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) {
        snprintf(err, errsize, "the saved state %s is not a private file of ours; it was ignored", path);
        close(fd);
        return NULL;
    }
    /* whole, then parsed: jansson's json_loadfd reads a byte per call */
    char *text = st.st_size > 0 ? malloc((size_t)st.st_size) : NULL;
    size_t have = 0;
    while (text && have < (size_t)st.st_size) {
        ssize_t k = read(fd, text + have, (size_t)st.st_size - have);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        have += (size_t)k;
    }
    close(fd);
    state = text ? json_loadb(text, have, 0, &e) : NULL;
    if (!text)
        snprintf(e.text, sizeof e.text, "empty or out of memory");
    free(text);
    const char *saved_for = json_string_value(json_object_get(state, "executable"));
    if (!state || !saved_for || strcmp(saved_for, executable) != 0) {
        snprintf(err, errsize, "the saved state %s cannot be read: %s", path, state ? "another program's" : e.text);
        json_decref(state);
        return NULL;
    }
    return state;
}

int statestore_forget(const char *dir, const char *executable)
{
    char path[4200];
    file_of(dir, executable, path, sizeof path);
    return unlink(path) == 0;
}

json_t *statestore_list(const char *dir)
{
    json_t *all = json_object();
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4400], err[256];

    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        json_t *state = json_load_file(path, 0, NULL);
        const char *exe = json_string_value(json_object_get(state, "executable"));
        json_t *check = exe ? statestore_read(dir, exe, err, sizeof err) : NULL; /* its own file, private */
        if (check)
            json_object_set_new(all, exe, json_true());
        json_decref(check);
        json_decref(state);
    }
    if (d)
        closedir(d);
    return all;
}

/* The type named `spelled` ("struct game", "game_t") in `exe`: a complete
 * definition. Under the lock. */
static bool type_die(struct debuginfo *exe, const char *spelled, Dwarf_Die *die)
{
    size_t count = 0;
    const struct debuginfo_entry *e = debuginfo_find(exe, DEBUGINFO_TYPE, spelled, &count);
    for (size_t i = 0; e && i <= count; i++)
        if (!e[i].declaration && debuginfo_die(exe, &e[i], die))
            return true;
    return false;
}

/* The type of the variable `name` defined in the unit of `file`. Under the
 * lock. */
static bool variable_type(struct debuginfo *exe, const char *name, const char *file, Dwarf_Die *type)
{
    int cu = file && *file ? debuginfo_cu_of(exe, file) : -1;
    const struct debuginfo_entry *e = debuginfo_resolve(exe, DEBUGINFO_VARIABLE, name, cu);
    Dwarf_Die die;
    return e && debuginfo_die(exe, e, &die) && debuginfo_type_of(&die, type);
}

static json_t *layout_of_block(struct debuginfo *exe, json_t *b)
{
    const char *type = json_string_value(json_object_get(b, "type"));
    Dwarf_Die die;
    return type && type_die(exe, type, &die) ? migrate_describe(&die) : NULL;
}

static json_t *layout_of_variable(struct debuginfo *exe, json_t *v)
{
    Dwarf_Die type;
    return variable_type(exe, json_string_value(json_object_get(v, "name")),
                         json_string_value(json_object_get(v, "file")), &type)
               ? migrate_describe(&type)
               : NULL;
}

/* The layout of block `b`, migrated live to the one its "fingerprint"
 * names, from the first patch library of `patches` that has it. */
static json_t *layout_in_patches(json_t *b, json_t *patches)
{
    const char *want = json_string_value(json_object_get(b, "fingerprint"));
    size_t i;
    json_t *path, *found = NULL;

    json_array_foreach(patches, i, path) {
        struct debuginfo *lib = NULL;
        if (found || debuginfo_open(json_string_value(path), &lib, NULL, 0) != 0)
            continue;
        debuginfo_lock(lib);
        json_t *layout = layout_of_block(lib, b);
        debuginfo_unlock(lib);
        debuginfo_free(lib);
        if (layout && strcmp(json_string_value(json_object_get(layout, "fp")) ? json_string_value(json_object_get(layout, "fp")) : "", want) == 0)
            found = layout;
        else
            json_decref(layout);
    }
    return found;
}

void statestore_describe(struct debuginfo *exe, json_t *state, json_t *patches)
{
    size_t i;
    json_t *e, *layout;

    json_array_foreach(json_object_get(state, "blocks"), i, e)
        if (json_object_get(e, "fingerprint") && (layout = layout_in_patches(e, patches)) != NULL)
            json_object_set_new(e, "layout", layout);
    if (!exe)
        return;
    debuginfo_lock(exe);
    json_array_foreach(json_object_get(state, "blocks"), i, e)
        if (!json_object_get(e, "fingerprint") && (layout = layout_of_block(exe, e)) != NULL)
            json_object_set_new(e, "layout", layout);
    json_array_foreach(json_object_get(state, "persist"), i, e)
        if ((layout = layout_of_variable(exe, e)) != NULL)
            json_object_set_new(e, "layout", layout);
    debuginfo_unlock(exe);
}

static void say(json_t *said, const char *kind, const char *fmt, const char *name, const char *text)
{
    char buf[600];
    snprintf(buf, sizeof buf, fmt, name, text);
    json_array_append_new(json_object_get(said, kind), json_string(buf));
}

/* `entry` with the plan from its saved layout to `now`, or NULL (said
 * why). */
static json_t *planned(json_t *entry, json_t *now, const char *what, json_t *said)
{
    const char *n = json_string_value(json_object_get(entry, "name"));
    char name[300];
    snprintf(name, sizeof name, json_object_get(entry, "type") ? "state `%s`" : "`%s`", n ? n : "?");
    json_t *saved = json_object_get(entry, "layout"), *plan, *out, *note;
    size_t i;

    if (!saved || !now) {
        say(said, "warnings", "%s was not restored: %s", name,
            !saved ? "its layout was not recorded when it was saved (no debug information?)"
                   : "this build does not describe its type (rebuild it with -g)");
        return NULL;
    }
    plan = migrate_plan_from(saved, now, what, true);
    if (!plan)
        return NULL;
    json_array_foreach(json_object_get(plan, "notes"), i, note) {
        const char *text = json_string_value(note);
        say(said, strstr(text, "cannot") ? "warnings" : "info", "%s: %s", name, text);
    }
    out = json_deep_copy(entry);
    json_object_del(out, "layout");
    json_object_del(plan, "notes");
    json_object_set_new(out, "migration", plan);
    return out;
}

json_t *statestore_restore_params(struct debuginfo *exe, json_t *state, json_t *said)
{
    json_t *blocks = json_array(), *persist = json_array(), *e, *p;
    size_t i;

    json_object_set_new(said, "info", json_array());
    json_object_set_new(said, "warnings", json_array());
    if (exe)
        debuginfo_lock(exe);
    json_array_foreach(json_object_get(state, "blocks"), i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!type) {
            json_array_append_new(blocks, json_deep_copy(e));
            continue;
        }
        json_t *now = exe ? layout_of_block(exe, e) : NULL;
        if ((p = planned(e, now, type, said)) != NULL)
            json_array_append_new(blocks, p);
        json_decref(now);
    }
    json_array_foreach(json_object_get(state, "persist"), i, e) {
        json_t *now = exe ? layout_of_variable(exe, e) : NULL;
        const char *name = json_string_value(json_object_get(e, "name"));
        if ((p = planned(e, now, name ? name : "?", said)) != NULL)
            json_array_append_new(persist, p);
        json_decref(now);
    }
    if (exe)
        debuginfo_unlock(exe);
    return json_pack("{s:o, s:o}", "blocks", blocks, "persist", persist);
}
