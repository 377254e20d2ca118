// The lines of nft `log` statements, as Linux's nf_log_syslog writes them. See rule_log.h.
#include "control/rule_log.h"

#include <arpa/inet.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "config/config.h"
#include "ruleset/ast.h"

namespace ctgate {
namespace {

// The copied datagram, read the way skb_header_pointer reads the packet: a header that is
// not all there (past the datagram, or past what the worker copied) is absent.
struct datagram {
  const uint8_t* p;
  uint32_t copied;
  uint32_t len;  // skb->len
  const uint8_t* at(uint32_t off, uint32_t n) const {
    return off <= copied && n <= copied - off ? p + off : nullptr;
  }
};

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

// printf into the line; every field the kernel prints ends with its space.
template <typename... A>
void add(std::string& out, const char* fmt, A... a) {
  char buf[128];
  const int n = std::snprintf(buf, sizeof(buf), fmt, a...);
  out.append(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
}

void add_hex(std::string& out, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) add(out, "%02X", p[i]);
}

std::string ipv4_text(const uint8_t* p) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, p, buf, sizeof(buf));
  return buf;
}

// %pI6: eight groups of four hex digits, never shortened.
void add_ipv6(std::string& out, const uint8_t* p) {
  for (int i = 0; i < 16; i += 2) add(out, i == 0 ? "%02x%02x" : ":%02x%02x", p[i], p[i + 1]);
}

// nf_log_dump_tcp_header. True when the header is incomplete (the caller stops there).
bool tcp_header(std::string& out, const datagram& d, uint8_t proto_flags, bool fragment,
                uint32_t off) {
  out += "PROTO=TCP ";
  if (fragment) return false;
  const uint8_t* th = d.at(off, 20);
  if (th == nullptr) {
    add(out, "INCOMPLETE [%u bytes] ", d.len - off);
    return true;
  }
  add(out, "SPT=%u DPT=%u ", be16(th), be16(th + 2));
  if (proto_flags & nft::LOG_F_TCPSEQ) add(out, "SEQ=%u ACK=%u ", be32(th + 4), be32(th + 8));
  add(out, "WINDOW=%u ", be16(th + 14));
  // Three reserved bits: the fourth is AE (accurate ECN), printed as a flag.
  add(out, "RES=0x%02x ", (th[12] & 0x0e) << 2);
  if (th[12] & 0x01) out += "AE ";
  static constexpr struct {
    uint8_t bit;
    const char* name;
  } k_flags[] = {{0x80, "CWR "}, {0x40, "ECE "}, {0x20, "URG "}, {0x10, "ACK "},
                 {0x08, "PSH "}, {0x04, "RST "}, {0x02, "SYN "}, {0x01, "FIN "}};
  for (const auto& f : k_flags)
    if (th[13] & f.bit) out += f.name;
  add(out, "URGP=%u ", be16(th + 18));
  const uint32_t hlen = (th[12] >> 4) * 4u;
  if ((proto_flags & nft::LOG_F_TCPOPT) && hlen > 20) {
    const uint8_t* op = d.at(off + 20, hlen - 20);
    if (op == nullptr) {
      out += "OPT (TRUNCATED)";
      return true;
    }
    out += "OPT (";
    add_hex(out, op, hlen - 20);
    out += ") ";
  }
  return false;
}

// nf_log_dump_udp_header (UDP and UDP-Lite).
bool udp_header(std::string& out, const datagram& d, uint8_t proto, bool fragment, uint32_t off) {
  out += proto == IPPROTO_UDP ? "PROTO=UDP " : "PROTO=UDPLITE ";
  if (fragment) return false;
  const uint8_t* uh = d.at(off, 8);
  if (uh == nullptr) {
    add(out, "INCOMPLETE [%u bytes] ", d.len - off);
    return true;
  }
  add(out, "SPT=%u DPT=%u LEN=%u ", be16(uh), be16(uh + 2), be16(uh + 4));
  return false;
}

// AH and ESP: their SPI. A later fragment of AH prints nothing at all, of ESP its name only.
void spi_header(std::string& out, const datagram& d, bool esp, bool fragment, uint32_t off) {
  if (fragment && !esp) return;
  out += esp ? "PROTO=ESP " : "PROTO=AH ";
  if (fragment) return;
  const uint8_t* h = d.at(off, esp ? 8 : 12);  // ip_esp_hdr, ip_auth_hdr
  if (h == nullptr) {
    add(out, "INCOMPLETE [%u bytes] ", d.len - off);
    return;
  }
  add(out, "SPI=0x%x ", be32(esp ? h : h + 4));
}

