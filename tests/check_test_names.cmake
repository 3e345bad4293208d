# Every TEST_CASE and SECTION name under tests/ can be printed by Catch2's console reporter. It
# wraps a name longer than its 79 columns (a section's begins at column 2) with the continuation
# lines indented to just past the name's first ": "; where that is past the width, Catch2 2.13
# aborts while reporting the test's failure (an assertion, or std::out_of_range in a build without
# asserts), so that the failure is not shown. A wrapped name's first ": " must end by column 60
# here (continuation lines of 20 columns).
#   cmake -DDIR=<tests folder> -P check_test_names.cmake
file(GLOB sources ${DIR}/*.cu ${DIR}/*.cpp)
set(width 79)
set(most_indent 60)
set(bad "")
set(count 0)
string(ASCII 1 semicolon)  # stands for ";" while the text is split into CMake lists
foreach(source ${sources})
  file(READ ${source} text)
  string(REPLACE ";" "${semicolon}" text "${text}")
  # TEST_CASE( or SECTION( followed by the name's string literals, adjacent ones concatenated.
  string(REGEX MATCHALL "(TEST_CASE|SECTION)\\(([ \t\r\n]*\"[^\"]*\")+" cases "${text}")
  foreach(case ${cases})
    set(start 0)
    if(case MATCHES "^SECTION")
      set(start 2)
    endif()
    string(REGEX MATCHALL "\"[^\"]*\"" literals "${case}")
    string(REPLACE "\"" "" name "${literals}")
    string(REPLACE ";" "" name "${name}")  # the list's separators between the literals
    string(REPLACE "${semicolon}" ";" name "${name}")
    math(EXPR count "${count} + 1")
    string(LENGTH "${name}" length)
    math(EXPR end "${start} + ${length}")
    string(FIND "${name}" ": " colon)
    if(end GREATER width AND colon GREATER_EQUAL 0)
      math(EXPR indent "${start} + ${colon} + 2")
      if(indent GREATER most_indent)
        get_filename_component(file ${source} NAME)
        string(APPEND bad "\n  ${file}: \"${name}\" (${length} characters from column ${start}, first \": \" ends at column ${indent})")
      endif()
    endif()
  endforeach()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "check_test_names: no TEST_CASE found under ${DIR}")
endif()
if(bad)
  message(FATAL_ERROR "check_test_names: names Catch2's console reporter cannot wrap (longer than ${width} "
                      "characters, first \": \" past column ${most_indent}); put the \": \" earlier or drop it:${bad}")
endif()
message(STATUS "check_test_names: ${count} names of tests and sections, each printable")
