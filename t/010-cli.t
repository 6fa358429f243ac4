#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The command line: -t, -V, -h, -l, usage errors (64), configuration errors
# (78) that name file, line, section and key, and system errors (71).
# Every run is bounded: a daemon that starts when it should refuse is killed.
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
# (stdout, stderr, exit code) of npsocketd with these arguments, at most 10 s.
sub daemon { run_bounded(['build/npsocketd', @_], timeout => 10) }

# --- -t on good configurations ---------------------------------------------------------------
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
my ($out, $err, $rc) = daemon('-t', '-c', $good);
is($rc, 0, '-t on a good configuration exits 0') or diag($err);
like($out, qr/^Port\s*:/m, '-t prints the effective configuration in libconfig syntax on stdout');
like($out, qr/^\s*port = 9000;/m, '-t output holds the port');
like($out, qr/maxTransactionSize = 1048576L?;/, 'sizes are printed in bytes');
like($out, qr/readTimeout = 2\.5;/, 'seconds keep their fraction');
like($out, qr/handshakeTimeout = 10;/, 'defaults are filled in (handshakeTimeout = 10)');
like($out, qr/compressionThreshold = 1024L?;/, 'defaults are filled in (compressionThreshold = 1024)');
like($out, qr/web\s*:\s*\{[^}]*port = 9001;/s, '[Port.NAME] is a group inside Port');
unlike($out, qr/Database|jdbc/, 'sections the daemon does not own are left out');
($out, $err, $rc) = daemon('-t', $good);
is($rc, 0, 'the configuration path alone works too (npsocketd -t FILE)');

my $cfg = config_file('good.cfg', <<'CFG');
Server = { logLevel = "notice"; };
Port = { port = 9000; readTimeout = 2.5; maxTransactionSize = "1M"; web = { port = 9001; bindAddress = "127.0.0.1"; }; };
CFG
my ($out1) = daemon('-t', '-c', $good);
my ($out2, $err2, $rc2) = daemon('-t', '-c', $cfg);
is($rc2, 0, 'the same configuration in libconfig syntax is accepted') or diag($err2);
(my $a = $out1) =~ s/^#.*\n//mg;
(my $b = $out2) =~ s/^#.*\n//mg;
is($b, $a, 'both syntaxes give the same effective configuration');

# The -t output is itself a valid configuration that round-trips.
my $printed = config_file('printed.cfg', $out1);
my ($out3, $err3, $rc3) = daemon('-t', '-c', $printed);
is($rc3, 0, 'the -t output read back as a .cfg file is accepted') or diag($err3);
(my $c = $out3) =~ s/^#.*\n//mg;
is($c, $a, 'and gives the same effective configuration again');

# Files edited on Windows, where the NetPhantom server's INI often lives.
{
    my $lf = "[Port]\nport = 9000\nreadTimeout = 2.5\n";
    my ($want) = daemon('-t', '-c', config_file('unix.ini', $lf));
    $want =~ s/^#.*\n//mg;
    my ($got, $e, $r) = daemon('-t', '-c', config_file('crlf.ini', $lf =~ s/\n/\r\n/gr));
    $got =~ s/^#.*\n//mg;
    is($r, 0, 'an INI file with CRLF line ends is accepted') or diag($e);
    is($got, $want, 'and means the same as with LF');
    ($got, $e, $r) = daemon('-t', '-c', config_file('bom.ini', "\xEF\xBB\xBF$lf"));
    $got =~ s/^#.*\n//mg;
    is($r, 0, 'an INI file starting with a UTF-8 byte order mark (Notepad) is accepted') or diag($e);
    is($got, $want, 'and means the same as without it');
}