// dump_ipv4_packet from `off` (0: the packet; otherwise an ICMP error's quote, printed once).
void ipv4_packet(std::string& out, const datagram& d, uint8_t flags, uint32_t off, uint32_t mark) {
  const uint8_t* ih = d.at(off, 20);
  if (ih == nullptr) {
    out += "TRUNCATED";
    return;
  }
  out += "SRC=" + ipv4_text(ih + 12) + " DST=" + ipv4_text(ih + 16) + " ";
  add(out, "LEN=%u TOS=0x%02X PREC=0x%02X TTL=%u ID=%u ", be16(ih + 2), ih[1] & 0x1e, ih[1] & 0xe0,
      ih[8], be16(ih + 4));
  const uint16_t frag = be16(ih + 6);
  if (frag & 0x8000) out += "CE ";
  if (frag & 0x4000) out += "DF ";
  if (frag & 0x2000) out += "MF ";
  const bool fragment = frag & 0x1fff;
  if (fragment) add(out, "FRAG:%u ", frag & 0x1fff);
  const uint32_t ihl = (ih[0] & 0xf) * 4u;
  if ((flags & nft::LOG_F_IPOPT) && ihl > 20) {
    const uint8_t* op = d.at(off + 20, ihl - 20);
    if (op == nullptr) {
      out += "TRUNCATED";
      return;
    }
    out += "OPT (";
    add_hex(out, op, ihl - 20);
    out += ") ";
  }
  const uint32_t l4 = off + ihl;
  switch (ih[9]) {
    case IPPROTO_TCP:
      if (tcp_header(out, d, flags, fragment, l4)) return;
      break;
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
      if (udp_header(out, d, ih[9], fragment, l4)) return;
      break;
    case IPPROTO_ICMP: {
      out += "PROTO=ICMP ";
      if (fragment) break;
      const uint8_t* ich = d.at(l4, 8);
      if (ich == nullptr) {
        add(out, "INCOMPLETE [%u bytes] ", d.len - l4);
        break;
      }
      add(out, "TYPE=%u CODE=%u ", ich[0], ich[1]);
      // What each type needs past its first four bytes (the kernel's required_len).
      static constexpr uint8_t k_required[19] = {4, 0,  0,  28, 28, 28, 0, 0,  4, 0,
                                                 0, 28, 28, 20, 20, 0,  0, 12, 12};
      if (ich[0] < sizeof(k_required) && k_required[ich[0]] != 0 &&
          d.len - l4 < k_required[ich[0]]) {
        add(out, "INCOMPLETE [%u bytes] ", d.len - l4);
        break;
      }
      switch (ich[0]) {
        case 0:  // echo reply
        case 8:  // echo
          add(out, "ID=%u SEQ=%u ", be16(ich + 4), be16(ich + 6));
          break;
        case 12:  // parameter problem
          add(out, "PARAMETER=%u ", ich[4]);
          break;
        case 5:  // redirect
          out += "GATEWAY=" + ipv4_text(ich + 4) + " ";
          [[fallthrough]];
        case 3:   // destination unreachable
        case 4:   // source quench
        case 11:  // time exceeded
          if (off == 0) {
            out += "[";
            ipv4_packet(out, d, flags, l4 + 8, 0);
            out += "] ";
          }
          if (ich[0] == 3 && ich[1] == 4) add(out, "MTU=%u ", be16(ich + 6));
          break;
        default: break;
      }
      break;
    }
    case IPPROTO_AH: spi_header(out, d, false, fragment, l4); break;
    case IPPROTO_ESP: spi_header(out, d, true, fragment, l4); break;
    default: add(out, "PROTO=%u ", ih[9]);
  }
  if (off == 0 && mark != 0) add(out, "MARK=0x%x ", mark);
}

