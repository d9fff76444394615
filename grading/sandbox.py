"""Run the autograder's kernel, that is the student's code, inside a bubblewrap sandbox.

`nbgrader autograde` executes every submission in a Jupyter kernel. Without isolation that
kernel runs as the instructor: a submission can rewrite gradebook.db, read or edit
solutions/, or overwrite another student's files. `SandboxKernelManager` starts the same
kernel command wrapped in Debian's bubblewrap (`bwrap`):

- the whole file system is mounted read-only (`--ro-bind / /`);
- the course root and the instructor's home are replaced by empty folders, so solutions/,
  gradebook.db, submitted/, autograded/ and feedback/ of everybody are invisible; only what
  the kernel needs to import (the Python installation, sys.path entries, the course's
  `utils/` package and data folder, see `readonly_paths`) is mounted back, read-only;
- the kernel's working folder is a throw-away *copy* of the student's own folder: student
  code may write there or in /tmp (private, in memory) and all of it vanishes with the
  kernel; nbgrader's real autograded/ folder is never writable from inside, so a planted
  symlink cannot redirect nbgrader's own later writes;
- the kernel runs as the unprivileged user `nobody` (65534) when grading as root, with no
  capabilities, `no_new_privs`, its own PID/IPC/UTS namespaces (it cannot see or signal
  nbgrader or other kernels), a new session (no access to the instructor's terminal) and a
  scrubbed environment (no tokens from the instructor's shell);
- the network namespace is shared, because the kernel talks to nbgrader over loopback.

Students' own Jupyter and `nbgrader validate` are untouched: only the autograde step uses
this manager (`grading.execute.SandboxedExecute`).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, List, Unicode

NOBODY = 65534
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`)"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


_PROBE_CACHE: dict[tuple, str | None] = {}


def _setpriv_args(uid: int) -> list[str]:
    """Drop to `uid` with no capabilities and no way to regain any (only when we are root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def sandbox_problem(uid: int = NOBODY) -> str | None:
    """Return None when a sandbox can be started here, else one line saying why not."""
    key = (uid, os.geteuid())
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        problem = f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    elif os.geteuid() == 0 and shutil.which("setpriv") is None:
        problem = "setpriv (util-linux) is not installed: it is needed to drop root privileges"
    else:
        cmd = [bwrap, *_base_args(), *_setpriv_args(uid), "/bin/sh", "-c", "exit 0"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            ok = proc.returncode == 0
            detail = (proc.stderr or proc.stdout).strip().splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            ok, detail = False, [str(exc)]
        problem = None
        if not ok:
            why = detail[-1] if detail else "unknown error"
            problem = f"bubblewrap cannot create a sandbox here ({why}); unprivileged user namespaces may be disabled"
    _PROBE_CACHE[key] = problem
    return problem


def _base_args() -> list[str]:
    """Namespaces and the read-only root shared by every sandbox."""
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    args += ["--new-session", "--die-with-parent"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    return args


def _copy_small_tree(src: str, dest: str, max_bytes: int, max_files: int = 5000) -> bool:
    """Copy the folder `src` to `dest` (symlinks as links) if it is small; False if it is not."""
    total, count = 0, 0
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        count += len(files) + len(dirs)
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
        if total > max_bytes or count > max_files or _is_under(dest, root):
            return False
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return True


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def python_paths() -> list[str]:
    """Folders the kernel's Python needs to start and import installed packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sysconfig.get_paths().values())
    paths.update(p for p in sys.path if p)
    paths.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    # setuptools editable installs map a package name to a source folder outside sys.path
    for finder in sys.meta_path:
        mapping = getattr(sys.modules.get(getattr(finder, "__module__", ""), None), "MAPPING", None)
        if isinstance(mapping, dict):
            paths.update(str(v) for v in mapping.values())
    return sorted(os.path.realpath(p) for p in paths if os.path.isabs(p) and os.path.exists(p))


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel command runs inside bubblewrap (see module doc)."""

    hidden_paths = List(
        Unicode(),
        help="Folders replaced by an empty one inside the sandbox (the course root). "
        "The home folder of the user running nbgrader is always hidden.",
    ).tag(config=True)
    readonly_paths = List(
        Unicode(),
        help="Paths under a hidden folder that the kernel may read (the course's utils/ and data/). "
        "The Python installation and sys.path are added automatically.",
    ).tag(config=True)
    env_keep = List(
        Unicode(),
        [
            "PATH",
            "LANG",
            "LANGUAGE",
            "LC_*",
            "TZ",
            "PYTHON*",
            "NBGRADER_*",
            "MPLBACKEND",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "CNN_COURSE_*",
        ],
        help="Environment variables (fnmatch patterns) passed to the kernel; all others are dropped.",
    ).tag(config=True)
    kernel_log = Unicode(
        "", help="File that receives the kernel process's own stdout/stderr (default: discarded). For debugging."
    ).tag(config=True)
    sandbox_uid = Integer(NOBODY, help="User id of the kernel when nbgrader runs as root.").tag(config=True)

    max_copy_bytes = Integer(
        200_000_000, help="Largest working folder copied for the kernel; a bigger one is mounted read-only."
    ).tag(config=True)

    _private_dir: str | None = None
    _orig_cwd: str | None = None
    _scratch = False

    async def start_kernel(self, **kw):  # type: ignore[override]
        problem = sandbox_problem(self.sandbox_uid)
        if problem:
            raise SandboxUnavailable(problem)
        self._orig_cwd = os.path.realpath(kw.get("cwd") or os.getcwd())
        self._private_dir = tempfile.mkdtemp(prefix="nbgrader-sandbox-")
        # the connection file lives in our private folder and is mounted read-only inside
        self.connection_file = os.path.join(self._private_dir, "kernel.json")
        # a throw-away copy of the student's folder becomes the kernel's working folder (a folder
        # too big to copy is mounted read-only instead)
        self._scratch = _copy_small_tree(self._orig_cwd, os.path.join(self._private_dir, "work"), self.max_copy_bytes)
        os.makedirs(os.path.join(self._private_dir, "home"))
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(self._private_dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, self.sandbox_uid, self.sandbox_uid)
        # ask ipykernel to interrupt itself (its process group is private to the sandbox)
        if self.kernel_spec is not None:
            self.kernel_spec.interrupt_mode = "message"
        kw["cwd"] = self._orig_cwd if os.path.isdir(self._orig_cwd) else None
        # the kernel's own stdout/stderr (not the cells' outputs, which travel over ZMQ) must
        # not reach the instructor's terminal: a submission could flood it
        if self.kernel_log:
            log = open(self.kernel_log, "ab")  # noqa: SIM115 - handed to the kernel process
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
        else:
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
        try:
            await super().start_kernel(**kw)
        except BaseException:
            self._remove_private_dir()
            raise

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self._private_dir is None:  # started without start_kernel (not expected)
            raise SandboxUnavailable("SandboxKernelManager.start_kernel was not used")
        if os.geteuid() == 0 and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)
        return [shutil.which("bwrap") or "bwrap", *self._mount_args(), *_setpriv_args(self.sandbox_uid), *cmd]

    def _mount_args(self) -> list[str]:
        home = os.path.realpath(os.path.expanduser("~"))
        hidden = [os.path.realpath(p) for p in self.hidden_paths]
        if home != "/":
            hidden.append(home)
        hidden = sorted({p for p in hidden if os.path.isdir(p) and p != "/"})
        args = _base_args()
        for p in hidden:
            args += ["--perms", "0755", "--tmpfs", p]
        # mount back what the kernel must read, parents before children
        needed = python_paths() + [os.path.realpath(p) for p in self.readonly_paths if os.path.exists(p)]
        # a path is mounted back when a hidden folder (or the private /tmp) covers it, never when
        # it would uncover a hidden folder itself (the course root is often on sys.path)
        rebind = sorted(
            {
                p
                for p in needed
                if any(_is_under(p, h) and p != h for h in [*hidden, "/tmp"])
                and not any(_is_under(h, p) for h in hidden)
            }
        )
        made: set[str] = set()
        covers = [*hidden, "/tmp"]  # folders that are empty inside the sandbox

        def bind(src: str, dest: str, option: str) -> None:
            # bwrap would create missing parents as 0700 root: create them traversable
            tops = [h for h in covers if _is_under(dest, h) and dest != h]
            if tops:
                top = max(tops, key=len)
                parents, d = [], os.path.dirname(dest)
                while d != top and _is_under(d, top):
                    parents.append(d)
                    d = os.path.dirname(d)
                for d in reversed(parents):
                    if d not in made:
                        made.add(d)
                        args.extend(["--perms", "0755", "--dir", d])
            args.extend([option, src, dest])

        kept: list[str] = []
        for p in rebind:
            if not any(_is_under(p, k) for k in kept):
                kept.append(p)
                bind(p, p, "--ro-bind")
        if self._scratch:
            bind(os.path.join(self._private_dir, "work"), self._orig_cwd, "--bind")
        elif not _is_under(self._private_dir, self._orig_cwd):  # (a cwd such as /tmp stays private)
            bind(self._orig_cwd, self._orig_cwd, "--ro-bind")
        args += ["--chdir", self._orig_cwd]
        bind(os.path.join(self._private_dir, "home"), "/tmp/home", "--bind")
        bind(self.connection_file, self.connection_file, "--ro-bind")
        args += ["--clearenv"]
        for key, value in sorted(os.environ.items()):
            if any(fnmatch.fnmatchcase(key, pat) for pat in self.env_keep):
                args += ["--setenv", key, value]
        for key, value in [
            ("HOME", "/tmp/home"),
            ("TMPDIR", "/tmp"),
            ("IPYTHONDIR", "/tmp/home/.ipython"),
            ("MPLCONFIGDIR", "/tmp/home/.matplotlib"),
        ]:
            args += ["--setenv", key, value]
        return args

    def _remove_private_dir(self) -> None:
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await super().cleanup_resources(restart=restart)
        if not restart:
            self._remove_private_dir()

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
        await super().shutdown_kernel(now=now, restart=restart)
        if not restart:
            self._remove_private_dir()
