"""The course for a whole class, end to end: JupyterHub, real Unix accounts, nbgrader's exchange.

One hub serves the whole module (fixture ``cycle``): started with ``python -m deploy up``
(deploy/jupyterhub_config.py and its proxy, configurable-http-proxy) on loopback ports chosen
free at run time, with three Unix accounts created for the test (useradd) and removed after it:

- the instructor owns a private copy of the course (gradinglib.copy_course, mode 0700) and the
  formgrader service, which the hub starts as that account in the course folder; every
  instructor command runs as that account in the environment of that service's process (what a
  terminal opened in the service gets), in the course folder;
- student 1 logs in through the hub (its login form, then a token from the REST API), starts a
  server with ``POST /hub/api/users/<name>/server`` and does what the Assignments tab does,
  through the same REST calls: fetch, save the filled notebook (contents API), validate,
  submit, fetch the feedback; a kernel started in that server shows the course's environment;
- student 2 logs in the same way and uses nbgrader in a terminal: the CLI, run as that account
  in the environment of their own server's process, in their home folder;
- the instructor collects, autogrades in the course's sandbox (``python -m grading
  autograde``), generates and releases the feedback; each student fetches it.

The scores are checked against the points of the source notebook (student 1: every answer
right, student 2: the last item wrong), in each student's feedback, the gradebook and the
formgrader. Then each student tries to read, list, rename the other's files in the exchange,
their home, and the course folder, and must get a PermissionError; controls (reading their
own files) must succeed. Student 2's submission also lists the exchange while it is graded
(the grading kernel runs as the instructor, who may read every submission): it must see nothing.

What differs from a department server, test only: the shared-password authenticator with a
random password (in a root-only overlay file) instead of PAM; temporary folders instead of
/srv; and, where the machine's Python lives in a folder other accounts cannot enter (here
/root, 0700), an ACL entry that lets the three test accounts traverse it, removed after the
test. Where accounts cannot be created (not root, no useradd) the module is skipped with the
reason; with the CI environment variable set it fails instead.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import gradinglib as gl
import nbformat
import pytest

REPO = gl.REPO
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # deploy/ and grading/ are not installed packages
AID = "a1_convolution"
TAG = "cnn-course hub test"  # the GECOS comment of every account this module creates
# /var/tmp/cnn-hub-test-<pid of pytest>-<random>: exchange, state, logs. Not /tmp: the grading
# sandbox gives kernels a private /tmp, which would hide an exchange there for the wrong reason.
TMP = Path("/var/tmp")
BASE_PREFIX = "cnn-hub-test-"
STATE_WAIT = 240  # seconds a server start, a kernel start or a grading run may take on a busy machine

# The commands of the README's "Run it for a class", in the README's words: accounts instructor,
# alice and bob, settings in /etc/cnn-course/hub.env, the course's Python in /opt/cnn-course/venv.
# The test runs each with its own names (Cycle.actual) and records the README form it ran.
README_SECTION = "## Run it for a class"
ROLES = {"instructor": "instructor", "student1": "alice", "student2": "bob"}  # role -> README name
README_ENV = "/etc/cnn-course/hub.env"
README_PYTHON = "/opt/cnn-course/.venv/bin/python"
README_CODE = "/opt/cnn-course"
ADD_ACCOUNT = "sudo useradd --create-home --shell /bin/bash {name}"
PRIVATE_HOMES = "sudo chmod 700 /home/instructor /home/alice /home/bob"
PRIVATE_COURSE = "sudo chmod 700 /home/instructor/cnn-course"
ROOT_COMMANDS = {
    "cd": f"cd {README_CODE}",  # the test: cwd = this checkout
    "init": f"sudo {README_PYTHON} -m deploy init --env {README_ENV}",
    "check": f"sudo {README_PYTHON} -m deploy check --env {README_ENV}",
    "up": f"sudo {README_PYTHON} -m deploy up --env {README_ENV}",
}
INSTRUCTOR_COMMANDS = {  # in a terminal of the formgrader service: the course's owner, in ~/cnn-course
    "generate": f"nbgrader generate_assignment {AID} --force",
    "import": "nbgrader db student import students.csv",
    "release": f"nbgrader release_assignment {AID}",
    "collect": f"nbgrader collect {AID}",
    "autograde": f"python -m grading autograde {AID}",
    "feedback": f"nbgrader generate_feedback {AID}",
    "release_feedback": f"nbgrader release_feedback {AID}",
}
STUDENT_COMMANDS = {  # in a terminal of the student's own server, in ~ (the Assignments tab does the same)
    "fetch": f"nbgrader fetch_assignment {AID}",
    "submit": f"nbgrader submit {AID}",
    "fetch_feedback": f"nbgrader fetch_feedback {AID}",
}
# Commands the README shows that the test does not run, and why.
NOT_RUN = {
    "sudo apt-get install nodejs npm bubblewrap": ".ci/run installs what is missing",
    "sudo npm install -g configurable-http-proxy@5.3.0": ".ci/run runs it (test_ci_installs_the_proxy)",
    f"sudo git clone https://github.com/YOUR-ORG/cnn-course {README_CODE}": "the test uses this checkout",
    f"sudo python3.11 -m venv {README_CODE}/.venv": "the test uses the Python that runs pytest",
    f"cd {README_CODE} && sudo .venv/bin/pip install -r requirements.txt": "CI installs requirements.txt (.ci/run)",
    "sudo -u instructor git clone https://github.com/YOUR-ORG/cnn-course /home/instructor/cnn-course": (
        "the test copies this checkout (gradinglib.copy_course) and gives it to the instructor with chown"
    ),
    "sudo passwd alice": "the test logs in with a test-only shared password instead of PAM",
    "sudo mkdir -p /etc/cnn-course": "the test writes its own settings file",
    f"sudo cp {README_CODE}/deploy/hub.env.example {README_ENV}": "the test writes its own settings file",
    f"sudo cp {README_CODE}/deploy/cnn-course-hub.service /etc/systemd/system/": "no systemd here: "
    "the test runs `deploy up` itself",
    "sudo systemctl enable --now cnn-course-hub": "no systemd here: the test runs `deploy up` itself",
    "sudo systemctl restart cnn-course-hub": "the test starts the hub once",
}
ASSIGNMENT_PATH = f"cnn-course/{AID}/{AID}.ipynb"  # where fetch puts it, relative to the home folder


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the JupyterHub cycle: {reason}")
    pytest.skip(reason)


def _cannot_run() -> str | None:
    """Why the cycle cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "the cycle needs Linux (Unix accounts, the local process spawner)"
    if os.geteuid() != 0:
        return "the cycle creates Unix accounts (useradd) and runs JupyterHub as root: run pytest as root"
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian: the passwd package)"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy is missing: npm install -g configurable-http-proxy@5.3.0 (.ci/run does it)"
    try:
        import jupyterhub  # noqa: F401
        import requests  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install -r requirements.txt"
    problem = gl.sandbox_problem()
    if problem:
        return f"the grading sandbox is unavailable: {problem}"
    return None


