// A compiled ruleset: flat arrays the data plane walks, built once on the
// control plane and immutable afterwards (per-worker counters and limiter
// state aside, which live beside it).
//
// Matching cost: a rule is a short array of compare ops; every set (named
// or anonymous, exact or interval) is a sorted array of disjoint ranges
// searched in O(log n), so 100k elements cost ~17 probes and a 10-rule
// chain of single values costs 10 compares.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/counters.h"
#include "conntrack/ct_count.h"
#include "ruleset/ast.h"
#include "ruleset/dynset.h"

namespace ctgate::ct {
class flow_table;
}  // namespace ctgate::ct

namespace ctgate::nft {

inline constexpr uint32_t k_none = UINT32_MAX;

// The index of the last element of sorted `lo` that is <= v (lo.size() if none). A binary
// search without branches on the data: each step is a conditional move, so keys the branch
// predictor cannot guess (real traffic against a big set) cost no mispredictions; only the
// loads, log2(n) of them, remain.
inline size_t last_at_or_below(const uint64_t* lo, size_t size, uint64_t v) {
  size_t n = size;
  if (n == 0) return 0;
  const uint64_t* base = lo;
  while (n > 1) {
    const size_t half = n / 2;
    base = base[half] <= v ? base + half : base;
    n -= half;
  }
  return *base <= v ? static_cast<size_t>(base - lo) : size;
}
inline size_t last_at_or_below(const std::vector<uint64_t>& lo, uint64_t v) {
  return last_at_or_below(lo.data(), lo.size(), v);
}

// Sets and maps of many exact values (no ranges or prefixes among them) are looked up in an
// open-addressing hash table instead: one probe, usually one cache miss, where a binary search
// over 100k keys misses on its last few levels. Linear probing at a load of at most 1/2.
//
// Keys are kept apart from positions, and in 32 bits when they all fit (addresses, ports,
// marks: most sets); a set keeps no positions at all. So a lookup that misses, a blocklist's
// usual case, reads 4-byte slots: 100,000 addresses take 1 MiB, where 16-byte key-and-position
// slots took 4 MiB, and more of them stay in cache next to a large flow table. Two layouts
// were tried and measured worse (docs/bench.md): buckets of a cache line compared in SIMD (3
// cycles better on 32-bit keys in cache, 7 worse on 64-bit ones, whose compare SSE2 lacks),
// and each map position stored next to its key (more instructions per probe than the line
// it saves).
//
// A table too big for the cache (k_filter_min_bytes and up) gets a filter in front, an eighth
// of its size: 8 bits per 32-bit key (128 KiB for 100,000 addresses, which stays in L2), 16 per
// 64-bit key. Most lookups that miss read only the
// filter: no miss to the table, and no probe loop whose exit the branch predictor cannot
// guess. A lookup that hits pays the filter on top (one cached word).
class exact_index {
 public:
  static constexpr size_t k_min_keys = 64;  // below this, the sorted array is as cheap
  static constexpr size_t k_filter_min_bytes = 256 * 1024;
  // `keys` must be distinct. Without `positions` (sets), find() answers 0 for every key present.
  explicit exact_index(const std::vector<uint64_t>& keys, bool positions = true);
  exact_index() = default;
  // The position of v in the `keys` given to the constructor, k_none if absent.
  uint32_t find(uint64_t v) const {
    if (!filter_.empty() && !maybe_present(v)) return k_none;
    if (wide_) return probe(keys64_.data(), v);
    return v > UINT32_MAX ? k_none : probe(keys32_.data(), static_cast<uint32_t>(v));
  }
  bool empty() const { return capacity_ == 0; }
  // Where a lookup of v starts (tests make keys that collide with it).
  const void* home_of(uint64_t v) const {
    return wide_ ? static_cast<const void*>(&keys64_[slot_of(v)])
                 : static_cast<const void*>(&keys32_[slot_of(v)]);
  }
  // Editing a private copy (element updates, set_edit.cpp). insert() takes a key not present;
  // false (nothing done) when the table would pass a load of 1/2, or v needs more than the
  // table's 32 bits: build a new one with every key.
  bool insert(uint64_t v, uint32_t pos);
  void erase(uint64_t v);  // v present or not
  size_t keys() const { return keys_; }
  // Every key with its position (0 without positions), in slot order.
  std::vector<std::pair<uint64_t, uint32_t>> entries() const;

