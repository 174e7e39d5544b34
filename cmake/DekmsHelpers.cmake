# Target helpers in the shape of Abseil's absl_cc_library: each call makes
# the target dekms_<NAME> with the alias dekms::<NAME>. Sources and
# dependencies are listed explicitly, so adding a file is a reviewed change.

# Compile options for dekms's own code only. Third-party and generated code
# is built without -Werror, because its warnings are not ours to fix.
set(DEKMS_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Werror)

function(dekms_apply_flags target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${DEKMS_WARNING_FLAGS})
  if(DEKMS_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${DEKMS_SANITIZE}
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${DEKMS_SANITIZE})
  endif()
endfunction()

# dekms_cc_library(NAME n SRCS ... HDRS ... DEPS ... [TESTONLY])
# A library without SRCS becomes an INTERFACE (header-only) target. TESTONLY
# libraries are built only with the tests.
function(dekms_cc_library)
  cmake_parse_arguments(ARG "TESTONLY" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  if(ARG_TESTONLY AND NOT DEKMS_BUILD_TESTS)
    return()
  endif()
  set(target dekms_${ARG_NAME})
  if(ARG_SRCS)
    add_library(${target} STATIC ${ARG_SRCS} ${ARG_HDRS})
    dekms_apply_flags(${target})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}
                                                ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  else()
    add_library(${target} INTERFACE ${ARG_HDRS})
    target_compile_features(${target} INTERFACE cxx_std_20)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}
                                                   ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
  add_library(dekms::${ARG_NAME} ALIAS ${target})
endfunction()

# dekms_cc_test(NAME n SRCS ... DEPS ... [LABELS ...] [COMMAND_PREFIX ...])
# Builds one GoogleTest binary and registers it with ctest as one test.
# COMMAND_PREFIX runs the binary through a wrapper, which gets the binary's
# path as its last argument.
function(dekms_cc_test)
  if(NOT DEKMS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS;COMMAND_PREFIX"
                        ${ARGN})
  set(target dekms_${ARG_NAME})
  add_executable(${target} ${ARG_SRCS})
  dekms_apply_flags(${target})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}
                                               ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} GTest::gmock
                                          GTest::gtest_main)
  # Tests find the emulators, oracles and test data through these.
  target_compile_definitions(${target} PRIVATE
      DEKMS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
      DEKMS_TEST_PYTHON="${DEKMS_TEST_PYTHON}"
      DEKMS_TEST_TOOLS_DIR="${DEKMS_TEST_TOOLS_DIR}")
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_COMMAND_PREFIX}
                                    $<TARGET_FILE:${target}>)
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT 300)
  if(ARG_LABELS)
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# dekms_cc_benchmark(NAME n SRCS ... DEPS ...)
function(dekms_cc_benchmark)
  if(NOT DEKMS_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target dekms_${ARG_NAME})
  add_executable(${target} ${ARG_SRCS})
  dekms_apply_flags(${target})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}
                                               ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} benchmark::benchmark)
endfunction()
