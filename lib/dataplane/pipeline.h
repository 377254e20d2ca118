// The worker loop: RX every port, process, flush TX, housekeeping, report
// quiescence. Never allocates from the heap, locks, throws, or logs.
#pragma once

#include <cstdint>

namespace ctgate {

struct worker_ctx;

void worker_loop_once(worker_ctx& w, uint16_t burst);
// rte_eal_remote_launch entry point; runs until gateway::stop.
int worker_main(void* arg);

}  // namespace ctgate
