#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the per-address connection counts behind
# maxConnectionsPerAddress (t/unit/addr_count_test.c).
exec "build/t/addr_count_test" or die "build/t/addr_count_test: $!; run make first\n";
