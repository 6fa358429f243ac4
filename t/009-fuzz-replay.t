#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Every fuzz target's corpus (fuzz/corpus/TARGET, the seeds and what
# `make fuzz` found worth keeping) through the target once: what a fuzzer
# once found stays fixed, under the sanitizers in CI too.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;

# libconfig's own leak on some syntax errors (see fuzz/lsan.supp) is not
# ours to report when the suite runs under ASan.
$ENV{LSAN_OPTIONS} = join ':', grep { defined && length } $ENV{LSAN_OPTIONS}, 'suppressions=fuzz/lsan.supp';

my @targets = map { m{fuzz/(\w+)_fuzz\.c$} ? $1 : () } glob 'fuzz/*_fuzz.c';
ok(@targets >= 2, 'fuzz targets found: ' . join(' ', @targets));
for my $t (@targets) {
    my @inputs = glob "fuzz/corpus/$t/*";
    ok(@inputs > 0, "$t: a corpus of " . scalar(@inputs) . ' inputs');
    my ($out, $err, $rc) = run_bounded(["build/fuzz/$t-replay", "fuzz/corpus/$t"], timeout => 120);
    is($rc, 0, "$t: every input replayed without a crash") or diag($err);
    like($out, qr/^replayed ${\ scalar @inputs} inputs$/m, "$t: all of them");
}
done_testing;
