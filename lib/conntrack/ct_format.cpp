#include "conntrack/ct_format.h"

#include <arpa/inet.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/thread_annotations.h"
#include "conntrack/ct_event.h"

namespace ctgate::ct {

namespace {

std::string ip_str(uint32_t net_order) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{net_order};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

// `a6`: an IPv6 tuple's addresses, in its own direction (its digests are not printable).
void append_tuple(std::string& s, const ct_tuple& t, const ct_addr6* a6) {
  if (a6 != nullptr)
    s += "src=" + format_ipv6(a6->src) + " dst=" + format_ipv6(a6->dst) + " ";
  else
    s += "src=" + ip_str(t.src) + " dst=" + ip_str(t.dst) + " ";
  if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP) {
    s += "sport=" + std::to_string(ntohs(t.sport)) + " dport=" + std::to_string(ntohs(t.dport)) +
         " ";
  } else if (is_icmp_like(t.proto)) {
    s += "type=" + std::to_string(t.dport >> 8) + " code=" + std::to_string(t.dport & 0xff) +
         " id=" + std::to_string(ntohs(t.sport)) + " ";
  }
}

int tcp_state_from_name(const std::string& name) {
  for (uint8_t s = 0; s < TCP_CT_MAX; s++)
    if (name == tcp_state_name(s)) return s;
  return -1;
}

}  // namespace

bool read_entry(const ct_entry& e, uint32_t pos, entry_view* out, const ct_acct* acct,
                const ct_tuple* nat_reply, const ct_addr6* addr6, const ct_addr6* nat_reply6) {
  uint32_t live = e.live.load(std::memory_order_acquire);
  if ((live & ENTRY_STATE_MASK) != ENTRY_LIVE) return false;
  out->pos = pos;
  out->live = live;
  out->owner = e.owner;
  std::memcpy(&out->orig, &e.orig, sizeof(out->orig));
  out->status = e.status.load(std::memory_order_relaxed);
  // Written before the entry was published, unchanged while its claim word is.
  out->reply =
      (out->status & CT_STATUS_NAT_MASK) && nat_reply != nullptr ? *nat_reply : invert(out->orig);
  out->ts = e.load_track();
  out->expires_ms = e.expires_ms.load(std::memory_order_relaxed);
  out->mark = e.mark.load(std::memory_order_relaxed);
  if (out->orig.family == k_family_ipv6 && addr6 != nullptr) {
    out->addr6 = *addr6;
    out->reply6 = (out->status & CT_STATUS_NAT_MASK) && nat_reply6 != nullptr
                      ? *nat_reply6
                      : ct_addr6{addr6->dst, addr6->src};
  }
  out->acct = acct != nullptr;
  for (unsigned d = 0; acct != nullptr && d < 2; d++) {
    out->packets[d] = acct->packets[d].load(std::memory_order_relaxed);
    out->bytes[d] = acct->bytes[d].load(std::memory_order_relaxed);
  }
  // Seqlock-style check: the claim word changes on every reuse of the slot.
  std::atomic_thread_fence(std::memory_order_acquire);
  return e.live.load(std::memory_order_relaxed) == live;
}

namespace {

// The body of a -L line or an -E event: `timeout` false leaves the seconds out when none are
// left (a DESTROY by expiry: ctnetlink_dump_timeout's skip_zero);
// `event` prints mark and zone only when set and no use= (ctnetlink's events carry no use count).
std::string format_body(const entry_view& v, uint32_t now_ms, bool extended, bool timeout,
                        bool event) {
  const l4_tracker& tr = tracker_for(v.orig.proto);
  int32_t left_ms = static_cast<int32_t>(v.expires_ms - now_ms);
  uint32_t left = left_ms > 0 ? static_cast<uint32_t>(left_ms) / 1000 : 0;
  const bool v6 = v.orig.family == k_family_ipv6;
  char head[64];
  if (timeout || left != 0)
    std::snprintf(head, sizeof(head), "%-8s %u %u ", tr.name, v.orig.proto, left);
  else
    std::snprintf(head, sizeof(head), "%-8s %u ", tr.name, v.orig.proto);
  std::string s;
  if (extended) s = v6 ? "ipv6     10 " : "ipv4     2 ";
  s += head;
  if (v.orig.proto == IPPROTO_TCP) s += std::string(tcp_state_name(v.ts.l4state)) + " ";
  // With accounting, each tuple's counts follow it (conntrack-tools' layout).
  auto counts = [&](unsigned d) {
    if (v.acct)
      s += "packets=" + std::to_string(v.packets[d]) + " bytes=" + std::to_string(v.bytes[d]) + " ";
  };
  append_tuple(s, v.orig, v6 ? &v.addr6 : nullptr);
  counts(0);
  if (!(v.status & CT_STATUS_SEEN_REPLY)) s += "[UNREPLIED] ";
  append_tuple(s, v.reply, v6 ? &v.reply6 : nullptr);
  counts(1);
  if (v.status & CT_STATUS_ASSURED) s += "[ASSURED] ";
  if (!event || v.mark != 0) s += "mark=" + std::to_string(v.mark) + " ";
  if (v.orig.zone != 0) s += "zone=" + std::to_string(v.orig.zone) + " ";
  if (event) {
    s.pop_back();
    return s;
  }
  s += "use=1";
  return s;
}

}  // namespace

