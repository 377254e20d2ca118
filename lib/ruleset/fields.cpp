// The field and type tables of the nftables subset. See fields.h.
#include "ruleset/fields.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <utility>

namespace ctgate::nft::detail {

// --- value vocabulary -------------------------------------------------------------------------

namespace {

constexpr std::array<name_value, 8> kTcpFlags = {{{"fin", 0x01},
                                                  {"syn", 0x02},
                                                  {"rst", 0x04},
                                                  {"psh", 0x08},
                                                  {"ack", 0x10},
                                                  {"urg", 0x20},
                                                  {"ecn", 0x40},
                                                  {"cwr", 0x80}}};

constexpr std::array<name_value, 5> kCtStates = {{{"invalid", CT_STATE_INVALID},
                                                  {"established", CT_STATE_ESTABLISHED},
                                                  {"related", CT_STATE_RELATED},
                                                  {"new", CT_STATE_NEW},
                                                  {"untracked", CT_STATE_UNTRACKED}}};

constexpr std::array<name_value, 15> kIcmpTypes = {{{"echo-reply", 0},
                                                    {"destination-unreachable", 3},
                                                    {"source-quench", 4},
                                                    {"redirect", 5},
                                                    {"echo-request", 8},
                                                    {"router-advertisement", 9},
                                                    {"router-solicitation", 10},
                                                    {"time-exceeded", 11},
                                                    {"parameter-problem", 12},
                                                    {"timestamp-request", 13},
                                                    {"timestamp-reply", 14},
                                                    {"info-request", 15},
                                                    {"info-reply", 16},
                                                    {"address-mask-request", 17},
                                                    {"address-mask-reply", 18}}};

// nft's icmpv6_type names (src/proto.c, icmp6_type_tbl), in value order.
constexpr std::array<name_value, 19> kIcmpv6Types = {{{"destination-unreachable", 1},
                                                      {"packet-too-big", 2},
                                                      {"time-exceeded", 3},
                                                      {"parameter-problem", 4},
                                                      {"echo-request", 128},
                                                      {"echo-reply", 129},
                                                      {"mld-listener-query", 130},
                                                      {"mld-listener-report", 131},
                                                      {"mld-listener-done", 132},
                                                      {"mld-listener-reduction", 132},
                                                      {"nd-router-solicit", 133},
                                                      {"nd-router-advert", 134},
                                                      {"nd-neighbor-solicit", 135},
                                                      {"nd-neighbor-advert", 136},
                                                      {"nd-redirect", 137},
                                                      {"router-renumbering", 138},
                                                      {"ind-neighbor-solicit", 141},
                                                      {"ind-neighbor-advert", 142},
                                                      {"mld2-listener-report", 143}}};

// nft's icmp_code names (src/proto.c, icmp_code_tbl).
constexpr name_value kIcmpCodes[] = {{"net-unreachable", 0},  {"host-unreachable", 1},
                                     {"prot-unreachable", 2}, {"port-unreachable", 3},
                                     {"frag-needed", 4},      {"net-prohibited", 9},
                                     {"host-prohibited", 10}, {"admin-prohibited", 13}};
// nft's icmpv6_code names (icmpv6_code_tbl).
constexpr name_value kIcmpv6Codes[] = {{"no-route", 0},         {"admin-prohibited", 1},
                                       {"addr-unreachable", 3}, {"port-unreachable", 4},
                                       {"policy-fail", 5},      {"reject-route", 6}};

// The first name of a value is the one printed (nft prints /etc/protocols names: 0 is `ip`).
constexpr std::array<name_value, 20> kProtocols = {
    {{"ip", 0},         {"icmp", 1},    {"igmp", 2},   {"tcp", 6},       {"udp", 17},
     {"dccp", 33},      {"ipv6", 41},   {"gre", 47},   {"esp", 50},      {"ah", 51},
     {"ipv6-icmp", 58}, {"icmpv6", 58}, {"ospf", 89},  {"pim", 103},     {"comp", 108},
     {"vrrp", 112},     {"l2tp", 115},  {"sctp", 132}, {"udplite", 136}, {"ipip", 4}}};

// nft's names (src/ct.c) and built-in defaults in seconds: nft sends every state of a policy,
// the ones not written with these values (not the host's sysctls).
constexpr name_value kTcpTimeoutStates[] = {{"syn_sent", 0},  {"syn_recv", 1},   {"established", 2},
                                            {"fin_wait", 3},  {"close_wait", 4}, {"last_ack", 5},
                                            {"time_wait", 6}, {"close", 7},      {"syn_sent2", 8},
                                            {"retrans", 9},   {"unack", 10}};
constexpr uint32_t kTcpTimeoutDefaults[] = {120, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 300};
constexpr name_value kUdpTimeoutStates[] = {{"unreplied", 0}, {"replied", 1}};
constexpr uint32_t kUdpTimeoutDefaults[] = {30, 120};

constexpr name_value kNfprotos[] = {{"ipv4", 2}, {"ipv6", 10}};
// nft's ethertype names; vlan reads as 8021q, which prints.
constexpr name_value kEthertypes[] = {{"ip", 0x0800},    {"arp", 0x0806},    {"ip6", 0x86dd},
                                      {"8021q", 0x8100}, {"8021ad", 0x88a8}, {"vlan", 0x8100}};
// nft's dscp table: the printed name first (cs0, not df or be).
constexpr name_value kDscps[] = {
    {"cs0", 0x00},  {"df", 0x00},   {"be", 0x00},   {"lephb", 0x01}, {"cs1", 0x08},
    {"af11", 0x0a}, {"af12", 0x0c}, {"af13", 0x0e}, {"cs2", 0x10},   {"af21", 0x12},
    {"af22", 0x14}, {"af23", 0x16}, {"cs3", 0x18},  {"af31", 0x1a},  {"af32", 0x1c},
    {"af33", 0x1e}, {"cs4", 0x20},  {"af41", 0x22}, {"af42", 0x24},  {"af43", 0x26},
    {"cs5", 0x28},  {"va", 0x2c},   {"ef", 0x2e},   {"cs6", 0x30},   {"cs7", 0x38}};
constexpr name_value kEcns[] = {{"not-ect", 0}, {"ect1", 1}, {"ect0", 2}, {"ce", 3}};
constexpr name_value kCtDirs[] = {{"original", 0}, {"reply", 1}};
// Linux's PACKET_* (if_packet.h); `unicast` reads as host, which prints.
constexpr name_value kPktTypes[] = {
    {"host", 0}, {"unicast", 0}, {"broadcast", 1}, {"multicast", 2}, {"other", 3}};
// Linux's IPS_* bits, in bit order.
constexpr name_value kCtStatus[] = {
    {"expected", 1u << 0}, {"seen-reply", 1u << 1}, {"assured", 1u << 2}, {"confirmed", 1u << 3},
    {"snat", 1u << 4},     {"dnat", 1u << 5},       {"dying", 1u << 9}};

constexpr std::array<name_value, 42> kServices = {{{"ftp-data", 20},
                                                   {"ftp", 21},
                                                   {"ssh", 22},
                                                   {"telnet", 23},
                                                   {"smtp", 25},
                                                   {"domain", 53},
                                                   {"bootps", 67},
                                                   {"bootpc", 68},
                                                   {"tftp", 69},
                                                   {"http", 80},
                                                   {"www", 80},
                                                   {"kerberos", 88},
                                                   {"pop3", 110},
                                                   {"sunrpc", 111},
                                                   {"auth", 113},
                                                   {"ntp", 123},
                                                   {"netbios-ns", 137},
                                                   {"netbios-dgm", 138},
                                                   {"netbios-ssn", 139},
                                                   {"imap", 143},
                                                   {"imap2", 143},
                                                   {"snmp", 161},
                                                   {"snmp-trap", 162},
                                                   {"bgp", 179},
                                                   {"ldap", 389},
                                                   {"https", 443},
                                                   {"microsoft-ds", 445},
                                                   {"submissions", 465},
                                                   {"isakmp", 500},
                                                   {"syslog", 514},
                                                   {"submission", 587},
                                                   {"ldaps", 636},
                                                   {"rsync", 873},
                                                   {"imaps", 993},
                                                   {"pop3s", 995},
                                                   {"openvpn", 1194},
                                                   {"radius", 1812},
                                                   {"radius-acct", 1813},
                                                   {"nfs", 2049},
                                                   {"mysql", 3306},
                                                   {"ms-wbt-server", 3389},
                                                   {"postgresql", 5432}}};

}  // namespace

std::span<const name_value> tcp_flag_names() { return kTcpFlags; }
std::span<const name_value> ct_state_names() { return kCtStates; }
std::span<const name_value> icmp_type_names() { return kIcmpTypes; }
std::span<const name_value> icmpv6_type_names() { return kIcmpv6Types; }
std::span<const name_value> protocol_names() { return kProtocols; }
std::span<const name_value> service_names() { return kServices; }

std::span<const name_value> names_of(vkind k) {
  switch (k) {
    case vkind::proto: return kProtocols;
    case vkind::icmp: return kIcmpTypes;
    case vkind::icmpv6: return kIcmpv6Types;
    case vkind::state: return kCtStates;
    case vkind::flags: return kTcpFlags;
    case vkind::nfproto: return kNfprotos;
    case vkind::ethertype: return kEthertypes;
    case vkind::dscp: return kDscps;
    case vkind::ecn: return kEcns;
    case vkind::ctdir: return kCtDirs;
    case vkind::pkttype: return kPktTypes;
    case vkind::ctstatus: return kCtStatus;
    case vkind::icmpcode: return kIcmpCodes;
    case vkind::icmpv6code: return kIcmpv6Codes;
    default: return {};
  }
}

const char* noun_of(vkind k) {
  switch (k) {
    case vkind::proto: return "protocol";
    case vkind::icmp: return "ICMP type";
    case vkind::icmpv6: return "ICMPv6 type";
    case vkind::state: return "ct state";
    case vkind::flags: return "TCP flag";
    case vkind::nfproto: return "nfproto";
    case vkind::ethertype: return "ethertype";
    case vkind::dscp: return "dscp";
    case vkind::ecn: return "ecn";
    case vkind::ctdir: return "ct direction";
    case vkind::pkttype: return "packet type";
    case vkind::ctstatus: return "ct status";
    case vkind::icmpcode: return "ICMP code";
    case vkind::icmpv6code: return "ICMPv6 code";
    case vkind::time: return "time";
    case vkind::ether: return "Ethernet address";
    default: return "value";
  }
}

std::span<const name_value> log_level_names() {
  static constexpr name_value names[] = {{"emerg", 0}, {"alert", 1},  {"crit", 2}, {"err", 3},
                                         {"warn", 4},  {"notice", 5}, {"info", 6}, {"debug", 7}};
  return names;
}

std::span<const name_value> ct_timeout_states(uint8_t l4proto) {
  switch (l4proto) {
    case 6: return kTcpTimeoutStates;
    case 17: return kUdpTimeoutStates;
    default: return {};
  }
}

std::span<const uint32_t> ct_timeout_defaults(uint8_t l4proto) {
  switch (l4proto) {
    case 6: return kTcpTimeoutDefaults;
    case 17: return kUdpTimeoutDefaults;
    default: return {};
  }
}

std::span<const name_value> rate_unit_names() {
  static constexpr name_value names[] = {{"second", static_cast<uint32_t>(rate_unit::second)},
                                         {"minute", static_cast<uint32_t>(rate_unit::minute)},
                                         {"hour", static_cast<uint32_t>(rate_unit::hour)},
                                         {"day", static_cast<uint32_t>(rate_unit::day)}};
  return names;
}

std::optional<uint32_t> lookup_name(std::span<const name_value> table, std::string_view name) {
  for (const name_value& nv : table)
    if (nv.name == name) return nv.value;
  return std::nullopt;
}

const char* name_of(std::span<const name_value> table, uint32_t value) {
  for (const name_value& nv : table)
    if (nv.value == value) return nv.name.data();
  return nullptr;
}

std::span<const std::string_view> reject_code_names(reject_with w) {
  static constexpr std::string_view icmp4[] = {"port-unreachable", "host-unreachable",
                                               "net-unreachable", "admin-prohibited"};
  static constexpr std::string_view icmp6[] = {"port-unreachable", "addr-unreachable", "no-route",
                                               "admin-prohibited"};
  static constexpr std::string_view icmpx[] = {"port-unreachable", "host-unreachable", "no-route",
                                               "admin-prohibited"};
  return w == reject_with::icmp ? icmp4 : w == reject_with::icmpv6 ? icmp6 : icmpx;
}

std::string ipv4_to_string(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
                a & 0xff);
  return buf;
}

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t addr = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 3) return std::nullopt;
    unsigned v = 0;
    std::from_chars(text.data(), text.data() + digits, v);
    if (v > 255) return std::nullopt;
    addr = (addr << 8) | v;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return std::nullopt;
  return addr;
}