# -- accounts, processes, permissions --------------------------------------------------------------


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    home: Path


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pids_of(uids) -> list[int]:
    """Processes whose effective user is one of ``uids``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids:
                    out.append(int(entry))
            except FileNotFoundError:
                pass
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _blocked(paths) -> list[str]:
    """The folders above ``paths`` (themselves included) that other accounts cannot enter."""
    return sorted(
        {d for p in paths if os.path.exists(p) for d in _ancestors(p) if not os.stat(d).st_mode & stat.S_IXOTH}
    )


def _remove_stale_leftovers(blocked) -> None:
    """Accounts, ACL entries and folders left by an earlier run of this module that was killed
    (its pytest is gone)."""
    from deploy import acl

    for entry in pwd.getpwall():
        m = re.fullmatch(rf"{TAG} pid (\d+)", entry.pw_gecos)
        if m and not _alive(int(m.group(1))):
            _kill_all({entry.pw_uid})
            for folder in blocked:
                acl.revoke_user(folder, entry.pw_uid)
            subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True, check=False)
    for folder in TMP.glob(f"{BASE_PREFIX}*-*"):
        m = re.fullmatch(rf"{BASE_PREFIX}(\d+)-[0-9a-f]+", folder.name)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _kill_all(uids, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, every process of the accounts ``uids`` (accounts made for this test)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _pids_of(uids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while _pids_of(uids) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _pids_of(uids):
            return


def _ancestors(path: str) -> list[str]:
    out, p = [], os.path.realpath(path)
    while True:
        out.append(p)
        if p == "/":
            return out
        p = os.path.dirname(p)


# Run as a student: try each operation, report what happened (a PermissionError, or "allowed").
PROBE = r"""
import json, os, sys
results = {}
for name, op, *paths in json.load(sys.stdin):
    try:
        if op == "listdir":
            os.listdir(paths[0])
        elif op == "read":
            with open(paths[0], "rb") as f:
                f.read(1)
        elif op == "rename":
            os.rename(paths[0], paths[1])
        elif op == "write":
            with open(paths[0], "ab"):
                pass
        results[name] = "allowed"
    except PermissionError:
        results[name] = "PermissionError"
    except OSError as exc:
        results[name] = f"{type(exc).__name__} errno {exc.errno}"
print(json.dumps(results))
"""

# Student 2's submission also runs this when it is graded: the grading kernel runs as the
# instructor's account, who owns inbound/ and the released feedback, so the sandbox must hide
# the exchange (the course's nbgrader_config.py adds it to SandboxKernelManager.hidden_paths).
SANDBOX_PROBE = """\
import os as _os
for _name in ("inbound", "feedback"):
    try:
        print("SANDBOX-PROBE", _name, len(_os.listdir({exchange!r} + "/" + _name)), "entries")
    except OSError as _e:
        print("SANDBOX-PROBE", _name, type(_e).__name__)
"""

KERNEL_PROBE = """\
import json, os, sys
import torch, utils
from utils.data import data_root
print(json.dumps({"python": sys.executable, "utils": utils.__file__, "torch": torch.__version__,
                  "data_root": str(data_root()), "uid": os.getuid()}))
