// Built-in hook callbacks: conntrack's, wrapping the ct_* burst functions.
#pragma once

#include <string>

#include "hook/hook_registry.h"

namespace ctgate {
// Adds conntrack's four callbacks to an edit of the registry.
result<void> register_conntrack_hooks(hook_registry::editor& ed);
}  // namespace ctgate
