# Shared code of run.pl, slurm.pl, queue.pl and ssh.pl.
#
# Every backend takes the Kaldi/ESPnet call form
#   <backend> [--opt value ...] [JOB=1:N] dir/log.JOB.log command ...
# writes one bash task script under dir/q/ (the same for every backend, so logs look the
# same wherever a task ran), starts the tasks its own way, and reports failed tasks by
# their log files. A task script writes its exit status to dir/q/<base>.<task>.status,
# which is how the cluster backends learn each task's outcome.
package JobCommon;

use strict;
use warnings;
use Cwd qw(getcwd abs_path);
use File::Basename qw(dirname basename);
use File::Path qw(make_path);
use POSIX qw(strftime);

# Any error ends the backend with exit status 1 (Perl's die would use errno).
$SIG{__DIE__} = sub { die @_ if $^S; print STDERR $_[0]; exit 1; };

# Parse the command line. Returns a hash:
#   opts      {name => value}; option names have '-' turned into '_'
#   raw       [-x, value, ...]: single-dash options, which Kaldi passes to the scheduler
#             as they are (queue.pl -l hostname=b*); run.pl and ssh.pl ignore them
#   jobname   e.g. "JOB" (undef for a single job)
#   start,end task range (1,1 for a single job)
#   logfile   log path, may contain the job name
#   cmd       the command as one shell string
sub parse_args {
    my ($prog, $usage, @argv) = @_;
    my (%opts, @raw);
    while (@argv && $argv[0] =~ /^-/) {
        my $arg = shift @argv;
        last if $arg eq '--';
        if ($arg eq '--help' || $arg eq '-h') { print $usage; exit 0; }
        if ($arg !~ /^--/) {
            die "$prog: option $arg needs a value\n$usage" unless @argv;
            push @raw, $arg, shift @argv;
            next;
        }
        my ($name, $value);
        if ($arg =~ /^--([^=]+)=(.*)$/s) {
            ($name, $value) = ($1, $2);
        } else {
            $name = substr($arg, 2);
            die "$prog: option $arg needs a value\n$usage" unless @argv;
            $value = shift @argv;
        }
        $name =~ s/-/_/g;
        $opts{$name} = $value;
    }
    my %job = (opts => \%opts, raw => \@raw, jobname => undef, start => 1, end => 1);
    if (@argv && $argv[0] =~ /^([A-Za-z_]\w*)=(\d+):(\d+)$/) {
        @job{qw(jobname start end)} = ($1, $2, $3);
        shift @argv;
        die "$prog: bad job range $1=$2:$3 (need 1 <= start <= end)\n"
            if $job{start} < 1 || $job{end} < $job{start};
    } elsif (@argv && $argv[0] =~ /^([A-Za-z_]\w*)=(\d+)$/) {
        @job{qw(jobname start end)} = ($1, $2, $2);
        shift @argv;
    }
    die "$prog: need a log file and a command\n$usage" if @argv < 2;
    $job{logfile} = shift @argv;
    my $name = $job{jobname};
    if (defined $name && $job{end} > $job{start} && $job{logfile} !~ /\Q$name\E/) {
        die "$prog: $job{end} - $job{start} + 1 tasks would share the log file"
            . " $job{logfile}; put $name in its name\n";
    }
    if (defined $name && dirname($job{logfile}) =~ /\Q$name\E/) {
        die "$prog: the log directory may not contain $name: $job{logfile}\n";
    }
    $job{cmd} = quote_command(@argv);
    return \%job;
}

# Join command words into one shell string. As in Kaldi, a word without whitespace is
# kept verbatim so that callers can pass shell syntax such as \| or \> as words; a
# word with whitespace is single-quoted so that it stays one argument. A command given
# as a single word is taken as a shell command line ("a | b"), which Kaldi would run as
# a program named "a | b" and fail.
sub quote_command {
    return $_[0] if @_ == 1;
    my @out;
    for my $w (@_) {
        if ($w =~ /^\S+$/) { push @out, $w; }
        else { push @out, shell_quote($w); }
    }
    return join(' ', @out);
}

