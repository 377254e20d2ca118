// Element updates without a rebuild: see element_update.h. The checks here are the ones a
// full load makes on the AST (evaluate.cpp's add_elements, parser_set.cpp's element_cmd), made
// against the compiled sets instead, so that both paths accept and refuse the same commands
// with the same messages (tests/ruleset/test_element_update.cpp runs both).
#include "ruleset/element_update.h"

#include <algorithm>
#include <map>
#include <set>

#include "ruleset/evaluate.h"

namespace ctgate::nft {

namespace {

error error_at(const location& at, const std::string& message) {
  return error{.file = at.file,
               .line = at.line,
               .col = at.col,
               .len = at.len,
               .severity = "error",
               .message = message};
}

// A map element's compiled entry. An object map's names an object of table `t`: its value is
// the object's state index (compile.cpp map_entries), or UINT64_MAX when there is no such
// object (the caller takes the full load, which reports it).
range_map::entry entry_of(const map_data& d, const compiled_ruleset& rs, size_t t) {
  range_map::entry e;
  e.verdict = d.verdict;
  e.value = d.value;
  if (d.object.empty()) return e;
  e.value = UINT64_MAX;
  const obj_kind kind = d.object_quota ? obj_kind::quota : obj_kind::counter;
  const std::vector<object>& objects = rs.ast.tables[t].objects;
  for (uint32_t oi = 0; oi < objects.size(); ++oi) {
    if (objects[oi].kind != kind || objects[oi].name != d.object) continue;
    const std::vector<crule>& where = d.object_quota ? rs.quota_rule : rs.counter_rule;
    for (uint32_t i = 0; i < where.size(); ++i)
      if (where[i].table == t && where[i].chain == k_none && where[i].index == oi) e.value = i;
  }
  return e;
}

// One set's share of the commands, as they are checked.
struct set_work {
  uint32_t table = 0, set = 0;
  const nft::set* ast = nullptr;
  compiled_ruleset::named_store store;
  // Exact sets and maps: the keys this batch added (with their entry) or deleted.
  std::map<uint64_t, range_map::entry> added;
  std::set<uint64_t> deleted;
  // Interval sets: a batch either adds or deletes (the two together take a full load).
  std::map<uint64_t, value_range> added_ranges;  // by lo
  std::vector<const element_command::elem*> deleted_ranges;
  std::vector<element_command::elem> ast_added;  // in command order
};

class planner {
 public:
  planner(const compiled_ruleset& rs, size_t limit) : rs_(rs), limit_(limit) {
    for (const table& tb : rs.ast.tables)
      for (const set& st : tb.sets) total_ += st.elems.size();
  }

  // False: a full load must take the commands (sets this path does not edit).
  result<bool> check(const element_command& cmd) {
    const set& st = rs_.ast.tables[cmd.table].sets[cmd.set];
    const compiled_ruleset::named_store ns = rs_.named[cmd.table][cmd.set];
    if (st.live() || st.width() > 1 || st.auto_merge || (ns.set == k_none && ns.map == k_none))
      return false;
    set_work& w = work_[{cmd.table, cmd.set}];
    w.table = cmd.table;
    w.set = cmd.set;
    w.ast = &st;
    w.store = ns;
    if (!cmd.remove) {
      // As the parser counts: every element written, before duplicates go.
      total_ += cmd.elems.size();
      if (total_ > limit_)
        return error_at(cmd.at, "too many set elements: the limit is " + std::to_string(limit_) +
                                    " over all sets (ruleset_limits.set_elements in the config)");
    }
    for (const element_command::elem& e : cmd.elems) {
      if (!e.data.target.empty()) return false;  // a jump: the loop check is the compiler's
      // An object that does not exist: the full load reports it.
      if (!e.data.object.empty() && entry_of(e.data, rs_, cmd.table).value == UINT64_MAX)
        return false;
      result<bool> ok = st.interval ? interval(w, cmd.remove, e) : exact(w, cmd.remove, e);
      if (!ok || !*ok) return ok;
    }
    return true;
  }

