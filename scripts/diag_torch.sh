cd python
/opt/gcc/bin/gcc --version | head -1
timeout 200 cuda-gdb -batch -ex run -ex bt --args python3 -c "import attnmeta_torch as am; am.load(); print('loaded')" 2>&1 | grep -vE "^\[New Thread|^\[Thread|^\[Detaching" | grep -A30 -E "SIGSEGV|signal" | head -40 | cut -c1-300
