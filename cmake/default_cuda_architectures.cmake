# attnmeta_default_cuda_architectures(OUT [NVIDIA_SMI]): the CUDA architectures attnmeta's own
# tests, examples and benchmark build for when the caller names none: those of the GPUs this machine
# has, so that README's commands run natively on an A100 or a B200 as on an H100. nvidia-smi (or the
# program given) lists each GPU's compute capability; every one of 8.0 or later counts once ("9.0"
# gives 90, an A100 and an H100 together "80;90"). Where it lists none (no GPU or driver, an
# nvidia-smi too old to know the field, only GPUs older than 8.0, which the kernels do not take),
# 90: H100 and H200. One call of nvidia-smi at configure time; nothing else is run or fetched.
function(attnmeta_default_cuda_architectures out)
  set(smi "${ARGN}")
  if(NOT smi)
    find_program(ATTNMETA_NVIDIA_SMI nvidia-smi)
    set(smi "${ATTNMETA_NVIDIA_SMI}")
  endif()
  set(archs)
  if(smi)
    execute_process(COMMAND "${smi}" --query-gpu=compute_cap --format=csv,noheader
                    OUTPUT_VARIABLE listed ERROR_QUIET TIMEOUT 20)
    # Every line that is a compute capability, whatever the exit code: with one GPU in a bad state
    # nvidia-smi still lists the others, and fails.
    string(REGEX MATCHALL "[^\n]+" lines "${listed}")
    foreach(line IN LISTS lines)
      if(line MATCHES "^[ \t]*([0-9]+)\\.([0-9])[ \t\r]*$")
        if(CMAKE_MATCH_1 GREATER_EQUAL 8)
          list(APPEND archs "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
        endif()
      endif()
    endforeach()
  endif()
  if(archs)
    list(REMOVE_DUPLICATES archs)
    list(SORT archs COMPARE NATURAL)
  else()
    set(archs 90)
  endif()
  set(${out} "${archs}" PARENT_SCOPE)
endfunction()
