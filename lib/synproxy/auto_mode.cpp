// Synproxy's control-plane half: building a gateway's synproxy state, the
// cookie keys' rotation, and the automatic defence's on/off decision, taken
// every ~100 ms on the control thread from table fill and new-flow rate.
#include <sys/random.h>

#include <algorithm>

#include "conntrack/conntrack.h"
#include "dataplane/gateway.h"
#include "synproxy/synproxy.h"

namespace ctgate {

using namespace synproxy;

synproxy_secrets::synproxy_secrets(uint64_t seed) {
  if (seed != 0) {
    buf_[0] = make_secrets(seed);
    return;
  }
  uint8_t bytes[32] = {};
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes)))
    buf_[0] = make_secrets(0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(this));
  else
    buf_[0] = secrets_from_bytes(bytes);
}

void synproxy_secrets::maybe_rotate(uint32_t now_s) {
  const cookie_secrets& cur = current();
  if (now_s - last_rotation_s_ < cur.period_s * 4) return;  // keys live several cookie ages
  int next = 1 - idx_.load(std::memory_order_relaxed);
  buf_[next] = cur;
  uint8_t fresh[16] = {};
  // Never rotate in a guessable key: keep the current one until getrandom works.
  if (getrandom(fresh, sizeof(fresh), 0) != static_cast<ssize_t>(sizeof(fresh))) return;
  rotate(buf_[next], fresh);
  idx_.store(next, std::memory_order_release);
  last_rotation_s_ = now_s;
}

result<void> synproxy_init(gateway& gw) {
  auto st = std::make_unique<synproxy_state>();
  for (auto* w : gw.workers) {
    st->workers.push_back(std::make_unique<synproxy_worker>());
    st->workers.back()->finished = &st->finished;
    w->synproxy = st->workers.back().get();
  }
  gw.ct.finish = finished_filter_listener(&st->finished);
  gw.synproxy = std::move(st);
  synproxy_state& s = *gw.synproxy;
  const synproxy_auto_config& c = gw.cfg.synproxy;
  synproxy_auto_state& a = s.auto_mode;
  if (!c.enable) return {};
  a.configured = true;
  a.opts.mss = c.mss;
  a.opts.wscale = c.wscale;
  a.opts.timestamp = c.timestamp;
  a.opts.sack_perm = c.sack_perm;
  for (uint16_t p : c.ports) a.port_bits[p >> 3] |= static_cast<uint8_t>(1u << (p & 7));
  result<void> ok = gw.hooks->edit([&](hook_registry::editor& ed) -> result<void> {
    if (result<void> r = register_synproxy_auto_hook(ed); !r) return r;
    return s.hook_registered ? result<void>{} : register_synproxy_hook(ed);
  });
  if (ok) s.hook_registered = true;
  return ok;
}

std::string synproxy_auto_tick(gateway& gw, uint32_t now_ms) {
  synproxy_auto_state& a = gw.synproxy->auto_mode;
  if (!a.configured || now_ms - a.last_ms < 100) return "";
  uint64_t news = 0, cookies = 0;
  for (auto* w : gw.workers) {
    news += w->ct.counters.get(ct::ct_counter::new_);
    cookies += w->synproxy->counters.get(synproxy_counter::cookies_sent);
  }
  uint32_t dt = a.last_ms == 0 ? 0 : now_ms - a.last_ms;
  uint64_t new_rate = dt ? (news - a.last_new) * 1000 / dt : 0;
  uint64_t syn_rate = dt ? (cookies - a.last_cookies) * 1000 / dt : 0;
  a.last_new = news;
  a.last_cookies = cookies;
  a.last_ms = now_ms;
  const synproxy_auto_config& c = gw.cfg.synproxy;
  uint64_t fill =
      static_cast<uint64_t>(std::max<int64_t>(0, gw.ct.table->count())) * 100 / gw.ct.table->max();
  bool rate_high = c.on_new_flows_per_s != 0 &&
                   (new_rate >= c.on_new_flows_per_s || syn_rate >= c.on_new_flows_per_s);
  std::string why = "conntrack " + std::to_string(fill) + "% full, " + std::to_string(new_rate) +
                    " new flows/s, " + std::to_string(syn_rate) + " SYN cookies/s";
  if (!a.on.load() && (fill >= c.on_table_percent || rate_high)) {
    a.on.store(true);
    a.switches_on.fetch_add(1);
    return "synproxy auto: cookie mode ON for the protected ports (" + why + ")";
  }
  bool rate_low = c.on_new_flows_per_s == 0 ||
                  (new_rate < c.on_new_flows_per_s / 2 && syn_rate < c.on_new_flows_per_s / 2);
  if (a.on.load() && fill < c.off_table_percent && rate_low) {
    // Cookies already handed out stay valid for two periods: keep checking ACKs.
    a.ack_check_until_ms.store(now_ms + 2 * gw.synproxy->secrets.current().period_s * 1000);
    a.on.store(false);
    a.switches_off.fetch_add(1);
    return "synproxy auto: cookie mode OFF (" + why + ")";
  }
  return "";
}

}  // namespace ctgate
