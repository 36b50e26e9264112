/* The compatibility judge (lsp/compat.c over lsp/debuginfo.c) on real
 * compiler output: each case of tests/fixtures/compat/ is a program
 * (prog.c, built with its old.h as types.h) and a patch (patch.c, as
 * lsp/patch.c would write it, built with new.h as types.h, with the flags
 * the server gives gcc), compiled by gcc with -g into a temporary folder.
 * The verdict, one line per disagreement ("function: message @file:line",
 * `*` for the whole patch), must be the case's `expected`
 * (HOTC_UPDATE_FIXTURES=1 rewrites them). A case whose request names
 * `stateTypes` (typed state blocks) also says each migration planned:
 * "state <type>: <notes>" ("unchanged" when its layout is the same). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "debuginfo.h"
#include "run.h"

static int sh(const char *cmd, char *out, size_t size)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    return test_run(argv, out, size, 120000);
}

struct built {
    char dir[64];
    char prog[PATH_MAX], patch[PATH_MAX], source[PATH_MAX];
};

/* Builds case `name` into a new temporary folder. */
static void build_case(struct built *b, const char *name, const char *cflags)
{
    char src[PATH_MAX], cmd[6 * PATH_MAX], out[8192];

    snprintf(b->dir, sizeof b->dir, "/tmp/hotc-compat-XXXXXX");
    cr_assert(mkdtemp(b->dir), "mkdtemp");
    snprintf(src, sizeof src, "%s", test_source_path("tests/fixtures/compat"));
    snprintf(b->prog, sizeof b->prog, "%s/prog", b->dir);
    snprintf(b->patch, sizeof b->patch, "%s/patch.so", b->dir);
    snprintf(b->source, sizeof b->source, "%s/prog.c", b->dir);
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; mkdir old new; cp '%s/%s/old.h' old/types.h; cp '%s/%s/new.h' new/types.h; "
             "cp '%s/%s/prog.c' '%s/%s/patch.c' .; "
             "gcc -std=c11 -g -O1 %s -Iold -o prog prog.c; "
             "gcc -std=c11 -g -O1 %s -Inew -fPIC -shared -ffunction-sections -Wl,--emit-relocs -o patch.so patch.c",
             b->dir, src, name, src, name, src, name, src, name, cflags, cflags);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "cannot build case %s: %s", name, out);
}

static void remove_case(struct built *b)
{
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    sh(cmd, NULL, 0);
}

/* The verdict of case `name`, one line per issue. */
static char *verdict(const char *name, size_t *compared)
{
    char path[PATH_MAX], err[512] = "";
    json_t *request, *v;
    json_error_t jerr;
    struct built b;
    struct debuginfo *exe = NULL;
    struct compat_function fns[16];
    struct compat_static statics[16];
    const char *state_types[8];
    struct compat_request req = { 0 };
    struct compat_report report;
    size_t i, size = 0;
    char *text = NULL;
    FILE *out;

    snprintf(path, sizeof path, "tests/fixtures/compat/%s/request.json", name);
    request = json_load_file(test_source_path(path), 0, &jerr);
    cr_assert(request, "%s: %s", path, jerr.text);
    v = json_object_get(request, "cflags");
    build_case(&b, name, json_is_string(v) ? json_string_value(v) : "");
    json_array_foreach(json_object_get(request, "functions"), i, v) {
        cr_assert_lt(i, 16);
        fns[i].name = json_string_value(json_object_get(v, "name"));
        fns[i].symbol = json_string_value(json_object_get(v, "symbol"));
        fns[i].is_static = false;
        req.function_count = i + 1;
    }
    json_array_foreach(json_object_get(request, "statics"), i, v) {
        cr_assert_lt(i, 16);
        statics[i].symbol = json_string_value(json_object_get(v, "symbol"));
        statics[i].name = json_string_value(json_object_get(v, "name"));
        statics[i].function = json_string_value(json_object_get(v, "function"));
        req.static_count = i + 1;
    }
    json_array_foreach(json_object_get(request, "stateTypes"), i, v) {
        cr_assert_lt(i, 8);
        state_types[i] = json_string_value(v);
        req.state_type_count = i + 1;
    }
    req.state_types = state_types;
    req.functions = fns;
    req.statics = statics;
    req.source = b.source;
    cr_assert_eq(debuginfo_open(b.prog, &exe, err, sizeof err), 0, "%s", err);
    cr_assert_eq(compat_check(exe, b.patch, &req, &report, err, sizeof err), 0, "%s", err);
    out = open_memstream(&text, &size);
    for (i = 0; i < report.count; i++) {
        const struct compat_issue *is = &report.issues[i];
        const char *file = is->file ? strrchr(is->file, '/') : NULL;
        fprintf(out, "%s: %s", is->function ? is->function : "*", is->message);
        if (is->file)
            fprintf(out, " @%s:%d", file ? file + 1 : is->file, is->line);
        fputc('\n', out);
    }
    json_array_foreach(report.migrations, i, v) {
        json_t *note;
        size_t k;
        fprintf(out, "state %s:", json_string_value(json_object_get(v, "type")));
        if (!strcmp(json_string_value(json_object_get(v, "fromLayout")), json_string_value(json_object_get(v, "toLayout"))))
            fprintf(out, " unchanged");
        json_array_foreach(json_object_get(v, "notes"), k, note)
            fprintf(out, "%s %s", k ? "," : "", json_string_value(note));
        fputc('\n', out);
    }
    fclose(out);
    *compared = report.compared;
    compat_report_release(&report);
    debuginfo_free(exe);
    json_decref(request);
    remove_case(&b);
    return text;
}

