// tests/catch.hpp: Catch2 v2 (single header, Debian's 2.13) or v3, whichever is installed.
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>
#define ATTNMETA_CATCH3 1
#else
#include <catch2/catch.hpp>
#endif
