#!/usr/bin/env perl
# Usage: utils/run.pl [--max-jobs-run K] JOB=1:N dir/log.JOB.log command ...
#
# Runs the tasks of a job on this machine, at most K at a time (default: the number of
# CPUs). JOB in the log path and the command becomes the task number. Options that
# only mean something to a scheduler (--mem, --num_threads, --gpu, --time, --config,
# ...) are accepted and ignored, so that a recipe can switch between run.pl and
# slurm.pl/queue.pl without edits. Each log holds the command, start and end times and
# the exit status; the task script and status files go to dir/q/. Exits 1 if any task
# failed, naming the failed tasks' logs.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use JobCommon;

my $prog = 'run.pl';
my $usage = <<'EOF';
Usage: run.pl [options] [JOB=1:N] <log-file> <command> ...
 e.g.: run.pl --max-jobs-run 4 JOB=1:8 exp/log/extract.JOB.log aac-extract-feats ... JOB ...
Reads: nothing itself. Writes: the log files, <log-dir>/q/<name>.sh and its status files.
Options:
  --max-jobs-run K   run at most K tasks at a time (default: number of CPUs)
  --num_threads N    recorded in the logs' accounting line
  --mem, --gpu, --time, --config, -x value ...   accepted and ignored (scheduler options)
EOF

my $job = JobCommon::parse_args($prog, $usage, @ARGV);
my $max = $job->{opts}{max_jobs_run} // JobCommon::num_cpus();
die "$prog: --max-jobs-run must be a positive integer, got '$max'\n" unless $max =~ /^[1-9]\d*$/;

my ($script) = JobCommon::write_task_script($prog, $job, 0);
my $status = JobCommon::run_pool([$job->{start} .. $job->{end}], $max,
    sub { exec('bash', $script, $_[0]) or die "$prog: cannot run bash: $!\n"; });

my %failed;
for my $task ($job->{start} .. $job->{end}) {
    my $raw = $status->{$task};
    $failed{$task} = defined $raw ? JobCommon::wait_status_text($raw) : 'never finished'
        if !defined $raw || $raw != 0;
}
JobCommon::report_and_exit($prog, $job, \%failed);
