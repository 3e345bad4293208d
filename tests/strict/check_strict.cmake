# cmake -P: builds tests/strict (every public header alone, the host backend and the launchers)
# with warnings as errors: C++17 and C++20 with CXX and NVCC (PTX for compute capability 8.0, and
# 9.0 in C++17), and with clang++ where there is one (the .hpp headers); then checks that a build
# for compute capability 7.5 stops at kernels.cuh's #error rather than deep in a kernel.
include(${CMAKE_CURRENT_LIST_DIR}/../run_command.cmake)

cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
file(REMOVE_RECURSE ${WORK})
# strict_build(NAME COMPILER STD CUDA [ARCHS]): configures and builds tests/strict in WORK/NAME, its
# CUDA code as PTX for ARCHS (comma-separated; 80-virtual unless given).
function(strict_build name compiler std cuda)
  set(archs 80-virtual)
  if(ARGC GREATER 4)
    set(archs "${ARGV4}")
  endif()
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/strict -B ${WORK}/${name} -G ${GENERATOR} -DATTNMETA_SOURCE=${SOURCE}
      -DCMAKE_CXX_COMPILER=${compiler} -DCMAKE_CUDA_COMPILER=${NVCC} -DCMAKE_CXX_STANDARD=${std}
      -DCMAKE_CUDA_STANDARD=${std} -DSTRICT_CUDA=${cuda} -DSTRICT_CUDA_ARCHS=${archs})
  run(${CMAKE_COMMAND} --build ${WORK}/${name} -j ${jobs})
  if(cuda)
    message(STATUS "strict build ${name} (${compiler}, C++${std}, nvcc for ${archs}): no warnings")
  else()
    message(STATUS "strict build ${name} (${compiler}, C++${std}, no nvcc): no warnings")
  endif()
endfunction()

# C++17 compiles the device code for 9.0 as well: the clusters and PDL's waits exist only there.
strict_build(cxx17 ${CXX} 17 ON 80-virtual,90-virtual)
strict_build(cxx20 ${CXX} 20 ON)
find_program(CLANG NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
if(CLANG)
  strict_build(clang17 ${CLANG} 17 OFF)
  strict_build(clang20 ${CLANG} 20 OFF)
endif()

file(WRITE ${WORK}/sm75.cu "#include <attnmeta/metadata.cuh>\n")
execute_process(COMMAND ${NVCC} -std=c++17 -arch=compute_75 -code=compute_75 -I${SOURCE}/include -c ${WORK}/sm75.cu
                        -o ${WORK}/sm75.o RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "need compute capability 8.0 or later")
  message(FATAL_ERROR "a build for compute capability 7.5 should stop at kernels.cuh's #error (${rc}):\n${out}\n${err}")
endif()
message(STATUS "a build for compute capability 7.5 stops at kernels.cuh's #error")