  // After every command: the interval deletions, against the AST's elements (a deletion names
  // an element exactly), and the update.
  result<element_update> finish() {
    element_update u;
    for (auto& [key, w] : work_) {
      element_update::set_edit edit;
      edit.table = w.table;
      edit.set = w.set;
      if (!w.deleted_ranges.empty()) {
        if (result<void> r = find_deleted(w); !r) return std::move(r).error();
        for (const element_command::elem* e : w.deleted_ranges) edit.ast_removed.push_back(e->r);
      }
      for (uint64_t v : w.deleted) edit.ast_removed.push_back({v, v});
      edit.ast_added = std::move(w.ast_added);
      u.added += edit.ast_added.size();
      u.removed += edit.ast_removed.size();
      std::vector<value_range> add;
      for (const element_command::elem& e : edit.ast_added) add.push_back(e.r);
      if (w.store.set != k_none) {
        edit.set_body = rs_.sets[w.store.set]->edited(add, edit.ast_removed);
      } else {
        std::vector<std::pair<value_range, range_map::entry>> pairs;
        for (const element_command::elem& e : edit.ast_added)
          pairs.emplace_back(e.r, entry_of(e.data, rs_, w.table));
        edit.map_body = rs_.maps[w.store.map]->edited(pairs, edit.ast_removed);
      }
      u.edits.push_back(std::move(edit));
    }
    return u;
  }

 private:
  // Whether v is in the set before this batch, and its entry in a map.
  bool had(const set_work& w, uint64_t v, range_map::entry* entry) const {
    if (w.store.set != k_none) return rs_.sets[w.store.set]->contains(v);
    const range_map::entry* e = rs_.maps[w.store.map]->find(v);
    if (e != nullptr) *entry = *e;
    return e != nullptr;
  }

  std::string where(const set_work& w) const {
    return "set '" + w.ast->name + "' of " + detail::table_title(rs_.ast, w.table);
  }

  // A set of single values: adding one that is there changes nothing (a map's must map to the
  // same thing), deleting one that is not fails the whole transaction.
  result<bool> exact(set_work& w, bool remove, const element_command::elem& e) {
    const uint64_t v = e.r.lo;
    range_map::entry now;
    bool present;
    if (auto it = w.added.find(v); it != w.added.end()) {
      present = true;
      now = it->second;
    } else {
      present = !w.deleted.contains(v) && had(w, v, &now);
    }
    if (remove) {
      if (!present)
        return error_at(e.at, "element " + e.text + " is not in " + where(w) +
                                  " (nft: No such file or directory)");
      if (w.added.contains(v)) return false;  // added and deleted in one batch: a full load
      w.deleted.insert(v);
      return true;
    }
    if (present) {
      const range_map::entry want = entry_of(e.data, rs_, w.table);
      if (w.store.map != k_none &&
          (now.verdict != want.verdict || now.value != want.value || now.target != k_none))
        return error_at(e.at, "element " + e.text + " already exists in map '" + w.ast->name +
                                  "' with other data (nft: File exists)");
      return true;
    }
    if (w.deleted.contains(v)) return false;  // deleted and added in one batch: a full load
    w.added.emplace(v, entry_of(e.data, rs_, w.table));
    w.ast_added.push_back(e);
    return true;
  }

