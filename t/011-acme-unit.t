#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of ACME's keys, JWS, CSR, certificates and CA-answer
# readers (t/unit/acme_test.c).
exec "build/t/acme_test" or die "build/t/acme_test: $!; run make first\n";