sub shell_quote {
    my ($s) = @_;
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

# CPUs this process may use. nproc alone would answer OMP_NUM_THREADS, which callers
# often set to 1 for the tasks' sake.
sub num_cpus {
    my $n = `env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null`;
    return ($n && $n =~ /^(\d+)/) ? $1 : 1;
}

# Paths of the task script and its status files: dir/q/<log base without JOB>.
sub queue_paths {
    my ($prog, $job) = @_;
    my $dir = dirname($job->{logfile});
    my $base = basename($job->{logfile});
    if (defined $job->{jobname}) { $base =~ s/\.?\Q$job->{jobname}\E//g; }
    $base =~ s/\.log$//;
    $base = 'job' if $base eq '';  # e.g. log/JOB.log
    my $qdir = "$dir/q";
    make_path($qdir, {error => \my $err});
    die "$prog: cannot create $qdir\n" if !-d $qdir;
    $qdir = abs_path($qdir);
    return ("$qdir/$base.sh", "$qdir/$base", $base);
}

sub status_file { my ($prefix, $task) = @_; return "$prefix.$task.status"; }

# Write the bash script that runs one task: substitutes the task id for the job name
# (every occurrence, as Kaldi does, so JOB=1:N also rewrites $SLURM_JOB_ID: use another
# name such as TASK=1:N in commands that mention such variables),
# writes the Kaldi-style log header and footer, and records the exit status.
# $remote: the task may start in a fresh login environment (cluster node, ssh), so
# it sources ./path.sh like Kaldi's queue scripts do.
sub write_task_script {
    my ($prog, $job, $remote) = @_;
    my ($script, $prefix) = queue_paths($prog, $job);
    my $threads = $job->{opts}{num_threads} // 1;
    my $name = $job->{jobname};
    my $subst = defined $name ? "cmd=\${cmd//$name/\$task}\nlog=\${log//$name/\$task}\n" : '';
    my $path_sh = $remote ? "[ -f ./path.sh ] && . ./path.sh\n" : '';
    my $text = "#!/bin/bash\n"
        . "# Written by $prog at " . strftime('%F %T', localtime) . ": runs one task.\n"
        . "# Usage: bash $script <task id>  (or with SLURM_ARRAY_TASK_ID / SGE_TASK_ID set)\n"
        . 'cd ' . shell_quote(getcwd()) . " || exit 1\n"
        . $path_sh
        . 'task=${1:-${SLURM_ARRAY_TASK_ID:-${SGE_TASK_ID:-}}}' . "\n"
        . '[ -n "$task" ] || { echo "$0: no task id" >&2; exit 1; }' . "\n"
        . 'cmd=' . shell_quote($job->{cmd}) . "\n"
        . 'log=' . shell_quote($job->{logfile}) . "\n"
        . $subst
        . 'mkdir -p "$(dirname "$log")"' . "\n"
        . '{ printf "# %s\n" "$cmd"; echo "# Started at $(date)"; echo "# Running on $(hostname)"; echo "#"; } > "$log"' . "\n"
        . 'start=$(date +%s)' . "\n"
        . '( eval "$cmd" ) >> "$log" 2>&1' . "\n"
        . 'ret=$?' . "\n"
        . 'end=$(date +%s)' . "\n"
        . "echo \"# Accounting: time=\$((end - start)) threads=$threads\" >> \"\$log\"\n"
        . 'echo "# Ended (code $ret) at $(date)" >> "$log"' . "\n"
        . '# Written last and renamed, so a status file is never seen half-written.' . "\n"
        . 'status=' . shell_quote($prefix) . '.$task.status' . "\n"
        . 'echo "$ret" > "$status.tmp" && mv -f "$status.tmp" "$status"' . "\n"
        . 'exit $ret' . "\n";
    open(my $fh, '>', "$script.tmp") or die "$prog: cannot write $script.tmp: $!\n";
    print $fh $text;
    close($fh) or die "$prog: cannot write $script.tmp: $!\n";
    chmod(0755, "$script.tmp");
    rename("$script.tmp", $script) or die "$prog: cannot rename $script.tmp: $!\n";
    # Old status files would make a new run look finished.
    unlink(status_file($prefix, $_)) for $job->{start} .. $job->{end};
    return ($script, $prefix, basename($prefix));
}

# Exit status a task script recorded, or undef when it wrote none (killed, never ran).
sub read_status {
    my ($prefix, $task) = @_;
    open(my $fh, '<', status_file($prefix, $task)) or return undef;
    my $line = <$fh>;
    return (defined $line && $line =~ /^(\d+)/) ? $1 : undef;
}

# Run $start->($task) in child processes, at most $max at a time; $start must exec.
# Returns {task => raw wait status}.
sub run_pool {
    my ($tasks, $max, $start) = @_;
    my (%running, %status);
    my @queue = @$tasks;
    # Killing the backend kills its tasks too, instead of leaving them running unseen.
    local $SIG{TERM} = local $SIG{INT} = sub {
        kill('TERM', map { -$_ } keys %running);
        die basename($0) . ": interrupted; stopped " . scalar(keys %running) . " running task(s)\n";
    };
    while (@queue || %running) {
        while (@queue && keys(%running) < $max) {
            my $task = shift @queue;
            my $pid = fork();
            die "fork failed: $!\n" unless defined $pid;
            # Each task in its own process group, so that stopping it stops all it started.
            if ($pid == 0) { setpgrp(0, 0); $start->($task); exit 127; }
            $running{$pid} = $task;
        }
        my $pid = waitpid(-1, 0);
        last if $pid < 0;
        $status{delete $running{$pid}} = $? if exists $running{$pid};
    }
    return \%status;
}

sub wait_status_text {
    my ($raw) = @_;
    return "killed by signal " . ($raw & 127) if $raw & 127;
    return "exit code " . ($raw >> 8);
}

sub task_log {
    my ($job, $task) = @_;
    my $log = $job->{logfile};
    $log =~ s/\Q$job->{jobname}\E/$task/g if defined $job->{jobname};
    return $log;
}

# Print which tasks failed and where their logs are; exit 1 if any failed.
# $failed: {task => reason}.
sub report_and_exit {
    my ($prog, $job, $failed) = @_;
    my @tasks = sort { $a <=> $b } keys %$failed;
    exit 0 unless @tasks;
    my $total = $job->{end} - $job->{start} + 1;
    if (!defined $job->{jobname}) {
        print STDERR "$prog: job failed ($failed->{$tasks[0]}), log is in $job->{logfile}\n";
        exit 1;
    }
    print STDERR "$prog: " . scalar(@tasks) . " / $total tasks failed; see:\n";
    my $shown = 0;
    for my $t (@tasks) {
        if (++$shown > 20) { print STDERR "  ... and " . (@tasks - 20) . " more\n"; last; }
        print STDERR "  " . task_log($job, $t) . " ($failed->{$t})\n";
    }
    print STDERR "$prog: to rerun task K alone, repeat the command with $job->{jobname}=K:K\n";
    exit 1;
}

# Read a Kaldi-style backend config: "command ...", "option name=value args",
# "option name=* args with $0", "default name=value". $src is a file name or, for the
# built-in defaults, a reference to the text.
sub read_conf {
    my ($prog, $src) = @_;
    my ($text, $where);
    if (ref $src) { ($text, $where) = ($$src, 'the built-in default config'); }
    else {
        open(my $fh, '<', $src) or die "$prog: cannot read config $src: $!\n";
        local $/; $text = <$fh>; $where = $src;
    }
    my %conf = (where => $where, command => undef, exact => {}, star => {}, default => {});
    my $n = 0;
    for my $raw (split /\n/, $text) {
        $n++;
        (my $line = $raw) =~ s/\s*#.*//;
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ /^command\s+(.+)$/) {
            $conf{command} = [split ' ', $1];
        } elsif ($line =~ /^option\s+([\w-]+)=\*\s+(.+)$/) {
            my ($name, $args) = (norm($1), $2);
            die "$prog: $where line $n: '$raw' has no \$0 to substitute\n" unless $args =~ /\$0/;
            $conf{star}{$name} = $args;
        } elsif ($line =~ /^option\s+([\w-]+)=(\S+)\s*(.*)$/) {
            $conf{exact}{norm($1)}{$2} = $3;
        } elsif ($line =~ /^default\s+([\w-]+)=(\S+)$/) {
            $conf{default}{norm($1)} = $2;
        } else {
            die "$prog: $where line $n: cannot parse '$raw'\n";
        }
    }
    die "$prog: $where has no 'command' line\n" unless $conf{command};
    return \%conf;
}

sub norm { my ($s) = @_; $s =~ s/-/_/g; return $s; }

# Map the command-line options through the config into scheduler arguments.
# Options in @skip are handled by the backend itself.
sub map_options {
    my ($prog, $conf, $opts, @skip) = @_;
    my %skip = map { $_ => 1 } ('config', @skip);
    my %all = (%{$conf->{default}}, %$opts);
    my @args;
    for my $name (sort keys %all) {
        next if $skip{$name};
        my $value = $all{$name};
        my $args;
        if (exists $conf->{exact}{$name} && exists $conf->{exact}{$name}{$value}) {
            $args = $conf->{exact}{$name}{$value};
        } elsif (exists $conf->{star}{$name}) {
            ($args = $conf->{star}{$name}) =~ s/\$0/$value/g;
        } else {
            die "$prog: option --$name $value is not described in $conf->{where}\n";
        }
        push @args, split(' ', $args);
    }
    return @args;
}

# The config to use: --config, else conf/<backend>.conf if present, else built-in.
sub load_conf {
    my ($prog, $opts, $default_file, $builtin) = @_;
    return read_conf($prog, $opts->{config}) if defined $opts->{config};
    return read_conf($prog, $default_file) if -f $default_file;
    return read_conf($prog, \$builtin);
}

1;