int prefix_length(uint32_t lo, uint32_t hi) {
  if (hi < lo) return -1;
  const uint64_t size = static_cast<uint64_t>(hi) - lo + 1;
  if ((size & (size - 1)) != 0) return -1;
  int host_bits = 0;
  while ((uint64_t{1} << host_bits) < size) ++host_bits;
  if (host_bits < 32 && (lo & ((uint32_t{1} << host_bits) - 1)) != 0) return -1;
  return 32 - host_bits;
}

std::string ipv6_to_string(uint128 a) {
  in6_addr bytes;
  for (int i = 15; i >= 0; --i, a >>= 8) bytes.s6_addr[i] = static_cast<uint8_t>(a);
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &bytes, buf, sizeof(buf)) != nullptr ? buf : "::";
}

std::optional<uint128> parse_ipv6(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string z(text);  // inet_pton wants a terminated string
  in6_addr bytes;
  if (inet_pton(AF_INET6, z.c_str(), &bytes) != 1) return std::nullopt;
  uint128 a = 0;
  for (uint8_t b : bytes.s6_addr) a = a << 8 | b;
  return a;
}

int prefix_length6(uint128 lo, uint128 hi) {
  if (hi < lo) return -1;
  const uint128 host = hi - lo;  // a prefix's host part: 2^k - 1, clear in lo
  if ((host & (host + 1)) != 0 || (lo & host) != 0) return -1;
  int host_bits = 0;
  for (uint128 h = host; h != 0; h >>= 1) ++host_bits;
  return 128 - host_bits;
}