 private:
  // An empty slot holds all ones; the key all-ones itself lives in empty_key_pos_.
  template <class K>
  static constexpr K k_empty = static_cast<K>(~K{0});
  size_t slot_of(uint64_t v) const {
    return static_cast<size_t>((v * 0x9e3779b97f4a7c15ull) >> shift_) & mask_;
  }
  // The filter: a Bloom filter blocked by 64-bit word, three bits per key in the word its
  // hash picks (a hash independent of slot_of's). Absent keys pass it 1 to 5% of the time
  // (the bench's keys; docs/bench.md).
  static uint64_t filter_hash(uint64_t v) { return v * 0xc2b2ae3d27d4eb4full; }
  static uint64_t filter_bits(uint64_t h) {
    return (uint64_t{1} << ((h >> 20) & 63)) | (uint64_t{1} << ((h >> 26) & 63)) |
           (uint64_t{1} << ((h >> 32) & 63));
  }
  bool maybe_present(uint64_t v) const {
    const uint64_t h = filter_hash(v);
    const uint64_t bits = filter_bits(h);
    return (filter_[h >> filter_shift_] & bits) == bits;
  }
  void filter_add(uint64_t v) {
    const uint64_t h = filter_hash(v);
    filter_[h >> filter_shift_] |= filter_bits(h);
  }
  void build_filter();
  template <class K>
  uint32_t probe(const K* keys, K v) const {
    if (v == k_empty<K>) [[unlikely]]
      return empty_key_pos_;
    for (size_t i = slot_of(v);; i = (i + 1) & mask_) {
      if (keys[i] == v) return pos_.empty() ? 0 : pos_[i];
      if (keys[i] == k_empty<K>) return k_none;
    }
  }
  template <class K>
  void place(std::vector<K>& keys, K v, uint32_t pos);
  template <class K>
  void remove(std::vector<K>& keys, K v);
  template <class K>
  void list(const std::vector<K>& keys, std::vector<std::pair<uint64_t, uint32_t>>& out) const;

  // What every lookup reads first, then the slots: one of keys32_ and keys64_ holds the keys.
  std::vector<uint64_t> filter_;  // empty while the table fits in cache
  unsigned filter_shift_ = 63;
  size_t capacity_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 63;
  bool wide_ = false;
  uint32_t empty_key_pos_ = k_none;  // the all-ones key, if it is a key
  std::vector<uint32_t> keys32_;
  std::vector<uint32_t> pos_;  // per slot, when positions are kept
  std::vector<uint64_t> keys64_;
  size_t keys_ = 0;
  size_t stale_ = 0;  // keys erased since the filter was built (their bits stay set)
};

class range_set {
 public:
  // Sorts and merges overlapping/adjacent ranges.
  explicit range_set(std::vector<value_range> r);
  [[gnu::always_inline]] bool contains(uint64_t v) const {
    if (!exact_.empty()) return exact_.find(v) != k_none;
    // The last range starting at or below v is the only candidate.
    const size_t i = last_at_or_below(lo_, v);
    return i < lo_.size() && v <= hi_[i];
  }
  size_t size() const { return n_; }
  bool hashed() const { return !exact_.empty(); }
  // Whether some value in r is in the set.
  bool overlaps(const value_range& r) const;
  // A copy with `add` added and `remove` taken out (each of `remove` is an element of the set,
  // and no two elements overlap: nft's rule for named sets). Copies the hash table, or merges
  // the sorted arrays: O(n) memory traffic, no sort, no rehash unless the table must grow.
  std::unique_ptr<range_set> edited(const std::vector<value_range>& add,
                                    const std::vector<value_range>& remove) const;

