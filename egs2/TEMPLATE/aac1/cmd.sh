# Job backends, ESPnet style. Choose with cmd_backend (environment or edit here):
#   local: utils/run.pl (this machine)   slurm: utils/slurm.pl   sge: utils/queue.pl   ssh: utils/ssh.pl
# Each command is called as: ${train_cmd} [--gpu N] [--mem 4G] JOB=1:N log/x.JOB.log command ...
cmd_backend=${cmd_backend:-local}
case "${cmd_backend}" in
    local)
        export train_cmd="utils/run.pl"
        export cuda_cmd="utils/run.pl"
        export decode_cmd="utils/run.pl" ;;
    slurm)
        export train_cmd="utils/slurm.pl --config conf/slurm.conf"
        export cuda_cmd="utils/slurm.pl --config conf/slurm.conf"
        export decode_cmd="utils/slurm.pl --config conf/slurm.conf" ;;
    sge)
        export train_cmd="utils/queue.pl --config conf/queue.conf"
        export cuda_cmd="utils/queue.pl --config conf/queue.conf"
        export decode_cmd="utils/queue.pl --config conf/queue.conf" ;;
    ssh)
        # Hosts, one per line, in .queue/machines
        export train_cmd="utils/ssh.pl"
        export cuda_cmd="utils/ssh.pl"
        export decode_cmd="utils/ssh.pl" ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local|slurm|sge|ssh)" >&2
        return 1 ;;
esac
