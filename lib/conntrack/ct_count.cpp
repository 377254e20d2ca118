#include "conntrack/ct_count.h"

#include <algorithm>

#include "conntrack/conntrack.h"
#include "conntrack/flow_table.h"

namespace ctgate::ct {

ct_count_lists::ct_count_lists(uint16_t n_workers, uint32_t n_lists, uint32_t pool)
    : n_workers_(n_workers),
      n_lists_(n_lists),
      pool_(pool),
      workers_(std::make_unique<ct_count_worker[]>(n_workers)) {
  for (uint16_t i = 0; i < n_workers; i++) {
    ct_count_worker& cw = workers_[i];
    cw.lists = std::make_unique<ct_count_list[]>(n_lists);
    cw.pool = std::make_unique<ct_count_conn[]>(pool);
    for (uint32_t j = 0; j < pool; j++) cw.pool[j].next = j + 1 < pool ? j + 1 : k_ct_count_nil;
    cw.free_head = pool > 0 ? 0 : k_ct_count_nil;
  }
}

uint32_t ct_count_lists::total(uint32_t i) const {
  uint64_t n = 0;
  for (uint16_t w = 0; w < n_workers_; w++)
    n += workers_[w].lists[i].size.load(std::memory_order_relaxed);
  return static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX));
}

uint32_t ct_count_lists::touched_ms(uint32_t i) const {
  uint32_t latest = 0;
  bool any = false;
  for (uint16_t w = 0; w < n_workers_; w++) {
    const uint32_t t = workers_[w].lists[i].touched_ms.load(std::memory_order_relaxed);
    if (!any || static_cast<int32_t>(t - latest) > 0) latest = t;
    any = true;
  }
  return latest;
}

uint32_t ct_count_capacity(uint32_t limit) {
  constexpr uint32_t k_min = 64, k_max = 1u << 16;
  const uint64_t want = 2ull * limit + 16;
  return static_cast<uint32_t>(std::clamp<uint64_t>(want, k_min, k_max));
}

uint32_t ct_count_set_capacity(uint32_t size, uint32_t limit) {
  constexpr uint64_t k_max = 1u << 18;
  return static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{size} * ct_count_capacity(limit), k_max));
}