std::string ether_to_string(uint64_t a) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x",
                static_cast<unsigned>(a >> 40 & 0xff), static_cast<unsigned>(a >> 32 & 0xff),
                static_cast<unsigned>(a >> 24 & 0xff), static_cast<unsigned>(a >> 16 & 0xff),
                static_cast<unsigned>(a >> 8 & 0xff), static_cast<unsigned>(a & 0xff));
  return buf;
}

std::optional<uint64_t> parse_ether(std::string_view text) {
  uint64_t a = 0;
  for (int group = 0; group < 6; ++group) {
    if (group > 0) {
      if (text.empty() || text[0] != ':') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < text.size() && digits < 3 &&
           std::isxdigit(static_cast<unsigned char>(text[digits])))
      ++digits;
    if (digits == 0 || digits > 2) return std::nullopt;
    unsigned v = 0;
    std::from_chars(text.data(), text.data() + digits, v, 16);
    a = a << 8 | v;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return std::nullopt;
  return a;
}

const char* family_name(family f) {
  switch (f) {
    case family::ip: return "ip";
    case family::ip6: return "ip6";
    case family::inet: return "inet";
    case family::bridge: return "bridge";
  }
  return "ip";
}

std::optional<register_layout> hash_layout(field f) {
  if (is_addr6_word(f)) return register_layout{4, false};
  switch (f) {
    case field::ip_saddr:
    case field::ip_daddr: return register_layout{4, false};
    case field::ip6_saddr:
    case field::ip6_daddr:
    case field::ct_original_ip6_saddr:
    case field::ct_original_ip6_daddr:
    case field::ct_reply_ip6_saddr:
    case field::ct_reply_ip6_daddr: return register_layout{16, false};
    case field::tcp_sport:
    case field::tcp_dport:
    case field::udp_sport:
    case field::udp_dport:
    case field::th_sport:
    case field::th_dport: return register_layout{2, false};
    case field::ip_protocol:
    case field::meta_l4proto:
    case field::ip_ttl: return register_layout{1, false};
    case field::meta_mark:
    case field::ct_mark: return register_layout{4, true};
    default: return std::nullopt;
  }
}

const char* field_name(field f) {
  if (is_addr6_word(f)) return field_name(addr6_of_word(f));
  switch (f) {
    case field::ip_saddr: return "ip saddr";
    case field::ip_daddr: return "ip daddr";
    case field::ip_protocol: return "ip protocol";
    case field::meta_l4proto: return "meta l4proto";
    case field::meta_iif: return "iif";
    case field::meta_oif: return "oif";
    case field::meta_iifname: return "iifname";
    case field::meta_oifname: return "oifname";
    case field::meta_mark: return "meta mark";
    case field::ct_state: return "ct state";
    case field::ct_mark: return "ct mark";
    case field::ct_zone: return "ct zone";
    case field::ip_ttl: return "ip ttl";
    case field::ip_length: return "ip length";
    case field::ip_id: return "ip id";
    case field::ip_version: return "ip version";
    case field::ip_hdrlength: return "ip hdrlength";
    case field::meta_length: return "meta length";
    case field::meta_nfproto: return "meta nfproto";
    case field::meta_protocol: return "meta protocol";
    case field::ip_dscp: return "ip dscp";
    case field::ip_ecn: return "ip ecn";
    case field::ip_frag_off: return "ip frag-off";
    case field::ct_direction: return "ct direction";
    case field::meta_pkttype: return "meta pkttype";
    case field::ct_status: return "ct status";
    case field::tcp_option_maxseg: return "tcp option maxseg size";
    case field::numgen: return "numgen";
    case field::jhash: return "jhash";
    case field::ct_expiration: return "ct expiration";
    case field::ct_bytes: return "ct bytes";
    case field::ct_packets: return "ct packets";
    case field::ct_avgpkt: return "ct avgpkt";
    case field::ct_original_bytes: return "ct original bytes";
    case field::ct_original_packets: return "ct original packets";
    case field::ct_original_avgpkt: return "ct original avgpkt";
    case field::ct_reply_bytes: return "ct reply bytes";
    case field::ct_reply_packets: return "ct reply packets";
    case field::ct_reply_avgpkt: return "ct reply avgpkt";
    case field::ct_original_saddr: return "ct original ip saddr";
    case field::ct_original_daddr: return "ct original ip daddr";
    case field::ct_reply_saddr: return "ct reply ip saddr";
    case field::ct_reply_daddr: return "ct reply ip daddr";
    case field::ct_original_ip6_saddr: return "ct original ip6 saddr";
    case field::ct_original_ip6_daddr: return "ct original ip6 daddr";
    case field::ct_reply_ip6_saddr: return "ct reply ip6 saddr";
    case field::ct_reply_ip6_daddr: return "ct reply ip6 daddr";
    case field::tcp_sport: return "tcp sport";
    case field::tcp_dport: return "tcp dport";
    case field::udp_sport: return "udp sport";
    case field::udp_dport: return "udp dport";
    case field::th_sport: return "th sport";
    case field::th_dport: return "th dport";
    case field::tcp_flags: return "tcp flags";
    case field::icmp_type: return "icmp type";
    case field::icmpv6_type: return "icmpv6 type";
    case field::icmp_code: return "icmp code";
    case field::icmpv6_code: return "icmpv6 code";
    case field::ip6_nexthdr: return "ip6 nexthdr";
    case field::ip6_hoplimit: return "ip6 hoplimit";
    case field::ip6_length: return "ip6 length";
    case field::ip6_version: return "ip6 version";
    case field::ip6_flowlabel: return "ip6 flowlabel";
    case field::ip6_dscp: return "ip6 dscp";
    case field::ip6_ecn: return "ip6 ecn";
    case field::ip6_saddr: return "ip6 saddr";
    case field::ip6_daddr: return "ip6 daddr";
    case field::ether_saddr: return "ether saddr";
    case field::ether_daddr: return "ether daddr";
    case field::ether_type: return "ether type";
    case field::vlan_id: return "vlan id";
    case field::meta_ibrname: return "meta ibrname";
    case field::meta_obrname: return "meta obrname";
    default: break;
  }
  return "?";
}

const char* hook_name(hook h) {
  switch (h) {
    case hook::prerouting: return "prerouting";
    case hook::input: return "input";
    case hook::forward: return "forward";
    case hook::output: return "output";
    case hook::postrouting: return "postrouting";
  }
  return "input";
}

// --- fields -----------------------------------------------------------------------------------

namespace {

constexpr field_entry kIpFields[] = {
    {"saddr", field::ip_saddr},       {"daddr", field::ip_daddr},
    {"protocol", field::ip_protocol}, {"ttl", field::ip_ttl},
    {"length", field::ip_length},     {"id", field::ip_id},
    {"version", field::ip_version},   {"hdrlength", field::ip_hdrlength},
    {"dscp", field::ip_dscp},         {"ecn", field::ip_ecn},
    {"frag-off", field::ip_frag_off}};
constexpr std::string_view kIpKnown[] = {"checksum", "option"};
constexpr field_entry kMetaFields[] = {
    {"l4proto", field::meta_l4proto},   {"mark", field::meta_mark},
    {"iif", field::meta_iif},           {"oif", field::meta_oif},
    {"iifname", field::meta_iifname},   {"oifname", field::meta_oifname},
    {"length", field::meta_length},     {"nfproto", field::meta_nfproto},
    {"protocol", field::meta_protocol}, {"pkttype", field::meta_pkttype},
    {"ibrname", field::meta_ibrname},   {"obrname", field::meta_obrname}};
constexpr std::string_view kMetaKnown[] = {
    "priority", "skuid",   "skgid",     "nftrace", "rtclassid", "cpu",      "iifgroup",
    "oifgroup", "cgroup",  "random",    "ipsec",   "secpath",   "iiftype",  "oiftype",
    "time",     "day",     "hour",      "iifkind", "oifkind",   "sdif",     "sdifname",
    "broute",   "ibrpvid", "ibrvproto", "ibrport", "obrport",   "ibrhwaddr"};
constexpr field_entry kCtFields[] = {
    {"state", field::ct_state},   {"mark", field::ct_mark},
    {"zone", field::ct_zone},     {"direction", field::ct_direction},
    {"status", field::ct_status}, {"expiration", field::ct_expiration},
    {"bytes", field::ct_bytes},   {"packets", field::ct_packets},
    {"avgpkt", field::ct_avgpkt}};
constexpr std::string_view kCtKnown[] = {
    "helper", "l3proto", "protocol", "saddr",    "daddr", "proto-src", "proto-dst", "label",
    "event",  "secmark", "id",       "original", "reply", "count",     "timeout",   "expectation"};
constexpr field_entry kTcpFields[] = {
    {"sport", field::tcp_sport}, {"dport", field::tcp_dport}, {"flags", field::tcp_flags}};
constexpr std::string_view kTcpKnown[] = {"sequence", "ackseq",   "doff",   "reserved",
                                          "window",   "checksum", "urgptr", "option"};
constexpr field_entry kUdpFields[] = {{"sport", field::udp_sport}, {"dport", field::udp_dport}};
constexpr std::string_view kUdpKnown[] = {"length", "checksum"};
constexpr field_entry kThFields[] = {{"sport", field::th_sport}, {"dport", field::th_dport}};
constexpr field_entry kIcmpFields[] = {{"type", field::icmp_type}, {"code", field::icmp_code}};
constexpr std::string_view kIcmpKnown[] = {"checksum", "id", "sequence", "gateway", "mtu"};
constexpr field_entry kIcmpv6Fields[] = {{"type", field::icmpv6_type},
                                         {"code", field::icmpv6_code}};
constexpr std::string_view kIcmpv6Known[] = {"checksum",  "id",    "sequence", "mtu",
                                             "max-delay", "taddr", "daddr"};
constexpr field_entry kIp6Fields[] = {{"nexthdr", field::ip6_nexthdr},
                                      {"hoplimit", field::ip6_hoplimit},
                                      {"length", field::ip6_length},
                                      {"version", field::ip6_version},
                                      {"flowlabel", field::ip6_flowlabel},
                                      {"dscp", field::ip6_dscp},
                                      {"ecn", field::ip6_ecn},
                                      {"saddr", field::ip6_saddr},
                                      {"daddr", field::ip6_daddr}};
constexpr std::string_view kIp6Known[] = {"priority"};
constexpr field_entry kEtherFields[] = {
    {"saddr", field::ether_saddr}, {"daddr", field::ether_daddr}, {"type", field::ether_type}};
constexpr field_entry kVlanFields[] = {{"id", field::vlan_id}};
constexpr std::string_view kVlanKnown[] = {"dei", "cfi", "pcp", "type"};

const std::pair<std::string_view, header_fields> kHeaders[] = {
    {"ip",
     {kIpFields, kIpKnown,
      "saddr, daddr, protocol, ttl, length, id, version, hdrlength, dscp, ecn or frag-off"}},
    {"meta",
     {kMetaFields, kMetaKnown,
      "l4proto, mark, iif, oif, iifname, oifname, length, nfproto, protocol, pkttype, ibrname "
      "or obrname"}},
    {"ct",
     {kCtFields, kCtKnown,
      "state, mark, zone, direction, status, expiration, bytes, packets or avgpkt"}},
    {"tcp", {kTcpFields, kTcpKnown, "sport, dport or flags"}},
    {"udp", {kUdpFields, kUdpKnown, "sport or dport"}},
    {"th", {kThFields, {}, "sport or dport"}},
    {"ip6",
     {kIp6Fields, kIp6Known,
      "saddr, daddr, nexthdr, hoplimit, length, version, flowlabel, dscp or ecn"}},
    {"icmp", {kIcmpFields, kIcmpKnown, "type or code"}},
    {"icmpv6", {kIcmpv6Fields, kIcmpv6Known, "type or code"}},
    {"ether", {kEtherFields, {}, "saddr, daddr or type"}},
    {"vlan", {kVlanFields, kVlanKnown, "id"}},
};

}  // namespace

const header_fields* header_fields_of(std::string_view head) {
  for (const auto& [name, h] : kHeaders)
    if (head == name) return &h;
  return nullptr;
}

uint8_t l4_proto_of(field f) {
  switch (f) {
    case field::tcp_sport:
    case field::tcp_dport:
    case field::tcp_flags:
    case field::tcp_option_maxseg: return 6;
    case field::udp_sport:
    case field::udp_dport: return 17;
    case field::icmp_type:
    case field::icmp_code: return 1;
    case field::icmpv6_type:
    case field::icmpv6_code: return 58;
    default: return 0;
  }
}

std::string proto_text(uint32_t p) {
  const char* n = name_of(protocol_names(), p);
  return n ? n : std::to_string(p);
}

// nft words that start a match or statement ctgate does not implement.
const char* unsupported_rule_word(std::string_view w) {
  static const std::pair<std::string_view, const char*> words[] = {
      {"arp", "arp"},
      {"fib", "fib"},
      {"socket", "socket"},
      {"osf", "osf"},
      {"rt", "rt"},
      {"ipsec", "ipsec"},
      {"symhash", "symhash"},
      {"sctp", "sctp"},
      {"dccp", "dccp"},
      {"udplite", "udplite"},
      {"esp", "esp"},
      {"ah", "ah"},
      {"comp", "comp"},
      {"gre", "gre"},
      {"gretap", "gretap"},
      {"geneve", "geneve"},
      {"vxlan", "vxlan"},
      {"igmp", "igmp"},
      {"exthdr", "exthdr"},
      {"hbh", "IPv6 extension headers"},
      {"frag", "IPv6 extension headers"},
      {"dst", "IPv6 extension headers"},
      {"mh", "IPv6 extension headers"},
      {"srh", "IPv6 extension headers"},
      {"tunnel", "tunnel"},
      {"queue", "queue"},
      {"dup", "dup"},
      {"fwd", "fwd"},
      {"tproxy", "tproxy"},
      {"flow", "flow offload"},
      {"set", "the set statement's old syntax (write add @set { KEY })"},
      {"continue", "continue"},
      {"xt", "xt (iptables-nft compat)"},
      {"secmark", "secmark"},
      {"last", "last"},
      {"vmap", "vmap"},
      {"map", "map"},
      {"pkttype", "meta pkttype"},
      {"cpu", "meta cpu"},
      {"iiftype", "meta iiftype"},
      {"oiftype", "meta oiftype"},
      {"iifgroup", "meta iifgroup"},
      {"oifgroup", "meta oifgroup"},
      {"skuid", "meta skuid"},
      {"skgid", "meta skgid"},
      {"rtclassid", "meta rtclassid"},
      {"cgroup", "meta cgroup"},
      {"time", "meta time"},
      {"day", "meta day"},
      {"hour", "meta hour"},
      {"priority", "meta priority"},
  };
  for (const auto& [word, feature] : words)
    if (w == word) return feature;
  return nullptr;
}

// --- value kinds and set types ----------------------------------------------------------------

vkind kind_of(field f) {
  switch (f) {
    case field::ip_saddr:
    case field::ip_daddr:
    case field::ct_original_saddr:
    case field::ct_original_daddr:
    case field::ct_reply_saddr:
    case field::ct_reply_daddr: return vkind::addr;
    case field::ip_protocol:
    case field::meta_l4proto: return vkind::proto;
    case field::meta_iif:
    case field::meta_oif:
    case field::meta_iifname:
    case field::meta_oifname:
    case field::meta_ibrname:
    case field::meta_obrname: return vkind::iface;
    case field::meta_mark:
    case field::ct_mark: return vkind::mark;
    case field::ct_state: return vkind::state;
    case field::tcp_flags: return vkind::flags;
    case field::icmp_type: return vkind::icmp;
    case field::icmpv6_type: return vkind::icmpv6;
    case field::icmp_code: return vkind::icmpcode;
    case field::icmpv6_code: return vkind::icmpv6code;
    case field::ip6_nexthdr: return vkind::proto;
    case field::ip6_hoplimit: return vkind::u8;
    case field::ip6_length: return vkind::u16;
    case field::ip6_version: return vkind::u4;
    case field::ip6_flowlabel: return vkind::u20;
    case field::ip6_dscp: return vkind::dscp;
    case field::ip6_ecn: return vkind::ecn;
    case field::ip6_saddr:
    case field::ip6_daddr:
    case field::ct_original_ip6_saddr:
    case field::ct_original_ip6_daddr:
    case field::ct_reply_ip6_saddr:
    case field::ct_reply_ip6_daddr: return vkind::addr6;
    case field::ct_zone:
    case field::ip_length:
    case field::ip_id: return vkind::u16;
    case field::ip_ttl: return vkind::u8;
    case field::ip_version:
    case field::ip_hdrlength: return vkind::u4;
    case field::meta_length:
    case field::numgen:
    case field::jhash: return vkind::u32;
    case field::ct_expiration: return vkind::time;
    case field::meta_nfproto: return vkind::nfproto;
    case field::meta_protocol: return vkind::ethertype;
    case field::ip_dscp: return vkind::dscp;
    case field::ip_ecn: return vkind::ecn;
    case field::ip_frag_off:
    case field::tcp_option_maxseg: return vkind::u16;
    case field::ct_direction: return vkind::ctdir;
    case field::meta_pkttype: return vkind::pkttype;
    case field::ct_status: return vkind::ctstatus;
    case field::ether_saddr:
    case field::ether_daddr: return vkind::ether;
    case field::ether_type: return vkind::ethertype;
    case field::vlan_id: return vkind::u12;
    default: return is_ct_acct_field(f) ? vkind::u64 : vkind::port;
  }
}

uint64_t max_of(vkind k) {
  switch (k) {
    case vkind::port:
    case vkind::ethertype:
    case vkind::u16: return 0xffff;
    case vkind::dscp: return 0x3f;
    case vkind::ecn: return 3;
    case vkind::ctdir: return 1;
    case vkind::pkttype: return 3;
    case vkind::nfproto:
    case vkind::proto:
    case vkind::icmp:
    case vkind::icmpv6:
    case vkind::icmpcode:
    case vkind::icmpv6code:
    case vkind::u8:
    case vkind::flags: return 0xff;
    case vkind::u4: return 0xf;
    case vkind::u12: return 0xfff;
    case vkind::u20: return 0xfffff;
    case vkind::ether: return 0xffffffffffff;
    case vkind::u64: return ~uint64_t{0};
    default: return 0xffffffff;
  }
}

const char* expecting_of(vkind k) {
  switch (k) {
    case vkind::addr: return "IPv4 address";
    case vkind::addr6: return "IPv6 address";
    case vkind::port: return "port number";
    case vkind::proto: return "protocol";
    case vkind::mark: return "number";
    case vkind::icmp: return "ICMP type";
    case vkind::icmpv6: return "ICMPv6 type";
    case vkind::state: return "ct state";
    case vkind::flags: return "TCP flag";
    case vkind::iface: return "interface name";
    case vkind::time: return "a time (such as 30s, 5m or 1h)";
    case vkind::ether: return "Ethernet address";
    case vkind::u4:
    case vkind::u8:
    case vkind::u12:
    case vkind::u16:
    case vkind::u20:
    case vkind::u32:
    case vkind::u64: return "number";
    case vkind::nfproto:
    case vkind::ethertype:
    case vkind::dscp:
    case vkind::ecn:
    case vkind::ctdir:
    case vkind::pkttype:
    case vkind::icmpcode:
    case vkind::icmpv6code:
    case vkind::ctstatus: return noun_of(k);
  }
  return "value";
}

// The set type whose elements a field can be looked up in; nullptr if none.
const char* set_type_for(field f) {
  switch (kind_of(f)) {
    case vkind::addr: return "ipv4_addr";
    case vkind::addr6: return "ipv6_addr";
    case vkind::port: return "inet_service";
    case vkind::proto: return "inet_proto";
    case vkind::mark: return "mark";
    case vkind::ether: return "ether_addr";
    case vkind::ethertype: return "ether_type";
    default: return nullptr;
  }
}

std::optional<vkind> kind_of_set_type(std::string_view type) {
  if (type == "ipv4_addr") return vkind::addr;
  if (type == "ipv6_addr") return vkind::addr6;
  if (type == "inet_service") return vkind::port;
  if (type == "inet_proto") return vkind::proto;
  if (type == "mark") return vkind::mark;
  if (type == "ether_addr") return vkind::ether;
  if (type == "ether_type") return vkind::ethertype;
  return std::nullopt;
}

std::vector<std::string_view> set_type_parts(std::string_view type) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t dot = type.find(" . ");
    parts.push_back(type.substr(0, dot));
    if (dot == std::string_view::npos) return parts;
    type.remove_prefix(dot + 3);
  }
}

