#pragma once

#include "version_config.h"

namespace tapbeat {
inline constexpr const char* kTapbeatVersion = TAPBEAT_VERSION;
inline constexpr const char* kTapbeatArch = TAPBEAT_ARCH;
}  // namespace tapbeat