// dump_ipv6_packet from `off`; `recurse` for the packet itself, not an error's quote.
void ipv6_packet(std::string& out, const datagram& d, uint8_t flags, uint32_t off, bool recurse,
                 uint32_t mark) {
  const uint8_t* ih = d.at(off, 40);
  if (ih == nullptr) {
    out += "TRUNCATED";
    return;
  }
  out += "SRC=";
  add_ipv6(out, ih + 8);
  out += " DST=";
  add_ipv6(out, ih + 24);
  const uint32_t word0 = be32(ih);
  add(out, " LEN=%u TC=%u HOPLIMIT=%u FLOWLBL=%u ", be16(ih + 4) + 40u, (word0 & 0x0ff00000) >> 20,
      ih[7], word0 & 0x000fffff);
  bool fragment = false;
  uint32_t ptr = off + 40;
  uint8_t next = ih[6];
  const bool opts = flags & nft::LOG_F_IPOPT;
  // The headers the kernel's walk takes (hop-by-hop, routing, fragment, ESP, AH, destination
  // options); no next header ends it.
  auto is_ext = [](uint8_t h) {
    return h == 0 || h == 43 || h == 44 || h == 50 || h == 51 || h == 60;
  };
  while (is_ext(next)) {
    const uint8_t* hp = d.at(ptr, 2);
    if (hp == nullptr) {
      out += "TRUNCATED";
      return;
    }
    if (opts) out += "OPT ( ";
    uint32_t hdrlen = 0;
    switch (next) {
      case 44: {
        out += "FRAG:";
        const uint8_t* fh = d.at(ptr, 8);
        if (fh == nullptr) {
          out += "TRUNCATED ";
          return;
        }
        const uint16_t frag_off = be16(fh + 2);
        add(out, "%u ", frag_off & 0xfff8);
        if (frag_off & 1) out += "INCOMPLETE ";
        add(out, "ID:%08x ", be32(fh + 4));
        if (frag_off & 0xfff8) fragment = true;
        hdrlen = 8;
        break;
      }
      case 60:
      case 43:
      case 0:
        if (fragment) {
          if (opts) out += ")";
          return;
        }
        hdrlen = (hp[1] + 1u) * 8;
        break;
      case 51:
        if (opts) {
          out += "AH ";
          if (fragment) {
            out += ")";
            return;
          }
          const uint8_t* ah = d.at(ptr, 12);
          if (ah == nullptr) {
            add(out, "INCOMPLETE [%u bytes] )", d.len - ptr);
            return;
          }
          add(out, "SPI=0x%x ", be32(ah + 4));
        }
        hdrlen = (hp[1] + 2u) * 4;
        break;
      case 50:  // ESP: what follows is encrypted, the line ends here
        if (opts) {
          out += "ESP ";
          if (fragment) {
            out += ")";
            return;
          }
          const uint8_t* esp = d.at(ptr, 8);
          if (esp == nullptr) {
            add(out, "INCOMPLETE [%u bytes] )", d.len - ptr);
            return;
          }
          add(out, "SPI=0x%x )", be32(esp));
        }
        return;
    }
    if (opts) out += ") ";
    next = hp[0];
    ptr += hdrlen;
  }
  switch (next) {
    case IPPROTO_TCP:
      if (tcp_header(out, d, flags, fragment, ptr)) return;
      break;
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
      if (udp_header(out, d, next, fragment, ptr)) return;
      break;
    case IPPROTO_ICMPV6: {
      out += "PROTO=ICMPv6 ";
      if (fragment) break;
      const uint8_t* ic = d.at(ptr, 8);
      if (ic == nullptr) {
        add(out, "INCOMPLETE [%u bytes] ", d.len - ptr);
        return;
      }
      add(out, "TYPE=%u CODE=%u ", ic[0], ic[1]);
      switch (ic[0]) {
        case 128:  // echo request
        case 129:  // echo reply
          add(out, "ID=%u SEQ=%u ", be16(ic + 4), be16(ic + 6));
          break;
        case 4:  // parameter problem
          add(out, "POINTER=%08x ", be32(ic + 4));
          [[fallthrough]];
        case 1:  // destination unreachable
        case 2:  // packet too big
        case 3:  // time exceeded
          if (recurse) {
            out += "[";
            ipv6_packet(out, d, flags, ptr + 8, false, 0);
            out += "] ";
          }
          if (ic[0] == 2) add(out, "MTU=%u ", be32(ic + 4));
          break;
        default: break;
      }
      break;
    }
    default: add(out, "PROTO=%u ", next);
  }
  if (recurse && mark != 0) add(out, "MARK=0x%x ", mark);
}