std::string set_type_for_key(field f, const std::vector<field>& concat) {
  const char* first = set_type_for(f);
  if (first == nullptr) return "";
  std::string type = first;
  for (field g : concat) {
    const char* part = set_type_for(g);
    if (part == nullptr) return "";
    type += std::string(" . ") + part;
  }
  return type;
}

std::vector<field> fields_for_set_type(std::string_view type) {
  std::vector<field> fields;
  for (std::string_view part : set_type_parts(type)) {
    const std::optional<vkind> k = kind_of_set_type(part);
    fields.push_back(!k                       ? field::ip_saddr
                     : *k == vkind::port      ? field::th_dport
                     : *k == vkind::proto     ? field::meta_l4proto
                     : *k == vkind::mark      ? field::meta_mark
                     : *k == vkind::addr6     ? field::ip6_saddr
                     : *k == vkind::ether     ? field::ether_saddr
                     : *k == vkind::ethertype ? field::ether_type
                                              : field::ip_saddr);
  }
  return fields;
}

bool is_unsupported_set_type(std::string_view type) {
  static constexpr std::string_view types[] = {
      "ifname",  "ct_state",  "icmp_type",   "tcp_flag", "verdict",     "iface_index",
      "integer", "string",    "ct_status",   "nf_proto", "time",        "day",
      "hour",    "cgroupsv2", "ipsec_proto", "pkt_type", "icmpv6_type", "dccp_pkttype"};
  return std::find(std::begin(types), std::end(types), type) != std::end(types);
}

