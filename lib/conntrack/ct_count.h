// nft's `ct count [over] N` (Linux's nft_connlimit over nf_conncount): how many
// connections that passed the statement are still open.
//
// As nf_conncount (Linux 6.18), a statement remembers the tuples of the
// connections whose packets reached it, oldest first, and checks them against
// the table: an entry that is gone, expired, or a TCP connection in TIME_WAIT
// or CLOSE no longer counts and is forgotten when a walk of the list passes
// it. By the packet's connection:
// - assured: nothing is added; the list is walked whole, at most once per
//   millisecond (Linux: once per jiffy);
// - confirmed, not assured yet: the walk stops at the connection's own tuple;
//   not there (it is older than the rule), it is added;
// - new (unconfirmed): walked the same way and added, except that a list
//   walked this millisecond that has grown by fewer than 8 since takes the
//   add without a walk;
// - none (untracked): counts as one for this packet only.
// Unlike Linux, there is no lock: each worker keeps its own list (a flow's
// first packets reach the worker that creates its entry), and the count is the
// sum of the lists' sizes.
//
// A statement's lists (or, for `add @s { KEY ct count ... }`, one list per element of the
// set) take their connections from a fixed pool per worker (bounded memory: a full pool
// does not remember the connection and the count reads as UINT32_MAX: `ct count over N`
// matches and `ct count N` does not, failing closed).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "conntrack/ct_entry.h"

namespace ctgate::ct {

struct ct_worker;

inline constexpr uint32_t k_ct_count_nil = UINT32_MAX;

// One remembered connection: its key, where it is once confirmed, and the next one of its
// list (or of the pool's free nodes).
struct ct_count_conn {
  flow_key key;
  // While the entry is unconfirmed (pos == k_no_pos): the worker's unconfirmed entry it
  // came from, which is on the worker's unconfirmed list until the end of its burst.
  const ct_entry* unconfirmed = nullptr;
  uint32_t pos = k_no_pos;  // table position once found there
  uint32_t live = 0;        // the entry's claim word then: a reused slot differs
  uint32_t next = k_ct_count_nil;
};

// One worker's connections of one statement or set element, oldest first: written by that
// worker only; `size` and `touched_ms` are read by every worker.
struct ct_count_list {
  std::atomic<uint32_t> size{0};
  std::atomic<uint32_t> touched_ms{0};  // worker clock of the last connection added
  uint32_t head = k_ct_count_nil, tail = k_ct_count_nil;
  uint32_t fresh = k_ct_count_nil;  // the first connection added since the last whole walk
  uint32_t gc_ms = 0;               // worker clock of the last whole walk
  uint32_t gc_size = 0;             // the list's size after it
  uint32_t owner = 0;               // per element: the set slot's state word the list belongs to
  bool collected = false;
};

// A worker's lists and the pool of their connections.
struct alignas(64) ct_count_worker {
  std::unique_ptr<ct_count_list[]> lists;
  std::unique_ptr<ct_count_conn[]> pool;
  uint32_t free_head = k_ct_count_nil;
  uint32_t gc_cursor = 0;  // per element: the next list the background walk visits
  uint32_t gc_ms = 0;      // and the worker clock of its last step
};

// The lists of a statement (n_lists 1) or of a set's elements (one per slot), per worker,
// made on the control plane.
class ct_count_lists {
 public:
  // `pool`: each worker's connections, over all of its lists.
  ct_count_lists(uint16_t n_workers, uint32_t n_lists, uint32_t pool);
  // The count of list `i`: the sum of every worker's.
  uint32_t total(uint32_t i = 0) const;
  // The latest worker clock at which a connection was added to list `i` (any worker).
  uint32_t touched_ms(uint32_t i) const;
  ct_count_worker& of(uint16_t worker) { return workers_[worker]; }
  uint16_t n_workers() const { return n_workers_; }
  uint32_t n_lists() const { return n_lists_; }
  uint32_t pool() const { return pool_; }

 private:
  uint16_t n_workers_;
  uint32_t n_lists_;
  uint32_t pool_;
  std::unique_ptr<ct_count_worker[]> workers_;
};

// The pool given to each worker for a statement's limit of `limit`: room for the limit and
// the connections over it that have not been forgotten yet (2 * limit + 16), at least 64 and
// at most 65,536 (2.5 MB).
uint32_t ct_count_capacity(uint32_t limit);
// The pool per worker of a set of `size` elements counted with limit `limit`: each
// element's ct_count_capacity, at most 262,144 connections (10 MB).
uint32_t ct_count_set_capacity(uint32_t size, uint32_t limit);

// The count of list `list` for packet `e`'s connection (null: an untracked packet, which
// counts as one connection for itself, as Linux adds its tuple): remembers a connection
// seen for the first time, forgets the closed ones. Worker `w` only, on its own list.
uint32_t ct_count_eval(ct_worker& w, ct_count_lists& lists, const ct_entry* e, uint32_t now_ms,
                       uint32_t list = 0);

// Per element: makes worker `w`'s list `list` belong to the element whose slot state is
// `owner`, forgetting what it held for an element that was there before.
void ct_count_own(ct_worker& w, ct_count_lists& lists, uint32_t list, uint32_t owner);
// Per element, the background walk: forgets the closed connections of worker `w`'s list
// `list` (at most once per millisecond), or all of them when the list belongs to another
// element than `owner` (0: the slot holds none). Returns the list's size after it.
uint32_t ct_count_collect(ct_worker& w, ct_count_lists& lists, uint32_t list, uint32_t owner,
                          uint32_t now_ms);

}  // namespace ctgate::ct
