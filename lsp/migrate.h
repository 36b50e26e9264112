/* Migration plans for typed state blocks (runtime/hot.h, HOT_STATE): from
 * the DWARF of a type as the running executable has it (old) and as a
 * compiled patch has it (new), the field-by-field operations that turn a
 * block of the old layout into one of the new, as hot/reload carries them
 * (docs/protocol.md, `migrations`), and what they do in words for the
 * editor. The runtime runs them (runtime/migrate.c).
 *
 * Rules: same-named fields of the same layout are copied; numbers (integers,
 * enums, bools, floats) that changed width, signedness or kind are
 * converted (the runtime leaves a value that does not fit at zero); nested
 * structs and fixed arrays are planned member by member and element by
 * element; new fields stay zero; removed fields are dropped; pointers are
 * copied; anything else that changed (a bit-field, a union, a struct turned
 * into a number) is left zero, with a note naming it.
 *
 * Every plan is made from descriptions of the two layouts
 * (migrate_describe), so that a layout saved with a program's state plans
 * the same way after the DWARF it came from is gone.
 *
 * Pure: libdw DIEs in, JSON out; the caller holds the files' locks. */
#ifndef HOTC_MIGRATE_H
#define HOTC_MIGRATE_H

#include <elfutils/libdw.h>
#include <jansson.h>
#include <stdbool.h>

/* The plan for blocks of `type` (the spelling the runtime reported):
 * {"type", "oldSize", "newSize", "fromLayout", "toLayout", "ops": [...],
 * "notes": ["field `lives` added (0)", "`speed` int → double", ...]}. When
 * both layouts are the same, fromLayout equals toLayout and ops is one copy.
 * New reference, or NULL when out of memory. */
json_t *migrate_plan(Dwarf_Die *old_type, Dwarf_Die *new_type, const char *type);

/* A description of a type's layout that outlives the DWARF it was read
 * from (saved with a program's state across a restart, docs/protocol.md
 * "State across restarts"): {"kind": "number"|"pointer"|"struct"|"union"|
 * "array"|"void"|"other", "size", "spell", "fp" (migrate_fingerprint),
 * "num"?, "pointers"? (true: holds a pointer by value), "members"?:
 * [{"name"?, "offset", "bits"?, "type"}], "count"?, "dims"?, "element"?}.
 * New reference, or NULL when out of memory. */
json_t *migrate_describe(Dwarf_Die *type);

/* The plan from two descriptions (migrate_describe), as migrate_plan.
 * With `restart`, the block crosses a process: pointers are not copied
 * (left zero, "pointer `next` reset to NULL"), nor is anything holding one.
 * New reference, or NULL when out of memory. */
json_t *migrate_plan_from(json_t *old_desc, json_t *new_desc, const char *type, bool restart);

/* A fingerprint of a type's layout (sizes, offsets, names and kinds of its
 * fields, recursively by value; pointers by size only) in 16 hex digits
 * into `out` (17 bytes). Two builds that lay a type out the same give the
 * same fingerprint. */
void migrate_fingerprint(Dwarf_Die *type, char out[17]);

#endif
