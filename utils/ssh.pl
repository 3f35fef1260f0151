#!/usr/bin/env perl
# Usage: utils/ssh.pl [--max-jobs-run K] JOB=1:N dir/log.JOB.log command ...
#
# Runs the tasks of a job on the machines listed in .queue/machines (one host name a
# line, relative to the current directory), assigning tasks round-robin: task i goes
# to host (i - 1) mod H. All tasks start at once unless --max-jobs-run limits them.
# The current directory must be at the same path on every host (a shared file
# system); the task script sources ./path.sh there. Scheduler options (--mem, --gpu,
# ...) are accepted and ignored. Exits 1 naming the logs of the failed tasks.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use JobCommon;

my $prog = 'ssh.pl';
my $usage = <<'EOF';
Usage: ssh.pl [options] [JOB=1:N] <log-file> <command> ...
 e.g.: ssh.pl JOB=1:8 exp/log/extract.JOB.log cmd ... JOB ...
Reads: .queue/machines (one host a line). Writes: the log files,
<log-dir>/q/<name>.sh and its status files.
Options:
  --max-jobs-run K   run at most K tasks at a time (default: all)
  --mem, --gpu, --num_threads, --time, --config, -x value ...   accepted and ignored
EOF

my $job = JobCommon::parse_args($prog, $usage, @ARGV);
my @hosts = read_machines('.queue/machines');
my @tasks = ($job->{start} .. $job->{end});
my $max = $job->{opts}{max_jobs_run} // scalar(@tasks);
die "$prog: --max-jobs-run must be a positive integer, got '$max'\n" unless $max =~ /^[1-9]\d*$/;

my ($script, $prefix) = JobCommon::write_task_script($prog, $job, 1);
my $remote_cmd = 'bash ' . JobCommon::shell_quote($script);
my $status = JobCommon::run_pool(\@tasks, $max, sub {
    my ($task) = @_;
    my $host = host_of($task);
    exec('ssh', '-n', '-o', 'BatchMode=yes', $host, "$remote_cmd $task")
        or die "$prog: cannot run ssh: $!\n";
});

my %failed;
for my $task (@tasks) {
    # The status file is the task's own word; ssh's exit code also covers "could not connect".
    my $code = JobCommon::read_status($prefix, $task);
    my $raw = $status->{$task} // -1;
    if (defined $code && $code != 0) {
        $failed{$task} = "exit code $code on " . host_of($task);
    } elsif (!defined $code || $raw != 0) {
        $failed{$task} = 'ssh to ' . host_of($task) . ' failed: '
            . ($raw < 0 ? 'never finished' : JobCommon::wait_status_text($raw));
    }
}
JobCommon::report_and_exit($prog, $job, \%failed);

sub host_of { my ($task) = @_; return $hosts[($task - $job->{start}) % @hosts]; }

sub read_machines {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "$prog: cannot read $file (one host name a line): $!\n";
    my @list;
    while (my $line = <$fh>) {
        $line =~ s/#.*//;
        push @list, $1 if $line =~ /^\s*(\S+)\s*$/;
    }
    die "$prog: $file lists no hosts\n" unless @list;
    return @list;
}
