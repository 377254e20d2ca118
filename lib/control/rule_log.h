// The lines of nft `log` statements: the control thread drains the workers' log rings
// (dataplane/worker.h) and prints each record in the shape of the kernel's nf_log lines.
#pragma once

#include <string>

#include "dataplane/gateway.h"
#include "dataplane/worker.h"

namespace ctgate {

// The line Linux's nf_log_syslog writes for the record's packet, field for field:
// "PREFIXIN=lan OUT=wan MAC=... SRC=... DST=... LEN=... TOS=... PREC=... TTL=... ID=... DF
// PROTO=TCP SPT=... DPT=... WINDOW=... RES=0x00 SYN URGP=0 " (IPv6: LEN, TC, HOPLIMIT,
// FLOWLBL, addresses unshortened, extension headers), ICMP errors with their quote in
// brackets, MARK= when marked, and what the statement's flags ask for: MACSRC/MACDST/MACPROTO
// (ether), SEQ/ACK (tcp sequence), the IP and TCP options as hex (ip options, tcp options).
// Like the kernel's, the line ends with a space.
std::string rule_log_line(const gateway& gw, const nft_log_record& r);

}  // namespace ctgate
