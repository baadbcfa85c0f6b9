# SutraInstall.cmake - what `cmake --install` puts under the prefix: include/sutra.h, libsutra.so
# (with its libsutra.so.<major> and libsutra.so.<version> names), libsutra.a, the CLI `sutra`,
# lib/pkgconfig/sutra.pc and the CMake package lib/cmake/Sutra (find_package(Sutra): the imported
# targets Sutra::sutra, the shared library, and Sutra::sutra_static with COMPONENTS static).
#
# Rules: both descriptions say the same thing (sutra.pc's Requires.private / Libs.private are the
# static library's SUTRA_LINK_LIBS, which SutraConfig.cmake finds again for Sutra::sutra_static);
# nothing in them names the build tree, and the prefix is the one given at install time.
include(CMakePackageConfigHelpers)
set(SUTRA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Sutra)

# Installed programs and the shared library keep a run path to the libraries they link outside the
# system's directories (the CUDA toolkit's, say); none on a plain CPU build.
set_target_properties(sutra_shared sutra_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS sutra_shared EXPORT SutraTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS sutra EXPORT SutraStaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS sutra_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/sutra.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The CMake package. 0.x releases may break the API between minor versions, later ones between
# major versions: a request for 0.3 accepts 0.3.x only, one for 1.2 any 1.x from 1.2 on.
install(EXPORT SutraTargets NAMESPACE Sutra:: DESTINATION ${SUTRA_CMAKE_DIR})
install(EXPORT SutraStaticTargets NAMESPACE Sutra:: DESTINATION ${SUTRA_CMAKE_DIR})
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SUTRA_COMPATIBILITY SameMinorVersion)
else()
  set(SUTRA_COMPATIBILITY SameMajorVersion)
endif()
configure_package_config_file(cmake/SutraConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/SutraConfig.cmake
                              INSTALL_DESTINATION ${SUTRA_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/SutraConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY ${SUTRA_COMPATIBILITY})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/SutraConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/SutraConfigVersion.cmake
        DESTINATION ${SUTRA_CMAKE_DIR})

# sutra.pc. Libs.private: what linking libsutra.a needs beyond Requires.private's modules, as
# flags (-L only for directories outside the compiler's own).
function(sutra_pc_lib_flags out)
  set(flags "")
  foreach(path ${ARGN})
    get_filename_component(dir "${path}" DIRECTORY)
    get_filename_component(name "${path}" NAME)
    string(REGEX REPLACE "^lib(.*)\\.(so|a)(\\..*)?$" "\\1" name "${name}")
    list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES "${dir}" implicit)
    if(implicit EQUAL -1)
      list(APPEND flags "-L${dir}")
    endif()
    list(APPEND flags "-l${name}")
  endforeach()
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()
sutra_pc_lib_flags(SUTRA_PC_LIBS ${BLAS_LIBRARIES})
list(APPEND SUTRA_PC_LIBS ${OpenMP_C_FLAGS} ${CMAKE_THREAD_LIBS_INIT} -lm)
if(SUTRA_CUDA)
  sutra_pc_lib_flags(SUTRA_PC_CUDA_LIBS ${CUDA_cudart_LIBRARY} ${CUDA_cublasLt_LIBRARY} ${CUDA_cublas_LIBRARY})
  list(APPEND SUTRA_PC_LIBS ${SUTRA_PC_CUDA_LIBS})
  foreach(lib ${SUTRA_CUDA_HOST_LIBS})
    list(APPEND SUTRA_PC_LIBS "-l${lib}")
  endforeach()
endif()
list(APPEND SUTRA_PC_LIBS ${SUTRA_PC_EXTRA_LIBS})
list(REMOVE_DUPLICATES SUTRA_PC_LIBS)
list(JOIN SUTRA_PC_LIBS " " SUTRA_PC_LIBS_PRIVATE)
list(JOIN SUTRA_PC_REQUIRES " " SUTRA_PC_REQUIRES_TEXT)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(SUTRA_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(SUTRA_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(SUTRA_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(SUTRA_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The prefix is known only when installing (`cmake --install build --prefix DIR`): the file is
# configured now with a placeholder that the install step replaces.
set(SUTRA_PC_PREFIX "@SUTRA_INSTALL_PREFIX@")
configure_file(cmake/sutra.pc.in ${CMAKE_CURRENT_BINARY_DIR}/sutra.pc.in @ONLY)
install(CODE "
  file(READ \"${CMAKE_CURRENT_BINARY_DIR}/sutra.pc.in\" pc)
  string(REPLACE \"@SUTRA_INSTALL_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" pc \"\${pc}\")
  file(WRITE \"${CMAKE_CURRENT_BINARY_DIR}/sutra.pc\" \"\${pc}\")")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sutra.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The Python package (pyproject.toml: scikit-build-core builds this project with SKBUILD set and
# installs only the component "python"): libsutra.so inside the package folder, where
# python/sutra/_ffi.py opens it. One file, not the SONAME links a wheel cannot hold.
if(SKBUILD)
  install(FILES $<TARGET_FILE:sutra_shared> DESTINATION sutra RENAME libsutra.so COMPONENT python)
endif()
