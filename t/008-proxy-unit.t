#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the PROXY protocol header parser and builder
# (t/unit/proxy_test.c).
exec "build/t/proxy_test" or die "build/t/proxy_test: $!; run make first\n";
