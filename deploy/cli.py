"""``python -m deploy {init,check,up}``: set up, check and start the course's JupyterHub.

    sudo python -m deploy init  --env /etc/cnn-course/hub.env   # state folder, exchange root
    sudo python -m deploy check --env /etc/cnn-course/hub.env   # what is missing, one line each
    sudo python -m deploy up    --env /etc/cnn-course/hub.env   # jupyterhub -f deploy/jupyterhub_config.py

``--env FILE`` loads ``CNN_COURSE_*`` settings (deploy/hub.env.example) into the environment;
without it they come from the environment itself. Arguments after ``up``'s options are passed
to ``jupyterhub`` (e.g. ``--debug``).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys

from deploy import settings as st

CHP_INSTALL = "npm install -g configurable-http-proxy@5.3.0"


def _load(args, need_students=True) -> st.Settings:
    if args.env:
        os.environ.update(st.read_env_file(args.env))
    return st.load(need_students=need_students)


def cmd_init(args) -> int:
    """Create the hub's state folder (root, 0700) and the exchange root (1777)."""
    s = _load(args, need_students=False)
    if os.geteuid() != 0:
        print("error: run init as root (it creates folders owned by root)", file=sys.stderr)
        return 1
    s.state.mkdir(parents=True, exist_ok=True)
    os.chmod(s.state, 0o700)
    print(f"state folder   {s.state} (0700, root)")
    s.exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(s.exchange, 0o1777)
    print(f"exchange root  {s.exchange} (1777: everybody may create, nobody may remove what is not theirs)")
    return 0


def run_as(user: str, argv, env=None, cwd="/", input=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``argv`` as the Unix account ``user`` (with its groups, its HOME, USER and LOGNAME),
    ``input`` on its stdin, output captured as text; root only."""
    pw = pwd.getpwnam(user)
    env = {**(env or {}), "HOME": pw.pw_dir, "USER": user, "LOGNAME": user}
    return subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        user=pw.pw_uid,
        group=pw.pw_gid,
        extra_groups=os.getgrouplist(user, pw.pw_gid),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _private(path) -> bool:
    return os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def checks(s: st.Settings, probe_user: str | None) -> list[tuple[bool, str]]:
    """(ok, line) for everything the hub and the course need on this machine."""
    out: list[tuple[bool, str]] = []

    def add(ok, line):
        out.append((bool(ok), line))

    add(os.geteuid() == 0, "the hub runs as root (it starts each user's server as that user)")
    chp = shutil.which("configurable-http-proxy")
    add(chp, f"configurable-http-proxy: {chp}" if chp else f"configurable-http-proxy is missing: {CHP_INSTALL}")
    add(s.state.is_dir() and _private(s.state), f"state folder {s.state} exists, root only (python -m deploy init)")
    ex_mode = stat.S_IMODE(s.exchange.stat().st_mode) if s.exchange.is_dir() else 0
    add(
        ex_mode & 0o777 == 0o777,
        f"exchange root {s.exchange} exists, mode {oct(ex_mode)} (1777: python -m deploy init)",
    )
    add(s.data.is_dir(), f"data root {s.data} exists (CNN_COURSE_DATA of every kernel)")
    try:
        owner = pwd.getpwnam(s.owner)
    except KeyError:
        add(False, f"the course's owner {s.owner!r} has a Unix account")
        return out
    add(True, f"the course's owner {s.owner!r} has a Unix account")
    add(
        s.root.is_dir() and s.root.stat().st_uid == owner.pw_uid and _private(s.root),
        f"course folder {s.root} exists, belongs to {s.owner}, mode 0700 (solutions, gradebook)",
    )
    add((s.root / "nbgrader_config.py").is_file(), f"{s.root}/nbgrader_config.py exists (a clone of the course)")
    group = grp.getgrgid(owner.pw_gid)
    shared = sorted(set(group.gr_mem) & set(s.student_ids))
    shared += [u for u in s.student_ids if _gid_of(u) == owner.pw_gid]
    add(not shared, f"no student is in {s.owner}'s group {group.gr_name!r} (it reads the submissions){_list(shared)}")
    missing = [u for u in s.allowed_users if _gid_of(u) is None]
    add(not missing, f"every student and instructor has a Unix account{_list(missing)}")
    open_homes = [u for u in s.student_ids if _gid_of(u) is not None and not _private(pwd.getpwnam(u).pw_dir)]
    add(not open_homes, f"students' home folders are private (chmod 700){_list(open_homes)}")
    if s.student_ids:
        add(set(s.instructors).isdisjoint(s.student_ids), "no instructor is also in the class list")
    probe = probe_user or next((u for u in s.student_ids if _gid_of(u) is not None), None) or "nobody"
    code = "import torch, utils, nbgrader, jupyterhub; print(utils.__file__)"
    env = {"PATH": s.user_path, "CNN_COURSE_DATA": str(s.data)}
    proc = run_as(probe, [s.python, "-c", code], env=env) if os.geteuid() == 0 else None
    if proc is None:
        add(False, "the course's Python works for other accounts (not checked: needs root)")
    else:
        why = (proc.stderr.strip().splitlines() or [""])[-1]
        add(proc.returncode == 0, f"the course's Python {s.python} imports torch and utils as {probe!r} {why}".rstrip())
        if proc.returncode == 0 and probe != s.owner:
            sandbox = run_as(s.owner, [s.python, "-m", "grading", "check"], env=env, cwd=str(st.CODE_ROOT))
            line = (sandbox.stdout + sandbox.stderr).strip().splitlines() or [""]
            add(sandbox.returncode == 0, f"autograding sandbox as {s.owner!r}: {line[-1]}")
    return out


def _gid_of(user):
    try:
        return pwd.getpwnam(user).pw_gid
    except KeyError:
        return None


def _list(names) -> str:
    return f": {', '.join(names)}" if names else ""


def cmd_check(args) -> int:
    s = _load(args)
    results = checks(s, args.user)
    for ok, line in results:
        print(("ok       " if ok else "PROBLEM  ") + line)
    return 0 if all(ok for ok, _ in results) else 1


def cmd_up(args, extra) -> int:
    s = _load(args)
    if shutil.which("configurable-http-proxy") is None:
        print(f"error: configurable-http-proxy is missing; install it with `{CHP_INSTALL}`", file=sys.stderr)
        return 1
    if not s.state.is_dir():
        print(f"error: {s.state} does not exist; run `python -m deploy init` first", file=sys.stderr)
        return 1
    os.chdir(s.state)
    argv = [s.python, "-m", "jupyterhub", "-f", str(st.CONFIG_FILE), *extra]
    sys.stdout.flush()
    os.execv(s.python, argv)
    return 0  # not reached


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description="Set up, check and start the course's JupyterHub."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in [
        ("init", "create the state folder and the exchange root (as root)"),
        ("check", "check the machine, the accounts and the course folder"),
        ("up", "start JupyterHub (and its proxy) with deploy/jupyterhub_config.py"),
    ]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--env", help="a file of CNN_COURSE_*=... lines (deploy/hub.env.example)")
        if name == "check":
            p.add_argument("--user", help="the account that tries the course's Python (default: the first student)")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "up":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "init":
            return cmd_init(args)
        if args.command == "check":
            return cmd_check(args)
        return cmd_up(args, extra)
    except st.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
