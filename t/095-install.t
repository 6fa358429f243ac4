#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# make install and make uninstall into a scratch PREFIX: the programs,
# headers, manuals, example and npsocket.pc go in; a module built with
# `pkg-config --cflags npsocket` against the installed headers runs in
# the daemon; uninstall leaves no file behind.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Find;
use File::Temp qw(tempdir);

my $prefix = tempdir('npsocketd-prefix-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($out, $err, $rc) = run_bounded(['make', '-s', 'install', "PREFIX=$prefix"], timeout => 300);
is($rc, 0, 'make install PREFIX=...') or diag($err);
ok(-x "$prefix/sbin/$_", "sbin/$_") for qw(npsocketd npsocketctl);
ok(-x "$prefix/bin/npcat", 'bin/npcat');
ok(-f "$prefix/include/npsocket/$_", "include/npsocket/$_") for qw(handler.h comm.h socket.h);
ok(-f "$prefix/share/man/man8/$_", "man8/$_") for qw(npsocketd.8 npsocketctl.8);
ok(-f "$prefix/lib/pkgconfig/npsocket.pc", 'lib/pkgconfig/npsocket.pc');
my $example = "$prefix/etc/npsocketd/npsocketd.ini.example";
like(NpTest::slurp($example), qr{^webRoot = \Q$prefix\E/share/npsocketd/www$}m, 'the example\'s webRoot is where the page went');
ok(-f "$prefix/share/npsocketd/www/index.html", 'and the page is there');
like(NpTest::slurp($example), qr{^certFile = \Q$prefix\E/etc/npsocketd/server\.pem$}m, 'its certificate path is the installed one');
system("cp t/lib/make-certs.sh $prefix/ && sh $prefix/make-certs.sh $prefix/pki >/dev/null 2>&1") == 0 or BAIL_OUT('certs');
system("cp $prefix/pki/server.pem $prefix/pki/server.key $prefix/etc/npsocketd/") == 0 or BAIL_OUT('cp');
($out, $err, $rc) = run_bounded(["$prefix/sbin/npsocketd", '-t', '-c', $example]);
is($rc, 0, 'with a certificate put there, the installed daemon takes the installed example as it is') or diag($err);
unlink "$prefix/etc/npsocketd/server.pem", "$prefix/etc/npsocketd/server.key", "$prefix/make-certs.sh";
system("rm -rf $prefix/pki");
my $unit = "$prefix/lib/systemd/system/npsocketd.service";
ok(-f $unit, 'lib/systemd/system/npsocketd.service');
like(NpTest::slurp($unit), qr{^ExecStart=\Q$prefix\E/sbin/npsocketd -c \Q$prefix\E/etc/npsocketd/npsocketd\.ini$}m,
     'the unit runs the installed daemon on the installed configuration');
SKIP: {
    skip 'no systemd-analyze', 3 unless -x '/usr/bin/systemd-analyze';
    local $ENV{MANPATH} = "$prefix/share/man:";
    ($out, $err, $rc) = run_bounded(['systemd-analyze', 'verify', $unit], timeout => 60);
    is($rc, 0, 'systemd-analyze verify accepts the installed unit') or diag("$out$err");
    ($out, $err, $rc) = run_bounded(['systemd-analyze', 'security', '--offline=true', $unit], timeout => 60);
    my ($exposure) = "$out$err" =~ /Overall exposure level for npsocketd\.service: ([\d.]+)/;
    ok(defined $exposure, 'systemd-analyze security rates it') or diag("$out$err");
    ok(($exposure // 99) < 2.0, "with an exposure below 2.0 (" . ($exposure // '?') . ")");
}

local $ENV{PKG_CONFIG_PATH} = "$prefix/lib/pkgconfig";
($out, $err, $rc) = run_bounded(['pkg-config', '--cflags', 'npsocket']);
like($out, qr/-I\Q$prefix\E\/include/, 'pkg-config --cflags npsocket names the installed headers');
($out, $err, $rc) = run_bounded(['pkg-config', '--variable=moduledir', 'npsocket']);
is($out, "$prefix/lib/npsocketd\n", 'and moduledir where the example modules are');
my $cflags = `PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags npsocket`;
chomp $cflags;
($out, $err, $rc) = run_bounded(['sh', '-c', "cc -fPIC -shared $cflags -o $prefix/mine.so modules/echo.c"]);
is($rc, 0, 'a module builds against the installed headers with those flags') or diag($err);

my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$prefix/mine.so\n");
my ($s, $answer) = np_connect($d, byte => 1);
ok($answer == 1 && echo_ok($s, 'installed'), 'and answers in the daemon');
close $s;
$d->stop;

# The same headers from C++.
($out, $err, $rc) = run_bounded(['sh', '-c', "c++ -std=c++20 -Wall -Wextra -Werror -fPIC -shared $cflags -o $prefix/mine_cxx.so t/lib/echo_module.cc"],
                                timeout => 120);
is($rc, 0, 'a C++ module builds against them too (-Wall -Wextra -Werror)') or diag($err);
$d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$prefix/mine_cxx.so\n");
($s, $answer) = np_connect($d, byte => 1);
ok($answer == 1 && echo_ok($s, 'from C++'), 'and answers in the daemon');
close $s;
$d->stop;

($out, $err, $rc) = run_bounded(['make', '-s', 'uninstall', "PREFIX=$prefix"], timeout => 60);
is($rc, 0, 'make uninstall');
unlink "$prefix/mine.so", "$prefix/mine_cxx.so";
my @left;
find(sub { push @left, $File::Find::name if -f $_ }, $prefix);
is_deeply(\@left, [], 'leaves no file behind');
done_testing();
