# The launcher of the parallel stages (JOB=1:N), one log per job. Flip cmd_backend to choose
# (run.sh --cmd-backend overrides it for one run; utils/recipe_lib.sh sets $train_cmd from it):
#   local  the jobs run on this machine, at most one per CPU (utils/run.py)
#   slurm  each stage is one Slurm job array (utils/slurm.py) with the sbatch options of
#          conf/slurm.conf (partition, time, mem, cpus-per-task, gpus); it needs sbatch/squeue
#          on this machine and a file system that the compute nodes share with it
cmd_backend=local