std::string format_entry(const entry_view& v, uint32_t now_ms, bool extended) {
  return format_body(v, now_ms, extended, true, false);
}

const char* event_name(uint8_t type) {
  return type == CT_EVENT_NEW ? "NEW" : type == CT_EVENT_UPDATE ? "UPDATE" : "DESTROY";
}

uint8_t parse_event_mask(const std::string& text) {
  uint8_t mask = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string name = text.substr(start, comma - start);
    if (name == "NEW" || name == "new")
      mask |= CT_EVENT_NEW;
    else if (name == "UPDATE" || name == "update")
      mask |= CT_EVENT_UPDATE;
    else if (name == "DESTROY" || name == "destroy")
      mask |= CT_EVENT_DESTROY;
    else if (name == "ALL" || name == "all")
      mask |= CT_EVENT_ALL;
    else
      return 0;
    start = comma + 1;
  }
  return mask;
}

std::string format_event(const ct_event& ev, bool extended) {
  char head[32];
  std::snprintf(head, sizeof(head), "%9s ", (std::string("[") + event_name(ev.type) + "]").c_str());
  return head + format_body(ev.view, ev.at_ms, extended, ev.type != CT_EVENT_DESTROY, true);
}

std::string format_event_json(const ct_event& ev) {
  const entry_view& v = ev.view;
  const bool v6 = v.orig.family == k_family_ipv6;
  std::string s = std::string("{\"event\":\"") + event_name(ev.type) + "\",\"family\":\"" +
                  (v6 ? "ipv6" : "ipv4") + "\",\"proto\":\"" + tracker_for(v.orig.proto).name +
                  "\",\"protonum\":" + std::to_string(v.orig.proto);
  if (const int32_t left_ms = static_cast<int32_t>(v.expires_ms - ev.at_ms);
      ev.type != CT_EVENT_DESTROY || left_ms >= 1000)
    s += ",\"timeout\":" + std::to_string(left_ms > 0 ? left_ms / 1000 : 0);
  if (v.orig.proto == IPPROTO_TCP)
    s += std::string(",\"state\":\"") + tcp_state_name(v.ts.l4state) + "\"";
  auto tuple = [&](const char* name, const ct_tuple& t, const ct_addr6* a6, unsigned d) {
    s += std::string(",\"") + name + "\":{\"src\":\"" +
         (a6 != nullptr ? format_ipv6(a6->src) : ip_str(t.src)) + "\",\"dst\":\"" +
         (a6 != nullptr ? format_ipv6(a6->dst) : ip_str(t.dst)) + "\"";
    if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP)
      s += ",\"sport\":" + std::to_string(ntohs(t.sport)) +
           ",\"dport\":" + std::to_string(ntohs(t.dport));
    else if (is_icmp_like(t.proto))
      s += ",\"type\":" + std::to_string(t.dport >> 8) +
           ",\"code\":" + std::to_string(t.dport & 0xff) +
           ",\"id\":" + std::to_string(ntohs(t.sport));
    if (v.acct)
      s += ",\"packets\":" + std::to_string(v.packets[d]) +
           ",\"bytes\":" + std::to_string(v.bytes[d]);
    s += "}";
  };
  tuple("orig", v.orig, v6 ? &v.addr6 : nullptr, 0);
  tuple("reply", v.reply, v6 ? &v.reply6 : nullptr, 1);
  s += ",\"flags\":[";
  bool first = true;
  auto flag = [&](const char* f) {
    s += std::string(first ? "" : ",") + "\"" + f + "\"";
    first = false;
  };
  if (!(v.status & CT_STATUS_SEEN_REPLY)) flag("UNREPLIED");
  if (v.status & CT_STATUS_ASSURED) flag("ASSURED");
  if (v.status & CT_STATUS_SRC_NAT_DONE) flag("SNAT");
  if (v.status & CT_STATUS_DST_NAT_DONE) flag("DNAT");
  s += "],\"mark\":" + std::to_string(v.mark) + ",\"zone\":" + std::to_string(v.orig.zone) +
       ",\"uptime_ms\":" + std::to_string(ev.at_ms) + "}";
  return s;
}

