#!/usr/bin/env perl
# Usage: utils/slurm.pl [--config conf/slurm.conf] [--mem 4G] [--num_threads N] [--gpu N] [--time T] [--max-jobs-run K] JOB=1:N dir/log.JOB.log command ...
#
# Submits the tasks of a job to Slurm as one array job (sbatch --array=1-N%K), waits
# for it, and exits 1 naming the logs of the failed tasks. Options are mapped to sbatch
# arguments through the config (conf/slurm.conf when present, else the built-in one
# below). Completion is seen by polling squeue every half second (sbatch --wait notices
# it late); each task's outcome comes from the status file its task script wrote and
# from `scontrol show job`, so a task killed before it could write one counts as failed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use JobCommon;
use Time::HiRes qw(sleep time);

my $prog = 'slurm.pl';
my $usage = <<'EOF';
Usage: slurm.pl [options] [JOB=1:N] <log-file> <command> ...
 e.g.: slurm.pl --config conf/slurm.conf --mem 4G JOB=1:8 exp/log/extract.JOB.log cmd ... JOB ...
Reads: the config (--config, else conf/slurm.conf if present, else built-in defaults).
Writes: the log files; <log-dir>/q/<name>.sh, its status files and sbatch output.
Options (mapped through the config):
  --mem M  --num_threads N  --gpu N  --time T  --config FILE
  --max-jobs-run K   at most K array tasks at once (--array=1-N%K)
  -x value           passed to sbatch as it is (e.g. -A myaccount)
EOF

my $builtin_conf = <<'EOF';
command sbatch --export=PATH
option name=* --job-name $0
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
option num_nodes=* --nodes $0
default gpu=0
option gpu=0 -p shared
option gpu=* -p gpu --gres=gpu:$0
EOF

my $job = JobCommon::parse_args($prog, $usage, @ARGV);
my $conf = JobCommon::load_conf($prog, $job->{opts}, 'conf/slurm.conf', $builtin_conf);
my @sched_args = (JobCommon::map_options($prog, $conf, $job->{opts}, 'max_jobs_run'),
    @{$job->{raw}});
my ($script, $prefix, $base) = JobCommon::write_task_script($prog, $job, 1);
my $job_id = submit();
$SIG{INT} = $SIG{TERM} = sub {
    system('scancel', $job_id);
    die "$prog: interrupted; cancelled job $job_id\n";
};
wait_for_job($job_id);
JobCommon::report_and_exit($prog, $job, task_failures($job_id));

sub submit {
    my $array = "$job->{start}-$job->{end}";
    my $max = $job->{opts}{max_jobs_run};
    if (defined $max) {
        die "$prog: --max-jobs-run must be a positive integer, got '$max'\n" unless $max =~ /^[1-9]\d*$/;
        $array .= "%$max";
    }
    # Our job name and output go first so that the config can override them.
    my @cmd = (@{$conf->{command}}, "--job-name=$base", "--output=$prefix.%a.out",
        @sched_args, "--array=$array", '--parsable', $script);
    open(my $fh, '-|', @cmd) or die "$prog: cannot run $cmd[0]: $!\n";
    my $out = join('', <$fh>);
    close($fh);
    die "$prog: submission failed (exit " . ($? >> 8) . "): @cmd\n$out" if $? != 0;
    # --parsable prints "<id>" or "<id>;<cluster>".
    die "$prog: cannot find a job id in the output of $cmd[0]: $out\n" unless $out =~ /^(\d+)/m;
    return $1;
}

# Poll squeue until the job has left the queue. A failing squeue (controller busy) is
# retried; only "Invalid job id" means the job is gone.
sub wait_for_job {
    my ($id) = @_;
    my $errors_since;
    while (1) {
        my $out = `squeue -h -j $id -o %i 2>&1`;
        if ($? == 0) {
            return if $out !~ /\S/;
            $errors_since = undef;
        } else {
            return if $out =~ /Invalid job id/i;
            $errors_since //= time();
            die "$prog: squeue keeps failing for job $id: $out" if time() - $errors_since > 600;
        }
        sleep(0.5);
    }
}

# {task => JobState} from scontrol; empty once Slurm has forgotten the job.
sub task_states {
    my ($id) = @_;
    my %state;
    for my $line (split /\n/, `scontrol -o show job $id 2>/dev/null`) {
        my ($task) = $line =~ /\bArrayTaskId=(\d+)\b/;
        my ($state) = $line =~ /\bJobState=(\S+)/;
        $state{$task} = $state if defined $task && defined $state;
    }
    return \%state;
}

sub task_failures {
    my ($id) = @_;
    my $state = task_states($id);
    my @tasks = ($job->{start} .. $job->{end});
    # On a shared file system the status files may show up a little after the job ends;
    # wait for them unless Slurm already says the task failed.
    my $deadline = time() + 10;
    while (grep { !defined JobCommon::read_status($prefix, $_)
                  && ($state->{$_} // 'COMPLETED') eq 'COMPLETED' } @tasks) {
        last if time() > $deadline;
        sleep(0.5);
    }
    my %failed;
    for my $task (@tasks) {
        my $code = JobCommon::read_status($prefix, $task);
        my $s = $state->{$task};
        if (!defined $code) {
            $failed{$task} = 'no exit status written' . (defined $s ? ", Slurm state $s" : '')
                . "; see also $prefix.$task.out";
        } elsif ($code != 0) {
            $failed{$task} = "exit code $code";
        } elsif (defined $s && $s ne 'COMPLETED') {
            $failed{$task} = "Slurm state $s";
        }
    }
    return \%failed;
}