 private:
  range_set() = default;
  std::vector<uint64_t> lo_, hi_;  // split arrays: the search touches lo_ only
  exact_index exact_;              // many exact values: hashed (then lo_ and hi_ are freed)
  size_t n_ = 0;                   // ranges after merging
};

// A map (verdict or data), named or anonymous: sorted disjoint key ranges, each with its
// verdict (jump targets resolved to chain indices) or value. Looked up in O(log n), or hashed
// (exact_index) when it has many keys and no ranges.
class range_map {
 public:
  struct entry {
    stmt_kind verdict = stmt_kind::accept;
    uint32_t target = UINT32_MAX;  // chain index for jump/goto
    uint64_t value = 0;            // data maps: the mark
  };
  // `keys` must not overlap (the parser refuses overlapping elements).
  range_map(const std::vector<value_range>& keys, std::vector<entry> data);
  const entry* find(uint64_t v) const {
    if (!exact_.empty()) {
      const uint32_t i = exact_.find(v);
      return i != UINT32_MAX ? &data_[i] : nullptr;
    }
    const size_t i = last_at_or_below(lo_, v);
    return i < lo_.size() && v <= hi_[i] ? &data_[i] : nullptr;
  }
  size_t size() const { return hashed() ? exact_.keys() : data_.size(); }
  bool hashed() const { return !exact_.empty(); }
  bool overlaps(const value_range& r) const;  // some key shares a value with r
  // A copy with the keys `remove` (each a key of the map) taken out, then `add` added (keys
  // that overlap none left). As range_set::edited.
  std::unique_ptr<range_map> edited(const std::vector<std::pair<value_range, entry>>& add,
                                    const std::vector<value_range>& remove) const;

 private:
  range_map() = default;
  std::vector<uint64_t> lo_, hi_;  // freed once hashed
  std::vector<entry> data_;
  exact_index exact_;
};

// A named set's or map's compiled elements change without a reload (`add element`,
// element_update.h): the data plane reaches them through a pointer that the control plane
// swaps, and frees the old after a grace period, as whole rulesets are. One more load per
// lookup, from a line the lookup's own fields share.
template <class T>
class swappable {
 public:
  template <class... A>
  requires std::is_constructible_v<T, A...>
  explicit swappable(A&&... a)
      : owned_(std::make_unique<T>(std::forward<A>(a)...)), cur_(owned_.get()) {}
  swappable(swappable&& o) noexcept : owned_(std::move(o.owned_)), cur_(owned_.get()) {}
  swappable& operator=(swappable&&) = delete;
  const T& operator*() const { return *cur_.load(std::memory_order_acquire); }
  const T* operator->() const { return cur_.load(std::memory_order_acquire); }
  // Control plane: publishes `next` (built completely before: the release pairs with the
  // workers' acquire) and hands back the old one, which workers may still read until the
  // next grace period.
  std::unique_ptr<T> replace(std::unique_ptr<T> next) {
    cur_.store(next.get(), std::memory_order_release);
    owned_.swap(next);
    return next;
  }

 private:
  std::unique_ptr<T> owned_;
  std::atomic<const T*> cur_;
};

// A concatenated set or map (`ip saddr . tcp dport { 10.0.0.1 . 22, 10.0.0.0/8 . 1000-2000 }`),
// looked up one field at a time: a node splits its field's values into segments (sorted
// starts, searched like a set), and each segment leads to the node of the elements whose
// ranges cover it for the next field, or, at the last field, to the element that matches.
// So a key costs one O(log n) search per field, and ranges in any field work (nft's pipapo
// sets allow them). Nodes for the same element list are shared; building is bounded
// (compile refuses a set whose ranges would cut the space into too many pieces).
class concat_table {
 public:
  // The first element (in the order added) whose every range holds key[i]: its index into
  // `data` for a map, or 0 for a set (whose elements are all alike); k_none if none.
  uint32_t find(const uint64_t* key) const {
    uint32_t node = 0;
    for (size_t d = 0;; ++d) {
      const node_span& n = nodes_[node];
      // Every node's first segment starts at 0, so some segment holds the value.
      const uint32_t c = child_[n.first + last_at_or_below(lo_.data() + n.first, n.count, key[d])];
      if (c == k_none || d + 1 == width_) return c;
      node = c;
    }
  }
  size_t width() const { return width_; }
  size_t segments() const { return lo_.size(); }