bool ct_filter::matches(const entry_view& v) const {
  const ct_tuple& t = v.orig;
  const bool v6 = t.family == k_family_ipv6;
  if (family >= 0 && t.family != family) return false;
  if (proto >= 0 && t.proto != proto) return false;
  if (src >= 0 && (v6 || ntohl(t.src) != static_cast<uint32_t>(src))) return false;
  if (dst >= 0 && (v6 || ntohl(t.dst) != static_cast<uint32_t>(dst))) return false;
  if (src6 && (!v6 || !(v.addr6.src == *src6))) return false;
  if (dst6 && (!v6 || !(v.addr6.dst == *dst6))) return false;
  bool ports = t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP;
  if (sport >= 0 && (!ports || ntohs(t.sport) != sport)) return false;
  if (dport >= 0 && (!ports || ntohs(t.dport) != dport)) return false;
  if (state >= 0 && (t.proto != IPPROTO_TCP || v.ts.l4state != state)) return false;
  if (zone >= 0 && t.zone != zone) return false;
  if (mark >= 0 && v.mark != static_cast<uint32_t>(mark)) return false;
  if (nat != 0) {
    // libnetfilter_conntrack's is_snat/is_spat (is_dnat/is_dpat): the kind's DONE bit set,
    // and an address or port that differs. For ICMP it compares the id with the type and
    // code, which differ, so every ICMP flow a NAT hook has decided is listed.
    // An IPv6 flow's addresses are compared, not its digests (a pair's hash).
    const bool icmp = is_icmp_like(t.proto);
    const bool src_moved = v6 ? !(v.reply6.dst == v.addr6.src) : v.reply.dst != t.src;
    const bool dst_moved = v6 ? !(v.reply6.src == v.addr6.dst) : v.reply.src != t.dst;
    const bool snat =
        (v.status & CT_STATUS_SRC_NAT_DONE) && (src_moved || icmp || v.reply.dport != t.sport);
    const bool dnat =
        (v.status & CT_STATUS_DST_NAT_DONE) && (dst_moved || icmp || v.reply.sport != t.dport);
    if (!(((nat & 1) && snat) || ((nat & 2) && dnat))) return false;
  }
  return true;
}

