#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of what every np_socket shares: layers and the write lock
# (t/unit/socket_test.c).
exec "build/t/socket_test" or die "build/t/socket_test: $!; run make first\n";