 private:
  friend class concat_builder;
  struct node_span {
    uint32_t first = 0, count = 0;  // into lo_ and child_
  };
  std::vector<node_span> nodes_;  // [0] is the first field's
  std::vector<uint64_t> lo_;      // segment starts, per node
  std::vector<uint32_t> child_;   // per segment: the next field's node, or the element
  size_t width_ = 1;
};

// A rule's use of a concatenated set or map: the fields that make its key and where the
// elements are. A key of at most 64 bits whose elements are each one contiguous run of keys
// (exact values, then at most one range, then whole fields: `10.0.0.1 . 22`, `10.0.0.1 .
// 1000-2000`) is looked up as one number, the fields side by side, in a plain range_set or
// range_map: one binary search. Other keys take a concat_table.
struct concat_lookup {
  uint32_t table = k_none;  // concat_tables (general)
  uint32_t data = k_none;   // concat_data (general maps)
  uint32_t set = k_none;    // sets (packed sets)
  uint32_t map = k_none;    // maps (packed maps)
  uint8_t width = 0;
  field fields[k_max_key_words] = {};
  uint8_t shift[k_max_key_words] = {};  // packed: field i's value goes at bit shift[i]
};

struct cmatch {
  field f;
  cmp_op op;
  bool concat = false;      // `set` is an index into compiled_ruleset::concat_lookups
  bool live = false;        // `set` is an index into compiled_ruleset::live_lookups
  uint32_t set = k_none;    // index into compiled_ruleset::sets when a set/range list
  uint64_t lo = 0, hi = 0;  // single value or one range when set == k_none
  uint64_t mask = 0, value = 0;
  uint32_t gen = k_none;  // f is numgen or jhash: index into numgens or hashes
};

struct cstmt {
  stmt_kind kind;
  uint32_t target = k_none;      // chain index for jump/goto
  uint32_t counter = k_none;     // counter index
  uint32_t limit = k_none;       // limiter index
  uint32_t log = k_none;         // log prefix index
  uint32_t meter = k_none;       // per-element limit: index into compiled_ruleset::elem_limits
  uint32_t live = k_none;        // meter, dynset: index into compiled_ruleset::live_lookups
  uint32_t elem_timeout_ms = 0;  // dynset, meter: the element's timeout (0: the set's)
  uint32_t map = k_none;         // vmap / mark set ... map: index into compiled_ruleset::maps
  uint32_t concat = k_none;      // ... or, for a concatenated key, into concat_lookups
  uint32_t numgen = k_none;      // `from` is numgen: index into compiled_ruleset::numgens
  uint32_t hash = k_none;        // `from` is jhash: index into compiled_ruleset::hashes
  uint32_t quota = k_none;       // index into compiled_ruleset::quotas
  uint32_t ct_count = k_none;    // index into compiled_ruleset::ct_counts
  uint32_t nat = k_none;         // index into compiled_ruleset::nats
  bool has_from = false;         // the statement reads `from` (vmap, mark set FIELD [map])
  field from = field::meta_mark;
  reject_kind reject = reject_kind::icmp_port_unreachable;
  uint64_t value = 0;
};

// cstmt::value of `tcp option maxseg size set rt mtu` (a set N has N <= 0xffff).
inline constexpr uint64_t k_mss_rt_mtu = 0x10000;

struct crule {
  uint32_t first_match = 0, n_matches = 0;
  uint32_t first_stmt = 0, n_stmts = 0;
  uint32_t table = 0, chain = 0, index = 0;  // position in the AST, for listings/trace
  uint32_t run = k_none;                     // the indexed run this rule belongs to, if any
};

// A run of consecutive rules whose first match is `F == value(s)` on the
// same field F (e.g. 1,000 `tcp dport N ...` rules). Instead of trying each
// rule, the evaluator looks the packet's F up once (O(log n)) and visits
// only the rules listing that value, in their order. Rules that cannot
// match are never touched; order, jumps and returns are unchanged.
struct rule_run {
  field f;
  uint32_t first = 0, end = 0;     // global rule indices [first, end)
  std::vector<uint64_t> keys;      // sorted distinct values
  std::vector<uint32_t> list_off;  // keys[i]'s rules: rules_by_key[list_off[i] .. list_off[i+1])
  std::vector<uint32_t> rules_by_key;  // global rule indices, ascending per key
  // The first rule >= `from` in this run that may match value v; `end` if none.
  uint32_t next_candidate(uint64_t v, uint32_t from) const;
};

struct cchain {
  std::string name;
  uint32_t table = 0;
  uint32_t ast_chain = 0;
  bool base = false;
  hook hook_point = hook::input;
  int32_t priority = 0;
  bool policy_drop = false;
  bool nat = false;  // a base chain of type nat: run by the NAT hook of its hook point
  uint32_t first_rule = 0, n_rules = 0;
  // Live-set lookups of this chain's own rules (at most k_max_prefetch), in sets too big to
  // stay in cache: the evaluator prefetches the slots of a group of packets before it
  // evaluates them, for the packets whose matches before the lookup (its guards: `ct state
  // new` in front of `update @s`) pass.
  struct prefetch {
    uint32_t lookup;       // index into compiled_ruleset::live_lookups
    uint32_t first_guard;  // index into compiled_ruleset::matches
    uint32_t n_guards;
  };
  std::vector<prefetch> live_prefetch;
};
inline constexpr size_t k_max_prefetch = 2;
// Live sets whose slots take less are not prefetched: they stay in cache, and computing the
// key ahead cost more than the miss it hid (dynset_hot in docs/bench.md).
inline constexpr size_t k_prefetch_min_bytes = 256 * 1024;

// GCRA limiter (one atomic word): conforming while the theoretical arrival
// time is at most `tolerance` ahead of now.
struct limiter {
  uint64_t interval_ns = 0;   // 1 / rate
  uint64_t tolerance_ns = 0;  // burst * interval
  bool over = false;          // `limit rate over`: the rule matches when NOT conforming
  alignas(64) std::atomic<uint64_t> tat_ns{0};
  // True when the packet is within the rate.
  bool conforming(uint64_t now_ns);
};

// A limit per element of a live set (meters, `update @s { KEY limit rate ... }`): GCRA on
// the element's own word (dyn_slot::tat_ns).
struct elem_limit {
  uint64_t interval_ns = 0;
  uint64_t tolerance_ns = 0;
  bool over = false;
};

// One GCRA step on an atomic theoretical-arrival-time word: true when the packet is within
// the rate (and charges it).
bool gcra_conforming(std::atomic<uint64_t>& tat_ns, uint64_t now_ns, uint64_t interval_ns,
                     uint64_t tolerance_ns);

// A set whose elements live in a table the workers update (set::live(): dynamic sets, sets
// with timeouts), or a meter's. The table is shared with the next ruleset when a load keeps
// the set (carry_live_sets), so elements added from the packet path survive reloads.
struct live_set {
  std::shared_ptr<dyn_table> table;  // made by fill_live_sets (null before)
  uint32_t size = k_default_live_set_size;
  bool limits = false;      // its elements carry limits (dyn_slot::aux)
  uint32_t timeout_ms = 0;  // elements added without one get this
  // `add @s { KEY ct count ... }`: a connection count per element, in lists per slot of the
  // table (made by fill_live_sets, kept with the table), with a pool sized for the largest
  // limit of the statements counting into the set.
  bool counted = false;
  uint32_t count_limit = 0;
  uint32_t count_stmt = k_none;  // the first counting statement (ct_counts), for listings
  std::shared_ptr<ct::ct_count_lists> counts;
  uint32_t ast_table = k_none, ast_set = k_none;  // where it is in the AST (meters: k_none)
};

// A key looked up in, or added to, a live set: its fields (at most four 32-bit words), each
// ANDed with its mask (all ones but for `ip6 saddr and MASK` in a dynset or meter).
struct live_lookup {
  uint32_t set = k_none;  // index into compiled_ruleset::live_sets
  uint8_t width = 1;
  field fields[k_max_key_words] = {};
  uint32_t mask[4] = {~0u, ~0u, ~0u, ~0u};
};

// numgen inc|random mod N [offset M] (Linux's nft_numgen): `inc` counts 0, 1, ... N-1, 0, ...
// over all workers (one shared counter, as the kernel's); `random` scales a random number
// into [0, N). Both add the offset.
struct numgen_state {
  uint32_t mod = 1;
  uint32_t offset = 0;
  bool random = false;
  alignas(64) std::atomic<uint32_t> counter{0};
  uint32_t next();
};

// jhash KEY mod N [seed S] [offset M] (Linux's nft_jhash): KEY's fields laid out as nft's
// registers hold them (a single field in its own length; in a concatenation each field padded
// to 4 bytes; packet fields in network order, marks in host order), hashed, scaled into
// [0, N) as reciprocal_scale does, plus M.
struct hash_state {
  uint8_t width = 0;
  field fields[k_max_key_words] = {};
  // Per field, fixed at compile (fields.h hash_layout): its bytes in nft's register, and
  // whether they are in host order (marks) rather than the packet's.
  uint8_t len[k_max_key_words] = {};
  bool host_order[k_max_key_words] = {};
  uint32_t mod = 1;
  uint32_t offset = 0;
  uint32_t seed = 0;
  bool symmetric = false;  // symhash: no fields; the flow's addresses, ports and protocol
  // Appends a key field (one nft's registers hold: fields.h hash_layout) with its layout.
  void add_field(field f);
  // The result for the fields' values (load_field's, in field order).
  uint32_t of(const uint64_t* values) const;
  // symhash's result for a flow (addresses and ports in network order as in the packet):
  // the same for both directions, as Linux's flow dissector orders the endpoints before
  // hashing (__flow_hash_consistentify).
  uint32_t of_flow(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                   uint8_t proto) const;
};

// quota [over|until] N bytes (nft_quota): bytes consumed by the packets that reached the
// statement, over all workers (one shared word, as the kernel's).
struct quota_state {
  uint64_t bytes = 0;  // the quota
  bool over = false;   // `quota over`: the rule matches once the quota is used up
  alignas(64) std::atomic<uint64_t> consumed{0};
};

struct rule_counter {
  counter_slot packets;
  counter_slot bytes;
};

// A `ct timeout` object: the protocol it applies to and the timeout classes it sets
// (conntrack/proto.h timeout_class, ms), for conntrack's policy slots (conntrack/ct_timeout.h).
struct ct_timeout_spec {
  uint64_t table_handle = 0, handle = 0, serial = 0;  // its identity across loads
  uint8_t l4proto = 0;
  uint8_t first = 0;  // the class a new flow starts in
  std::vector<std::pair<uint8_t, uint32_t>> ms;
};

struct compiled_ruleset {
  ruleset ast;         // for listings
  std::string source;  // file name
  std::vector<swappable<range_set>> sets;
  std::vector<swappable<range_map>> maps;
  // Where each named set's elements are (by AST table and set): its index into sets or maps,
  // for element updates without a rebuild; k_none for the others (live, concatenated).
  struct named_store {
    uint32_t set = k_none, map = k_none;
  };
  std::vector<std::vector<named_store>> named;
  std::vector<concat_table> concat_tables;                 // concatenated sets and maps
  std::vector<std::vector<range_map::entry>> concat_data;  // a concatenated map's data
  std::vector<concat_lookup> concat_lookups;
  std::vector<cmatch> matches;
  std::vector<cstmt> stmts;
  std::vector<crule> rules;
  std::vector<cchain> chains;
  std::vector<rule_run> runs;
  struct log_spec {
    std::string prefix;
    uint8_t level = 4;  // syslog's
    uint8_t flags = 0;  // LOG_F_*
  };
  std::vector<log_spec> logs;       // per log statement
  std::vector<crule> counter_rule;  // counter index -> rule position
  std::unique_ptr<quota_state[]> quotas;
  std::vector<crule> quota_rule;  // quota index -> rule position
  std::unique_ptr<limiter[]> limiters;
  uint32_t n_limiters = 0;
  std::vector<elem_limit> elem_limits;
  std::vector<live_set> live_sets;
  std::vector<live_lookup> live_lookups;
  std::vector<std::unique_ptr<numgen_state>> numgens;
  std::vector<ct_timeout_spec> ct_timeouts;  // `ct timeout set` statements index these
  // Per ct_timeouts entry, its slot in conntrack (ct_timeout_ref), set at install before
  // workers see the ruleset.
  std::vector<uint32_t> ct_timeout_refs;
  // The flow table whose accounting `ct bytes|packets|avgpkt` read, set at install before
  // workers see the ruleset (null: none, and they read 0). uses_acct: the ruleset reads them,
  // and the install turns accounting on (as nft's ct expression does).
  const ct::flow_table* ct_table = nullptr;
  bool uses_acct = false;
  std::vector<hash_state> hashes;
  // Per `ct count` statement: its limit, `over`, and the connections it remembers (per
  // worker), new with each compiled ruleset as a new nft expression's list is.
  // A count per element of a set (`add @s { KEY ct count ... }`) has no lists of its own:
  // they are the set's (live_set::counts).
  struct ct_count_spec {
    uint32_t limit = 0;
    bool over = false;
    bool per_element = false;
    std::unique_ptr<ct::ct_count_lists> lists;  // null per element
  };
  std::vector<ct_count_spec> ct_counts;
  // Per limit statement and per-element limit, per worker: packets within and over the rate
  // (the per-rule limit counters). Index: limits first, then elem_limits.
  struct limit_counter {
    counter_slot within;
    counter_slot over;
  };
  std::unique_ptr<limit_counter[]> limit_counters;  // [n_workers * (n_limiters + meters)]
  std::vector<crule> limit_rule;                    // statement index -> rule position
  limit_counter& lcounter(uint16_t worker, uint32_t i) {
    return limit_counters[worker * (n_limiters + elem_limits.size()) + i];
  }
  bool uses_ct = false;        // a rule reads or writes ct state: conntrack must be on
  bool uses_nftrace = false;   // `meta nftrace set 1` somewhere: tracing is on
  bool uses_synproxy = false;  // a synproxy statement: its hook must be registered
  // NAT statements (cstmt::value indexes them); the rules' nat chains are run by the NAT hooks
  // (nft_nat.h), not registered on their hooks themselves, as in Linux.
  std::vector<nat_spec> nats;
  bool uses_nat = false;
  uint32_t group = 0;  // hook registry group once installed
  uint16_t n_workers = 0;
  // counters[worker * n_counters + i]
  uint32_t n_counters = 0;
  std::unique_ptr<rule_counter[]> counters;
  // Per counter: what it had counted before this ruleset (a rule kept by an
  // incremental load goes on from its old total). Set before workers see
  // the ruleset's counters in a listing, never after.
  std::vector<counter_value> counter_base;
  std::vector<std::string> warnings;

