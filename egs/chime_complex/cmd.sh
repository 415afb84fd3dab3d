# The launcher of the parallel stages (JOB=1:N): the local one runs the jobs on this machine,
# one log per job. Put a cluster launcher with the same calling convention here to use one.
export train_cmd="utils/run.py"
export cpu_cmd="utils/run.py"