static void check_case(const char *name)
{
    char path[PATH_MAX];
    size_t compared = 0;
    char *got = verdict(name, &compared), *expected;

    cr_assert_gt(compared, 0, "%s: nothing was compared", name);
    snprintf(path, sizeof path, "tests/fixtures/compat/%s/expected", name);
    if (getenv("HOTC_UPDATE_FIXTURES")) {
        FILE *f = fopen(test_source_path(path), "w");
        cr_assert(f);
        fputs(got, f);
        fclose(f);
    }
    expected = test_slurp(test_source_path(path), NULL);
    cr_assert(expected, "missing %s", path);
    cr_assert_str_eq(got, expected, "%s: got\n%s", name, got);
    free(expected);
    free(got);
}

Test(compat, an_unchanged_layout_agrees) { check_case("same"); }
Test(compat, a_field_added_to_a_global_reached_through_a_macro) { check_case("global_macro"); }
Test(compat, a_file_scope_static_struct_that_grew) { check_case("static_struct"); }
Test(compat, a_function_local_static_of_another_type) { check_case("local_static"); }
Test(compat, a_bit_field_width_in_an_anonymous_typedef) { check_case("bitfield"); }
Test(compat, an_enum_constant_that_moved) { check_case("enum_value"); }
Test(compat, a_parameter_of_the_redirected_function) { check_case("param_type"); }
Test(compat, a_called_program_function_refuses_only_its_callers) { check_case("callee"); }
Test(compat, only_the_function_reaching_the_change_through_a_helper_is_refused) { check_case("attribution"); }
Test(compat, if_alternatives_chosen_by_the_same_flags_agree) { check_case("ifdef"); }
Test(compat, a_change_deep_behind_a_pointer_and_an_unnamed_union) { check_case("pointer_deep"); }
Test(compat, fields_reordered_in_a_struct_of_the_same_size) { check_case("reorder"); }
Test(compat, a_typedef_whose_target_changed_says_both) { check_case("typedef_param"); }
Test(compat, the_callers_of_a_function_that_cannot_be_reloaded_are_refused_too) { check_case("caller_of_refused"); }
Test(compat, a_state_type_that_changed_is_planned_not_refused) { check_case("state_block"); }
Test(compat, a_state_type_also_held_in_a_global_stays_refused) { check_case("state_global"); }

Test(compat, a_program_without_debug_information_is_said_so)
{
    char dir[] = "/tmp/hotc-compat-XXXXXX", cmd[PATH_MAX * 2], path[PATH_MAX], err[512] = "";
    struct debuginfo *exe = NULL;

    cr_assert(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cd '%s' && printf 'int main(void){return 0;}\\n' > p.c && gcc -g0 -o p p.c", dir);
    cr_assert_eq(sh(cmd, NULL, 0), 0);
    snprintf(path, sizeof path, "%s/p", dir);
    cr_assert_eq(debuginfo_open(path, &exe, err, sizeof err), DEBUGINFO_ENOINFO, "%s", err);
    cr_assert_null(exe);
    cr_assert(strstr(err, "-g"), "the reason says how to fix it: %s", err);
    snprintf(path, sizeof path, "%s/p.c", dir);
    cr_assert_eq(debuginfo_open(path, &exe, err, sizeof err), DEBUGINFO_EELF, "a C file is no ELF file");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    sh(cmd, NULL, 0);
}