# --- -V, -h, usage errors -------------------------------------------------------------------
($out, $err, $rc) = daemon('-V');
is($rc, 0, '-V exits 0');
like($out, qr/^npsocketd \d+\.\d+\.\d+/, '-V prints a version line');
($out, $err, $rc) = daemon('-h');
is($rc, 0, '-h exits 0');
like($out, qr/usage: npsocketd -c FILE/, '-h prints the usage on stdout');
($out, $err, $rc) = daemon('--help');
ok($rc == 0 && $out =~ /usage: npsocketd -c FILE/, '--help too');
($out, $err, $rc) = daemon('--version');
ok($rc == 0 && $out =~ /^npsocketd \d+\.\d+\.\d+ \(GnuTLS /, '--version prints the version');
($out, $err, $rc) = daemon('--bogus');
ok($rc == 64 && $err =~ /unknown option --bogus/, 'an unknown long option is a usage error that names it');
($out, $err, $rc) = daemon();
is($rc, 64, 'no configuration file is a usage error (64)');
like($err, qr/usage: npsocketd/, 'and the usage goes to stderr');
($out, $err, $rc) = daemon('-c');
is($rc, 64, '-c without a value is a usage error (64)');
($out, $err, $rc) = daemon('-q', '-c', $good);
is($rc, 64, 'an unknown option is a usage error (64)');
like($err, qr/-q/, 'and names the option');
($out, $err, $rc) = daemon('-l', 'loud', '-c', $good);
is($rc, 64, 'an unknown log level (-l loud) is a usage error (64)');
($out, $err, $rc) = daemon('-c', $good, 'extra');
is($rc, 64, 'a stray argument is a usage error (64)');

# -l overrides logLevel: with -l debug a quiet EOF leaves its debug line.
{
    my $d = start_daemon(ini => "[Server]\nlogLevel = error\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n",
                         args => ['-l', 'debug']);
    my $s = np_connect($d);
    close $s;
    ok($d->wait_log(qr/debug: .*closed before the protocol byte/, 5),
       '-l debug overrides logLevel = error (the debug end line of an empty connection appears)');
    is($d->stop, 0, 'and the daemon stops with exit 0');
}

# --- configuration errors: exit 78, the message names the cause and the line ---------------
my @bad = (
    [ 'bad number', "[Port]\nport = 9000\nreadTimeout = abc\n",
      qr/bad-number\.ini:3: key 'readTimeout' in \[Port\]: expected seconds.*, got "abc"/ ],
    [ 'unknown sslSection', "[Port]\nport = 9000\nsslSection = Nope\n",
      qr/:3: key 'sslSection' in \[Port\]: .*"Nope"/ ],
    [ 'duplicate section', "[Port.a]\nport = 9000\n[Port.a]\nport = 9001\n",
      qr/:3: section \[Port\.a\] given twice \(first on line 1\)/ ],
    [ 'duplicate key', "[Port]\nport = 9000\nport = 9001\n",
      qr/:3: key 'port' in \[Port\] given twice \(first on line 2\)/ ],
    [ 'missing port', "[Port.web]\nbindAddress = 127.0.0.1\n",
      qr/:1: \[Port\.web\]: key 'port' is required/ ],
    [ 'port 70000', "[Port]\nport = 70000\n",
      qr/:2: key 'port' in \[Port\]: expected a port number.*, got 70000/ ],
    [ 'negative port', "[Port]\nport = -1\n",
      qr/:2: key 'port' in \[Port\]: expected a port number.*, got -1/ ],
    [ 'bad bool', "[Port]\nport = 9000\ncompression = perhaps\n",
      qr/:3: key 'compression' in \[Port\]: expected true or false, got "perhaps"/ ],
    [ 'bad enum', "[Server]\nlogLevel = loud\n[Port]\nport = 9000\n",
      qr/:2: key 'logLevel' in \[Server\]: expected one of .*, got "loud"/ ],
    [ 'bad size', "[Port]\nport = 9000\nmaxTransactionSize = 8Q\n",
      qr/:3: key 'maxTransactionSize' in \[Port\]: expected bytes/ ],
    [ 'accepterThreads 65', "[Port]\nport = 9000\naccepterThreads = 65\n",
      qr/:3: key 'accepterThreads' in \[Port\]: .*65/ ],
    [ 'bad CIDR', "[Port]\nport = 9000\nallow = 10.0.0.0/33\n",
      qr/:3: key 'allow' in \[Port\]: expected .*address/ ],
    [ 'forward without upstream', "[Port]\nport = 9000\nsessionHandler = forward\n",
      qr/\[Port\]: sessionHandler = forward needs key 'upstream'/ ],
    [ 'no port section', "[Server]\nlogLevel = info\n",
      qr/no \[Port\] section/ ],
    [ 'two ports on one address', "[Port.a]\nport = 9000\n[Port.b]\nport = 9000\n",
      qr/\[Port\.b\]: port 9000 .*\[Port\.a\]/ ],
    [ 'libconfig syntax error', "Port = { port = 9000 \n", qr/\.cfg:\d+: syntax error/, 'cfg' ],
    [ 'bad number in libconfig syntax', "Port = {\n  port = 9000;\n  readTimeout = \"abc\";\n};\n",
      qr/\.cfg:3: key 'readTimeout' in \[Port\]: expected seconds.*, got "abc"/, 'cfg' ],
);
for my $case (@bad) {
    my ($what, $text, $re, $ext) = @$case;
    (my $name = $what) =~ s/\W+/-/g;
    my $file = config_file("$name." . ($ext // 'ini'), $text);
    ($out, $err, $rc) = daemon('-t', '-c', $file);
    is($rc, 78, "$what: -t exits 78");
    like($err, $re, "$what: the message names the cause and the line") or diag($err);
    is($out, '', "$what: -t prints no configuration");
}
# Not only -t: starting with a bad file fails the same way, before listening.
{
    my $file = config_file('start-bad.ini', "[Port]\nport = 0\nreadTimeout = abc\n");
    ($out, $err, $rc) = daemon('-c', $file);
    is($rc, 78, 'starting (without -t) on a bad configuration exits 78');
    like($err, qr/start-bad\.ini:3: key 'readTimeout' in \[Port\]: expected seconds.*, got "abc"/,
         'with the same message');
}
($out, $err, $rc) = daemon('-c', "$dir/missing.ini");
is($rc, 78, 'a configuration file that does not exist: exit 78');
like($err, qr{\Q$dir\E/missing\.ini: .*No such file or directory}, 'and the message names the file and why');
($out, $err, $rc) = daemon('-t', '-c', "$dir/missing.ini");
is($rc, 78, 'the same with -t: exit 78');
($out, $err, $rc) = daemon('-c', $dir);
is($rc, 78, 'a directory as configuration file: exit 78');
SKIP: {
    skip 'root reads a mode 000 file anyway', 2 if $> == 0;
    my $file = config_file('unreadable.ini', "[Port]\nport = 0\n");
    chmod 0, $file;
    ($out, $err, $rc) = daemon('-c', $file);
    is($rc, 78, 'an unreadable configuration file: exit 78');
    like($err, qr/unreadable\.ini: .*Permission denied/, 'and the message names the file');
}

my $warn = config_file('warn.ini', "[Port]\nport = 9000\nfrobnicate = 1\n");
($out, $err, $rc) = daemon('-t', '-c', $warn);
is($rc, 0, 'an unknown key in an owned section is only a warning');
like($err, qr/warn\.ini:3: .*frobnicate.*\[Port\]/, 'and the warning names it with its line');

my $several = config_file('several.ini', "[Port]\nport = -1\nqueueLength = 0\naccepterThreads = 65\n");
($out, $err, $rc) = daemon('-t', '-c', $several);
my @lines = $err =~ /^.*several\.ini:\d+: key/mg;
is(scalar(@lines), 3, 'every error of a file is reported, not only the first');

# --- system errors: 71 -----------------------------------------------------------------------
my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 0) or die;
my $busy = config_file('busy.ini', "[Port]\nport = " . $taken->sockport . "\nbindAddress = 127.0.0.1\n");
($out, $err, $rc) = daemon('-c', $busy);
is($rc, 71, 'a port already in use: exit 71');
like($err, qr/127\.0\.0\.1:\d+: Address already in use/, 'and the log says why');
($out, $err, $rc) = daemon('-t', '-c', $busy);
is($rc, 0, '-t does not bind: a port in use is no configuration error');
close $taken;

my $badaddr = config_file('badaddr.ini', "[Port]\nport = 0\nbindAddress = 192.0.2.1\n");
($out, $err, $rc) = daemon('-c', $badaddr);
is($rc, 71, 'an address not on this host (192.0.2.1): exit 71');
like($err, qr/192\.0\.2\.1.*Cannot assign requested address/, 'and the log says why');

# Bounds of the seconds: the largest idleTimeout in milliseconds still
# fits, one more second is refused (31 days once overflowed to a negative
# bound and was accepted); a bound under a millisecond is 1 ms, not none.
{
    my $f = config_file('secs.ini', "[Port]\nport = 9000\nidleTimeout = 2073600\nreadTimeout = 0.0004\n");
    ($out, $err, $rc) = daemon('-t', '-c', $f);
    is($rc, 0, 'idleTimeout = 2073600 (24 days) is taken') or diag($err);
    like($out, qr/^\s*idleTimeout = 2073600;/m, 'and printed as given');
    like($out, qr/^\s*readTimeout = 0\.001;/m, 'readTimeout = 0.0004 becomes 1 ms, not 0 (none)');
    for my $too (2073601, 31 * 86400) {
        $f = config_file('secs.ini', "[Port]\nport = 9000\nidleTimeout = $too\n");
        ($out, $err, $rc) = daemon('-t', '-c', $f);
        is($rc, 78, "idleTimeout = $too is refused");
        like($err, qr/key 'idleTimeout' in \[Port\]: expected seconds from 0 to 2073600/, 'naming the range');
    }
    # A module's [Port] with 300 keys of its own is one section.
    my $keys = join '', map { "myKey$_ = $_\n" } 1 .. 300;
    $f = config_file('keys.ini', "[Port]\nport = 9000\nsessionHandler = module:build/modules/echo.so\n$keys");
    ($out, $err, $rc) = daemon('-t', '-c', $f);
    is($rc, 0, 'a [Port] with 300 keys of its module is taken') or diag($err);
    unlike($err, qr/more than 255/, 'not counted as 300 sections');
}

# What is read whole must be a regular file: a directory, a FIFO (it would
# never end) or /dev/zero (it would fill memory) are refused at once.
{
    my $fifo = "$dir/fifo";
    system('mkfifo', $fifo) == 0 or die "mkfifo: $!";
    for my $case ([$dir, 'is a directory'], [$fifo, 'not a regular file'], ['/dev/zero', 'not a regular file']) {
        my ($path, $why) = @$case;
        ($out, $err, $rc) = daemon('-t', '-c', $path);
        is($rc, 78, "-c $path: a configuration error");
        like($err, qr/^\Q$path\E: \Q$why\E$/m, "saying it $why");
    }
    my $plain = config_file('plain.pem', "not a certificate\n");
    for my $case (['certFile', '/dev/zero'], ['keyFile', $fifo]) {
        my ($key, $path) = @$case;
        my $f = config_file('tlsfile.ini', "[Port]\nport = 9000\nsslSection = SSL\n[SSL]\ncertFile = "
                            . ($key eq 'certFile' ? $path : $plain) . "\nkeyFile = "
                            . ($key eq 'keyFile' ? $path : $plain) . "\n");
        ($out, $err, $rc) = daemon('-t', '-c', $f);
        is($rc, 78, "$key = $path: refused, without waiting or reading it");
        like($err, qr/\Q$key $path\E: not a regular file/, 'saying it is not a regular file');
    }
}

# Secrets never reach what -t prints, whatever the section's name
# (a name of ten parts once kept keyPassword in the output).
{
    system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
    for my $section ('SSL', 'a.b.c.d.e.f.g.h.i.j') {
        my $f = config_file('secret.ini', "[Port]\nport = 9000\nsslSection = $section\n[$section]\n"
                            . "certFile = $dir/pki/server.pem\nkeyFile = $dir/pki/encrypted.key\nkeyPassword = secret\n");
        ($out, $err, $rc) = daemon('-t', '-c', $f);
        is($rc, 0, "[$section] with keyPassword: -t accepts it (the key opens)") or diag($err);
        unlike($out . $err, qr/"secret"|= secret\b/, "[$section]: the password is not printed");
        like($out, qr/keyPassword = "\(hidden\)";/, "[$section]: it shows as (hidden)");
    }
}

# Under journald (JOURNAL_STREAM names stderr) each line starts with its
# priority; the shell hands its own stderr's DEV:INODE over.
($out, $err, $rc) = run_bounded(['sh', '-c', 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec build/npsocketd -c "$1"',
                                 'sh', $badaddr], timeout => 20);
like($err, qr/\A<5>\S+ notice: npsocketd /, 'JOURNAL_STREAM: a notice starts with <5>');
like($err, qr/^<3>\S+ error: .*192\.0\.2\.1/m, 'and an error with <3>');
($out, $err, $rc) = run_bounded(['sh', '-c', 'JOURNAL_STREAM=1:2 exec build/npsocketd -c "$1"', 'sh', $badaddr], timeout => 20);
unlike($err, qr/^</m, 'a JOURNAL_STREAM that is not this stderr: no prefixes');

done_testing;
