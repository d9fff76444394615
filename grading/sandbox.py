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
- the kernel's working folder is an in-memory *copy* of the student's own folder, without
  notebooks (the sanitized notebook that nbgrader writes there, hidden tests restored, is left
  out): student code may write there or in /tmp and all of it vanishes with the kernel;
  nbgrader's real autograded/ folder is never writable from inside, so a planted symlink
  cannot redirect nbgrader's own later writes;
- the kernel runs as an unprivileged user id when grading as root, with no capabilities,
  `no_new_privs`, its own PID/IPC/UTS namespaces (it cannot see or signal nbgrader or other
  kernels), a new session (no access to the instructor's terminal) and a scrubbed
  environment (no tokens from the instructor's shell);
- no network: the kernel has its own, empty network namespace (`--unshare-net`) and talks to
  nbgrader over ZeroMQ's `ipc` transport, Unix sockets in a private folder that is made
  read-only for the kernel once its sockets exist (`seal()`);
- each kernel runs as a user id of its own (`uid_base` + a free slot, claimed with a lock
  file), so parallel kernels cannot signal, trace or read each other's processes and the
  process limit counts one kernel only;
- limits (`prlimit`, each from nbgrader_config.py): memory (`RLIMIT_DATA`, 2 GB: `RLIMIT_AS`
  would break `import torch`), processes, open files, file size, CPU seconds; `/tmp`,
  `/dev/shm` and the working folder are in-memory file systems of a fixed size, so student
  code can write nowhere on the machine's disk;
- BLAS/OpenMP threads are capped (`threads`), so parallel workers do not oversubscribe the cores.

Students' own Jupyter and `nbgrader validate` are untouched: only the autograde step uses
this manager (`grading.execute.SandboxedExecute`).
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

NOBODY = 65534
UID_LOCKS = "/tmp/nbgrader-sandbox-uids"
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


def _prlimit_args(limits: dict[str, int]) -> list[str]:
    """`prlimit --data=... --` for the limits that are set (> 0)."""
    prlimit = shutil.which("prlimit") or "/usr/bin/prlimit"
    flags = [f"--{name}={value}" for name, value in limits.items() if value and value > 0]
    return [prlimit, *flags, "--"] if flags else []


def limit_problems() -> list[str]:
    """One line per protection this machine cannot give (empty when every one works)."""
    problems = []
    if shutil.which("prlimit") is None:
        problems.append("prlimit (util-linux) is missing: no limits on memory, processes, files or CPU time")
    if os.geteuid() != 0:
        problems.append(
            "not running as root: every kernel runs as the instructor's own user id inside a user namespace, "
            "so parallel kernels share one process limit (grade as root for a user id per kernel)"
        )
    try:
        version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, timeout=10).stdout.split()
        if version and tuple(int(v) for v in version[-1].split(".")[:2]) < (0, 8):
            problems.append(f"bubblewrap {version[-1]} is older than 0.8: /tmp cannot be given a size")
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return problems


def claim_uid(base: int, slots: int) -> tuple[int, object]:
    """A user id in [base, base + slots) that no other sandboxed kernel holds and no account uses,
    with the open lock file that holds it (close it to give the id back)."""
    os.makedirs(UID_LOCKS, mode=0o700, exist_ok=True)
    for uid in range(base, base + slots):
        try:
            pwd.getpwuid(uid)
            continue  # a real account
        except KeyError:
            pass
        lock = open(os.path.join(UID_LOCKS, str(uid)), "w")  # noqa: SIM115 - held while the kernel runs
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                continue
            raise
        return uid, lock
    raise SandboxUnavailable(f"all {slots} sandbox user ids from {base} are in use")


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
        cmd = [bwrap, *_base_args(1 << 20), *_setpriv_args(uid), "/bin/sh", "-c", "exit 0"]
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


def _base_args(tmp_bytes: int = 0, isolate_net: bool = True) -> list[str]:
    """Namespaces and the read-only root shared by every sandbox (/tmp and /dev/shm of at most
    `tmp_bytes` each when given; an empty network namespace unless `isolate_net` is False)."""
    size = ["--size", str(tmp_bytes)] if tmp_bytes else []
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--perms", "1777", *size, "--tmpfs", "/tmp", "--perms", "1777", *size, "--tmpfs", "/dev/shm"]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if isolate_net:
        args += ["--unshare-net"]
    args += ["--new-session", "--die-with-parent"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    return args


def _copy_small_tree(src: str, dest: str, max_bytes: int, max_files: int = 5000, skip=()) -> bool:
    """Copy the folder `src` to `dest` (symlinks as links, without the names matching `skip`) if it
    is small; False if it is not."""
    total, count = 0, 0
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        count += len(files) + len(dirs)
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
        if total > max_bytes or count > max_files or _is_under(dest, root):
            return False
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints", *skip))
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
    sandbox_uid = Integer(
        0, help="User id of every kernel when nbgrader runs as root; 0 (default): a free id of its own per kernel."
    ).tag(config=True)
    uid_base = Integer(61000, help="First of the user ids given to kernels, one each (when run as root).").tag(
        config=True
    )
    uid_slots = Integer(256, help="How many user ids from uid_base kernels may use at once.").tag(config=True)
    network = Bool(False, help="Give the kernel the host's network (default: none at all).").tag(config=True)
    memory_bytes = Integer(2 << 30, help="RLIMIT_DATA of the kernel (heap and mappings), 0: no limit.").tag(config=True)
    max_processes = Integer(1024, help="RLIMIT_NPROC: processes and threads of the kernel's user id.").tag(config=True)
    max_open_files = Integer(1024, help="RLIMIT_NOFILE of the kernel.").tag(config=True)
    max_file_bytes = Integer(1 << 30, help="RLIMIT_FSIZE: the largest file the kernel may write.").tag(config=True)
    cpu_seconds = Integer(1800, help="RLIMIT_CPU: CPU seconds of the kernel process, all cells together.").tag(
        config=True
    )
    disk_bytes = Integer(1 << 30, help="Size of the kernel's working folder (in memory).").tag(config=True)
    tmp_bytes = Integer(256 << 20, help="Size of /tmp and of /dev/shm inside the sandbox (in memory).").tag(config=True)
    threads = Integer(
        1, help="OMP/MKL/OpenBLAS threads of the kernel (and CNN_COURSE_THREADS): parallel workers share the cores."
    ).tag(config=True)

    max_copy_bytes = Integer(
        200_000_000, help="Largest working folder copied for the kernel; a bigger one is mounted read-only."
    ).tag(config=True)

    _private_dir: str | None = None
    _orig_cwd: str | None = None
    _scratch = False
    _uid: int = NOBODY
    _uid_lock = None
    _ipc_dir: str | None = None

    def limits(self) -> dict[str, int]:
        """The prlimit settings of the kernel."""
        return {
            "data": self.memory_bytes,
            "nproc": self.max_processes if os.geteuid() == 0 else 0,
            "nofile": self.max_open_files,
            "fsize": self.max_file_bytes,
            "cpu": self.cpu_seconds,
        }

    async def start_kernel(self, **kw):  # type: ignore[override]
        if os.geteuid() == 0 and not self.sandbox_uid:
            self._uid, self._uid_lock = claim_uid(self.uid_base, self.uid_slots)
        else:
            self._uid = self.sandbox_uid or NOBODY
        problem = sandbox_problem(self._uid)
        if problem:
            self._release_uid()
            raise SandboxUnavailable(problem)
        self._orig_cwd = os.path.realpath(kw.get("cwd") or os.getcwd())
        self._private_dir = tempfile.mkdtemp(prefix="nbgrader-sandbox-")
        # the connection file lives in our private folder and is mounted read-only inside
        self.connection_file = os.path.join(self._private_dir, "kernel.json")
        # the kernel's sockets (without network: no network namespace to share) and the grader's
        # own (grading/bridge.py) are files in a folder of ours, the only one shared with the kernel
        self._ipc_dir = os.path.join(self._private_dir, "ipc")
        os.makedirs(self._ipc_dir)
        if not self.network:
            self.transport = "ipc"
            self.ip = os.path.join(self._ipc_dir, "k")
        # a copy of the student's folder, without notebooks (the one being graded has the hidden
        # tests), is copied into the kernel's in-memory working folder when it starts; a folder too
        # big to copy is left out (the kernel starts in an empty folder)
        self._scratch = _copy_small_tree(
            self._orig_cwd, os.path.join(self._private_dir, "work"), self.max_copy_bytes, skip=("*.ipynb",)
        )
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(self._private_dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, self._uid, self._uid)
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

    def grader_socket_dir(self) -> tuple[str, int | None]:
        """The folder where the grader may put a socket that this kernel can reach, and the user id
        that must own it (None when not grading as root)."""
        return self._ipc_dir, (self._uid if os.geteuid() == 0 else None)

    def seal(self) -> None:
        """Once the kernel's sockets exist: the socket folder becomes read-only for the kernel, so
        nothing of the sandbox can write to the machine's disk any more."""
        if self._ipc_dir and os.geteuid() == 0 and os.path.isdir(self._ipc_dir):
            os.chown(self._ipc_dir, 0, 0)
            os.chmod(self._ipc_dir, 0o755)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self._private_dir is None:  # started without start_kernel (not expected)
            raise SandboxUnavailable("SandboxKernelManager.start_kernel was not used")
        if os.geteuid() == 0 and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self._uid, self._uid)
        # inside: limits, then the kernel's user id, then copy the student's files in and start
        fill = ["/bin/sh", "-c", 'cp -R /tmp/.student/. . 2>/dev/null; exec "$@"', "sh"] if self._scratch else []
        return [
            shutil.which("bwrap") or "bwrap",
            *self._mount_args(),
            *_prlimit_args(self.limits()),
            *_setpriv_args(self._uid),
            *fill,
            *cmd,
        ]

    def _mount_args(self) -> list[str]:
        home = os.path.realpath(os.path.expanduser("~"))
        hidden = [os.path.realpath(p) for p in self.hidden_paths]
        if home != "/":
            hidden.append(home)
        hidden = sorted({p for p in hidden if os.path.isdir(p) and p != "/"})
        args = _base_args(self.tmp_bytes, isolate_net=not self.network)
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

        def bind(src: str, dest: str, option: str | None) -> None:
            """Mount src at dest (option --bind / --ro-bind; None: only make dest's parents)."""
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
            if option:
                args.extend([option, src, dest])

        kept: list[str] = []
        for p in rebind:
            if not any(_is_under(p, k) for k in kept):
                kept.append(p)
                bind(p, p, "--ro-bind")
        # the working folder: an in-memory file system of disk_bytes, filled from a read-only copy
        size = ["--size", str(self.disk_bytes)] if self.disk_bytes else []
        bind("", self._orig_cwd, None)
        args += ["--perms", "1777", *size, "--tmpfs", self._orig_cwd]
        if self._scratch:
            args += ["--ro-bind", os.path.join(self._private_dir, "work"), "/tmp/.student"]
        args += ["--chdir", self._orig_cwd]
        args += ["--perms", "1777", "--dir", "/tmp/home"]
        bind(self.connection_file, self.connection_file, "--ro-bind")
        if self._ipc_dir:
            bind(self._ipc_dir, self._ipc_dir, "--bind")
        args += ["--clearenv"]
        for key, value in sorted(os.environ.items()):
            if any(fnmatch.fnmatchcase(key, pat) for pat in self.env_keep):
                args += ["--setenv", key, value]
        threads = str(max(1, self.threads))
        for key, value in [
            ("OMP_NUM_THREADS", threads),
            ("MKL_NUM_THREADS", threads),
            ("OPENBLAS_NUM_THREADS", threads),
            ("CNN_COURSE_THREADS", threads),
            ("USER", "student"),
            ("LOGNAME", "student"),
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
        self._release_uid()

    def _release_uid(self) -> None:
        if self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock = None

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await super().cleanup_resources(restart=restart)
        if not restart:
            self._remove_private_dir()

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
        await super().shutdown_kernel(now=now, restart=restart)
        if not restart:
            self._remove_private_dir()
