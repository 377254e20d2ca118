// Built-in hook callbacks: conntrack's, wrapping the ct_* burst functions.
#pragma once

#include <string>

namespace ctgate {
struct gateway;
bool register_conntrack_hooks(gateway& gw, std::string* err);
}  // namespace ctgate