// The link header as Linux's dump_mac_header prints it: decoded with `flags ether` (and the
// frame's tag at the hook, nf_log_dump_vlan), else MAC= (an accelerated tag is not in it).
void mac_header(std::string& out, const nft_log_record& r) {
  if (r.flags & nft::LOG_F_MACDECODE) {
    add(out, "MACSRC=%02x:%02x:%02x:%02x:%02x:%02x ", r.mac[6], r.mac[7], r.mac[8], r.mac[9],
        r.mac[10], r.mac[11]);
    add(out, "MACDST=%02x:%02x:%02x:%02x:%02x:%02x ", r.mac[0], r.mac[1], r.mac[2], r.mac[3],
        r.mac[4], r.mac[5]);
    if (r.has_vid) add(out, "VPROTO=%04x VID=%u ", RTE_ETHER_TYPE_VLAN, r.vid);
    add(out, "MACPROTO=%04x ", r.mac[12] << 8 | r.mac[13]);
  } else {
    out += "MAC=";
    for (size_t i = 0; i < sizeof(r.mac); i++) add(out, i == 0 ? "%02x" : ":%02x", r.mac[i]);
    out += " ";
  }
}

void add_mac(std::string& out, const uint8_t* m) {
  add(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// An ARP frame on the bridge path, as Linux's dump_arp_packet prints it: its header, and for
// Ethernet and IPv4 its addresses.
void arp_packet(std::string& out, const nft_log_record& r) {
  const uint8_t* a = r.net;
  if (r.copied < 8) {
    out += "TRUNCATED";
    return;
  }
  if (r.flags & nft::LOG_F_MACDECODE) mac_header(out, r);
  const unsigned hrd = a[0] << 8 | a[1], pro = a[2] << 8 | a[3], op = a[6] << 8 | a[7];
  add(out, "ARP HTYPE=%u PTYPE=0x%04x OPCODE=%u", hrd, pro, op);
  if (hrd != 1 || a[4] != 6 || a[5] != 4) return;
  if (r.copied < 28) {
    add(out, " INCOMPLETE [%u bytes]", r.l3_len - 8u);
    return;
  }
  out += " MACSRC=";
  add_mac(out, a + 8);
  add(out, " IPSRC=%u.%u.%u.%u MACDST=", a[14], a[15], a[16], a[17]);
  add_mac(out, a + 18);
  add(out, " IPDST=%u.%u.%u.%u", a[24], a[25], a[26], a[27]);
}

}  // namespace

std::string rule_log_line(const gateway& gw, const nft_log_record& r) {
  // No port (k_out_port_flood): a flood's, or the input of what a bridge interface sent.
  auto port_name = [&](uint16_t p) {
    return p < gw.ports.size() ? gw.ports[p].name : p == k_out_port_flood ? "" : "?";
  };
  const auto hp = static_cast<nft::hook>(r.hook);
  // Which devices the hook has (Linux's state->in and state->out): none in for what the
  // gateway sent itself, nor on the bridge's postrouting (k_out_port_flood), no out before
  // routing.
  const bool has_in = !r.local && hp != nft::hook::output && r.in_port != k_out_port_flood;
  const bool has_out =
      hp == nft::hook::forward || hp == nft::hook::output || hp == nft::hook::postrouting;
  std::string out = r.prefix;
  out += "IN=" + (has_in ? port_name(r.in_port) : std::string()) +
         " OUT=" + (has_out ? port_name(r.out_port) : std::string()) + " ";
  if (r.not_ip) {
    // Linux's nf_log_bridge_packet: ARP (and RARP) by dump_arp_packet, anything else by its
    // link header alone, with or without an input device.
    const unsigned type = r.mac[12] << 8 | r.mac[13];
    if (type == RTE_ETHER_TYPE_ARP || type == RTE_ETHER_TYPE_RARP)
      arp_packet(out, r);
    else
      mac_header(out, r);
    return out;
  }
  if (has_in) mac_header(out, r);
  const datagram d{r.net, r.copied, r.l3_len};
  if (r.v6)
    ipv6_packet(out, d, r.flags, 0, true, r.mark);
  else
    ipv4_packet(out, d, r.flags, 0, r.mark);
  return out;
}

}  // namespace ctgate
