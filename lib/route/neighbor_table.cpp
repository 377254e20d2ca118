#include "route/neighbor_table.h"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>

namespace ctgate {

uint64_t mac_to_u64(const mac_addr& m) {
  uint64_t w = 0;
  for (int i = 0; i < 6; i++) w = (w << 8) | m.b[i];
  return w;
}

mac_addr u64_to_mac(uint64_t w) {
  mac_addr m;
  for (int i = 5; i >= 0; i--) {
    m.b[i] = static_cast<uint8_t>(w);
    w >>= 8;
  }
  return m;
}

template <typename Key>
neighbor_table_t<Key>::~neighbor_table_t() {
  if (hash_ != nullptr) rte_hash_free(hash_);
  delete[] slots_;
}

template <typename Key>
result<std::unique_ptr<neighbor_table_t<Key>>> neighbor_table_t<Key>::create(
    const std::string& name) {
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = k_capacity;
  p.key_len = sizeof(Key);
  p.hash_func = rte_jhash;
  p.socket_id = SOCKET_ID_ANY;
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
  // The constructor is private: make_unique cannot reach it.
  std::unique_ptr<neighbor_table_t> t(new neighbor_table_t());
  t->hash_ = rte_hash_create(&p);
  if (t->hash_ == nullptr) {
    return error{.message =
                     "neighbor table: rte_hash_create: " + std::string(rte_strerror(rte_errno))};
  }
  t->slots_ = new slot[k_capacity];
  return t;
}

template <typename Key>
bool neighbor_table_t<Key>::lookup(const Key& ip, mac_addr* mac, uint32_t* confirmed) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  const slot& s = slots_[reinterpret_cast<uintptr_t>(data)];
  uint64_t w = s.word.load(std::memory_order_acquire);
  if (!(w & k_valid)) return false;
  *mac = u64_to_mac(w);
  if (confirmed != nullptr)
    *confirmed = (w & k_static) ? 0 : s.confirmed_ms.load(std::memory_order_relaxed);
  return true;
}

template <typename Key>
int32_t neighbor_table_t<Key>::find_or_add(const Key& ip) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) >= 0)
    return static_cast<int32_t>(reinterpret_cast<uintptr_t>(data));
  // Slot indices are handed out in order; the slot is initialised before
  // the key is published, so a reader that finds the key sees its ip.
  uint32_t idx = count_.fetch_add(1, std::memory_order_acq_rel);
  if (idx >= k_capacity) {
    count_.fetch_sub(1, std::memory_order_acq_rel);
    return -1;
  }
  slots_[idx].ip = ip;
  if (rte_hash_add_key_data(hash_, &ip, reinterpret_cast<void*>(static_cast<uintptr_t>(idx))) < 0)
    return -1;
  // Two threads adding the same ip concurrently: the later add overwrote
  // the data; both slots hold the same ip and the table points at one. The
  // other slot is harmless (it is never found); bounded by the rarity of it.
  if (rte_hash_lookup_data(hash_, &ip, &data) >= 0)
    return static_cast<int32_t>(reinterpret_cast<uintptr_t>(data));
  return static_cast<int32_t>(idx);
}

template <typename Key>
bool neighbor_table_t<Key>::learn(const Key& ip, const mac_addr& mac, bool is_static,
                                  uint32_t now_ms, uint16_t port) {
  int32_t idx = find_or_add(ip);
  if (idx < 0) return false;
  slot& s = slots_[idx];
  uint64_t old = s.word.load(std::memory_order_acquire);
  if ((old & k_static) && !is_static) return true;
  s.confirmed_ms.store(now_ms, std::memory_order_relaxed);
  s.port.store(port, std::memory_order_relaxed);
  uint64_t w = mac_to_u64(mac) | k_valid | (is_static ? k_static : 0);
  if (old != w) s.word.store(w, std::memory_order_release);
  return true;
}

template <typename Key>
bool neighbor_table_t<Key>::update_if_known(const Key& ip, const mac_addr& mac, uint32_t now_ms,
                                            uint16_t port) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  const uint64_t w = slots_[reinterpret_cast<uintptr_t>(data)].word.load(std::memory_order_acquire);
  if (w & k_static) return false;  // configured: never overridden
  return learn(ip, mac, false, now_ms, port);
}

template <typename Key>
uint32_t neighbor_table_t<Key>::forget_port(uint16_t port) {
  uint32_t forgotten = 0;
  const uint32_t n = count_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    slot& s = slots_[i];
    uint64_t w = s.word.load(std::memory_order_acquire);
    if (!(w & k_valid) || (w & k_static) || s.port.load(std::memory_order_relaxed) != port)
      continue;
    // A learn() racing with this may win: then the entry is simply fresh.
    if (s.word.compare_exchange_strong(w, 0, std::memory_order_release)) forgotten++;
  }
  return forgotten;
}

template <typename Key>
uint32_t neighbor_table_t<Key>::confirmed_ms(const Key& ip) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return 0;
  return slots_[reinterpret_cast<uintptr_t>(data)].confirmed_ms.load(std::memory_order_relaxed);
}

template <typename Key>
bool neighbor_table_t<Key>::should_request(const Key& ip, uint32_t now_ms, uint32_t interval_ms,
                                           uint16_t port) {
  int32_t idx = find_or_add(ip);
  if (idx < 0) return false;
  slot& s = slots_[idx];
  if (!(s.word.load(std::memory_order_acquire) & k_valid))
    s.port.store(port, std::memory_order_relaxed);
  uint32_t next = s.next_request_ms.load(std::memory_order_relaxed);
  if (next != 0 && static_cast<int32_t>(now_ms - next) < 0) return false;
  return s.next_request_ms.compare_exchange_strong(next, now_ms + interval_ms,
                                                   std::memory_order_relaxed);
}

template <typename Key>
bool neighbor_table_t<Key>::confirm(const Key& ip, uint32_t now_ms) {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &ip, &data) < 0) return false;
  slot& s = slots_[reinterpret_cast<uintptr_t>(data)];
  const uint64_t w = s.word.load(std::memory_order_acquire);
  if (!(w & k_valid) || (w & k_static)) return false;
  s.confirmed_ms.store(now_ms, std::memory_order_relaxed);
  return true;
}

template class neighbor_table_t<uint32_t>;
template class neighbor_table_t<neigh6_key>;

}  // namespace ctgate