"""


async def _execute(ws_url: str, token: str, code: str, timeout: float) -> tuple[str, str | None]:
    """Run ``code`` in a kernel over its websocket (as JupyterLab does); (stdout, error or None)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": uuid.uuid4().hex}
    header |= {"date": datetime.datetime.now(datetime.UTC).isoformat(), "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
    conn.write_message(
        json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"})
    )
    out, error, deadline = [], None, time.monotonic() + timeout
    try:
        while True:
            raw = await asyncio.wait_for(conn.read_message(), max(1.0, deadline - time.monotonic()))
            if raw is None:
                raise RuntimeError("the kernel's websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg.get("msg_type") or msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out), error
    finally:
        conn.close()


# -- the cycle -------------------------------------------------------------------------------------


@dataclass
class Cycle:
    base: Path = None
    accounts: dict[str, Account] = field(default_factory=dict)
    acl_grants: list[tuple[str, int]] = field(default_factory=list)
    hub: subprocess.Popen | None = None
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    password: str = ""
    times: dict[str, float] = field(default_factory=dict)
    seen: dict = field(default_factory=dict)  # what the cycle observed, for the tests
    ran: list[tuple[str, str]] = field(default_factory=list)  # (who, command line) of every command run
    stopped: dict | None = None
    names: list[str] = field(default_factory=list)  # every account name useradd was asked for

    # -- set-up ------------------------------------------------------------------------------------
    def account(self, role: str) -> Account:
        return self.accounts[role]

    def actual(self, line: str) -> str:
        """A README command with this test's accounts, folders and Python, without ``sudo``."""
        line = line.removeprefix("sudo ")
        line = line.replace(README_PYTHON, sys.executable).replace(README_ENV, str(self.env_file))
        for role, readme_name in ROLES.items():
            if role in self.accounts and self.accounts[role] is not None:
                line = re.sub(rf"\b{readme_name}\b", self.accounts[role].name, line)
        return line

    def root_command(self, line: str, *extra: str, **kw) -> subprocess.CompletedProcess:
        """Run a README command of root's (recorded in its README form)."""
        self.ran.append(("root", line))
        argv = [*shlex.split(self.actual(line)), *extra]
        kw.setdefault("timeout", STATE_WAIT)
        return subprocess.run(argv, cwd=REPO, env=self.root_env, capture_output=True, text=True, check=False, **kw)

    @staticmethod
    def checked(proc: subprocess.CompletedProcess, line: str) -> subprocess.CompletedProcess:
        if proc.returncode != 0:
            raise RuntimeError(f"# {line} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def add_account(self, role: str, name: str) -> Account:
        self.accounts[role] = None
        self.names.append(name)  # removed by stop() even if useradd fails half-way
        line = ADD_ACCOUNT.format(name=ROLES[role])
        self.ran.append(("root", line))
        argv = [
            *shlex.split(line.removeprefix("sudo ").replace(ROLES[role], name)),
            "--comment",
            f"{TAG} pid {os.getpid()}",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr}")
        entry = pwd.getpwnam(name)
        self.accounts[role] = Account(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
        return self.accounts[role]

    def make_reachable(self, paths) -> None:
        """Let the test accounts traverse the folders above ``paths`` that others cannot enter."""
        from deploy import acl

        blocked = _blocked(paths)
        for d in blocked:
            for acc in self.accounts.values():
                acl.grant_user(d, acc.uid, acl.EXECUTE)
                self.acl_grants.append((d, acc.uid))
        self.seen["made_reachable"] = blocked

    def as_user(self, role, argv, env, cwd, input=None, timeout=STATE_WAIT) -> subprocess.CompletedProcess:
        from deploy.cli import run_as

        return run_as(self.account(role).name, argv, env, cwd, input=input, timeout=timeout)

    def command(self, role: str, line: str, env, cwd) -> subprocess.CompletedProcess:
        """Run one README command line as ``role`` (bash -c, like a terminal); fail loudly."""
        self.ran.append((role, line))
        proc = self.as_user(role, ["bash", "-c", line], env, cwd)
        if proc.returncode != 0:
            raise RuntimeError(f"{role}$ {line} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        self.seen.setdefault("output", {})[(role, line)] = proc.stdout + proc.stderr
        return proc

    # -- HTTP --------------------------------------------------------------------------------------
    def http(self, method: str, path: str, who: str | None = None, **kw):
        import requests

        headers = kw.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"token {self.tokens[who]}"
        kw.setdefault("timeout", 120)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.url + path, headers=headers, **kw)

    def login(self, role: str, password: str):
        """The hub's login form, as a browser fills it; returns the session (cookies) and the response."""
        import requests

        name = self.account(role).name
        session = requests.Session()
        page = session.get(f"{self.url}/hub/login", timeout=60)
        page.raise_for_status()
        m = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        xsrf = m.group(1) if m else session.cookies.get("_xsrf", "")
        resp = session.post(
            f"{self.url}/hub/login",
            data={"username": name, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=60,
        )
        return session, resp, xsrf

    def token_for(self, role: str) -> str:
        """Log in with the password, then ask the hub's REST API for a token with that session."""
        name = self.account(role).name
        session, resp, xsrf = self.login(role, self.password)
        if resp.status_code != 302:
            raise RuntimeError(f"login of {name} answered {resp.status_code}: {resp.text[:500]}")
        xsrf = session.cookies.get("_xsrf", xsrf)
        got = session.post(
            f"{self.url}/hub/api/users/{name}/tokens",
            json={"note": "tests/test_jupyterhub.py", "expires_in": 3600},
            headers={"X-XSRFToken": xsrf, "Referer": f"{self.url}/hub/token"},
            timeout=60,
        )
        if got.status_code != 201:
            raise RuntimeError(f"token request of {name} answered {got.status_code}: {got.text[:500]}")
        self.tokens[role] = got.json()["token"]
        return self.tokens[role]

    def start_server(self, role: str) -> None:
        name = self.account(role).name
        resp = self.http("POST", f"/hub/api/users/{name}/server", role)
        if resp.status_code not in (201, 202):
            raise RuntimeError(f"starting {name}'s server answered {resp.status_code}: {resp.text[:500]}")

    def wait_ready(self, role: str) -> None:
        name = self.account(role).name
        deadline = time.monotonic() + STATE_WAIT
        while time.monotonic() < deadline:
            server = self.http("GET", f"/hub/api/users/{name}", role).json().get("servers", {}).get("", {})
            if server.get("ready"):
                return
            if not server:  # the spawn failed: the hub forgot the server
                raise RuntimeError(f"{name}'s server did not start\n{self.hub_log()}")
            self.check_hub()
            time.sleep(1)
        raise RuntimeError(f"{name}'s server is not ready after {STATE_WAIT} s: {server}")

    def user_api(self, method: str, role: str, path: str, **kw):
        name = self.account(role).name
        return self.http(method, f"/user/{name}/{path}", role, **kw)

    def assignments(self, role: str, action: str | None = None) -> dict:
        """The Assignments tab's call: list (action None) or fetch / submit / fetch_feedback."""
        ids = {"course_id": "cnn-course", "assignment_id": AID}
        if action is None:
            resp = self.user_api("GET", role, "assignments", params={"course_id": "cnn-course"})
        else:
            resp = self.user_api("POST", role, f"assignments/{action}", data=ids, timeout=STATE_WAIT)
        resp.raise_for_status()
        return resp.json()

    def check_hub(self) -> None:
        if self.hub is not None and self.hub.poll() is not None:
            raise RuntimeError(f"the hub exited with {self.hub.returncode}\n{self.hub_log()}")

    def hub_log(self, chars: int = 6000) -> str:
        log = self.base / "hub.log" if self.base else None
        return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""

    def server_env(self, role: str) -> dict[str, str]:
        """The environment of the account's Jupyter server (user server or formgrader service)."""
        acc = self.account(role)
        deadline = time.monotonic() + STATE_WAIT
        while time.monotonic() < deadline:
            pids = [p for p in _pids_of({acc.uid}) if "jupyterhub.singleuser" in _cmdline(p)]
            if pids:
                return _environ(min(pids))
            self.check_hub()
            time.sleep(0.5)
        raise RuntimeError(f"no Jupyter server of {acc.name} after {STATE_WAIT} s")

    # -- the whole cycle ---------------------------------------------------------------------------
    def run(self) -> None:
        from grading.sandbox import python_paths

        reach = [*python_paths(), str(REPO)]  # what the accounts import: the course's Python and code
        _remove_stale_leftovers(_blocked(reach))
        self.base = TMP / f"{BASE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.base.mkdir(mode=0o755)
        os.chmod(self.base, 0o755)  # the accounts traverse it to the exchange
        self.env_file = self.base / "hub.env"
        self.root_env = {k: v for k, v in os.environ.items() if not k.startswith(("CNN_COURSE_", "JUPYTER"))}
        prefix = "cnnhub" + secrets.token_hex(2)
        inst = self.add_account("instructor", f"{prefix}-inst")
        s1 = self.add_account("student1", f"{prefix}-s1")
        s2 = self.add_account("student2", f"{prefix}-s2")
        self.checked(self.root_command(PRIVATE_HOMES), PRIVATE_HOMES)

        data = os.environ.get("CNN_COURSE_DATA", "")
        if not data or not os.path.isdir(data):
            data = str(self.base / "data")
            os.mkdir(data, 0o755)
        self.make_reachable([*reach, data])

        # the instructor's course folder: a copy of this checkout, private, with the class list
        course = inst.home / "cnn-course"
        gl.copy_course(course)
        (course / "students.csv").write_text(
            "id,first_name,last_name,email\n"
            f"{s1.name},Ada,First,{s1.name}@example.org\n"
            f"{s2.name},Bea,Second,{s2.name}@example.org\n"
        )
        subprocess.run(["chown", "-R", f"{inst.name}:{inst.name}", str(course)], check=True)
        self.checked(self.root_command(PRIVATE_COURSE), PRIVATE_COURSE)
        self.course = course

        ports = _free_ports(4)
        self.url = f"http://127.0.0.1:{ports[0]}"
        self.password = secrets.token_urlsafe(18)
        overlay = self.base / "test_only_auth.py"
        overlay.write_text(
            "# TEST ONLY (tests/test_jupyterhub.py): every test account logs in with one random password.\n"
            "c = get_config()  # noqa: F821\n"
            'c.JupyterHub.authenticator_class = "shared-password"\n'
            f"c.SharedPasswordAuthenticator.user_password = {self.password!r}\n"
        )
        os.chmod(overlay, 0o600)
        settings = {
            "CNN_COURSE_OWNER": inst.name,
            "CNN_COURSE_ROOT": str(course),
            "CNN_COURSE_INSTRUCTORS": inst.name,
            "CNN_COURSE_STUDENTS": str(course / "students.csv"),
            "CNN_COURSE_HUB_URL": self.url,
            "CNN_COURSE_HUB_API_URL": f"http://127.0.0.1:{ports[1]}",
            "CNN_COURSE_PROXY_API_URL": f"http://127.0.0.1:{ports[2]}",
            "CNN_COURSE_FORMGRADER_URL": f"http://127.0.0.1:{ports[3]}",
            "CNN_COURSE_STATE": str(self.base / "state"),
            "CNN_COURSE_EXCHANGE": str(self.base / "exchange"),
            "CNN_COURSE_DATA": data,
            "CNN_COURSE_HUB_OVERLAY": str(overlay),
        }
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items()))
        os.chmod(self.env_file, 0o600)
        self.settings = settings
        self.exchange = Path(settings["CNN_COURSE_EXCHANGE"]) / "cnn-course"

        self.ran.append(("root", ROOT_COMMANDS["cd"]))  # root's commands run in this checkout
        for key in ("init", "check"):
            proc = self.checked(self.root_command(ROOT_COMMANDS[key]), ROOT_COMMANDS[key])
            self.seen[key] = proc.stdout + proc.stderr
        self.seen["exchange_mode"] = stat.S_IMODE(os.stat(settings["CNN_COURSE_EXCHANGE"]).st_mode)
        self.seen["state_mode"] = stat.S_IMODE(os.stat(settings["CNN_COURSE_STATE"]).st_mode)

        # -- start the hub and its proxy; the formgrader service comes with it ---------------------
        t0 = time.monotonic()
        self.ran.append(("root", ROOT_COMMANDS["up"]))
        with open(self.base / "hub.log", "wb") as log:
            self.hub = subprocess.Popen(
                shlex.split(self.actual(ROOT_COMMANDS["up"])),
                cwd=REPO,
                env=self.root_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STATE_WAIT
        while True:
            self.check_hub()
            try:
                if self.http("GET", "/hub/api/", timeout=5).status_code == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not answer after {STATE_WAIT} s\n{self.hub_log()}")
            time.sleep(0.5)
        self.times["hub start"] = time.monotonic() - t0
        inst_env = self.server_env("instructor")
        self.seen["service_env"] = inst_env

        # -- instructor: register the assignment and the class, release ------------------------------
        t_cycle = time.monotonic()
        for key in ("generate", "import", "release"):
            self.command("instructor", INSTRUCTOR_COMMANDS[key], inst_env, course)
        released = self.exchange / "outbound" / AID / f"{AID}.ipynb"
        self.seen["released"] = released.read_bytes() if released.exists() else None
        self.seen["course_release"] = gl.release_path(course, AID).read_bytes()

        # -- students: a wrong password, then the login form and a token; start both servers --------
        _, bad, _ = self.login("student1", self.password + "x")
        self.seen["bad_login"] = (bad.status_code, "jupyterhub-session-id" in bad.cookies)
        t0 = time.monotonic()
        for role in ("student1", "student2"):
            self.token_for(role)
            self.start_server(role)
        self.token_for("instructor")
        for role in ("student1", "student2"):
            self.wait_ready(role)
        self.times["two servers start"] = time.monotonic() - t0
        self.seen["student_env"] = {role: self.server_env(role) for role in ("student1", "student2")}

        source = gl.read_notebook(gl.source_path(course, AID))
        items = gl.solution_ids(source)
        self.wrong_item = items[-1]
        self.markers = {role: f"# answers of {self.account(role).name}" for role in ("student1", "student2")}

        # -- student 1: everything through the Assignments tab's REST calls -------------------------
        self.seen["listed_before"] = self.assignments("student1")
        self.seen["listed_after_fetch"] = self.assignments("student1", "fetch")
        got = self.user_api("GET", "student1", f"api/contents/{ASSIGNMENT_PATH}", params={"content": 1})
        got.raise_for_status()
        fetched = nbformat.from_dict(got.json()["content"])
        answer = gl.prepend_code(gl.fill_solutions(fetched, source), items[0], self.markers["student1"])
        put = self.user_api(
            "PUT",
            "student1",
            f"api/contents/{ASSIGNMENT_PATH}",
            json={"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(answer))},
        )
        put.raise_for_status()
        self.seen["kernel"] = self.kernel_probe("student1")
        validate = self.user_api("POST", "student1", "assignments/validate", data={"path": ASSIGNMENT_PATH})
        validate.raise_for_status()
        self.seen["validate"] = validate.json()
        self.seen["submit1"] = self.assignments("student1", "submit")

        # -- student 2: nbgrader in a terminal of their own server --------------------------------
        env2 = self.seen["student_env"]["student2"]
        self.command("student2", STUDENT_COMMANDS["fetch"], env2, s2.home)
        mine = s2.home / ASSIGNMENT_PATH
        wrong = gl.replace_solution(gl.fill_solutions(gl.read_notebook(mine), source), self.wrong_item, "return None")
        probe = SANDBOX_PROBE.format(exchange=str(self.exchange))
        wrong = gl.prepend_code(wrong, items[0], self.markers["student2"] + "\n" + probe)
        saved = self.as_user(
            "student2",
            [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())", str(mine)],
            env2,
            s2.home,
            input=nbformat.writes(wrong),
        )
        assert saved.returncode == 0, saved.stderr
        self.command("student2", STUDENT_COMMANDS["submit"], env2, s2.home)

        # -- instructor: collect, autograde in the sandbox, feedback -----------------------------------
        for key in ("collect", "autograde", "feedback", "release_feedback"):
            t0 = time.monotonic()
            self.command("instructor", INSTRUCTOR_COMMANDS[key], inst_env, course)
            self.times[key] = time.monotonic() - t0

        # -- students: their feedback ------------------------------------------------------------------
        self.seen["fetch_feedback1"] = self.assignments("student1", "fetch_feedback")
        self.seen["feedback"] = {"student1": self.feedback_via_contents("student1")}
        self.command("student2", STUDENT_COMMANDS["fetch_feedback"], env2, s2.home)
        self.seen["feedback"]["student2"] = {
            str(p.relative_to(s2.home)): p.read_text() for p in sorted((s2.home / f"cnn-course/{AID}").rglob("*.html"))
        }
        self.times["cycle"] = time.monotonic() - t_cycle

        # -- what each account can reach ---------------------------------------------------------------
        self.seen["scores"] = gl.scores(course, AID)
        self.seen["max_scores"] = gl.max_scores(course, AID)
        self.seen["source_points"] = gl.grade_points(source)
        self.probe_permissions()
        self.probe_hub_access()

    def kernel_probe(self, role: str) -> dict:
        made = self.user_api("POST", role, "api/kernels", json={"name": "python3"}, timeout=STATE_WAIT)
        made.raise_for_status()
        kid = made.json()["id"]
        ws = self.url.replace("http://", "ws://") + f"/user/{self.account(role).name}/api/kernels/{kid}/channels"
        try:
            out, error = asyncio.run(_execute(ws, self.tokens[role], KERNEL_PROBE, STATE_WAIT))
        finally:
            self.user_api("DELETE", role, f"api/kernels/{kid}")
        if error:
            raise RuntimeError(f"the probe failed in {role}'s kernel: {error}")
        return json.loads(out.strip().splitlines()[-1])

    def feedback_via_contents(self, role: str) -> dict[str, str]:
        """{path: html} of the feedback files in the student's assignment folder (contents API)."""
        out, todo = {}, [f"cnn-course/{AID}/feedback"]
        while todo:
            path = todo.pop()
            resp = self.user_api("GET", role, f"api/contents/{path}", params={"content": 1})
            resp.raise_for_status()
            model = resp.json()
            if model["type"] == "directory":
                todo.extend(item["path"] for item in model["content"])
            elif path.endswith(".html"):
                out[path] = model["content"]
        return out

    def probe_permissions(self) -> None:
        """Each student tries the other's files, the exchange and the course folder."""
        inbound, feedback_dir = self.exchange / "inbound", self.exchange / "feedback"
        submissions = {
            role: next(inbound.glob(f"{self.account(role).name}+{AID}+*")) for role in ("student1", "student2")
        }
        released = {}  # the feedback file of each student in the exchange (found here as root)
        for html in feedback_dir.glob("*.html"):
            text = html.read_text()
            for role, marker in self.markers.items():
                if marker in text:
                    released[role] = html
        self.seen["released_feedback"] = released
        self.seen["exchange_modes"] = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (inbound, feedback_dir)}
        self.seen["released_feedback_modes"] = {r: stat.S_IMODE(p.stat().st_mode) for r, p in released.items()}
        results = {}
        for me, other in (("student1", "student2"), ("student2", "student1")):
            o = self.account(other)
            theirs = submissions[other]
            checks = [
                ("list inbound", "listdir", str(inbound)),
                ("read other's submission", "read", str(theirs / f"{AID}.ipynb")),
                ("read other's submission secret", "read", str(theirs / "submission_secret.txt")),
                ("list other's submission", "listdir", str(theirs)),
                ("replace other's submission", "write", str(theirs / f"{AID}.ipynb")),
                ("rename other's submission", "rename", str(theirs), str(inbound / f"{o.name}+{AID}+moved")),
                ("list released feedback", "listdir", str(feedback_dir)),
                ("read other's released feedback", "read", str(released[other])),
                ("list other's home", "listdir", str(o.home)),
                ("read other's fetched notebook", "read", str(o.home / ASSIGNMENT_PATH)),
                ("list course folder", "listdir", str(self.course)),
                ("read gradebook", "read", str(self.course / "gradebook.db")),
                ("read solutions", "read", str(gl.source_path(self.course, AID))),
                ("read course feedback", "read", str(self.course / "feedback" / o.name / AID / f"{AID}.html")),
                ("read collected submission", "read", str(self.course / "submitted" / o.name / AID / f"{AID}.ipynb")),
                # controls: what the student may do, so that a denial above is not a broken probe
                ("control: read own released feedback", "read", str(released[me])),
                ("control: read own submission", "read", str(submissions[me] / f"{AID}.ipynb")),
                ("control: list the released assignment", "listdir", str(self.exchange / "outbound" / AID)),
            ]
            env = {"PATH": "/usr/bin:/bin"}
            proc = self.as_user(me, [sys.executable, "-c", PROBE], env, "/", input=json.dumps(checks))
            if proc.returncode != 0:
                raise RuntimeError(f"the permission probe failed as {me}: {proc.stderr}")
            results[me] = json.loads(proc.stdout)
        self.seen["permissions"] = results

    def probe_hub_access(self) -> None:
        """Who reaches what through the hub: the formgrader, the other's server, the user list."""
        s1, s2 = self.account("student1").name, self.account("student2").name
        fg = "/services/cnn-course/formgrader"
        codes = {
            "instructor: formgrader": self.http("GET", f"{fg}/manage_assignments", "instructor").status_code,
            "student1: formgrader service": self.http("GET", fg, "student1").status_code,
            "student1: own server's formgrader": self.http("GET", f"/user/{s1}/formgrader", "student1").status_code,
            "student1: student2's server": self.http("GET", f"/user/{s2}/api/contents", "student1").status_code,
            "student1: user list": self.http("GET", "/hub/api/users", "student1").status_code,
            "instructor: user list": self.http("GET", "/hub/api/users", "instructor").status_code,
        }
        self.seen["hub_access"] = codes
        for what in ("students", "assignments"):
            got = self.http("GET", f"{fg}/api/{what}", "instructor")
            self.seen[f"formgrader_{what}"] = got.json() if got.status_code == 200 else got.text
        lab = self.user_api("GET", "student1", "lab")
        m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', lab.text, re.S)
        self.seen["student_lab_config"] = json.loads(m.group(1)) if m else {}

    # -- teardown --------------------------------------------------------------------------------------
    def proxy_pid(self) -> int | None:
        """The proxy the hub started: its pid file, else the process serving this test's API port."""
        pid_file = self.base / "state" / "proxy.pid" if self.base else None
        if pid_file and pid_file.exists():
            try:
                return int(pid_file.read_text().strip())
            except ValueError:
                pass
        api = getattr(self, "settings", {}).get("CNN_COURSE_PROXY_API_URL", "")
        port = api.rsplit(":", 1)[-1] if api else None
        for entry in os.listdir("/proc"):
            if port and entry.isdigit():
                cmd = _cmdline(int(entry))
                if "configurable-http-proxy" in cmd and f"--api-port {port}" in cmd:
                    return int(entry)
        return None

    def stop(self) -> dict:
        """Stop every process the cycle started and remove its accounts, ACL entries and folders
        (idempotent; each step runs even if an earlier one failed); returns what was left over."""
        if self.stopped is not None:
            return self.stopped
        from deploy import acl

        uids = {a.uid for a in self.accounts.values() if a is not None}
        left: dict = {"errors": []}

        def step(name, fn):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - the other steps must still run
                left["errors"].append(f"{name}: {type(exc).__name__}: {exc}")

        step("stop the servers", self.stop_servers)
        proxy_pid = self.proxy_pid()
        step("stop the hub", self.stop_hub)
        step("stop the proxy", lambda: self.stop_proxy(proxy_pid))
        left["processes"] = [(p, _cmdline(p)) for p in _pids_of(uids)]  # what hub and API left running
        step("kill the accounts' processes", lambda: _kill_all(uids))
        for path, uid in self.acl_grants:
            step(f"revoke {uid} on {path}", lambda path=path, uid=uid: acl.revoke_user(path, uid))
        for name in self.names:
            step(
                f"userdel {name}", lambda name=name: subprocess.run(["userdel", "--remove", name], capture_output=True)
            )
        left["hub_running"] = self.hub is not None and self.hub.poll() is None
        left["proxy_running"] = bool(
            proxy_pid and _alive(proxy_pid) and "configurable-http-proxy" in _cmdline(proxy_pid)
        )
        left["accounts"] = [name for name in self.names if _exists(name)]
        left["homes"] = [f"/home/{name}" for name in self.names if os.path.exists(f"/home/{name}")]
        left["acl"] = [(p, u) for p, u in self.acl_grants if u in acl.user_entries(p)]
        left["after_kill"] = _pids_of(uids)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
        self.stopped = left
        return left

    def stop_servers(self) -> None:
        """Stop the students' servers through the hub, as a student's *Stop My Server* does."""
        if self.hub is None or self.hub.poll() is not None:
            return
        roles = [role for role in ("student1", "student2") if role in self.tokens]
        for role in roles:
            self.http("DELETE", f"/hub/api/users/{self.account(role).name}/server", role, timeout=30)
        deadline = time.monotonic() + 60
        for role in roles:
            while time.monotonic() < deadline:
                user = self.http("GET", f"/hub/api/users/{self.account(role).name}", role, timeout=10).json()
                if not user.get("servers"):
                    break
                time.sleep(0.5)

    def stop_hub(self) -> None:
        """SIGTERM to the hub's process group (the hub stops its services), then SIGKILL."""
        if self.hub is None:
            return
        if self.hub.poll() is None:
            os.killpg(self.hub.pid, signal.SIGTERM)
            try:
                self.hub.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.hub.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.hub.wait(10)

    @staticmethod
    def stop_proxy(pid: int | None) -> None:
        """The proxy runs in its own session: the hub stops it, else it gets SIGTERM, then SIGKILL."""
        if not pid or not _alive(pid) or "configurable-http-proxy" not in _cmdline(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def cycle():
    problem = _cannot_run()
    if problem:
        _unavailable(problem)
    c = Cycle()
    try:
        try:
            c.run()
        except Exception as exc:
            raise RuntimeError(f"the JupyterHub cycle failed: {exc}\n--- hub log ---\n{c.hub_log()}") from exc
        yield c
    finally:
        c.stop()


def expected_totals(c: Cycle) -> dict[str, float]:
    """What each student must score, from the source notebook's points."""
    points = c.seen["source_points"]
    full = sum(points.values())
    lost = sum(p for gid, p in points.items() if gl.item_of(gid) == c.wrong_item)
    return {"student1": full, "student2": full - lost}


FEEDBACK_SCORE = re.compile(rf"<h4>{AID} \(Score: ([0-9.]+) / ([0-9.]+)\)</h4>")


# -- tests (they read what the one cycle observed) ------------------------------------------------


def test_the_course_id_is_the_same_everywhere():
    from traitlets.config.loader import PyFileConfigLoader

    from deploy import settings
    from grading.cli import load_config

    shared = PyFileConfigLoader("nbgrader_config.py", path=str(settings.JUPYTER_COMMON)).load_config()
    assert load_config(str(REPO)).CourseDirectory.course_id == settings.COURSE_ID == shared.CourseDirectory.course_id
    assert settings.SERVICE_NAME == settings.COURSE_ID  # nbgrader's course list finds /services/<course_id>
    assert shared.Exchange.path_includes_course is True


def test_setup_and_check_pass_and_the_hub_starts(cycle):
    assert "PROBLEM" not in cycle.seen["check"], cycle.seen["check"]
    assert cycle.seen["exchange_mode"] == 0o1777 and cycle.seen["state_mode"] == 0o700, cycle.seen
    status, has_session = cycle.seen["bad_login"]
    assert status == 403 and not has_session, cycle.seen["bad_login"]
    assert set(cycle.tokens) == {"instructor", "student1", "student2"}


def test_students_servers_and_kernels_have_the_course_environment(cycle):
    import torch

    from deploy import settings

    student_config = os.pathsep.join([str(settings.JUPYTER_STUDENT), str(settings.JUPYTER_COMMON)])
    service = cycle.seen["service_env"]  # the formgrader's server, where the instructor's commands run
    assert service["USER"] == cycle.account("instructor").name
    assert service["JUPYTER_CONFIG_PATH"] == str(settings.JUPYTER_COMMON)
    assert service["CNN_COURSE_EXCHANGE"] == cycle.settings["CNN_COURSE_EXCHANGE"]
    for role, env in cycle.seen["student_env"].items():
        assert env["JUPYTER_CONFIG_PATH"] == student_config
        assert env["USER"] == cycle.account(role).name
        assert env["CNN_COURSE_DATA"] == cycle.settings["CNN_COURSE_DATA"]
        assert env["CNN_COURSE_EXCHANGE"] == cycle.settings["CNN_COURSE_EXCHANGE"]
        assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    probe = cycle.seen["kernel"]
    assert probe["uid"] == cycle.account("student1").uid
    assert probe["python"] == sys.executable
    assert probe["torch"] == torch.__version__
    assert Path(probe["utils"]).resolve() == (REPO / "utils" / "__init__.py").resolve()
    assert probe["data_root"] == cycle.settings["CNN_COURSE_DATA"]
    # the Validate button: the filled notebook runs in the student's own kernel and passes
    assert cycle.seen["validate"] == {"success": True, "value": {}}, cycle.seen["validate"]


def test_the_release_reaches_the_exchange_and_the_students(cycle):
    assert cycle.seen["released"] is not None and cycle.seen["released"] == cycle.seen["course_release"]
    listed = cycle.seen["listed_before"]
    assert listed["success"] and [(a["assignment_id"], a["status"]) for a in listed["value"]] == [(AID, "released")]
    after = cycle.seen["listed_after_fetch"]
    assert after["success"] and {a["status"] for a in after["value"]} >= {"fetched"}
    submitted = cycle.seen["submit1"]
    assert submitted["success"] and any(a["status"] == "submitted" for a in submitted["value"]), submitted


def test_each_student_finds_their_own_score_in_their_feedback(cycle):
    expected = expected_totals(cycle)
    full = sum(cycle.seen["source_points"].values())
    assert expected["student2"] < expected["student1"] == full  # the wrong item costs points
    for role in ("student1", "student2"):
        pages = cycle.seen["feedback"][role]
        assert len(pages) == 1, (role, list(pages))  # one submission, one feedback page
        page = next(iter(pages.values()))
        m = FEEDBACK_SCORE.search(page)
        assert m, page[:2000]
        assert (float(m.group(1)), float(m.group(2))) == (expected[role], full), role
        cells = cycle.seen["scores"][cycle.account(role).name]
        maxima = cycle.seen["max_scores"]
        assert sum(cells.values()) == expected[role]
        for gid, pts in cells.items():
            assert f'href="#{gid}">Test cell</a> (Score: {pts:.1f} / {maxima[gid]:.1f})' in page, (role, gid)


def test_each_student_sees_only_their_own_feedback(cycle):
    for me, other in (("student1", "student2"), ("student2", "student1")):
        page = next(iter(cycle.seen["feedback"][me].values()))
        assert cycle.markers[me] in page and cycle.markers[other] not in page
    assert set(cycle.seen["released_feedback"]) == {"student1", "student2"}
    for role, mode in cycle.seen["released_feedback_modes"].items():
        assert mode & 0o077 == 0o040 and mode & 0o007 == 0, (role, oct(mode))  # 0600 + one ACL entry (the mask)


def test_a_student_cannot_read_list_or_change_the_other_students_files(cycle):
    # inbound/: write and traverse only, set-group-id (nbgrader) and sticky (deploy/exchange.py)
    assert cycle.seen["exchange_modes"] == {"inbound": 0o3733, "feedback": 0o711}, cycle.seen["exchange_modes"]
    for role, results in cycle.seen["permissions"].items():
        for check, outcome in results.items():
            if check.startswith("control:"):
                assert outcome == "allowed", (role, check, outcome)
            else:
                assert outcome == "PermissionError", (role, check, outcome)


def test_autograding_hides_the_exchange_from_students_code(cycle):
    page = next(iter(cycle.seen["feedback"]["student2"].values()))
    seen = dict(re.findall(r"SANDBOX-PROBE (inbound|feedback) ([\w ]+)", page))
    assert set(seen) == {"inbound", "feedback"}, page[:3000]
    for name, outcome in seen.items():
        assert outcome.strip() in ("0 entries", "FileNotFoundError", "PermissionError"), (name, outcome)


def test_the_course_files_are_the_instructors_only(cycle):
    for role, results in cycle.seen["permissions"].items():
        for check in ("list course folder", "read gradebook", "read solutions", "read course feedback"):
            assert results[check] == "PermissionError", (role, check)


def test_the_formgrader_is_a_service_for_instructors_only(cycle):
    codes = cycle.seen["hub_access"]
    assert codes["instructor: formgrader"] == 200, codes
    assert codes["student1: formgrader service"] == 403, codes
    assert codes["student1: own server's formgrader"] == 404, codes  # switched off for students
    assert codes["student1: student2's server"] == 403, codes
    assert codes["student1: user list"] == 403 and codes["instructor: user list"] == 200, codes
    disabled = cycle.seen["student_lab_config"].get("disabledExtensions", [])
    assert "@jupyter/nbgrader:formgrader" in disabled, disabled
    assignments = {a["name"]: a for a in cycle.seen["formgrader_assignments"]}
    assert assignments[AID]["status"] == "released" and assignments[AID]["num_submissions"] == 2, assignments
    expected = expected_totals(cycle)
    students = {s["id"]: s for s in cycle.seen["formgrader_students"]}
    for role, first in (("student1", "Ada"), ("student2", "Bea")):
        row = students[cycle.account(role).name]
        assert row["first_name"] == first and row["score"] == expected[role], row


def test_the_cycle_s_duration_is_recorded(cycle, capsys):
    with capsys.disabled():
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in cycle.times.items())
        print(f"\nJupyterHub cycle (release to both feedbacks fetched): {cycle.times['cycle']:.1f} s; {parts}")
    assert cycle.times["cycle"] > 0


def test_stopping_leaves_no_process_account_or_acl_behind(cycle):
    left = cycle.stop()
    assert not left["hub_running"] and not left["proxy_running"], left
    assert left["after_kill"] == [], left
    assert left["accounts"] == [] and left["homes"] == [] and left["acl"] == [], left
    assert left["errors"] == [], left


# -- the shared files say what the cycle needs ---------------------------------------------------


def readme_commands(readme: Path = REPO / "README.md") -> list[str]:
    """Every command line of the ```bash blocks of the README's "Run it for a class" section."""
    text = readme.read_text()
    marker = f"\n{README_SECTION}\n"
    if marker not in text:
        pytest.fail(f"README.md has no section {README_SECTION!r} (deploy/ documents the class set-up there)")
    start = text.index(marker)
    end = text.find("\n## ", start + 1)
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text[start : end if end > 0 else len(text)], re.S | re.M):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#") and line not in commands:
                commands.append(line)
    return commands


def test_the_readme_section_is_what_the_cycle_runs(cycle):
    shown = readme_commands()
    ran = list(dict.fromkeys(line for _, line in cycle.ran))
    assert [line for line in ran if line not in shown] == [], "commands the test runs that the README does not show"
    assert sorted(line for line in shown if line not in ran) == sorted(NOT_RUN), "README commands the test skips"


def test_ci_installs_the_proxy():
    ci = (REPO / ".ci" / "run").read_text()
    assert "npm install -g configurable-http-proxy@5.3.0" in ci


def test_requirements_pin_the_installed_jupyterhub():
    import jupyterhub

    pins = (REPO / "requirements.txt").read_text().split()
    assert f"jupyterhub=={jupyterhub.__version__}" in pins
