// YAML config loader. Validation code throws an internal load_failure that the two public
// entry points turn into an error result; this keeps every check a single line instead of
// threading a status through each helper, and nothing escapes the API.
#include "config/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>
#include <utility>

namespace ctgate {
namespace {

struct load_failure {
  int line;
  std::string key;
  std::string message;
};

// Config files are a few kilobytes; the cap only guards against pointing at a huge file.
constexpr size_t kMaxFileBytes = 16 << 20;
// Values are echoed in messages; a cap keeps an error line readable.
constexpr size_t kMaxQuoted = 64;

std::string quoted(const std::string& s) {
  return "'" + (s.size() <= kMaxQuoted ? s : s.substr(0, kMaxQuoted) + "...") + "'";
}

// Where each document's first event is (document_marks::first[i]), for the
// first two documents.
struct document_marks : YAML::EventHandler {
  int documents = 0;
  YAML::Mark first[2];
  bool seen = false;  // an event of the current document was recorded
  void next_document() {
    documents++;
    seen = false;
  }
  void at(const YAML::Mark& m) {
    if (!seen && documents < 2) first[documents] = m;
    seen = true;
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    at(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    at(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    at(m);
  }
  void OnMapEnd() override {}
};

int line_of(const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().line + 1; }

// "eal" + ".lcores" -> "eal.lcores"; top-level keys have no leading dot.
std::string sub_path(const std::string& path, const std::string& suffix) {
  return path.empty() && suffix[0] == '.' ? suffix.substr(1) : path + suffix;
}

// A node together with the key path and line used to report errors about it.
struct field {
  YAML::Node node;
  std::string path;
  int line = 0;

  [[noreturn]] void fail(std::string message) const {
    throw load_failure{line, path, std::move(message)};
  }
  // `preferred` is where the child should be reported; 0 falls back to this node's line.
  field child(const YAML::Node& n, const std::string& suffix, int preferred) const {
    return {n, sub_path(path, suffix), preferred > 0 ? preferred : line};
  }
};

// A validated map: only known keys, each at most once. Null counts as an empty map so that a
// section whose entries are all commented out is still valid.
class map_view {
 public:
  map_view(const field& f, const std::vector<std::string_view>& allowed)
      : path_(f.path), line_(f.line) {
    if (!f.node.IsMap() && !f.node.IsNull()) f.fail("expected a map");
    if (f.node.IsNull()) return;
    for (const auto& kv : f.node) {
      const int key_line = line_of(kv.first);
      if (!kv.first.IsScalar()) throw load_failure{key_line, f.path, "map keys must be strings"};
      const std::string& key = kv.first.Scalar();
      field at_key = f.child(kv.second, "." + key, key_line);
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        at_key.fail("unknown key");
      }
      if (fields_.count(key)) at_key.fail("duplicate key");
      // Scalars are reported on their key's line: yaml-cpp marks a null value on the *next*
      // line and an alias at its anchor. Collections are reported where their content starts.
      const bool collection = kv.second.IsMap() || kv.second.IsSequence();
      fields_.emplace(key,
                      f.child(kv.second, "." + key, collection ? line_of(kv.second) : key_line));
    }
  }

  const field* find(std::string_view key) const {
    auto it = fields_.find(key);
    return it == fields_.end() ? nullptr : &it->second;
  }

  const field& require(std::string_view key) const {
    if (const field* f = find(key)) return *f;
    missing(key, "missing required key");
  }

  // A missing key is reported on the line of the map that should contain it.
  [[noreturn]] void missing(std::string_view key, std::string message) const {
    throw load_failure{line_, sub_path(path_, "." + std::string(key)), std::move(message)};
  }

 private:
  std::string path_;
  int line_;
  std::map<std::string, field, std::less<>> fields_;
};

// Null counts as an empty list, like map_view.
std::vector<field> get_list(const field& f, size_t min_size, size_t max_size) {
  if (!f.node.IsSequence() && !f.node.IsNull()) f.fail("expected a list");
  std::vector<field> out;
  if (f.node.IsSequence()) {
    for (const auto& n : f.node) {
      // A null element would be marked on the next line; report it on the list's.
      out.push_back(
          f.child(n, "[" + std::to_string(out.size()) + "]", n.IsNull() ? 0 : line_of(n)));
    }
  }
  if (out.size() < min_size || out.size() > max_size) {
    f.fail("must have between " + std::to_string(min_size) + " and " + std::to_string(max_size) +
           " entries");
  }
  return out;
}

// Quoted scalars are strings in YAML, so `mtu: "1500"` is a type error like in any typed schema.
const std::string& typed_scalar(const field& f, const char* yaml_tag, const char* error) {
  if (!f.node.IsScalar() || (f.node.Tag() != "?" && f.node.Tag() != yaml_tag)) f.fail(error);
  return f.node.Scalar();
}

std::string get_string(const field& f) {
  if (!f.node.IsScalar()) f.fail("expected a string");
  return f.node.Scalar();
}

bool get_bool(const field& f) {
  const std::string& s = typed_scalar(f, "tag:yaml.org,2002:bool", "expected a boolean");
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  f.fail("expected a boolean");
}

template <typename T>
T get_int(const field& f, int64_t lo, int64_t hi) {
  const std::string& s = typed_scalar(f, "tag:yaml.org,2002:int", "expected an integer");
  int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    f.fail("expected an integer");
  }
  if (ec != std::errc() || v < lo || v > hi) {
    f.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return static_cast<T>(v);
}

// 1..max_len characters from [a-z0-9_-], plus A-Z when allow_upper.
bool is_token(const std::string& s, size_t max_len, bool allow_upper) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (allow_upper && c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return true;
}

uint32_t mask_of(uint8_t len) { return ipv4_prefix{0, len}.mask(); }

uint32_t get_ipv4(const field& f) {
  uint32_t a = 0;
  if (!parse_ipv4(get_string(f), &a)) f.fail("invalid IPv4 address " + quoted(f.node.Scalar()));
  return a;
}

ipv4_prefix get_prefix(const field& f) {
  ipv4_prefix p;
  if (!parse_ipv4_prefix(get_string(f), &p)) {
    f.fail("invalid IPv4 prefix " + quoted(f.node.Scalar()));
  }
  return p;
}

ipv6_prefix get_prefix6(const field& f) {
  ipv6_prefix p;
  if (!parse_ipv6_prefix(get_string(f), &p)) {
    f.fail("invalid IPv6 prefix " + quoted(f.node.Scalar()));
  }
  return p;
}

ipv6_addr get_ipv6(const field& f) {
  ipv6_addr a;
  if (!parse_ipv6(get_string(f), &a)) f.fail("invalid IPv6 address " + quoted(f.node.Scalar()));
  return a;
}

// Returns the MAC in canonical lower-case form; multicast and zero addresses cannot belong to
// a port or a neighbor.
std::string get_unicast_mac(const field& f) {
  uint8_t m[6];
  if (!parse_mac(get_string(f), m)) f.fail("invalid MAC address " + quoted(f.node.Scalar()));
  if ((m[0] & 1) || (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0) {
    f.fail("MAC address " + quoted(f.node.Scalar()) + " is not a unicast address");
  }
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

const std::vector<std::string_view> k_port_keys = {"name",        "devargs", "address", "address6",
                                                   "rx_desc",     "tx_desc", "mtu",     "zone",
                                                   "promiscuous", "mac",     "vlans"};

// A routed port: bridge members have no address, so routes and neighbours cannot name them.
const port_config& get_port_ref(const field& f, const gateway_config& cfg) {
  const std::string name = get_string(f);
  for (const port_config& p : cfg.ports) {
    if (p.name != name) continue;
    if (p.bridge_member)
      f.fail("port " + quoted(name) + " is a bridge member: its frames are switched, not routed");
    return p;
  }
  f.fail("unknown port " + quoted(name));
}

// Any port, routed or not, by name; its index in cfg.ports.
size_t get_port_index(const field& f, const gateway_config& cfg) {
  const std::string name = get_string(f);
  const int idx = port_index(cfg, name);
  if (idx < 0) f.fail("unknown port " + quoted(name));
  return static_cast<size_t>(idx);
}

uint16_t get_vlan_id(const field& f) { return get_int<uint16_t>(f, 1, k_vlan_max); }

void parse_bridge_port(const field& f, gateway_config* cfg, bridge_config* br) {
  map_view m(f, {"port", "pvid", "vlans", "learning_limit"});
  bridge_port_config bp;
  bp.line = f.line;
  const field& port = m.require("port");
  const size_t idx = get_port_index(port, *cfg);
  port_config& pc = cfg->ports[idx];
  bp.port = pc.name;
  if (pc.bridge_member)
    port.fail("port " + quoted(pc.name) + " is already a bridge member (a port is in one bridge)");
  if (!pc.bridge.empty())
    port.fail("port " + quoted(pc.name) + " is an interface of bridge " + quoted(pc.bridge) +
              ": a bridge's members are devices");
  if (pc.vlan != 0)
    port.fail("port " + quoted(pc.name) +
              " is a VLAN subinterface: a bridge takes the port itself, as a trunk (vlans)");
  for (const port_config& sub : cfg->ports)
    if (sub.parent == pc.name)
      port.fail("port " + quoted(pc.name) + " has VLAN subinterfaces (" + sub.name +
                "): a bridge member carries its VLANs itself (vlans)");
  if (pc.address.len != 0 || pc.address6)
    port.fail("port " + quoted(pc.name) + " has an address: a bridge member has none (line " +
              std::to_string(pc.line) + ")");
  pc.bridge_member = true;
  if (const field* v = m.find("pvid")) bp.pvid = get_int<uint16_t>(*v, 0, k_vlan_max);
  if (const field* v = m.find("vlans")) {
    for (const field& vf : get_list(*v, 1, k_vlan_max)) {
      const uint16_t vid = get_vlan_id(vf);
      if (vid == bp.pvid) vf.fail("VLAN " + std::to_string(vid) + " is the port's pvid already");
      if (std::find(bp.vlans.begin(), bp.vlans.end(), vid) != bp.vlans.end())
        vf.fail("duplicate VLAN " + std::to_string(vid));
      bp.vlans.push_back(vid);
    }
    std::sort(bp.vlans.begin(), bp.vlans.end());
  }
  if (bp.pvid == 0 && bp.vlans.empty())
    f.fail("port " + quoted(pc.name) + " carries no VLAN: give it a pvid or vlans");
  if (const field* v = m.find("learning_limit"))
    bp.learning_limit = get_int<uint32_t>(*v, 0, 1u << 24);
  br->ports.push_back(std::move(bp));
}

bool carries(const bridge_port_config& bp, uint16_t vid) {
  return bp.pvid == vid || std::binary_search(bp.vlans.begin(), bp.vlans.end(), vid);
}

void parse_port_addresses(const map_view& m, const gateway_config& cfg, port_config* p);
void check_unique_name(const field& name, const gateway_config& cfg, const std::string& n);

// bridges[].interfaces: the bridge's own routed interfaces, as Linux's br0 with an address (in
// the bridge's default PVID, 1) or a VLAN device on it (br0.20). Each is a port with no device,
// appended to cfg.ports: named BRIDGE without `vlan`, BRIDGE.VLAN with it.
void parse_bridge_interfaces(const field& f, const bridge_config& br, gateway_config* cfg) {
  std::vector<uint16_t> vids;
  for (const field& itf : get_list(f, 1, 16)) {
    map_view m(itf, {"vlan", "address", "address6", "zone", "mtu", "mac"});
    port_config p;
    p.line = itf.line;
    p.bridge = br.name;
    p.vlan = 1;  // Linux's default_pvid: the VLAN of br0's own untagged traffic
    p.name = br.name;
    const field* vlan = m.find("vlan");
    if (vlan != nullptr) {
      p.vlan = get_vlan_id(*vlan);
      p.name = br.name + "." + std::to_string(p.vlan);
      if (p.name.size() > 15)
        vlan->fail("interface name " + quoted(p.name) +
                   " is longer than 15 characters (IFNAMSIZ); shorten the bridge's name");
    }
    const field& at = vlan != nullptr ? *vlan : itf;
    if (std::find(vids.begin(), vids.end(), p.vlan) != vids.end())
      at.fail("bridge " + quoted(br.name) + " has an interface in VLAN " + std::to_string(p.vlan) +
              " already");
    vids.push_back(p.vlan);
    // The smallest MTU of the members that carry the VLAN: what every one of them can send.
    uint16_t mtu = 0;
    for (const bridge_port_config& bp : br.ports) {
      if (!carries(bp, p.vlan)) continue;
      const uint16_t member_mtu = cfg->ports[static_cast<size_t>(port_index(*cfg, bp.port))].mtu;
      if (mtu == 0 || member_mtu < mtu) mtu = member_mtu;
    }
    if (mtu == 0)
      at.fail("no member of bridge " + quoted(br.name) + " carries VLAN " + std::to_string(p.vlan));
    check_unique_name(at, *cfg, p.name);
    p.mtu = mtu;
    if (const field* v = m.find("mtu")) {
      p.mtu = get_int<uint16_t>(*v, 68, 9600);
      if (p.mtu > mtu)
        v->fail("the interface's mtu cannot exceed its members' (" + std::to_string(mtu) + ")");
    }
    if (const field* v = m.find("zone")) p.zone = get_int<uint16_t>(*v, 0, 65535);
    if (const field* v = m.find("mac")) p.mac = get_unicast_mac(*v);
    if (m.find("address") == nullptr && m.find("address6") == nullptr)
      m.missing("address", "missing required key (an interface has address, address6 or both)");
    parse_port_addresses(m, *cfg, &p);
    cfg->ports.push_back(std::move(p));
  }
}

void parse_bridges(const field& f, gateway_config* cfg) {
  for (const field& bf : get_list(f, 0, 32)) {
    map_view m(bf, {"name", "ports", "ageing_time_s", "max_entries", "fdb", "interfaces"});
    bridge_config br;
    br.line = bf.line;
    const field& name = m.require("name");
    br.name = get_string(name);
    if (!is_token(br.name, 15, false))
      name.fail("invalid bridge name " + quoted(br.name) + " (allowed: [a-z0-9_-]{1,15})");
    for (const port_config& p : cfg->ports)
      if (p.name == br.name) name.fail("bridge name " + quoted(br.name) + " is a port's name");
    for (const bridge_config& prev : cfg->bridges)
      if (prev.name == br.name)
        name.fail("duplicate bridge name " + quoted(br.name) + " (first declared on line " +
                  std::to_string(prev.line) + ")");
    for (const field& pf : get_list(m.require("ports"), 1, 32)) parse_bridge_port(pf, cfg, &br);
    // Linux takes 0 (entries age at once: a hub) up to about 11 days; 0 would make every
    // frame flood, which a config should say with more than a number: 1 s is the floor.
    if (const field* v = m.find("ageing_time_s"))
      br.ageing_time_s = get_int<uint32_t>(*v, 1, 1000000);
    if (const field* v = m.find("max_entries"))
      br.max_entries = get_int<uint32_t>(*v, 16, 1u << 24);
    if (const field* v = m.find("fdb")) {
      for (const field& ef : get_list(*v, 0, 65536)) {
        map_view em(ef, {"mac", "vlan", "port"});
        fdb_static_config e;
        e.line = ef.line;
        e.mac = get_unicast_mac(em.require("mac"));
        if (const field* vl = em.find("vlan")) e.vlan = get_vlan_id(*vl);
        const field& port = em.require("port");
        e.port = get_string(port);
        auto member = std::find_if(br.ports.begin(), br.ports.end(),
                                   [&](const bridge_port_config& bp) { return bp.port == e.port; });
        if (member == br.ports.end())
          port.fail("port " + quoted(e.port) + " is not a member of bridge " + quoted(br.name));
        if (!carries(*member, e.vlan))
          ef.fail("port " + quoted(e.port) + " does not carry VLAN " + std::to_string(e.vlan));
        for (const fdb_static_config& prev : br.fdb)
          if (prev.mac == e.mac && prev.vlan == e.vlan)
            ef.fail("duplicate FDB entry " + e.mac + " vlan " + std::to_string(e.vlan) +
                    " (first on line " + std::to_string(prev.line) + ")");
        br.fdb.push_back(std::move(e));
      }
      if (br.fdb.size() > br.max_entries)
        v->fail("more static entries than max_entries (" + std::to_string(br.max_entries) + ")");
    }
    if (const field* v = m.find("interfaces")) {
      parse_bridge_interfaces(*v, br, cfg);
      if (cfg->ports.size() > 32)
        v->fail("too many ports, VLAN subinterfaces and bridge interfaces (" +
                std::to_string(cfg->ports.size()) + ", at most 32)");
    }
    cfg->bridges.push_back(std::move(br));
  }
}

// Every port has an address or is a bridge member (checked once the bridges are read). The
// YAML is walked again only to point at the port that has neither.
void check_port_addresses(const field& ports, const gateway_config& cfg) {
  size_t listed = 0;  // the port's place in the YAML list (VLAN subinterfaces are not there)
  for (const port_config& p : cfg.ports) {
    if (p.vlan != 0) continue;
    const bool has_vlans = std::any_of(cfg.ports.begin(), cfg.ports.end(),
                                       [&](const port_config& s) { return s.parent == p.name; });
    if (p.address.len == 0 && !p.bridge_member && !has_vlans)
      map_view(get_list(ports, 1, 32)[listed], k_port_keys)
          .missing("address", "missing required key (a port without one must be a bridge member)");
    listed++;
  }
}

// Next hops and neighbors must be on-link, otherwise ARP can never resolve them.
void check_on_link(const field& f, const port_config& port, uint32_t addr) {
  if (port.address.len == 0)
    f.fail("port '" + port.name + "' has no IPv4 address (address) for " + format_ipv4(addr));
  if (!port.address.contains(addr)) {
    f.fail(format_ipv4(addr) + " is not in the subnet of port '" + port.name + "' (" +
           format_prefix(port.address) + ")");
  }
}

void parse_eal(const field& f, eal_config* eal) {
  map_view m(f, {"lcores", "memory_mb", "file_prefix", "no_huge", "no_pci", "extra_args"});
  if (const field* v = m.find("lcores")) {
    eal->lcores = get_string(*v);
    // Only the characters of DPDK's --lcores syntax, e.g. "0-3" or "0,(1-2)@1".
    const std::string& lc = eal->lcores;
    if (lc.empty() || lc.find_first_not_of("0123456789,-@()") != std::string::npos) {
      v->fail("invalid lcore list " + quoted(eal->lcores));
    }
  }
  if (const field* v = m.find("memory_mb")) eal->memory_mb = get_int<uint32_t>(*v, 64, 1048576);
  if (const field* v = m.find("file_prefix")) {
    eal->file_prefix = get_string(*v);
    if (!is_token(eal->file_prefix, 32, true)) {
      v->fail("invalid file prefix " + quoted(eal->file_prefix) +
              " (allowed: [A-Za-z0-9_-]{1,32})");
    }
  }
  if (const field* v = m.find("no_huge")) eal->no_huge = get_bool(*v);
  if (const field* v = m.find("no_pci")) eal->no_pci = get_bool(*v);
  if (const field* v = m.find("extra_args")) {
    for (const field& arg : get_list(*v, 0, 256)) eal->extra_args.push_back(get_string(arg));
  }
}

uint16_t get_desc_count(const field& f) {
  auto n = get_int<uint16_t>(f, 64, 16384);
  if (n & (n - 1)) f.fail("must be a power of two");
  return n;
}

// A port's addresses (`address`, `address6`), each checked against the ports before it: no
// subnet may overlap another port's. The port's mtu must be read first.
void parse_port_addresses(const map_view& m, const gateway_config& cfg, port_config* p) {
  // Required unless the port is a bridge member: parse_bridges checks which it is.
  const field* addr_field = m.find("address");
  if (addr_field != nullptr) {
    const field& addr = *addr_field;
    p->address = get_prefix(addr);
    const uint32_t host_mask = ~mask_of(p->address.len);
    if (p->address.len == 0) addr.fail("prefix length must be between 1 and 32");
    // /31 and /32 have no network or broadcast address (RFC 3021).
    if (p->address.len <= 30 &&
        ((p->address.addr & host_mask) == 0 || (p->address.addr & host_mask) == host_mask)) {
      addr.fail(quoted(addr.node.Scalar()) + " is a network or broadcast address");
    }
  }
  const field* addr6 = m.find("address6");
  if (addr6 != nullptr) {
    ipv6_prefix a = get_prefix6(*addr6);
    if (a.len == 0) addr6->fail("prefix length must be between 1 and 128");
    if (a.addr.is_multicast() || a.addr.is_link_local() || a.addr.is_zero())
      addr6->fail(quoted(addr6->node.Scalar()) +
                  " is not a global unicast address (the link-local address comes from the "
                  "port's MAC)");
    p->address6 = a;
    if (p->mtu < 1280)
      addr6->fail("IPv6 needs an MTU of at least 1280 (the port's mtu is " +
                  std::to_string(p->mtu) + ")");
  }
  for (const port_config& prev : cfg.ports) {
    if (p->address6 && prev.address6) {
      const ipv6_prefix& a = *prev.address6;
      const ipv6_prefix& b = *p->address6;
      if ((a.len < b.len ? a : b).contains(a.len < b.len ? b.addr : a.addr))
        addr6->fail("subnet overlaps port '" + prev.name + "' (" + format_prefix6(a) + ")");
    }
    const ipv4_prefix& shorter = prev.address.len < p->address.len ? prev.address : p->address;
    if (addr_field != nullptr && prev.address.len != 0 && shorter.contains(prev.address.addr) &&
        shorter.contains(p->address.addr)) {
      addr_field->fail("subnet overlaps port '" + prev.name + "' (" + format_prefix(prev.address) +
                       ")");
    }
  }
}

void check_unique_name(const field& name, const gateway_config& cfg, const std::string& n) {
  for (const port_config& prev : cfg.ports)
    if (prev.name == n)
      name.fail("duplicate port name " + quoted(n) + " (first declared on line " +
                std::to_string(prev.line) + ")");
}

// ports[].vlans: the port's VLAN subinterfaces (Linux's `ip link add link lan name lan.100
// type vlan id 100`), each a routed port named PARENT.ID with its own addresses, the parent's
// MAC and device. They follow their parent in cfg.ports.
void parse_port_vlans(const field& f, const port_config& parent, gateway_config* cfg) {
  std::vector<uint16_t> ids;
  for (const field& vf : get_list(f, 1, 64)) {
    map_view m(vf, {"id", "address", "address6", "zone", "mtu"});
    port_config v;
    v.line = vf.line;
    const field& id = m.require("id");
    v.vlan = get_vlan_id(id);
    if (std::find(ids.begin(), ids.end(), v.vlan) != ids.end())
      id.fail("duplicate VLAN " + std::to_string(v.vlan) + " on port " + quoted(parent.name));
    ids.push_back(v.vlan);
    v.parent = parent.name;
    v.name = parent.name + "." + std::to_string(v.vlan);
    if (v.name.size() > 15)
      id.fail("subinterface name " + quoted(v.name) +
              " is longer than 15 characters (IFNAMSIZ); shorten the port's name");
    check_unique_name(id, *cfg, v.name);
    v.mtu = parent.mtu;
    if (const field* mtu = m.find("mtu")) {
      v.mtu = get_int<uint16_t>(*mtu, 68, 9600);
      if (v.mtu > parent.mtu)
        mtu->fail("a VLAN's mtu cannot exceed its port's (" + std::to_string(parent.mtu) + ")");
    }
    v.zone = parent.zone;
    if (const field* z = m.find("zone")) v.zone = get_int<uint16_t>(*z, 0, 65535);
    v.mac = parent.mac;
    v.promiscuous = parent.promiscuous;
    m.require("address");
    parse_port_addresses(m, *cfg, &v);
    cfg->ports.push_back(std::move(v));
  }
}

void parse_ports(const field& f, gateway_config* cfg) {
  for (const field& pf : get_list(f, 1, 32)) {
    map_view m(pf, k_port_keys);
    port_config p;
    p.line = pf.line;
    const field& name = m.require("name");
    p.name = get_string(name);
    if (!is_token(p.name, 15, false)) {
      name.fail("invalid port name " + quoted(p.name) + " (allowed: [a-z0-9_-]{1,15})");
    }
    check_unique_name(name, *cfg, p.name);
    const field& devargs = m.require("devargs");
    p.devargs = get_string(devargs);
    if (p.devargs.empty()) devargs.fail("must not be empty");
    if (const field* v = m.find("rx_desc")) p.rx_desc = get_desc_count(*v);
    if (const field* v = m.find("tx_desc")) p.tx_desc = get_desc_count(*v);
    if (const field* v = m.find("mtu")) p.mtu = get_int<uint16_t>(*v, 68, 9600);
    if (const field* v = m.find("zone")) p.zone = get_int<uint16_t>(*v, 0, 65535);
    if (const field* v = m.find("promiscuous")) p.promiscuous = get_bool(*v);
    if (const field* v = m.find("mac")) p.mac = get_unicast_mac(*v);
    parse_port_addresses(m, *cfg, &p);
    const port_config parent = p;
    cfg->ports.push_back(std::move(p));
    if (const field* v = m.find("vlans")) parse_port_vlans(*v, parent, cfg);
  }
  if (cfg->ports.size() > 32)
    f.fail("too many ports and VLAN subinterfaces (" + std::to_string(cfg->ports.size()) +
           ", at most 32)");
}

// An IPv6 route: `via` a global address on a port's subnet, or a link-local one with `port`.
route_config parse_route6(const field& pf, const field* via, const field* port,
                          const gateway_config& cfg, std::map<std::string, int>* seen) {
  route_config r;
  r.v6 = true;
  r.prefix6 = get_prefix6(pf);
  if (!(r.prefix6.network() == r.prefix6)) pf.fail("host bits set in " + quoted(pf.node.Scalar()));
  auto [it, inserted] = seen->emplace(format_prefix6(r.prefix6), pf.line);
  if (!inserted) {
    pf.fail("duplicate route prefix " + format_prefix6(r.prefix6) + " (first on line " +
            std::to_string(it->second) + ")");
  }
  const port_config* out = port ? &get_port_ref(*port, cfg) : nullptr;
  if (out && !out->address6)
    port->fail("port '" + out->name + "' has no address6 (an IPv6 route needs one)");
  if (via) {
    r.via6 = get_ipv6(*via);
    if (r.via6.is_zero() || r.via6.is_multicast())
      via->fail(quoted(via->node.Scalar()) + " cannot be a next hop");
    if (r.via6.is_link_local()) {
      if (!out) via->fail("a link-local next hop needs 'port'");
    } else if (out) {
      if (!out->address6->contains(r.via6))
        via->fail(format_ipv6(r.via6) + " is not in the subnet of port '" + out->name + "' (" +
                  format_prefix6(*out->address6) + ")");
    } else {
      for (const port_config& p : cfg.ports)
        if (p.address6 && p.address6->contains(r.via6)) out = &p;
      if (!out) via->fail(format_ipv6(r.via6) + " is not in the subnet of any port");
    }
  } else if (!out) {
    pf.fail("'port' is required when 'via' is absent");
  }
  r.port = out->name;
  return r;
}

void parse_routes(const field& f, gateway_config* cfg) {
  std::map<std::pair<uint32_t, uint8_t>, int> seen;  // prefix -> line
  std::map<std::string, int> seen6;
  for (const field& rf : get_list(f, 0, 1 << 20)) {
    map_view m(rf, {"prefix", "via", "port", "nexthops"});
    route_config r;
    r.line = rf.line;
    const field& pf = m.require("prefix");
    if (get_string(pf).find(':') != std::string::npos) {
      if (const field* nh = m.find("nexthops")) nh->fail("multipath routes are IPv4 only");
      r = parse_route6(pf, m.find("via"), m.find("port"), *cfg, &seen6);
      r.line = rf.line;
      cfg->routes.push_back(std::move(r));
      continue;
    }
    r.prefix = get_prefix(pf);
    if (r.prefix.addr & ~mask_of(r.prefix.len)) {
      pf.fail("host bits set in " + quoted(pf.node.Scalar()));
    }
    auto [it, inserted] = seen.emplace(std::pair(r.prefix.addr, r.prefix.len), r.line);
    if (!inserted) {
      pf.fail("duplicate route prefix " + format_prefix(r.prefix) + " (first on line " +
              std::to_string(it->second) + ")");
    }
    // One next hop: `via` on a port's subnet (the port follows) or on the named port's, or a
    // port alone (directly connected).
    auto hop = [&](const field* via, const field* port, const map_view& at) {
      route_hop h;
      const port_config* out = port ? &get_port_ref(*port, *cfg) : nullptr;
      if (via) {
        h.via = get_ipv4(*via);
        if (h.via == 0) via->fail("next hop must not be 0.0.0.0");
        if (out) {
          check_on_link(*via, *out, h.via);
        } else {
          for (const port_config& p : cfg->ports) {
            if (p.address.len != 0 && p.address.contains(h.via)) out = &p;
          }
          if (!out) via->fail(format_ipv4(h.via) + " is not in the subnet of any port");
        }
      } else if (!out) {
        at.missing("port", "required when 'via' is absent");
      }
      h.port = out->name;
      return h;
    };
    if (const field* nh = m.find("nexthops")) {
      if (m.find("via") || m.find("port"))
        nh->fail("a route has 'via' and 'port', or 'nexthops', not both");
      for (const field& hf : get_list(*nh, 2, 16)) {
        map_view hm(hf, {"via", "port"});
        const field* via = &hm.require("via");
        route_hop h = hop(via, hm.find("port"), hm);
        if (std::find(r.nexthops.begin(), r.nexthops.end(), h) != r.nexthops.end())
          hf.fail("next hop " + format_ipv4(h.via) + " dev " + h.port + " is listed twice");
        r.nexthops.push_back(std::move(h));
      }
      r.via = r.nexthops[0].via;
      r.port = r.nexthops[0].port;
    } else {
      route_hop h = hop(m.find("via"), m.find("port"), m);
      r.via = h.via;
      r.port = h.port;
    }
    cfg->routes.push_back(std::move(r));
  }
}

void parse_neighbors(const field& f, gateway_config* cfg) {
  std::map<uint32_t, int> seen;  // address -> line
  std::map<std::string, int> seen6;
  for (const field& nf : get_list(f, 0, 1 << 20)) {
    map_view m(nf, {"address", "mac", "port"});
    neighbor_config n;
    n.line = nf.line;
    const field& addr = m.require("address");
    if (get_string(addr).find(':') != std::string::npos) {
      n.v6 = true;
      n.address6 = get_ipv6(addr);
      if (n.address6.is_zero() || n.address6.is_multicast())
        addr.fail(quoted(addr.node.Scalar()) + " cannot be a neighbour");
      n.mac = get_unicast_mac(m.require("mac"));
      const field& port = m.require("port");
      const port_config& p = get_port_ref(port, *cfg);
      n.port = p.name;
      if (!n.address6.is_link_local() && !(p.address6 && p.address6->contains(n.address6)))
        addr.fail(format_ipv6(n.address6) + " is not in the IPv6 subnet of port '" + p.name + "'");
      auto [it6, inserted6] = seen6.emplace(format_ipv6(n.address6), n.line);
      if (!inserted6) {
        addr.fail("duplicate neighbor " + format_ipv6(n.address6) + " (first on line " +
                  std::to_string(it6->second) + ")");
      }
      cfg->neighbors.push_back(std::move(n));
      continue;
    }
    n.address = get_ipv4(addr);
    n.mac = get_unicast_mac(m.require("mac"));
    const field& port = m.require("port");
    const port_config& p = get_port_ref(port, *cfg);
    n.port = p.name;
    check_on_link(addr, p, n.address);
    auto [it, inserted] = seen.emplace(n.address, n.line);
    if (!inserted) {
      addr.fail("duplicate neighbor " + format_ipv4(n.address) + " (first on line " +
                std::to_string(it->second) + ")");
    }
    cfg->neighbors.push_back(std::move(n));
  }
}

constexpr std::pair<std::string_view, uint32_t conntrack_timeouts::*> kTimeouts[] = {
    {"tcp_syn_sent", &conntrack_timeouts::tcp_syn_sent},
    {"tcp_syn_recv", &conntrack_timeouts::tcp_syn_recv},
    {"tcp_established", &conntrack_timeouts::tcp_established},
    {"tcp_fin_wait", &conntrack_timeouts::tcp_fin_wait},
    {"tcp_close_wait", &conntrack_timeouts::tcp_close_wait},
    {"tcp_last_ack", &conntrack_timeouts::tcp_last_ack},
    {"tcp_time_wait", &conntrack_timeouts::tcp_time_wait},
    {"tcp_close", &conntrack_timeouts::tcp_close},
    {"tcp_unacknowledged", &conntrack_timeouts::tcp_unacknowledged},
    {"tcp_max_retrans", &conntrack_timeouts::tcp_max_retrans},
    {"udp", &conntrack_timeouts::udp},
    {"udp_stream", &conntrack_timeouts::udp_stream},
    {"icmp", &conntrack_timeouts::icmp},
    {"generic", &conntrack_timeouts::generic},
    {"icmpv6", &conntrack_timeouts::icmpv6},
};

void parse_conntrack(const field& f, conntrack_config* ct) {
  map_view m(f, {"enable_hooks", "max", "buckets", "tcp_loose", "tcp_be_liberal",
                 "tcp_ignore_invalid_rst", "tcp_max_retrans", "log_invalid", "checksum", "acct",
                 "reserved", "reserved_mark", "log_interval_ms", "timeouts"});
  if (const field* v = m.find("enable_hooks")) ct->enable_hooks = get_bool(*v);
  if (const field* v = m.find("max")) ct->max = get_int<uint32_t>(*v, 1, 67108864);
  if (const field* v = m.find("buckets")) ct->buckets = get_int<uint32_t>(*v, 1, 67108864);
  if (const field* v = m.find("tcp_loose")) ct->tcp_loose = get_bool(*v);
  if (const field* v = m.find("tcp_be_liberal")) ct->tcp_be_liberal = get_bool(*v);
  if (const field* v = m.find("tcp_ignore_invalid_rst")) ct->tcp_ignore_invalid_rst = get_bool(*v);
  if (const field* v = m.find("tcp_max_retrans"))
    ct->tcp_max_retrans = get_int<uint8_t>(*v, 0, 255);
  if (const field* v = m.find("log_invalid")) ct->log_invalid = get_bool(*v);
  if (const field* v = m.find("checksum")) ct->checksum = get_bool(*v);
  if (const field* v = m.find("acct")) ct->acct = get_bool(*v);
  if (const field* v = m.find("reserved")) ct->reserved = get_int<uint32_t>(*v, 0, ct->max);
  if (const field* v = m.find("reserved_mark"))
    ct->reserved_mark = get_int<uint32_t>(*v, 1, 0xffffffff);
  if (const field* v = m.find("log_interval_ms")) {
    ct->log_interval_ms = get_int<uint32_t>(*v, 0, 3600000);
  }
  if (const field* v = m.find("timeouts")) {
    std::vector<std::string_view> names;
    for (const auto& [name, member] : kTimeouts) names.push_back(name);
    map_view t(*v, names);
    for (const auto& [name, member] : kTimeouts) {
      // 2147483 s keeps timeouts in milliseconds within a signed 32-bit value.
      if (const field* s = t.find(name)) ct->timeouts.*member = get_int<uint32_t>(*s, 1, 2147483);
    }
  }
}

void parse_icmp(const field& f, icmp_config* ic) {
  map_view m(f, {"ratelimit_ms", "ratemask", "msgs_per_sec", "msgs_burst"});
  if (const field* v = m.find("ratelimit_ms")) ic->ratelimit_ms = get_int<uint32_t>(*v, 0, 3600000);
  if (const field* v = m.find("ratemask")) ic->ratemask = get_int<uint32_t>(*v, 0, 0xffffffff);
  if (const field* v = m.find("msgs_per_sec"))
    ic->msgs_per_sec = get_int<uint32_t>(*v, 0, 10000000);
  if (const field* v = m.find("msgs_burst")) ic->msgs_burst = get_int<uint32_t>(*v, 0, 10000000);
}

void parse_arp(const field& f, arp_config* a) {
  map_view m(f, {"retrans_time_ms", "mcast_solicit", "unres_qlen_bytes", "base_reachable_time_ms",
                 "gc_stale_time_ms", "gc_thresh1"});
  if (const field* v = m.find("retrans_time_ms"))
    a->retrans_time_ms = get_int<uint32_t>(*v, 10, 3600000);
  if (const field* v = m.find("mcast_solicit")) a->mcast_solicit = get_int<uint32_t>(*v, 1, 100);
  if (const field* v = m.find("unres_qlen_bytes"))
    a->unres_qlen_bytes = get_int<uint32_t>(*v, 0, 1u << 30);
  if (const field* v = m.find("base_reachable_time_ms"))
    a->base_reachable_time_ms = get_int<uint32_t>(*v, 1000, 86400000);
  if (const field* v = m.find("gc_stale_time_ms"))
    a->gc_stale_time_ms = get_int<uint32_t>(*v, 1000, 86400000);
  if (const field* v = m.find("gc_thresh1")) a->gc_thresh1 = get_int<uint32_t>(*v, 0, 4096);
}

void parse_ipfrag(const field& f, ipfrag_config* fr, bool v6) {
  // reasm_buffers is ipfrag's alone: both families share the buffers.
  map_view m(f, v6 ? std::vector<std::string_view>{"high_thresh", "time_ms"}
                   : std::vector<std::string_view>{"high_thresh", "time_ms", "reasm_buffers"});
  if (const field* v = m.find("high_thresh")) fr->high_thresh = get_int<uint32_t>(*v, 0, 1u << 30);
  if (const field* v = m.find("time_ms")) fr->time_ms = get_int<uint32_t>(*v, 1, 3600000);
  if (const field* v = m.find("reasm_buffers")) fr->reasm_buffers = get_int<uint32_t>(*v, 1, 65536);
}

void parse_ruleset_limits(const field& f, ruleset_limits_config* l) {
  map_view m(f, {"rules", "set_elements"});
  if (const field* v = m.find("rules")) l->rules = get_int<uint32_t>(*v, 1, 10000000);
  if (const field* v = m.find("set_elements"))
    l->set_elements = get_int<uint32_t>(*v, 1, 100000000);
}

void parse_synproxy(const field& f, synproxy_auto_config* sp) {
  map_view m(f, {"auto", "ports", "on_table_percent", "off_table_percent", "on_new_flows_per_s",
                 "mss", "wscale", "timestamp", "sack_perm"});
  if (const field* v = m.find("auto")) sp->enable = get_bool(*v);
  if (const field* v = m.find("ports"))
    for (const field& pf : get_list(*v, 1, 1024))
      sp->ports.push_back(get_int<uint16_t>(pf, 1, 65535));
  if (const field* v = m.find("on_table_percent"))
    sp->on_table_percent = get_int<uint32_t>(*v, 1, 100);
  if (const field* v = m.find("off_table_percent")) {
    sp->off_table_percent = get_int<uint32_t>(*v, 0, 99);
    if (sp->off_table_percent >= sp->on_table_percent)
      v->fail("must be below on_table_percent (" + std::to_string(sp->on_table_percent) + ")");
  }
  if (const field* v = m.find("on_new_flows_per_s"))
    sp->on_new_flows_per_s = get_int<uint32_t>(*v, 0, 1000000000);
  if (const field* v = m.find("mss")) sp->mss = get_int<uint16_t>(*v, 536, 65535);
  if (const field* v = m.find("wscale")) sp->wscale = get_int<uint8_t>(*v, 0, 14);
  if (const field* v = m.find("timestamp")) sp->timestamp = get_bool(*v);
  if (const field* v = m.find("sack_perm")) sp->sack_perm = get_bool(*v);
  if (sp->enable && sp->ports.empty()) f.fail("auto needs at least one port to protect");
}

// metrics: { listen: ADDRESS:PORT }, ADDRESS an IPv4 address or a bracketed IPv6 one, as
// Prometheus's own --web.listen-address takes them. A bare port would listen on every
// address: the metrics name the gateway's ports, flows and rules, so the address is asked for.
bool parse_digits(std::string_view s, size_t max_digits, unsigned max, int base, unsigned* out);

void parse_metrics(const field& f, metrics_config* mc) {
  map_view m(f, {"listen"});
  const field* v = m.find("listen");
  if (v == nullptr) return;
  const std::string text = get_string(*v);
  const size_t colon = text.rfind(':');
  if (text.empty() || colon == std::string::npos || colon + 1 == text.size())
    v->fail("expected ADDRESS:PORT, e.g. 127.0.0.1:9101 or [::1]:9101");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  bool ipv6 = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    ipv6_addr a6;
    if (!parse_ipv6(host, &a6)) v->fail("'" + host + "' is not an IPv6 address");
    ipv6 = true;
  } else if (uint32_t a4; !parse_ipv4(host, &a4)) {
    v->fail("'" + host + "' is not an IPv4 address (an IPv6 one goes in brackets: [::1]:9101)");
  }
  unsigned port = 0;
  if (!parse_digits(port_text, 5, 65535, 10, &port))
    v->fail("'" + port_text + "' is not a port (0..65535)");
  *mc = metrics_config{.listen = text,
                       .line = v->line,
                       .host = host,
                       .port = static_cast<uint16_t>(port),
                       .ipv6 = ipv6};
}

gateway_config parse_document(const YAML::Node& root) {
  field top{root, "", line_of(root)};
  if (!root.IsMap()) top.fail("the top level must be a map of settings");
  map_view m(top, {"eal", "workers", "burst", "mbufs", "ports", "bridges", "routes", "neighbors",
                   "conntrack", "synproxy", "icmp", "arp", "ipfrag", "ipfrag6", "ruleset",
                   "ruleset_limits", "stats_interval_s", "metrics", "fault_injection"});
  gateway_config cfg;
  if (const field* v = m.find("eal")) parse_eal(*v, &cfg.eal);
  if (const field* v = m.find("workers")) cfg.workers = get_int<uint16_t>(*v, 1, k_max_workers);
  if (const field* v = m.find("burst")) cfg.burst = get_int<uint16_t>(*v, 1, k_max_burst);
  if (const field* v = m.find("mbufs")) cfg.mbufs = get_int<uint32_t>(*v, 1024, 16777216);
  parse_ports(m.require("ports"), &cfg);
  if (const field* v = m.find("bridges")) parse_bridges(*v, &cfg);
  check_port_addresses(m.require("ports"), cfg);
  if (const field* v = m.find("routes")) parse_routes(*v, &cfg);
  if (const field* v = m.find("neighbors")) parse_neighbors(*v, &cfg);
  if (const field* v = m.find("conntrack")) parse_conntrack(*v, &cfg.conntrack);
  if (const field* v = m.find("synproxy")) parse_synproxy(*v, &cfg.synproxy);
  if (const field* v = m.find("icmp")) parse_icmp(*v, &cfg.icmp);
  if (const field* v = m.find("arp")) parse_arp(*v, &cfg.arp);
  if (const field* v = m.find("ipfrag")) parse_ipfrag(*v, &cfg.ipfrag, false);
  if (const field* v = m.find("ipfrag6")) parse_ipfrag(*v, &cfg.ipfrag6, true);
  if (const field* v = m.find("ruleset")) cfg.ruleset = get_string(*v);
  if (const field* v = m.find("ruleset_limits")) parse_ruleset_limits(*v, &cfg.ruleset_limits);
  if (const field* v = m.find("fault_injection")) cfg.fault_injection = get_bool(*v);
  if (const field* v = m.find("metrics")) parse_metrics(*v, &cfg.metrics);
  if (const field* v = m.find("stats_interval_s")) {
    cfg.stats_interval_s = get_int<uint32_t>(*v, 0, 86400);
  }
  return cfg;
}

// Splits on `sep`; parts may be empty.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (size_t pos; (pos = s.find(sep)) != std::string_view::npos; s.remove_prefix(pos + 1)) {
    parts.push_back(s.substr(0, pos));
  }
  parts.push_back(s);
  return parts;
}

// Parses exactly 1..max_digits digits in `base` (no sign, no prefix) with a value <= max.
bool parse_digits(std::string_view s, size_t max_digits, unsigned max, int base, unsigned* out) {
  if (s.empty() || s.size() > max_digits) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && ptr == s.data() + s.size() && *out <= max;
}

// A config error: the key, when known, is printed between the line and the message. Keys and
// values come from the file and may contain newlines; the error must print as one line.
error config_failure(const std::string& file, int line, const std::string& key,
                     const std::string& message) {
  return error{.file = escape_control(file),
               .line = line,
               .key = escape_control(key),
               .message = escape_control(message)};
}

}  // namespace

result<gateway_config> load_config_string(const std::string& yaml, const std::string& name) {
  if (yaml.size() > kMaxFileBytes) return config_failure(name, 0, "", "file is too large");
  // YAML text never holds a NUL: say "binary" rather than let the parser
  // report whatever it trips on first (an escape, a stray character).
  if (size_t nul = yaml.find('\0'); nul != std::string::npos)
    return config_failure(
        name, 1 + std::count(yaml.begin(), yaml.begin() + nul, '\n'), "",
        "not a text file (a NUL byte at offset " + std::to_string(nul) + "): a config is YAML");
  try {
    // Documents are counted with the event parser, at most two, never with
    // YAML::LoadAll: yaml-cpp 0.7 finds an endless run of empty documents
    // in a stray ',' (or ']', '}') and LoadAll never returns (found by
    // tests/fuzz/fuzz_config).
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    document_marks marks;
    for (int d = 0; d < 2 && parser.HandleNextDocument(marks); d++) marks.next_document();
    if (marks.documents == 0) return config_failure(name, 0, "", "the file is empty");
    if (marks.documents > 1) {
      const YAML::Mark& m = marks.first[1];
      if (marks.first[0].pos == m.pos && m.pos >= 0 && static_cast<size_t>(m.pos) < yaml.size())
        return config_failure(name, m.line + 1, "",
                              std::string("unexpected '") + yaml[static_cast<size_t>(m.pos)] +
                                  "' (column " + std::to_string(m.column + 1) + ")");
      return config_failure(name, m.line + 1, "", "only one YAML document is allowed");
    }
    gateway_config cfg = parse_document(YAML::Load(yaml));
    cfg.source_file = name;
    cfg.source_text = yaml;
    return cfg;
  } catch (const load_failure& f) {
    return config_failure(name, f.line, f.key, f.message);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file".
    return config_failure(name, e.mark.is_null() ? 0 : e.mark.line + 1, "", "nesting too deep");
  } catch (const YAML::Exception& e) {
    return config_failure(name, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  } catch (const std::exception& e) {
    return config_failure(name, 0, "", std::string("internal error: ") + e.what());
  } catch (...) {
    return config_failure(name, 0, "", "internal error");
  }
}

result<gateway_config> load_config(const std::string& path) {
  auto os_error = [&](const char* what, int e) {
    return config_failure(path, 0, "", std::string(what) + ": " + std::strerror(e));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return os_error("cannot open file", errno);
  std::string text;
  char buf[16384];
  while (size_t n = std::fread(buf, 1, sizeof buf, f.get())) {
    text.append(buf, n);
    if (text.size() > kMaxFileBytes) return config_failure(path, 0, "", "file is too large");
  }
  // A directory opens fine and only fails on read (EISDIR).
  if (std::ferror(f.get())) return os_error("cannot read file", errno);
  return load_config_string(text, path);
}

namespace {

bool same_yaml(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Scalar: return a.Scalar() == b.Scalar();
    case YAML::NodeType::Sequence:
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); i++)
        if (!same_yaml(a[i], b[i])) return false;
      return true;
    case YAML::NodeType::Map:
      if (a.size() != b.size()) return false;
      for (const auto& kv : a) {
        const YAML::Node other = b[kv.first.Scalar()];
        if (!other || !same_yaml(kv.second, other)) return false;
      }
      return true;
    default: return true;
  }
}

// The keys of map `a` or `b` (under `prefix`) whose values differ, with their lines.
void differing_keys(const YAML::Node& a, const YAML::Node& b, const std::string& prefix,
                    const std::vector<std::string>& descend, std::vector<config_difference>* out) {
  std::vector<std::string> keys;
  for (const YAML::Node* m : {&a, &b})
    if (m->IsMap())
      for (const auto& kv : *m)
        if (std::find(keys.begin(), keys.end(), kv.first.Scalar()) == keys.end())
          keys.push_back(kv.first.Scalar());
  for (const std::string& k : keys) {
    const YAML::Node va = a.IsMap() ? a[k] : YAML::Node();
    const YAML::Node vb = b.IsMap() ? b[k] : YAML::Node();
    if (va && vb && same_yaml(va, vb)) continue;
    const std::string key = prefix + k;
    // A section compared key by key; one side without it counts as an empty one.
    const bool map_or_none_a = !va || va.IsMap() || va.IsNull();
    const bool map_or_none_b = !vb || vb.IsMap() || vb.IsNull();
    if (map_or_none_a && map_or_none_b &&
        std::find(descend.begin(), descend.end(), key) != descend.end()) {
      differing_keys(va ? va : YAML::Node(YAML::NodeType::Map),
                     vb ? vb : YAML::Node(YAML::NodeType::Map), key + ".", {}, out);
      continue;
    }
    out->push_back({key, line_of(vb ? vb : va)});
  }
}

}  // namespace