  rule_counter& counter(uint16_t worker, uint32_t i) { return counters[worker * n_counters + i]; }
  counter_value counter_total(uint32_t i) const;  // base + every worker's
};

// The tables of a compiled ruleset's live sets, made at install (now_ms: the workers' clock);
// workers must not see the ruleset before. A set `from` (the live ruleset, may be null) has
// that the load keeps is carried over with its elements and this load's element commands
// applied; a new one gets the elements written.
void fill_live_sets(compiled_ruleset& to, const compiled_ruleset* from, uint32_t now_ms);

// A live set's elements as nft lists them (`10.0.0.1 timeout 1m expires 59s964ms`; the
// timeout only where it is not the set's).
std::vector<std::string> live_elements_text(const compiled_ruleset& rs, uint32_t live,
                                            uint32_t now_ms);

// A concatenated key (key[i]: the value of field i) looked up as the data plane does: in the
// set, or the map's data for it (nullptr: none).
inline uint64_t packed_key(const concat_lookup& cl, const uint64_t* key) {
  uint64_t packed = 0;
  for (size_t i = 0; i < cl.width; ++i) packed |= key[i] << cl.shift[i];
  return packed;
}
inline bool concat_contains(const compiled_ruleset& rs, const concat_lookup& cl,
                            const uint64_t* key) {
  if (cl.set != k_none) return rs.sets[cl.set]->contains(packed_key(cl, key));
  return rs.concat_tables[cl.table].find(key) != k_none;
}
inline const range_map::entry* concat_map_find(const compiled_ruleset& rs, const concat_lookup& cl,
                                               const uint64_t* key) {
  if (cl.map != k_none) return rs.maps[cl.map]->find(packed_key(cl, key));
  const uint32_t e = rs.concat_tables[cl.table].find(key);
  return e == k_none ? nullptr : &rs.concat_data[cl.data][e];
}

// A bridge of the config: its name and its member ports (indices into the config's ports).
struct bridge_members {
  std::string name;
  std::vector<uint16_t> ports;
};

// Compiles a parsed ruleset. `ports` are the config's port names in order
// (iif/oif resolve to their index); `bridges` the config's bridges (meta ibrname and obrname
// resolve to their members' indices). Errors point at the offending node; they
// carry no source line, as the tree keeps no text (the caller may quote() it).
result<std::unique_ptr<compiled_ruleset>> compile(const ruleset& rs, const std::string& source,
                                                  const std::vector<std::string>& ports,
                                                  uint16_t n_workers,
                                                  const std::vector<bridge_members>& bridges = {});

}  // namespace ctgate::nft
