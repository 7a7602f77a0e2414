# SPDX-License-Identifier: MIT
# Installation: headers, libraries, CMake package (rcufree::rcufree), pkg-config file, license.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ${_rcufree_libraries} EXPORT rcufreeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/rcufree DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/rcufree/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rcufree)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

install(EXPORT rcufreeTargets NAMESPACE rcufree::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rcufree)
configure_file(cmake/rcufreeConfig.cmake.in ${PROJECT_BINARY_DIR}/rcufreeConfig.cmake @ONLY)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rcufreeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rcufreeConfig.cmake ${PROJECT_BINARY_DIR}/rcufreeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rcufree)

# rcufree.pc names the prefix it is installed under, as a literal path: pkgconf then filters out
# -I/usr/include and the system library directory for a /usr install (a prefix computed from
# ${pcfiledir} defeats that), and `cmake --install --prefix elsewhere` still gets a .pc that
# points there, because the file is written at install time, from the prefix of that install.
foreach(_rcufree_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_rcufree_dir}}")
    set(RCUFREE_PC_${_rcufree_dir} "${CMAKE_INSTALL_${_rcufree_dir}}")
  else()
    set(RCUFREE_PC_${_rcufree_dir} "\${prefix}/${CMAKE_INSTALL_${_rcufree_dir}}")
  endif()
endforeach()
set(RCUFREE_PC_LIBS_PRIVATE)
foreach(_rcufree_lib ${RCUFREE_CXX_RUNTIME})
  string(APPEND RCUFREE_PC_LIBS_PRIVATE " -l${_rcufree_lib}")
endforeach()
set(RCUFREE_PC_PREFIX "@RCUFREE_PC_PREFIX@")  # filled in at install time, below
configure_file(cmake/rcufree.pc.in ${PROJECT_BINARY_DIR}/rcufree.pc.in @ONLY)
install(CODE "set(RCUFREE_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/rcufree.pc.in\" \"${PROJECT_BINARY_DIR}/rcufree.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/rcufree.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