std::vector<config_difference> config_differences(const std::string& before,
                                                  const std::string& after) {
  std::vector<config_difference> out;
  differing_keys(YAML::Load(before), YAML::Load(after), "", {"conntrack"}, &out);
  std::stable_sort(
      out.begin(), out.end(),
      [](const config_difference& x, const config_difference& y) { return x.line < y.line; });
  return out;
}

int port_index(const gateway_config& cfg, std::string_view name) {
  for (size_t i = 0; i < cfg.ports.size(); i++)
    if (cfg.ports[i].name == name) return static_cast<int>(i);
  return -1;
}

bool parse_ipv4(const std::string& s, uint32_t* out) {
  std::vector<std::string_view> parts = split(s, '.');
  if (parts.size() != 4) return false;
  uint32_t addr = 0;
  for (std::string_view part : parts) {
    unsigned octet = 0;
    if (!parse_digits(part, 3, 255, 10, &octet)) return false;
    addr = addr << 8 | octet;
  }
  *out = addr;
  return true;
}

bool parse_ipv4_prefix(const std::string& s, ipv4_prefix* out) {
  size_t slash = s.find('/');
  uint32_t addr = 0;
  unsigned len = 0;
  if (slash == std::string::npos || !parse_ipv4(s.substr(0, slash), &addr) ||
      !parse_digits(std::string_view(s).substr(slash + 1), 2, 32, 10, &len)) {
    return false;
  }
  *out = {addr, static_cast<uint8_t>(len)};
  return true;
}

