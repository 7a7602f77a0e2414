# SPDX-License-Identifier: MIT
# Installation: headers, library, CMake package (rcufree::rcufree) and pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS rcufree rcufree_static EXPORT rcufreeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/rcufree DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT rcufreeTargets NAMESPACE rcufree::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rcufree)
configure_package_config_file(cmake/rcufreeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/rcufreeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rcufree)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rcufreeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rcufreeConfig.cmake ${PROJECT_BINARY_DIR}/rcufreeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rcufree)
# The .pc file finds its prefix relative to itself, so an install moved with --prefix works.
file(RELATIVE_PATH RCUFREE_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
     "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" RCUFREE_PC_TO_PREFIX "${RCUFREE_PC_TO_PREFIX}")
configure_file(cmake/rcufree.pc.in ${PROJECT_BINARY_DIR}/rcufree.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/rcufree.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
