package NpTest;
# The tests' small library: start the real npsocketd on a free loopback
# port with a given configuration, always stop it, and talk the protocol.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG _exit);
use Compress::Zlib qw(compress uncompress);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(start_daemon npcat np_connect send_frame read_frame read_exact wait_for);

my @running;
END { $_->stop for grep { $_->{pid} } @running }

sub wait_for {
    my ($cond, $timeout) = @_;
    my $until = time + ($timeout // 10);
    while (time < $until) {
        my $r = $cond->();
        return $r if $r;
        sleep 0.05;
    }
    return undef;
}

sub start_daemon {
    my (%opt) = @_;
    my $dir = tempdir('npsocketd-test-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{NPTEST_KEEP});
    my $file = "$dir/" . ($opt{name} // 'npsocketd.ini');
    open my $fh, '>', $file or die "$file: $!";
    print $fh $opt{ini} // $opt{cfg} // '';
    close $fh;
    my $log = "$dir/stderr.log";
    my $self = bless { dir => $dir, config => $file, logfile => $log }, __PACKAGE__;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
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
    die "npsocketd did not start:\n" . $self->log_text unless $ready && $ready == 1;
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

sub log_text {
    my ($self) = @_;
    open my $fh, '<', $self->{logfile} or return '';
    local $/;
    return <$fh> // '';
}

sub wait_log {
    my ($self, $re, $timeout) = @_;
    return wait_for(sub { my @m = $self->log_text =~ $re; @m ? ($m[0] // 1) : undef }, $timeout // 10);
}

sub stop {
    my ($self, $signal) = @_;
    my $pid = delete $self->{pid} or return $self->{status};
    kill $signal // 'TERM', $pid;
    my $done = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 20);
    $self->{status} = $?;
    if (!$done) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $self->{status} = -1;
    }
    return $self->{status};
}

sub npcat {
    my ($d, $options, @payloads) = @_;
    my $dir = $d->{dir};
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/npcat.out";
        open STDERR, '>', "$dir/npcat.err";
        { exec 'build/npcat', '-w', 5, @$options, '127.0.0.1', $d->port, @payloads }
        _exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    local $/;
    open my $o, '<', "$dir/npcat.out"; my $out = <$o> // '';
    open my $e, '<', "$dir/npcat.err"; my $err = <$e> // '';
    return ($out, $err, $rc);
}

sub np_connect {
    my ($d, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $opt{host} // '127.0.0.1',
                                PeerPort => $opt{port} // $d->port, Timeout => 5) or return;
    binmode $s;
    my $answer;
    if (defined $opt{byte}) {
        syswrite($s, chr($opt{byte}));
        my $b = read_exact($s, 1, $opt{timeout} // 5);
        $answer = defined $b ? ord $b : undef;
    }
    return wantarray ? ($s, $answer) : $s;
}

sub read_exact {
    my ($s, $n, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + ($timeout // 5);
    while (length($buf) < $n) {
        my $left = $until - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $r = sysread($s, $buf, $n - length($buf), length $buf);
        return undef unless $r;
    }
    return $buf;
}

sub send_frame {
    my ($s, $payload, %opt) = @_;
    my $wire = $opt{compress} ? compress($payload) : $payload;
    my $data = pack('N', length($wire) | ($opt{compress} ? 0x80000000 : 0)) . $wire;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

sub read_frame {
    my ($s, %opt) = @_;
    my $h = read_exact($s, 4, $opt{timeout} // 5);
    return unless defined $h;
    my $w = unpack 'N', $h;
    my $len = $w & 0x7fffffff;
    my $body = $len ? read_exact($s, $len, $opt{timeout} // 5) : '';
    return unless defined $body;
    my $compressed = ($w & 0x80000000) ? 1 : 0;
    $body = uncompress($body) if $compressed;
    return ($body, $compressed);
}

1;
