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
// A list is a fixed array (bounded memory: ct_count_capacity); when it is
// full, the connection is not remembered and the count reads as UINT32_MAX:
// `ct count over N` matches and `ct count N` does not (fails closed).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "conntrack/ct_entry.h"

namespace ctgate::ct {

struct ct_worker;

// One remembered connection: its key, and where it is once confirmed.
struct ct_count_conn {
  flow_key key;
  // While the entry is unconfirmed (pos == k_no_pos): the worker's unconfirmed entry it
  // came from, which is on the worker's unconfirmed list until the end of its burst.
  const ct_entry* unconfirmed = nullptr;
  uint32_t pos = k_no_pos;  // table position once found there
  uint32_t live = 0;        // the entry's claim word then: a reused slot differs
};

// One worker's connections of one statement: written by that worker only, `size` read by
// every worker summing the count.
struct alignas(64) ct_count_list {
  std::atomic<uint32_t> size{0};
  uint32_t cap = 0;
  uint32_t gc_ms = 0;    // worker clock of the last whole walk
  uint32_t gc_size = 0;  // the list's size after it
  bool collected = false;
  std::unique_ptr<ct_count_conn[]> conns;
};

// A statement's lists, one per worker, made on the control plane.
class ct_count_lists {
 public:
  // `per_worker`: each list's capacity.
  ct_count_lists(uint16_t n_workers, uint32_t per_worker);
  uint32_t total() const;
  ct_count_list& of(uint16_t worker) { return lists_[worker]; }
  uint16_t n_workers() const { return n_workers_; }

 private:
  uint16_t n_workers_;
  std::unique_ptr<ct_count_list[]> lists_;
};

// The capacity given to each worker's list for a limit of `limit`: room for the limit and
// the connections over it that have not been forgotten yet (2 * limit + 16), at least 64 and
// at most 65,536 (2 MB).
uint32_t ct_count_capacity(uint32_t limit);

// The statement's count for packet `e`'s connection (null: an untracked packet, which
// counts as one connection for itself, as Linux adds its tuple): remembers a connection
// seen for the first time, forgets the closed ones. Worker `w` only, on its own list.
uint32_t ct_count_eval(ct_worker& w, ct_count_lists& lists, const ct_entry* e, uint32_t now_ms);

}  // namespace ctgate::ct
