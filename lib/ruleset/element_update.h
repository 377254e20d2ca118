// `add element` and `delete element` on a live ruleset without a rebuild. A text of nothing
// but element commands is parsed against the live ruleset's declarations (not its elements),
// checked against the compiled sets (membership, overlaps) as nft checks it against the
// kernel's, and applied to copies of the sets it names, which then replace the live ones by
// pointer (compiled.h, swappable). The rest of the ruleset is neither copied nor compiled.
// What this path does not take (live, concatenated or auto-merge sets, jumps in a map's data)
// goes through a full load, with the same result. docs/design/element-updates.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "ruleset/ast.h"
#include "ruleset/compiled.h"

namespace ctgate::nft {

// One `add element` or `delete element` command, parsed but not applied.
struct element_command {
  bool remove = false;
  uint32_t table = 0, set = 0;  // into the base's tables and their sets
  location at;                  // the set's name
  struct elem {
    value_range r;
    std::string text;
    map_data data;  // a map's element: what its key maps to
    location at;
  };
  std::vector<elem> elems;
};

// The live ruleset as parse_element_commands reads it: tables, chains (without rules) and the
// declarations of sets and objects, without their elements.
ruleset skeleton_of(const ruleset& rs);

// The commands of `text`, when it holds nothing but `add element` / `delete element` on sets
// of one field; nullopt when it holds anything else (another command, define, include): such
// a text needs parse_string. Errors are parse_string's for the same text.
result<std::optional<std::vector<element_command>>> parse_element_commands(const std::string& text,
                                                                           const std::string& name,
                                                                           const ruleset& skeleton);

// What the commands change, made ready on copies: the new compiled sets and maps, and the AST
// edits. Built while workers read the live ruleset.
struct element_update {
  struct set_edit {
    uint32_t table = 0, set = 0;  // the AST set
    std::unique_ptr<range_set> set_body;
    std::unique_ptr<range_map> map_body;
    std::vector<value_range> ast_removed;          // elements that leave the AST set
    std::vector<element_command::elem> ast_added;  // and those that join it, in order
  };
  std::vector<set_edit> edits;
  size_t added = 0, removed = 0;
};

// Checks the commands against `rs` (the live ruleset) as a full load would, and builds the
// update. nullopt: this path does not take them (a full load must). `element_limit`: the
// config's ruleset_limits.set_elements.
result<std::optional<element_update>> plan_element_update(const compiled_ruleset& rs,
                                                          const std::vector<element_command>& cmds,
                                                          size_t element_limit);

// The compiled sets and maps an update replaced: workers may read them until the next grace
// period, after which they are freed.
struct retired_sets {
  std::vector<std::unique_ptr<range_set>> sets;
  std::vector<std::unique_ptr<range_map>> maps;
};

// Publishes the update into `rs`: its AST takes the edits (the caller excludes listings) and
// its sets and maps the new copies.
retired_sets apply_element_update(compiled_ruleset& rs, element_update&& u);

}  // namespace ctgate::nft