const char* set_type_of_typeof(std::string_view expr) {
  static const std::pair<std::string_view, const char*> types[] = {
      {"ip saddr", "ipv4_addr"},
      {"ip daddr", "ipv4_addr"},
      {"ip6 saddr", "ipv6_addr"},
      {"ip6 daddr", "ipv6_addr"},
      {"tcp sport", "inet_service"},
      {"tcp dport", "inet_service"},
      {"udp sport", "inet_service"},
      {"udp dport", "inet_service"},
      {"th sport", "inet_service"},
      {"th dport", "inet_service"},
      {"ip protocol", "inet_proto"},
      {"meta l4proto", "inet_proto"},
      {"meta mark", "mark"},
      {"ct mark", "mark"},
      {"mark", "mark"},
      {"ct original ip6 saddr", "ipv6_addr"},
      {"ct original ip6 daddr", "ipv6_addr"},
      {"ct reply ip6 saddr", "ipv6_addr"},
      {"ct reply ip6 daddr", "ipv6_addr"},
      {"ether saddr", "ether_addr"},
      {"ether daddr", "ether_addr"},
      {"ether type", "ether_type"}};
  for (const auto& [e, type] : types)
    if (expr == e) return type;
  return nullptr;
}

// --- hooks ------------------------------------------------------------------------------------

