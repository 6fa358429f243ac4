#!/usr/bin/perl
# The man pages are the manual: they pass mandoc's lint, render with man,
# and every key the daemon knows is documented in npsocketd.ini(5).
use strict;
use warnings;
use Test::More;

my @pages = glob 'man/*.[0-9]';
ok(scalar(@pages) >= 4, 'npsocketd(8), npsocketd.ini(5), npcat(1), npsocket_handler(3) exist');
SKIP: {
    skip 'mandoc is not installed', scalar(@pages) unless `sh -c 'command -v mandoc'`;
    for my $page (@pages) {
        my $lint = `mandoc -Tlint -Wwarning $page 2>&1`;
        is($lint, '', "$page passes mandoc -Tlint");
    }
}
SKIP: {
    skip 'man is not installed', scalar(@pages) unless `sh -c 'command -v man'`;
    for my $page (@pages) {
        my $text = `MANWIDTH=80 man -l $page 2>/dev/null`;
        like($text, qr/NAME/, "$page renders with man -l");
    }
}

open my $fh, '<', 'man/npsocketd.ini.5' or die;
my $manual = do { local $/; <$fh> };
use File::Temp qw(tempdir);
my $dir = tempdir(CLEANUP => 1);
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=t"
       . " -keyout $dir/k.pem -out $dir/c.pem >/dev/null 2>&1") == 0 or die "openssl failed";
open my $cfg, '>', "$dir/keys.ini" or die;
print $cfg "[Port]\nport = 1\nsslSection = S\n[S]\ncertFile = $dir/c.pem\nkeyFile = $dir/k.pem\n";
close $cfg;
my $effective = `build/npsocketd -t -c $dir/keys.ini 2>&1`;
my %keys = map { $_ => 1 } $effective =~ /^\s*(\w+) = /mg;
ok(scalar(keys %keys) > 30, 'the daemon printed the keys that have defaults (' . scalar(keys %keys) . ')');
# and those without a default, which -t prints only when set
$keys{$_} = 1 for qw(user group pidFile mapToPort bindAddress sslSection domains upstream
                     webUpstream allow deny keyPassword keyStore keyStorePassword priority caFile crlFile);
my @missing = grep { $manual !~ /Ic \Q$_\E\b/ } sort keys %keys;
is_deeply(\@missing, [], 'every key is documented in npsocketd.ini(5)');
done_testing;
