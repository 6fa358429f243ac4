#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the read-ahead under plain sockets and the TLS transport
# (t/unit/read_ahead_test.c).
exec "build/t/read_ahead_test" or die "build/t/read_ahead_test: $!; run make first\n";
