#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the registry of live sessions: admission, snapshots,
# ending a session by id (t/unit/registry_test.c).
exec "build/t/registry_test" or die "build/t/registry_test: $!; run make first\n";
