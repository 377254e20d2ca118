// The lines of nft `log` statements. See rule_log.h.
#include "control/rule_log.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "config/config.h"
#include "ruleset/ast.h"

namespace ctgate {
namespace {

// Bytes as the kernel's log lines print options: hex digits, no separators.
std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; i++) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

}  // namespace

// One `log` record as a line in the shape of the kernel's (nf_log_syslog), with what its
// flags asked for.
std::string rule_log_line(const gateway& gw, const nft_log_record& r) {
  auto port = [](uint16_t p) { return std::to_string(ntohs(p)); };
  auto mac = [](const uint8_t* m) {
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                  m[5]);
    return std::string(buf);
  };
  std::string out = std::string(r.prefix) +
                    "IN=" + (r.in_port < gw.ports.size() ? gw.ports[r.in_port].name : "?");
  if (r.flags & nft::LOG_F_MACDECODE) {
    char proto[8];
    std::snprintf(proto, sizeof(proto), "%02x%02x", r.mac[12], r.mac[13]);
    out += " MACSRC=" + mac(r.mac + 6) + " MACDST=" + mac(r.mac) + " MACPROTO=" + proto;
  }
  if (r.v6) {
    ipv6_addr s, d;
    std::memcpy(s.b, r.src6, 16);
    std::memcpy(d.b, r.dst6, 16);
    out += " SRC=" + format_ipv6(s) + " DST=" + format_ipv6(d);
  } else {
    out += " SRC=" + format_ipv4(ntohl(r.src)) + " DST=" + format_ipv4(ntohl(r.dst));
  }
  if (r.n_ip_opts != 0) out += " OPT (" + hex_bytes(r.ip_opts, r.n_ip_opts) + ")";
  out += " PROTO=" + std::to_string(r.proto);
  if (r.proto == 6 || r.proto == 17) out += " SPT=" + port(r.sport) + " DPT=" + port(r.dport);
  if (r.proto == 6 && (r.flags & nft::LOG_F_TCPSEQ))
    out += " SEQ=" + std::to_string(ntohl(r.seq)) + " ACK=" + std::to_string(ntohl(r.ack));
  if (r.n_tcp_opts != 0) out += " OPT (" + hex_bytes(r.tcp_opts, r.n_tcp_opts) + ")";
  return out;
}

}  // namespace ctgate