namespace {

// Whether `u` is on the worker's unconfirmed list as the entry of `key`: only then may it be
// read (a freed unconfirmed entry goes back to the shared pool, where another worker may be
// writing it).
bool still_unconfirmed(const ct_worker& w, const ct_entry* u, const flow_key& key) {
  for (uint16_t i = 0; i < w.n_unconfirmed; i++)
    if (w.unconfirmed[i] == u) return make_key(u->orig) == key;
  return false;
}

// Whether the connection `c` remembers is still open (Linux's find_or_evict, then
// already_closed): its entry is unconfirmed in this burst, or live and not expired in the
// table and, for TCP, not in TIME_WAIT or CLOSE. A remembered unconfirmed entry not in the
// table after its burst was dropped before confirmation: it no longer counts, as Linux
// forgets a tuple its own CPU added and the table does not have.
bool still_open(const ct_worker& w, ct_count_conn& c, uint32_t now_ms) {
  const flow_table& table = *w.rt->table;
  if (c.pos == k_no_pos) {
    if (still_unconfirmed(w, c.unconfirmed, c.key)) return true;
    const int32_t pos = table.lookup(c.key);
    if (pos < 0) return false;
    c.pos = static_cast<uint32_t>(pos);
    c.live = table.at(c.pos)->live.load(std::memory_order_acquire);
    c.unconfirmed = nullptr;
  }
  const ct_entry& e = *table.at(c.pos);
  const uint32_t live = e.live.load(std::memory_order_acquire);
  if (live != c.live || !is_live(live) || ct_expired(e, now_ms)) return false;
  return e.orig.proto != IPPROTO_TCP || !tcp_finished(e.load_track().l4state);
}

// Walks list `l` oldest first, forgetting closed connections (their nodes go back to the
// pool), and stops at an open one with `key` (null: none), as Linux's scan of a list does.
// Returns whether it stopped there. The list stays in the order connections came.
bool walk(const ct_worker& w, ct_count_worker& cw, ct_count_list& l, const flow_key* key,
          uint32_t now_ms) {
  uint32_t prev = k_ct_count_nil, cur = l.head, size = l.size.load(std::memory_order_relaxed);
  while (cur != k_ct_count_nil) {
    ct_count_conn& c = cw.pool[cur];
    const uint32_t next = c.next;
    if (!still_open(w, c, now_ms)) {
      (prev == k_ct_count_nil ? l.head : cw.pool[prev].next) = next;
      if (l.tail == cur) l.tail = prev;
      if (l.fresh == cur) l.fresh = next;
      c.next = cw.free_head;
      cw.free_head = cur;
      size--;
    } else {
      if (key != nullptr && c.key == *key) {
        l.size.store(size, std::memory_order_relaxed);
        return true;
      }
      prev = cur;
    }
    cur = next;
  }
  l.size.store(size, std::memory_order_relaxed);
  return false;
}

void note_collected(ct_count_list& l, uint32_t now_ms) {
  l.collected = true;
  l.gc_ms = now_ms;
  l.gc_size = l.size.load(std::memory_order_relaxed);
  l.fresh = k_ct_count_nil;
}

// A whole walk, at most once per millisecond of the worker clock (Linux: once per jiffy).
void collect(const ct_worker& w, ct_count_worker& cw, ct_count_list& l, uint32_t now_ms) {
  if (l.collected && l.gc_ms == now_ms) return;
  walk(w, cw, l, nullptr, now_ms);
  note_collected(l, now_ms);
}

// Linux skips the walk before an add while the list was walked this jiffy and has not grown
// by more than CONNCOUNT_GC_MAX_COLLECT since.
constexpr uint32_t k_grow_before_walk = 8;

bool walked_lately(const ct_count_list& l, uint32_t now_ms) {
  return l.collected && l.gc_ms == now_ms &&
         l.size.load(std::memory_order_relaxed) - l.gc_size < k_grow_before_walk;
}

// Appends a connection; false when the pool is empty.
bool remember(ct_worker& w, ct_count_worker& cw, ct_count_list& l, const ct_count_conn& c,
              uint32_t now_ms) {
  const uint32_t i = cw.free_head;
  if (i == k_ct_count_nil) {
    w.counters.add(ct_counter::count_list_full);
    return false;
  }
  cw.free_head = cw.pool[i].next;
  cw.pool[i] = c;
  cw.pool[i].next = k_ct_count_nil;
  (l.tail == k_ct_count_nil ? l.head : cw.pool[l.tail].next) = i;
  l.tail = i;
  if (l.fresh == k_ct_count_nil) l.fresh = i;
  l.size.store(l.size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (l.touched_ms.load(std::memory_order_relaxed) != now_ms)
    l.touched_ms.store(now_ms, std::memory_order_relaxed);
  return true;
}

// Whether a packet earlier in this burst added unconfirmed entry `e` (the pool reuses
// entries: the key tells this flow's from an earlier one's). Only the connections added
// since the last walk are looked at: fewer than 8, or this burst's.
bool added_this_burst(const ct_count_worker& cw, const ct_count_list& l, const ct_entry* e,
                      const flow_key& key) {
  for (uint32_t i = l.fresh; i != k_ct_count_nil; i = cw.pool[i].next)
    if (cw.pool[i].unconfirmed == e && cw.pool[i].key == key) return true;
  return false;
}

// Gives list `l`'s nodes back to the pool.
void release(ct_count_worker& cw, ct_count_list& l) {
  if (l.head != k_ct_count_nil) {
    cw.pool[l.tail].next = cw.free_head;
    cw.free_head = l.head;
  }
  l.head = l.tail = l.fresh = k_ct_count_nil;
  l.size.store(0, std::memory_order_relaxed);
  l.collected = false;
}

}  // namespace

// Linux's nf_conncount_add_skb and nft_connlimit_do_eval, case by case on the packet's
// connection.
uint32_t ct_count_eval(ct_worker& w, ct_count_lists& lists, const ct_entry* e, uint32_t now_ms,
                       uint32_t list) {
  ct_count_worker& cw = lists.of(w.id);
  ct_count_list& l = cw.lists[list];
  if (e == nullptr) {
    // Untracked: Linux adds the packet's tuple, which no entry backs; it counts for this
    // packet only (the next walk forgets it).
    collect(w, cw, l, now_ms);
    return lists.total(list) + 1;
  }
  const uint16_t status = e->status.load(std::memory_order_relaxed);
  if (e->pos != k_no_pos && (status & CT_STATUS_ASSURED)) {
    // An assured connection adds nothing; its packets only collect the list.
    collect(w, cw, l, now_ms);
    return lists.total(list);
  }
  const flow_key key = make_key(e->orig);
  bool full = false;
  if (e->pos != k_no_pos) {
    // Confirmed, not assured yet (setup, retransmissions): walk up to its own place in the
    // list, and add it if it is not there (a connection older than the rule).
    if (!walk(w, cw, l, &key, now_ms)) {
      note_collected(l, now_ms);
      full = !remember(w, cw, l, {key, nullptr, e->pos, e->live.load(std::memory_order_acquire)},
                       now_ms);
    }
  } else if (walked_lately(l, now_ms)) {
    // A new connection, the list walked this millisecond: add without a walk, unless a
    // packet earlier in this burst added it already.
    if (!added_this_burst(cw, l, e, key)) full = !remember(w, cw, l, {key, e, k_no_pos, 0}, now_ms);
  } else if (!walk(w, cw, l, &key, now_ms)) {
    note_collected(l, now_ms);
    full = !remember(w, cw, l, {key, e, k_no_pos, 0}, now_ms);
  }
  // A full pool fails closed: the count reads as the largest there is (over any limit).
  return full ? UINT32_MAX : lists.total(list);
}

void ct_count_own(ct_worker& w, ct_count_lists& lists, uint32_t list, uint32_t owner) {
  ct_count_worker& cw = lists.of(w.id);
  ct_count_list& l = cw.lists[list];
  if (l.owner == owner) return;
  release(cw, l);
  l.owner = owner;
}

uint32_t ct_count_collect(ct_worker& w, ct_count_lists& lists, uint32_t list, uint32_t owner,
                          uint32_t now_ms) {
  ct_count_worker& cw = lists.of(w.id);
  ct_count_list& l = cw.lists[list];
  if (l.owner != owner) {
    release(cw, l);
    l.owner = owner;
    return 0;
  }
  collect(w, cw, l, now_ms);
  return l.size.load(std::memory_order_relaxed);
}

}  // namespace ctgate::ct
