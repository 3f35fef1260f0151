#!/usr/bin/env perl
# Usage: utils/queue.pl [--config conf/queue.conf] [--mem 4G] [--num_threads N] [--gpu N] [--time T] [--max-jobs-run K] JOB=1:N dir/log.JOB.log command ...
#
# Submits the tasks of a job to Grid Engine as one array job (qsub -t 1:N), waits for
# it, and exits 1 naming the logs of the failed tasks. Options are mapped to qsub
# arguments through the config (conf/queue.conf when present, else the built-in one
# below), --max-jobs-run included (`option max_jobs_run=* -tc $0`). Completion is
# seen from the status files the task scripts write; `qstat -j` tells when a job has
# left the queue, so tasks killed before writing a status file count as failed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use JobCommon;
use Time::HiRes qw(sleep time);

my $prog = 'queue.pl';
my $usage = <<'EOF';
Usage: queue.pl [options] [JOB=1:N] <log-file> <command> ...
 e.g.: queue.pl --config conf/queue.conf --mem 4G JOB=1:8 exp/log/extract.JOB.log cmd ... JOB ...
Reads: the config (--config, else conf/queue.conf if present, else built-in defaults).
Writes: the log files; <log-dir>/q/<name>.sh, its status files and qsub output.
Options (mapped through the config):
  --mem M  --num_threads N  --gpu N  --time T  --max-jobs-run K  --config FILE
  -x value           passed to qsub as it is (e.g. -l hostname=b*)
EOF

my $builtin_conf = <<'EOF';
command qsub -v PATH -cwd -S /bin/bash -j y -l arch=*64*
option name=* -N $0
option time=* -l h_rt=$0
option mem=* -l mem_free=$0,ram_free=$0
option mem=0
option num_threads=* -pe smp $0
option num_threads=1
option max_jobs_run=* -tc $0
default gpu=0
option gpu=0
option gpu=* -l gpu=$0 -q g.q
EOF

my $job = JobCommon::parse_args($prog, $usage, @ARGV);
my $conf = JobCommon::load_conf($prog, $job->{opts}, 'conf/queue.conf', $builtin_conf);
# As in Kaldi, a task limit means nothing for a single task.
my @skip = $job->{end} > $job->{start} ? () : ('max_jobs_run');
my @sched_args = (JobCommon::map_options($prog, $conf, $job->{opts}, @skip), @{$job->{raw}});
my ($script, $prefix) = JobCommon::write_task_script($prog, $job, 1);
my $job_id = submit();
$SIG{INT} = $SIG{TERM} = sub {
    system('qdel', $job_id);
    die "$prog: interrupted; deleted job $job_id\n";
};
JobCommon::report_and_exit($prog, $job, wait_for_tasks($job_id));

sub submit {
    # $TASK_ID in the output path is expanded by Grid Engine, not by a shell.
    my @cmd = (@{$conf->{command}}, '-o', "$prefix.\$TASK_ID.out", @sched_args,
        '-t', "$job->{start}:$job->{end}", $script);
    open(my $fh, '-|', @cmd) or die "$prog: cannot run $cmd[0]: $!\n";
    my $out = join('', <$fh>);
    close($fh);
    die "$prog: submission failed (exit " . ($? >> 8) . "): @cmd\n$out" if $? != 0;
    # "Your job-array 123.1-4:1 ("x.sh") has been submitted", or "123.1-4:1" with -terse.
    return $1 if $out =~ /Your job(?:-array)? (\d+)/ || $out =~ /^(\d+)/m;
    die "$prog: cannot find a job id in the output of $cmd[0]: $out\n";
}

sub missing_tasks {
    return grep { !defined JobCommon::read_status($prefix, $_) } ($job->{start} .. $job->{end});
}

# Wait until every task has written its status file, or the job has left the queue
# and the stragglers had a grace period (status files on NFS appear late).
sub wait_for_tasks {
    my ($id) = @_;
    my ($next_qstat, $gone_at) = (time() + 2, undef);
    while (my @missing = missing_tasks()) {
        if (defined $gone_at) {
            last if time() - $gone_at > 10;
        } elsif (time() >= $next_qstat) {
            `qstat -j $id 2>&1`;
            $gone_at = time() if $? != 0;
            $next_qstat = time() + 10;
        }
        sleep(0.5);
    }
    my %failed;
    for my $task ($job->{start} .. $job->{end}) {
        my $code = JobCommon::read_status($prefix, $task);
        if (!defined $code) {
            $failed{$task} = "job $id ended without an exit status; see $prefix.$task.out";
        } elsif ($code != 0) {
            $failed{$task} = "exit code $code";
        }
    }
    return \%failed;
}
