# SPDX-License-Identifier: ISC
package NpTest;
# The tests' small library: start the real npsocketd on a free loopback
# port with a given configuration, always stop it (END, signals, and the
# kernel's parent-death signal as a last resort), and talk the protocol.
# Every wait here is bounded.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use IO::Socket::UNIX;
use Socket qw(SOL_SOCKET SO_SNDTIMEO);
use POSIX qw(WNOHANG _exit);
use Compress::Zlib qw(compress uncompress);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(start_daemon npcat np_connect np_tls_session send_frame write_all read_frame read_exact wait_for
                 wait_eof run_bounded prometheus_problems echo_ok control);

# A write to a socket the daemon has closed must fail, not kill the test
# (and with it the END block that stops the daemon).
$SIG{PIPE} = 'IGNORE';
# A test killed by a signal or an alarm still stops its daemons: these
# turn the signal into a normal exit, so END runs.
for my $sig (qw(INT TERM HUP ALRM)) {
    $SIG{$sig} = sub { print STDERR "# NpTest: caught SIG$sig, stopping daemons\n"; exit 1 }
        if !defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT';
}

my @running;
my $owner = $$;
END {
    my $status = $?;
    # Forked children of a test never stop the parent's daemons.
    if ($$ == $owner) { $_->stop for grep { $_->{pid} || $_->{pids} && @{ $_->{pids} } } reverse @running }
    $? = $status;
}

# Whatever else a test starts (HAProxy, pebble, a fake CA): stopped with
# the daemons when the test ends, however it ends, by its stop().
sub stop_at_end { push @running, $_[0] }

# Polls $cond every 50 ms until it returns true or $timeout seconds pass;
# returns the true value, or undef.
sub wait_for {
    my ($cond, $timeout) = @_;
    my $until = time + ($timeout // 10);
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return undef if time >= $until;
        sleep 0.05;
    }
}

