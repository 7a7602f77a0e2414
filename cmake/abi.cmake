# SPDX-License-Identifier: MIT
# ABI checks (label unit). A shared library with a list abi/<target>.symbols must export exactly
# what the list names (nm -D --defined-only, demangled, with version nodes), nothing of the C++
# standard library, and, when its list has nodes, every symbol under a node it defines
# (test/abi/check_exports.sh). Checking another shared library takes one file: its list.
file(GLOB _rcufree_abi_lists CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/abi/*.symbols)
foreach(_rcufree_list ${_rcufree_abi_lists})
  get_filename_component(_rcufree_lib ${_rcufree_list} NAME_WLE)
  if(NOT TARGET ${_rcufree_lib})
    message(STATUS "rcufree: abi/${_rcufree_lib}.symbols: no such library in this build, unchecked")
    continue()
  endif()
  set(_rcufree_test "the exported symbols of ${_rcufree_lib} are abi/${_rcufree_lib}.symbols")
  add_test(NAME ${_rcufree_test}
           COMMAND bash ${PROJECT_SOURCE_DIR}/test/abi/check_exports.sh
                   $<TARGET_FILE:${_rcufree_lib}> ${_rcufree_list})
  set_tests_properties(${_rcufree_test} PROPERTIES LABELS unit)
endforeach()
