"""The sandbox's settings reach its command line, and `python -m grading check` names what a machine
cannot give (tests/test_sandbox_probe.py asks a real kernel what it gets)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from grading import sandbox


def test_each_kernel_claims_a_user_id_of_its_own_and_gives_it_back(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "UID_LOCKS", str(tmp_path / "locks"))
    first, lock1 = sandbox.claim_uid(62000, 4)
    second, lock2 = sandbox.claim_uid(62000, 4)
    assert first != second and {first, second} <= set(range(62000, 62004))
    lock1.close()
    third, lock3 = sandbox.claim_uid(62000, 4)
    assert third == first
    lock2.close()
    lock3.close()


def test_claiming_fails_clearly_when_every_id_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "UID_LOCKS", str(tmp_path / "locks"))
    held = [sandbox.claim_uid(62100, 2)[1] for _ in range(2)]
    with pytest.raises(sandbox.SandboxUnavailable, match="in use"):
        sandbox.claim_uid(62100, 2)
    for lock in held:
        lock.close()


def test_ids_of_real_accounts_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "UID_LOCKS", str(tmp_path / "locks"))
    uid, lock = sandbox.claim_uid(0, 1 + 70000)  # 0 is root: a real account
    assert uid != 0
    lock.close()


def test_limits_become_prlimit_flags_and_zero_means_none():
    args = sandbox._prlimit_args({"data": 2 << 30, "nproc": 0, "cpu": 60})
    assert args[0].endswith("prlimit") and args[-1] == "--"
    assert args[1:-1] == [f"--data={2 << 30}", "--cpu=60"]
    assert sandbox._prlimit_args({"data": 0}) == []


def test_base_arguments_isolate_the_network_and_size_tmp():
    args = sandbox._base_args(123, isolate_net=True)
    assert "--unshare-net" in args
    i = args.index("/tmp")
    assert args[i - 3 : i] == ["--size", "123", "--tmpfs"]
    assert "--unshare-net" not in sandbox._base_args(isolate_net=False)


def test_check_names_the_protections_a_machine_cannot_give(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "prlimit" else real_which(name))
    problems = sandbox.limit_problems()
    assert any("prlimit" in p and "no limits" in p for p in problems), problems
    assert any("not running as root" in p for p in problems), problems


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_grading_check_reports_ok_here():
    out = subprocess.run([sys.executable, "-m", "grading", "check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("sandbox: OK"), out.stdout + out.stderr
    if os.geteuid() == 0 and shutil.which("prlimit"):
        assert "WEAKER" not in out.stdout, out.stdout