# Runs a command with stdout and stderr captured, killed after $timeout
# seconds.  Returns ($stdout, $stderr, $exit_code); the code is
# 128 + signal when it was killed (and 137 + a "timed out" note on stderr
# when the timeout did it).
sub run_bounded {
    my ($cmd, %opt) = @_;
    my $dir = tempdir('npsocketd-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', $opt{stdin} // '/dev/null';
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/err";
        { exec @$cmd }
        print STDERR "exec $cmd->[0]: $!\n";
        _exit(127);
    }
    my $done = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, $opt{timeout} // 20);
    my $status = $?;
    if (!$done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $status = $?;
    }
    local $/;
    open my $o, '<', "$dir/out"; my $out = <$o> // '';
    open my $e, '<', "$dir/err"; my $err = <$e> // '';
    $err .= "\n[run_bounded: timed out after " . ($opt{timeout} // 20) . "s, killed]\n" unless $done;
    my $rc = $status & 127 ? 128 + ($status & 127) : $status >> 8;
    return ($out, $err, $rc);
}

# Asks the kernel to SIGKILL this (forked) process when its parent dies,
# even by SIGKILL; Linux x86_64 and aarch64 only, silently nothing
# elsewhere.  For the daemon, and for helper processes a test forks
# (call NpTest::die_with_parent() first thing in the child).
sub die_with_parent {
    my %prctl = (x86_64 => 157, aarch64 => 167);
    my $arch = (POSIX::uname())[4];
    syscall($prctl{$arch}, 1, 9) if $prctl{$arch};    # PR_SET_PDEATHSIG, SIGKILL
}

# start_daemon(ini => TEXT | cfg => TEXT, name => FILE, args => [...],
#              no_wait => 1, ready_timeout => S, stop_timeout => S,
#              wrapper => [...], ulimit_nofile => N)
sub start_daemon {
    my (%opt) = @_;
    my $dir = tempdir('npsocketd-test-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{NPTEST_KEEP});
    my $file = "$dir/" . ($opt{name} // 'npsocketd.ini');
    open my $fh, '>', $file or die "$file: $!";
    print $fh $opt{ini} // $opt{cfg} // '';
    close $fh;
    my $log = "$dir/stderr.log";
    my $self = bless { dir => $dir, config => $file, logfile => $log,
                       stop_timeout => $opt{stop_timeout} // ($opt{wrapper} ? 30 : 15) }, __PACKAGE__;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        die_with_parent();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/stdout.log";
        open STDERR, '>', $log;
        if ($opt{ulimit_nofile}) {
            { exec 'sh', '-c', "ulimit -n $opt{ulimit_nofile} && exec \"\$@\"", 'sh',
                   'build/npsocketd', '-c', $file, @{ $opt{args} || [] } }
            _exit(127);
        }
        my @wrapper = map { s/VGLOG/$dir\/valgrind.log/r } @{ $opt{wrapper} || [] };
        { exec @wrapper, 'build/npsocketd', '-c', $file, @{ $opt{args} || [] } }
        _exit(127);
    }
    $self->{pid} = $pid;
    push @running, $self;
    return $self if $opt{no_wait};
    my $ready = wait_for(sub {
        return 1 if $self->log_text =~ /notice: ready:/;
        return 2 if waitpid($pid, WNOHANG) == $pid && ($self->{status} = $?, delete $self->{pid});
        return 0;
    }, $opt{ready_timeout} // 15);
    if (!$ready || $ready != 1) {
        my $text = $self->log_text;
        $self->stop;
        die "npsocketd did not start" . ($ready ? ' (it exited: status ' . ($self->{status} >> 8) . ')' : '')
            . ":\n$text";
    }
    my %ports = $self->log_text =~ /listening on \S+:(\d+) for \[([^\]]+)\]/g;
    $self->{ports} = { reverse %ports };
    return $self;
}

sub port {
    my ($self, $name) = @_;
    return $self->{ports}{ $name // 'Port' } // (values %{ $self->{ports} })[0];
}

sub pid { $_[0]{pid} }
sub dir { $_[0]{dir} }
sub config { $_[0]{config} }

sub log_text { return slurp($_[0]{logfile}) }

# A whole file's text, '' when it cannot be read.
sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return <$fh> // '';
}

# Polls the log until $re matches (bounded); returns the first capture
# when it is a true value, else 1; undef when it never matched.
sub wait_log {
    my ($self, $re, $timeout) = @_;
    my $found = wait_for(sub { my @m = $self->log_text =~ $re; @m ? [$m[0]] : undef }, $timeout // 10);
    return undef unless $found;
    return $found->[0] || 1;
}

# Sends $signal (TERM), waits stop_timeout seconds, then SIGKILL.  Returns
# the wait status ($?: 0 for exit 0, code << 8 otherwise), -1 when it had
# to be killed.
sub stop {
    my ($self, $signal) = @_;
    my $pid = delete $self->{pid} or return $self->{status};
    kill $signal // 'TERM', $pid;
    my $done = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, $self->{stop_timeout} // 15);
    $self->{status} = $?;
    if (!$done) {
        print STDERR "# NpTest: npsocketd $pid did not stop within $self->{stop_timeout}s; SIGKILL\n";
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $self->{status} = -1;
    }
    return $self->{status};
}

# Waits (bounded) for the daemon to exit by itself, without a signal.
# Returns the wait status, or undef when it is still running.
sub wait_exit {
    my ($self, $timeout) = @_;
    my $pid = $self->{pid} or return $self->{status};
    return undef unless wait_for(sub { waitpid($pid, WNOHANG) == $pid }, $timeout // 10);
    $self->{status} = $?;
    delete $self->{pid};
    return $self->{status};
}

# npcat($d, [options], payloads...): build/npcat -w 5 OPTIONS 127.0.0.1 PORT
# PAYLOADS, bounded.  Returns ($stdout, $stderr, $exit_code).
sub npcat {
    my ($d, $options, @payloads) = @_;
    return run_bounded(['build/npcat', '-w', 5, @$options, '127.0.0.1', $d->port, @payloads],
                       timeout => 30);
}

# np_connect($d, byte => B, port => P, host => H, timeout => S)
# Connects (writes time out after 10 s); with byte, sends it and reads the
# one-byte answer.  List context: ($socket, $answer or undef); scalar:
# the socket.  Returns nothing when the connection fails.
sub np_connect {
    my ($d, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $opt{host} // '127.0.0.1',
                                PeerPort => $opt{port} // $d->port, Timeout => 5) or return;
    binmode $s;
    setsockopt($s, SOL_SOCKET, SO_SNDTIMEO, pack('l!l!', 10, 0));
    my $answer;
    if (defined $opt{byte}) {
        syswrite($s, chr($opt{byte}));
        my $b = read_exact($s, 1, $opt{timeout} // 5);
        $answer = defined $b ? ord $b : undef;
    }
    return wantarray ? ($s, $answer) : $s;
}

# np_tls_session($port, $ca_file): a TLS session to 127.0.0.1:$port (the
# server named localhost, verified against $ca_file) past its protocol
# byte, 1 answered; the socket, or undef.
sub np_tls_session {
    my ($port, $ca) = @_;
    require IO::Socket::SSL;
    my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $port, SSL_ca_file => $ca,
                                 SSL_hostname => 'localhost', Timeout => 5) or return undef;
    syswrite($s, "\x01");
    my $b = read_exact($s, 1, 5);
    return defined $b && $b eq "\x01" ? $s : undef;
}

# Reads exactly $n bytes within $timeout seconds; undef on EOF, error or
# timeout.  On a TLS socket (IO::Socket::SSL) bytes already decrypted,
# which select() cannot see, are taken first.
sub read_exact {
    my ($s, $n, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + ($timeout // 5);
    my $tls = $s->can('pending');
    while (length($buf) < $n) {
        if (!($tls && $s->pending)) {
            my $left = $until - time;
            return undef if $left <= 0 || !$sel->can_read($left);
        }
        my $r = sysread($s, $buf, $n - length($buf), length $buf);
        next if !defined $r && $tls && $!{EAGAIN} && time < $until;
        return undef unless $r;
    }
    return $buf;
}

# Reads and discards until the peer closes.  Returns 'eof' (orderly
# close), 'reset' (a read error such as ECONNRESET) or undef when the
# connection is still open after $timeout seconds.
sub wait_eof {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $until = time + ($timeout // 5);
    while ((my $left = $until - time) > 0) {
        next unless $sel->can_read($left);
        my $r = sysread($s, my $junk, 65536);
        return 'reset' unless defined $r;
        return 'eof' if $r == 0;
    }
    return undef;
}

# One transaction: 4-byte big-endian header (bit 31 = zlib, RFC 1950),
# then the payload.  Returns 1, or 0 when a write failed.
sub send_frame {
    my ($s, $payload, %opt) = @_;
    my $wire = $opt{compress} ? compress($payload) : $payload;
    return write_all($s, pack('N', length($wire) | ($opt{compress} ? 0x80000000 : 0)) . $wire);
}

# Writes all of $data (any handle syswrite works on, TLS ones too);
# 1, or 0 when a write failed.
sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# Returns ($payload, $was_compressed), or the empty list on EOF, timeout
# or an answer that does not inflate.
sub read_frame {
    my ($s, %opt) = @_;
    my $h = read_exact($s, 4, $opt{timeout} // 5);
    return unless defined $h;
    my $w = unpack 'N', $h;
    my $len = $w & 0x7fffffff;
    my $body = $len ? read_exact($s, $len, $opt{timeout} // 5) : '';
    return unless defined $body;
    my $compressed = ($w & 0x80000000) ? 1 : 0;
    if ($compressed) {
        $body = uncompress($body);
        return unless defined $body;
    }
    return ($body, $compressed);
}

# One transaction out and its echo back, equal: true or false.
sub echo_ok {
    my ($s, $payload) = @_;
    return 0 unless $s && send_frame($s, $payload);
    my ($back) = read_frame($s, timeout => 5);
    return defined $back && $back eq $payload;
}

# One command on a control socket (controlSocket); its answer without the
# empty line that ends it, '' when the socket cannot be reached.
sub control {
    my ($path, $cmd) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $path) or return '';
    print $s "$cmd\n";
    my $out = '';
    while (defined(my $line = <$s>)) { last if $line eq "\n"; $out .= $line }
    return $out;
}

# A strict reader of the Prometheus text format (0.0.4): returns the
# list of what is wrong with $text (empty when it is valid), and fills
# %$samples with "name{labels}" => value.  Checked: every line a HELP,
# a TYPE or a sample; a family's HELP and TYPE once each, before its
# samples; names and label names well formed, label values quoted with
# only \\, \" and \n escaped; a known type; counters named _total;
# values numbers; no sample twice; a final newline.
sub prometheus_problems {
    my ($text, $samples) = @_;
    my (@problems, %type, %help, %seen);
    push @problems, 'no final newline' unless $text =~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/) {
            my ($what, $name, $rest) = ($1, $2, $3);
            my $table = $what eq 'HELP' ? \%help : \%type;
            push @problems, "line $n: a second $what for $name" if $table->{$name}++;
            push @problems, "line $n: $what for $name after its samples" if grep { /^\Q$name\E(?:\{|$)/ } keys %seen;
            push @problems, "line $n: unknown type '$rest'"
                if $what eq 'TYPE' && $rest !~ /^(counter|gauge|histogram|summary|untyped)$/;
            push @problems, "line $n: counter $name is not named _total" if $what eq 'TYPE' && $rest eq 'counter' && $name !~ /_total$/;
            next;
        }
        next if $line =~ /^#/;
        my ($name, $labels, $value) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/
            or do { push @problems, "line $n: not a sample: $line"; next };
        push @problems, "line $n: $name has no TYPE before it" unless $type{$name};
        if (defined $labels) {
            my $inner = substr($labels, 1, -1);
            while (length $inner) {
                $inner =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//
                    or do { push @problems, "line $n: malformed labels $labels"; last };
            }
        }
        push @problems, "line $n: value '$value' is not a number" unless $value =~ /^[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|NaN|[-+]?Inf)$/;
        my $key = $name . ($labels // '');
        push @problems, "line $n: $key twice" if $seen{$key}++;
        $samples->{$key} = $value if $samples;
    }
    return @problems;
}

1;
