// SPDX-License-Identifier: MIT
// child.hpp — one measured run in a fresh process: one mechanism, one thread count, one mode.
#pragma once

#include "common.hpp"

namespace bench {

// Runs the flood described by `o`, prints one "RESULT key=value..." line on stdout and returns
// the process exit status: 0, or 3 if objects were lost or freed twice, 2 on bad options.
int child_main(const run_options& o);

// Names child_main accepts, in the order the parent interleaves them.
const char* const* mechanism_names();

}  // namespace bench
