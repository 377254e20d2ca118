// The lines of nft `log` statements: the control thread drains the workers' log rings
// (dataplane/worker.h) and prints each record in the shape of the kernel's nf_log lines.
#pragma once

#include <string>

#include "dataplane/gateway.h"
#include "dataplane/worker.h"

namespace ctgate {

// "PREFIXIN=lan SRC=... DST=... PROTO=6 SPT=... DPT=...", with what the statement's flags
// asked for: MACSRC/MACDST/MACPROTO (ether), SEQ/ACK (tcp sequence), the IPv4 and TCP options
// as hex (ip options, tcp options).
std::string rule_log_line(const gateway& gw, const nft_log_record& r);

}  // namespace ctgate
