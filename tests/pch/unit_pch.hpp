// The headers most unit tests include, compiled once for the unit_tests binary
// (meson's cpp_pch): GoogleTest and the worker with its decoders are most of each
// test file's compile time.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../unit/stream_test.hpp"