std::optional<hook> hook_of(std::string_view name) {
  static const std::pair<std::string_view, hook> hooks[] = {{"prerouting", hook::prerouting},
                                                            {"input", hook::input},
                                                            {"forward", hook::forward},
                                                            {"output", hook::output},
                                                            {"postrouting", hook::postrouting}};
  std::optional<hook> hk;
  for (const auto& [n, value] : hooks)
    if (name == n) hk = value;
  return hk;
}

std::span<const priority_name> priority_names(family f) {
  static constexpr priority_name ip[] = {
      {"raw", -300, std::nullopt},        {"mangle", -150, std::nullopt},
      {"dstnat", -100, hook::prerouting}, {"filter", 0, std::nullopt},
      {"security", 50, std::nullopt},     {"srcnat", 100, hook::postrouting}};
  // Linux's NF_BR_PRI_NAT_DST_BRIDGED, _FILTER_BRIDGED, _NAT_DST_OTHER and _NAT_SRC.
  static constexpr priority_name bridge[] = {{"dstnat", -300, hook::prerouting},
                                             {"filter", -200, std::nullopt},
                                             {"out", 100, hook::output},
                                             {"srcnat", 300, hook::postrouting}};
  if (f == family::bridge) return bridge;
  return ip;
}

}  // namespace ctgate::nft::detail

namespace ctgate::nft {

std::optional<int32_t> named_priority(const std::string& name, family f) {
  for (const detail::priority_name& p : detail::priority_names(f))
    if (name == p.name) return p.value;
  return std::nullopt;
}

}  // namespace ctgate::nft
