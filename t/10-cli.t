#!/usr/bin/perl
# The command line: -t, -V, -h, usage errors (64), configuration errors (78)
# that name file, line, section and key, and system errors (71).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;

my $dir = tempdir(CLEANUP => 1);
sub config_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh $text;
    close $fh;
    return "$dir/$name";
}
sub run {
    my $out = `@_ 2>&1`;
    return ($out, $? >> 8);
}

my $good = config_file('good.ini', <<'INI');
; the NetPhantom server's own INI: other sections are not ours
[Database]
url = jdbc:db2://host/db
some key with spaces = 1
[Server]
logLevel = notice
[Port]
port = 9000
readTimeout = 2.5
maxTransactionSize = 1M
[Port.web]
port = 9001
bindAddress = 127.0.0.1
INI
my ($out, $rc) = run("build/npsocketd -t -c $good");
is($rc, 0, '-t on a good configuration exits 0');
like($out, qr/^Port\s*:/m, '-t prints the effective configuration in libconfig syntax');
like($out, qr/maxTransactionSize = 1048576L;/, 'sizes are printed in bytes');
like($out, qr/readTimeout = 2\.5;/, 'seconds keep their fraction');
like($out, qr/handshakeTimeout = 10;/, 'defaults are filled in');
like($out, qr/web\s*:\s*\{[^}]*port = 9001;/s, '[Port.NAME] is a group inside Port');
unlike($out, qr/Database/, 'sections the daemon does not own are left out');
($out, $rc) = run("build/npsocketd -t $good");
is($rc, 0, 'the configuration path alone works too (npsocketd FILE)');

my $cfg = config_file('good.cfg', <<'CFG');
Server = { logLevel = "notice"; };
Port = { port = 9000; readTimeout = 2.5; maxTransactionSize = "1M"; web = { port = 9001; bindAddress = "127.0.0.1"; }; };
CFG
my ($out2, $rc2) = run("build/npsocketd -t -c $cfg");
is($rc2, 0, 'the same configuration in libconfig syntax is accepted');
(my $a = $out) =~ s/^#.*\n//mg;
(my $b = $out2) =~ s/^#.*\n//mg;
is($b, $a, 'both syntaxes give the same effective configuration');

($out, $rc) = run('build/npsocketd -V');
is($rc, 0, '-V exits 0');
like($out, qr/^npsocketd \d+\.\d+\.\d+/, '-V prints the version');
($out, $rc) = run('build/npsocketd -h');
is($rc, 0, '-h exits 0');
like($out, qr/usage: npsocketd -c FILE/, '-h prints the usage');
($out, $rc) = run('build/npsocketd');
is($rc, 64, 'no configuration file is a usage error (64)');
($out, $rc) = run("build/npsocketd -x -c $good");
is($rc, 64, 'an unknown option is a usage error (64)');
like($out, qr/unknown option -x/, 'and says which option');
($out, $rc) = run("build/npsocketd -l loud -c $good");
is($rc, 64, 'an unknown log level is a usage error');

my @bad = (
    [ 'bad number', "[Port]\nport = 9000\nreadTimeout = abc\n",
      qr/bad-number\.ini:3: key 'readTimeout' in \[Port\]: expected seconds from 0 to 86400, got "abc"/ ],
    [ 'unknown sslSection', "[Port]\nport = 9000\nsslSection = Nope\n",
      qr/:3: key 'sslSection' in \[Port\]: expected the name of a section in this file, got "Nope"/ ],
    [ 'duplicate section', "[Port.a]\nport = 9000\n[Port.a]\nport = 9001\n",
      qr/:3: section \[Port\.a\] given twice \(first on line 1\)/ ],
    [ 'duplicate key', "[Port]\nport = 9000\nport = 9001\n",
      qr/:3: key 'port' in \[Port\] given twice \(first on line 2\)/ ],
    [ 'missing port', "[Port.web]\nbindAddress = 127.0.0.1\n",
      qr/:1: \[Port\.web\]: key 'port' is required/ ],
    [ 'port out of range', "[Port]\nport = 70000\n",
      qr/:2: key 'port' in \[Port\]: expected a port number from 0 to 65535, got 70000/ ],
    [ 'bad bool', "[Port]\nport = 9000\ncompression = perhaps\n",
      qr/:3: key 'compression' in \[Port\]: expected true or false, got "perhaps"/ ],
    [ 'bad enum', "[Server]\nlogLevel = loud\n[Port]\nport = 9000\n",
      qr/:2: key 'logLevel' in \[Server\]: expected one of error, warning, notice, info, debug, got "loud"/ ],
    [ 'bad size', "[Port]\nport = 9000\nmaxTransactionSize = 8Q\n",
      qr/:3: key 'maxTransactionSize' in \[Port\]: expected bytes/ ],
    [ 'bad CIDR', "[Port]\nport = 9000\nallow = 10.0.0.0/33\n",
      qr/:3: key 'allow' in \[Port\]: expected a comma list of addresses or CIDR ranges/ ],
    [ 'forward without upstream', "[Port]\nport = 9000\nsessionHandler = forward\n",
      qr/\[Port\]: sessionHandler = forward needs key 'upstream'/ ],
    [ 'no port section', "[Server]\nlogLevel = info\n",
      qr/no \[Port\] section: nothing to listen on/ ],
    [ 'two ports on one address', "[Port.a]\nport = 9000\n[Port.b]\nport = 9000\n",
      qr/\[Port\.b\]: port 9000 on \* is already taken by \[Port\.a\]/ ],
    [ 'libconfig syntax error', "Port = { port = 9000 \n", qr/\.cfg:\d+: syntax error/, 'cfg' ],
);
for my $case (@bad) {
    my ($what, $text, $re, $ext) = @$case;
    (my $name = $what) =~ s/\W+/-/g;
    my $file = config_file("$name." . ($ext // 'ini'), $text);
    ($out, $rc) = run("build/npsocketd -t -c $file");
    is($rc, 78, "$what: exit 78");
    like($out, $re, "$what: the message names the cause and the line") or diag($out);
}
($out, $rc) = run("build/npsocketd -c $dir/missing.ini");
is($rc, 78, 'a configuration file that cannot be read: exit 78');
like($out, qr{missing\.ini: cannot read: No such file or directory}, 'and the message names the file');
($out, $rc) = run("build/npsocketd -c $dir");
is($rc, 78, 'a directory as configuration file: exit 78');

my $warn = config_file('warn.ini', "[Port]\nport = 9000\nfrobnicate = 1\n");
($out, $rc) = run("build/npsocketd -t -c $warn");
is($rc, 0, 'an unknown key in an owned section is only a warning');
like($out, qr/:3: warning: unknown key 'frobnicate' in \[Port\] ignored/, 'and the warning names it');

my $several = config_file('several.ini', "[Port]\nport = -1\nqueueLength = 0\naccepterThreads = 65\n");
($out, $rc) = run("build/npsocketd -t -c $several");
my @lines = $out =~ /^.*several\.ini:\d+: key/mg;
is(scalar(@lines), 3, 'every error of a file is reported, not only the first');

# A port in use is a system error (71).
my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $busy = config_file('busy.ini', "[Port]\nport = " . $taken->sockport . "\nbindAddress = 127.0.0.1\n");
($out, $rc) = run("build/npsocketd -c $busy");
is($rc, 71, 'a port already in use: exit 71');
like($out, qr/bind to 127\.0\.0\.1:\d+: Address already in use/, 'and the log says why');

done_testing;
