# FindBoringSSL: locates BoringSSL, never OpenSSL.
#
# Looks under -DBORINGSSL_ROOT=<dir> (a source build: <dir>/include and
# <dir>/lib or <dir>/build) first, then Debian's android-libboringssl-dev
# (headers in /usr/include/android, libraries in <multiarch>/android).
# Defines the imported targets BoringSSL::ssl and BoringSSL::crypto.
#
# BoringSSL and OpenSSL share header names, so the include directory found
# here must be BoringSSL's own: it is checked for OPENSSL_IS_BORINGSSL and the
# build stops if the headers are OpenSSL's.

set(_bssl_hints)
if(BORINGSSL_ROOT)
  list(APPEND _bssl_hints "${BORINGSSL_ROOT}")
endif()

find_path(BORINGSSL_INCLUDE_DIR openssl/base.h
  HINTS ${_bssl_hints}
  PATH_SUFFIXES include
  PATHS /usr/include/android
  NO_DEFAULT_PATH)

if(CMAKE_LIBRARY_ARCHITECTURE)
  set(_bssl_android_libdir "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android")
else()
  set(_bssl_android_libdir "/usr/lib/android")
endif()

foreach(_lib ssl crypto)
  string(TOUPPER ${_lib} _LIB)
  find_library(BORINGSSL_${_LIB}_LIBRARY
    NAMES ${_lib} lib${_lib}.so.0
    HINTS ${_bssl_hints}
    PATH_SUFFIXES lib build build/${_lib} ${_lib}
    PATHS ${_bssl_android_libdir}
    NO_DEFAULT_PATH)
endforeach()

if(BORINGSSL_INCLUDE_DIR)
  file(STRINGS "${BORINGSSL_INCLUDE_DIR}/openssl/base.h" _bssl_marker
       REGEX "#define OPENSSL_IS_BORINGSSL")
  if(NOT _bssl_marker)
    message(FATAL_ERROR "FindBoringSSL: ${BORINGSSL_INCLUDE_DIR}/openssl/base.h "
                        "is not BoringSSL (no OPENSSL_IS_BORINGSSL); refusing to "
                        "mix OpenSSL headers in")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BORINGSSL_INCLUDE_DIR BORINGSSL_SSL_LIBRARY BORINGSSL_CRYPTO_LIBRARY)

if(BoringSSL_FOUND AND NOT TARGET BoringSSL::crypto)
  add_library(BoringSSL::crypto SHARED IMPORTED)
  set_target_properties(BoringSSL::crypto PROPERTIES
    IMPORTED_LOCATION "${BORINGSSL_CRYPTO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}")
  add_library(BoringSSL::ssl SHARED IMPORTED)
  set_target_properties(BoringSSL::ssl PROPERTIES
    IMPORTED_LOCATION "${BORINGSSL_SSL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES BoringSSL::crypto)
  get_filename_component(BORINGSSL_LIBRARY_DIR "${BORINGSSL_SSL_LIBRARY}" DIRECTORY)
endif()
mark_as_advanced(BORINGSSL_INCLUDE_DIR BORINGSSL_SSL_LIBRARY BORINGSSL_CRYPTO_LIBRARY)
