"""The recipe helpers in utils/: the local job launcher and the option parser."""
import subprocess
import sys

from conftest import ROOT

RUN = ROOT / "utils" / "run.py"


def test_launcher_runs_every_job_with_its_own_log(tmp_path):
    out = subprocess.run([sys.executable, str(RUN), "JOB=1:3", str(tmp_path / "log" / "j.JOB.log"),
                          "sh", "-c", f"echo JOB > {tmp_path}/out.JOB"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for job in (1, 2, 3):
        assert (tmp_path / f"out.{job}").read_text().strip() == str(job)
        assert "exit status 0" in (tmp_path / "log" / f"j.{job}.log").read_text()


def test_launcher_fails_naming_the_failed_log(tmp_path):
    out = subprocess.run([sys.executable, str(RUN), "JOB=1:2", str(tmp_path / "j.JOB.log"),
                          "sh", "-c", "echo broken >&2; [ JOB = 1 ]"], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"1/2 jobs failed; see {tmp_path / 'j.2.log'}" in out.stderr
    assert "broken" in (tmp_path / "j.2.log").read_text()


def run_script(tmp_path, *args):
    script = tmp_path / "recipe.sh"
    script.write_text(f"""#!/usr/bin/env bash
# A recipe that does things.
set -e
stage=0
model_name=vae
. {ROOT}/utils/parse_options.sh
echo "stage=$stage model_name=$model_name rest=$*"
""")
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_parse_options_sets_known_options(tmp_path):
    out = run_script(tmp_path, "--stage", "3", "--model-name=nf")
    assert out.stdout.strip() == "stage=3 model_name=nf rest="
    out = run_script(tmp_path, "--stage", "3", "extra")  # every setting is an option
    assert out.returncode == 1 and "unexpected argument 'extra'" in out.stderr


def test_parse_options_rejects_unknown_and_helps(tmp_path):
    out = run_script(tmp_path, "--stgae", "3")
    assert out.returncode == 1 and "unknown option --stgae" in out.stderr
    out = run_script(tmp_path, "--help")
    assert out.returncode == 0
    assert "A recipe that does things." in out.stdout and "--model-name vae" in out.stdout


def test_progress_in_a_log_file_is_plain_lines(monkeypatch, capsys):
    from speechgen import progress as progress_module

    clock = iter(range(0, 1000, 20))  # every item takes 20 s
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    assert list(progress_module.progress(range(4), "decoding M", unit="utt", every=30.0)) == [0, 1, 2, 3]
    lines = capsys.readouterr().err.splitlines()  # stderr is captured, not a terminal
    assert lines == ["decoding M: 2/4 utt (40 s, about 40 s left)", "decoding M: 4/4 utt (80 s)"]
