# Helpers that turn one source file into one executable and, for tests, one
# ctest entry (after leveldb's `leveldb_test`).

# pulse_test(<source> LIBS <targets...> [LABELS <labels...>] [TIMEOUT <s>])
#
# The test name is the file name without `.cc`. Tests without a label form
# the default, fast set; long ones carry `slow`, `integration` or `e2e` so
# that `ctest -LE slow` can leave them out. Every test sees PULSE_DATA_DIR.
function(pulse_test source)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LIBS;LABELS" ${ARGN})
  get_filename_component(name "${source}" NAME_WE)
  add_executable(${name} "${source}")
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest
                        GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set(props ENVIRONMENT "PULSE_DATA_DIR=${PULSE_DATA_DIR}")
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  if(ARG_TIMEOUT)
    list(APPEND props TIMEOUT ${ARG_TIMEOUT})
  else()
    list(APPEND props TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES ${props})
endfunction()

# pulse_benchmark(<source> LIBS <targets...>)
function(pulse_benchmark source)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  get_filename_component(name "${source}" NAME_WE)
  add_executable(${name} "${source}")
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} benchmark::benchmark
                        benchmark::benchmark_main)
  target_compile_definitions(${name} PRIVATE
                             PULSE_DATA_DIR="${PULSE_DATA_DIR}")
endfunction()