namespace {

bool parse_filter_into(const std::string& text, ct_filter* f, std::string* err) {
  std::string norm = text;
  std::replace(norm.begin(), norm.end(), '&', ' ');
  std::istringstream in(norm);
  std::string tok;
  auto number = [&](const std::string& key, const std::string& val, int64_t lo, int64_t hi,
                    int64_t* out) {
    char* end = nullptr;
    long long x = std::strtoll(val.c_str(), &end, 10);
    if (val.empty() || *end != '\0' || x < lo || x > hi) {
      *err = key + ": bad value '" + val + "'";
      return false;
    }
    *out = x;
    return true;
  };
  while (in >> tok) {
    auto eq = tok.find('=');
    if (eq == std::string::npos) {
      *err = "expected key=value, got '" + tok + "'";
      return false;
    }
    std::string key = tok.substr(0, eq), val = tok.substr(eq + 1);
    int64_t x = 0;
    if (key == "proto" || key == "p") {
      if (val == "tcp")
        f->proto = 6;
      else if (val == "udp")
        f->proto = 17;
      else if (val == "icmp")
        f->proto = 1;
      else if (val == "icmpv6")
        f->proto = 58;
      else if (!number(key, val, 0, 255, &x))
        return false;
      else
        f->proto = static_cast<int>(x);
    } else if (key == "family" || key == "f") {
      if (val == "ipv4")
        f->family = k_family_ipv4;
      else if (val == "ipv6")
        f->family = k_family_ipv6;
      else {
        *err = key + ": expected ipv4 or ipv6, got '" + val + "'";
        return false;
      }
    } else if (key == "output" || key == "o") {
      if (val != "extended") {
        *err = key + ": only 'extended' is supported, got '" + val + "'";
        return false;
      }
      f->extended = true;
    } else if ((key == "src" || key == "s" || key == "dst" || key == "d") &&
               val.find(':') != std::string::npos) {
      ipv6_addr a;
      if (inet_pton(AF_INET6, val.c_str(), a.b) != 1) {
        *err = key + ": bad IPv6 address '" + val + "'";
        return false;
      }
      (key[0] == 's' ? f->src6 : f->dst6) = a;
    } else if (key == "src" || key == "s" || key == "dst" || key == "d") {
      in_addr a{};
      if (inet_pton(AF_INET, val.c_str(), &a) != 1) {
        *err = key + ": bad IPv4 address '" + val + "'";
        return false;
      }
      (key[0] == 's' ? f->src : f->dst) = ntohl(a.s_addr);
    } else if (key == "sport" || key == "dport") {
      if (!number(key, val, 0, 65535, &x)) return false;
      (key == "sport" ? f->sport : f->dport) = static_cast<int>(x);
    } else if (key == "state") {
      f->state = tcp_state_from_name(val);
      if (f->state < 0) {
        *err = "state: unknown TCP state '" + val + "'";
        return false;
      }
    } else if (key == "zone") {
      if (!number(key, val, 0, 65535, &x)) return false;
      f->zone = static_cast<int>(x);
    } else if (key == "nat") {
      if (val == "src")
        f->nat = 1;
      else if (val == "dst")
        f->nat = 2;
      else if (val == "any")
        f->nat = 3;
      else {
        *err = "nat: expected src, dst or any, got '" + val + "'";
        return false;
      }
    } else if (key == "mark") {
      if (!number(key, val, 0, UINT32_MAX, &x)) return false;
      f->mark = x;
    } else {
      *err = "unknown filter '" + key + "'";
      return false;
    }
  }
  return true;
}

}  // namespace

result<ct_filter> parse_filter(const std::string& text) {
  ct_filter f;
  std::string err;
  if (!parse_filter_into(text, &f, &err)) return error{.message = std::move(err)};
  return f;
}

void scan(const flow_table& t, const ct_filter& f,
          const std::function<void(const entry_view&)>& fn) {
  tbb::parallel_for(tbb::blocked_range<uint32_t>(0, t.capacity(), 16384),
                    [&](const tbb::blocked_range<uint32_t>& r) {
                      entry_view v;
                      for (uint32_t p = r.begin(); p != r.end(); p++)
                        if (read_entry(*t.at(p), p, &v, t.acct_at(p), t.nat_reply_at(p),
                                       t.addr6_at(p), t.nat_reply6_at(p)) &&
                            f.matches(v))
                          fn(v);
                    });
}

std::vector<std::string> list_lines(const flow_table& t, const ct_filter& f, uint32_t now_ms) {
  mutex mu;
  std::vector<std::pair<uint32_t, std::string>> rows;
  scan(t, f, [&](const entry_view& v) {
    // Timed out but not reaped yet: gone, as Linux never lists it.
    if (ct_expired_at(v.expires_ms, now_ms)) return;
    std::string line = format_entry(v, now_ms, f.extended);
    lock_guard lock(mu);
    rows.emplace_back(v.pos, std::move(line));
  });
  std::sort(rows.begin(), rows.end());
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(std::move(r.second));
  return out;
}

uint64_t delete_matching(const flow_table& t, const ct_filter& f, ct_worker* const* workers,
                         uint16_t n_workers) {
  mutex mu;
  std::vector<std::pair<uint32_t, uint32_t>> victims;  // pos, live
  std::vector<uint16_t> owners;
  scan(t, f, [&](const entry_view& v) {
    lock_guard lock(mu);
    victims.emplace_back(v.pos, v.live);
    owners.push_back(v.owner);
  });
  uint64_t requested = 0;
  for (size_t i = 0; i < victims.size(); i++) {
    if (owners[i] >= n_workers) continue;
    // The owner drains its ring once per loop; wait a bounded time for room.
    for (int tries = 0; tries < 1000; tries++) {
      if (ct_request_delete(*workers[owners[i]], victims[i].first, victims[i].second)) {
        requested++;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  return requested;
}

}  // namespace ctgate::ct
