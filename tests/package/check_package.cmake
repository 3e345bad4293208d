# cmake -P: install attnmeta into WORK/prefix, then configure, build and run the consumer three ways.
include(${CMAKE_CURRENT_LIST_DIR}/../run_command.cmake)

file(REMOVE_RECURSE ${WORK})
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/lib -G ${GENERATOR} -DATTNMETA_BUILD_TESTS=OFF
    -DATTNMETA_BUILD_EXAMPLES=OFF -DATTNMETA_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=${WORK}/prefix)
run(${CMAKE_COMMAND} --install ${WORK}/lib)
file(COPY ${SOURCE}/include DESTINATION ${WORK}/vendored)
foreach(mode find_package add_subdirectory vendored)
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/package -B ${WORK}/${mode} -G ${GENERATOR} -DMODE=${mode}
      -DCMAKE_PREFIX_PATH=${WORK}/prefix -DATTNMETA_SOURCE=${SOURCE} -DVENDORED_INCLUDE=${WORK}/vendored/include)
  run(${CMAKE_COMMAND} --build ${WORK}/${mode})
  run(${WORK}/${mode}/consumer)
  message(STATUS "package consumed by ${mode}: ok")
endforeach()
