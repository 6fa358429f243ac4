#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the configuration loader (t/unit/config_test.c).
exec "build/t/config_test" or die "build/t/config_test: $!; run make first\n";