  // A set with `flags interval`: elements must not overlap (nft: conflicting intervals).
  result<bool> interval(set_work& w, bool remove, const element_command::elem& e) {
    if (remove) {
      if (!w.added_ranges.empty()) return false;
      w.deleted_ranges.push_back(&e);
      return true;
    }
    if (!w.deleted_ranges.empty()) return false;
    const bool in_set = w.store.set != k_none ? rs_.sets[w.store.set]->overlaps(e.r)
                                              : rs_.maps[w.store.map]->overlaps(e.r);
    bool in_batch = false;
    auto next = w.added_ranges.lower_bound(e.r.lo);
    if (next != w.added_ranges.end() && next->second.lo <= e.r.hi) in_batch = true;
    if (next != w.added_ranges.begin() && std::prev(next)->second.hi >= e.r.lo) in_batch = true;
    if (in_set || in_batch) return error_at(e.at, "conflicting intervals specified");
    w.added_ranges.emplace(e.r.lo, e.r);
    w.ast_added.push_back(e);
    return true;
  }

  // Every interval deletion names an element of the set (each once).
  result<void> find_deleted(const set_work& w) const {
    std::map<value_range, bool> wanted;  // element -> found
    for (const element_command::elem* e : w.deleted_ranges) {
      if (wanted.contains(e->r))  // the second deletion of one element finds nothing
        return error_at(e->at, "element " + e->text + " is not in " + where(w) +
                                   " (nft: No such file or directory)");
      wanted.emplace(e->r, false);
    }
    for (const value_range& r : w.ast->elems)
      if (auto it = wanted.find(r); it != wanted.end()) it->second = true;
    for (const element_command::elem* e : w.deleted_ranges)
      if (!wanted[e->r])
        return error_at(e->at, "element " + e->text + " is not in " + where(w) +
                                   " (nft: No such file or directory)");
    return {};
  }

  const compiled_ruleset& rs_;
  size_t limit_;
  size_t total_ = 0;
  std::map<std::pair<uint32_t, uint32_t>, set_work> work_;
};

}  // namespace

result<std::optional<element_update>> plan_element_update(const compiled_ruleset& rs,
                                                          const std::vector<element_command>& cmds,
                                                          size_t element_limit) {
  planner p(rs, element_limit);
  for (const element_command& cmd : cmds) {
    if (cmd.table >= rs.named.size() || cmd.set >= rs.named[cmd.table].size())
      return std::optional<element_update>{};
    result<bool> ok = p.check(cmd);
    if (!ok) return std::move(ok).error();
    if (!*ok) return std::optional<element_update>{};
  }
  result<element_update> u = p.finish();
  if (!u) return std::move(u).error();
  return std::optional<element_update>(std::move(*u));
}

retired_sets apply_element_update(compiled_ruleset& rs, element_update&& u) {
  retired_sets old;
  for (element_update::set_edit& edit : u.edits) {
    set& st = rs.ast.tables[edit.table].sets[edit.set];
    if (!edit.ast_removed.empty()) {
      // One pass: each removed element is one of the set's (nft never holds one twice).
      std::sort(edit.ast_removed.begin(), edit.ast_removed.end());
      const bool is_map = !st.data.empty();
      size_t kept = 0;
      for (size_t i = 0; i < st.elems.size(); ++i) {
        if (std::binary_search(edit.ast_removed.begin(), edit.ast_removed.end(), st.elems[i]))
          continue;
        st.elems[kept] = st.elems[i];
        st.elem_text[kept] = std::move(st.elem_text[i]);
        if (is_map) st.data[kept] = std::move(st.data[i]);
        ++kept;
      }
      st.elems.resize(kept);
      st.elem_text.resize(kept);
      if (is_map) st.data.resize(kept);
    }
    for (element_command::elem& e : edit.ast_added) {
      st.elems.push_back(e.r);
      st.elem_text.push_back(std::move(e.text));
      if (!st.data_type.empty()) st.data.push_back(std::move(e.data));
    }
    const compiled_ruleset::named_store ns = rs.named[edit.table][edit.set];
    if (edit.set_body) old.sets.push_back(rs.sets[ns.set].replace(std::move(edit.set_body)));
    if (edit.map_body) old.maps.push_back(rs.maps[ns.map].replace(std::move(edit.map_body)));
  }
  return old;
}

}  // namespace ctgate::nft
