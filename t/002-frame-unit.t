#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the frame codec and np_comm (t/unit/frame_test.c).
exec "build/t/frame_test" or die "build/t/frame_test: $!; run make first\n";