bool parse_mac(const std::string& s, uint8_t out[6]) {
  std::vector<std::string_view> parts = split(s, ':');
  if (parts.size() != 6) return false;
  uint8_t mac[6];
  for (size_t i = 0; i < 6; ++i) {
    unsigned byte = 0;
    if (parts[i].size() != 2 || !parse_digits(parts[i], 2, 255, 16, &byte)) return false;
    mac[i] = static_cast<uint8_t>(byte);
  }
  std::memcpy(out, mac, 6);
  return true;
}

std::string format_mac(const uint8_t mac[6]) {
  char text[18];
  std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

std::string format_ipv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
         std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

std::string format_prefix(const ipv4_prefix& p) {
  return format_ipv4(p.addr) + "/" + std::to_string(p.len);
}

std::string format_prefix6(const ipv6_prefix& p) {
  return format_ipv6(p.addr) + "/" + std::to_string(p.len);
}

ipv6_prefix ipv6_prefix::network() const {
  ipv6_prefix p = *this;
  for (unsigned b = p.len; b < 128; b++)
    p.addr.b[b / 8] &= static_cast<uint8_t>(~(0x80u >> (b % 8)));
  return p;
}

bool ipv6_prefix::contains(const ipv6_addr& a) const {
  for (unsigned i = 0; i < len; i += 8) {
    const unsigned bits = len - i < 8 ? len - i : 8;
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> bits);
    if ((addr.b[i / 8] ^ a.b[i / 8]) & mask) return false;
  }
  return true;
}

// inet_pton's grammar (RFC 4291 2.2, embedded IPv4 included) is what users write.
bool parse_ipv6(const std::string& s, ipv6_addr* out) {
  return inet_pton(AF_INET6, s.c_str(), out->b) == 1;
}

bool parse_ipv6_prefix(const std::string& s, ipv6_prefix* out) {
  size_t slash = s.find('/');
  unsigned len = 0;
  ipv6_addr a;
  if (slash == std::string::npos || !parse_ipv6(s.substr(0, slash), &a) ||
      !parse_digits(std::string_view(s).substr(slash + 1), 3, 128, 10, &len)) {
    return false;
  }
  *out = {a, static_cast<uint8_t>(len)};
  return true;
}

std::string format_ipv6(const ipv6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.b, buf, sizeof buf);
  return buf;
}

ipv6_addr ipv6_link_local_from_mac(const uint8_t mac[6]) {
  ipv6_addr a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = mac[0] ^ 0x02;
  a.b[9] = mac[1];
  a.b[10] = mac[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = mac[3];
  a.b[14] = mac[4];
  a.b[15] = mac[5];
  return a;
}

}  // namespace ctgate
