# SPDX-License-Identifier: MIT
# Warnings and sanitizers, applied to every target the project builds.
function(rcufree_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(RCUFREE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Sanitizer builds keep line tables only (-g1, after the build type's -g): a report still names
# every frame's function, file and line, and the build takes a third less time (ASan + UBSan:
# 8.2 s -> 5.6 s for test/unit/deleter_test.cpp here).
if(RCUFREE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
                      -g1)
  add_link_options(-fsanitize=address,undefined)
elseif(RCUFREE_SANITIZE STREQUAL "thread")
  # -Wno-tsan: TSan does not model std::atomic_thread_fence. rcufree's fences order an updater's
  # unlink against liburcu's grace-period start, which TSan cannot see either (liburcu is not
  # instrumented); see test/tsan.supp for how grace periods are explained to it.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan -g1)
  add_link_options(-fsanitize=thread)
elseif(NOT RCUFREE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "RCUFREE_SANITIZE must be '', 'address' or 'thread'")
endif()
