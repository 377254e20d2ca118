// Building a gateway from its config, and the control plane's switches on
// it. Ports are started separately (ports.h), so tests and benchmarks run
// the same gateway with no ethdev at all.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "dataplane/gateway.h"

namespace ctgate {

// Builds pools, tables, hooks and workers (everything except ethdev ports).
// EAL must be initialised.
result<std::unique_ptr<gateway>> gateway_create(const gateway_config& cfg, const std::string& name);

// Registers conntrack's callbacks (lazy, as Linux: on enable_hooks or the
// first ruleset that uses ct). Idempotent. Priorities: in at -200 on
// PRE_ROUTING and LOCAL_OUT, confirm at INT_MAX on LOCAL_IN and POST_ROUTING.
result<void> enable_conntrack(gateway& gw);

}  // namespace ctgate
