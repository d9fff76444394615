"""The settings of one course server, read from environment variables (``CNN_COURSE_*``).

``deploy/hub.env.example`` lists them with their defaults; ``python -m deploy ... --env FILE``
loads such a file into the environment first (a systemd unit can use ``EnvironmentFile=``).
``deploy/jupyterhub_config.py`` builds JupyterHub's configuration from :func:`load`, and the
test (tests/test_jupyterhub.py) starts the hub through the same file with its own values.
"""

from __future__ import annotations

import csv
import os
import pwd
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

COURSE_ID = "cnn-course"  # nbgrader's course id (nbgrader_config.py) and the formgrader service's name
SERVICE_NAME = COURSE_ID  # nbgrader's course list looks for the formgrader at /services/<course_id>
INSTRUCTORS_GROUP = f"formgrade-{COURSE_ID}"  # group names nbgrader's JupyterHub documentation uses
STUDENTS_GROUP = f"nbgrader-{COURSE_ID}"

DEPLOY = Path(__file__).resolve().parent
CODE_ROOT = DEPLOY.parent  # the course's code as installed for everybody (utils/, deploy/)
CONFIG_FILE = DEPLOY / "jupyterhub_config.py"
JUPYTER_COMMON = DEPLOY / "jupyter" / "common"  # nbgrader_config.py shared by every account
JUPYTER_STUDENT = DEPLOY / "jupyter" / "student"  # students' servers: no formgrader, no course list

DEFAULTS = {
    "CNN_COURSE_HUB_URL": "http://:8000",
    "CNN_COURSE_HUB_API_URL": "http://127.0.0.1:8081",
    "CNN_COURSE_PROXY_API_URL": "http://127.0.0.1:8001",
    "CNN_COURSE_FORMGRADER_URL": "http://127.0.0.1:9999",
    "CNN_COURSE_STATE": "/srv/cnn-course/hub",
    "CNN_COURSE_EXCHANGE": "/srv/nbgrader/exchange",
    "CNN_COURSE_DATA": "/srv/cnn-course/data",
    "CNN_COURSE_OWNER": "",
    "CNN_COURSE_ROOT": "",
    "CNN_COURSE_INSTRUCTORS": "",
    "CNN_COURSE_STUDENTS": "",
    "CNN_COURSE_HUB_OVERLAY": "",
    "CNN_COURSE_PYTHON": "",
}


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass
class Settings:
    hub_url: str  # where students connect (the proxy's public address)
    hub_api_url: str  # the hub's own address, local
    proxy_api_url: str  # configurable-http-proxy's REST API, local
    formgrader_url: str  # the formgrader service (a Jupyter server run as `owner`), local
    state: Path  # the hub's database, cookie secret and pid files (root only, 0700)
    exchange: Path  # nbgrader's exchange root (1777)
    data: Path  # the data root every kernel gets as CNN_COURSE_DATA
    owner: str  # Unix account that owns the course folder and runs the formgrader
    root: Path  # the instructor's course folder (a clone of this repository, 0700)
    instructors: list[str]  # hub logins with access to the formgrader service
    students_csv: Path  # the class list, the same file `nbgrader db student import` reads
    overlay: Path | None  # an extra JupyterHub config file loaded last (site settings)
    python: str  # the course's Python: hub, user servers, kernels and nbgrader all use it
    students: list[dict] = field(default_factory=list)

    @property
    def bindir(self) -> str:
        return os.path.dirname(self.python)

    @property
    def user_path(self) -> str:
        """PATH of every user server and terminal: the course's Python first."""
        return os.pathsep.join([self.bindir, "/usr/local/bin", "/usr/bin", "/bin"])

    def user_environment(self, student: bool) -> dict[str, str]:
        """Environment variables of a user's server (and so of its kernels and terminals)."""
        config_path = [str(JUPYTER_STUDENT), str(JUPYTER_COMMON)] if student else [str(JUPYTER_COMMON)]
        return {
            "PATH": self.user_path,
            "CNN_COURSE_DATA": str(self.data),
            "CNN_COURSE_EXCHANGE": str(self.exchange),
            "JUPYTER_CONFIG_PATH": os.pathsep.join(config_path),
        }

    @property
    def student_ids(self) -> list[str]:
        return [row["id"] for row in self.students]

    @property
    def allowed_users(self) -> list[str]:
        return sorted({*self.student_ids, *self.instructors})


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """``KEY=VALUE`` lines of a shell-style env file (comments, blank lines and quotes allowed)."""
    out = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        if not sep or not key.isidentifier():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        words = shlex.split(value) if value.strip() else [""]
        out[key] = words[0] if len(words) == 1 else value
    return out


def read_students(path: Path) -> list[dict]:
    """Rows of the class list (header ``id,first_name,last_name,email``); ``id`` is the login."""
    if not path.is_file():
        raise SettingsError(
            f"the class list {path} does not exist: write it (id,first_name,last_name,email) or set CNN_COURSE_STUDENTS"
        )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "id" not in rows[0]:
        raise SettingsError(f"{path}: the header must name an `id` column (the students' logins), got {list(rows[0])}")
    return [row for row in rows if row.get("id", "").strip()]


def load(environ=None, need_students: bool = True) -> Settings:
    """The settings from ``environ`` (default: ``os.environ``) and the defaults above."""
    env = {**DEFAULTS, **{k: v for k, v in (os.environ if environ is None else environ).items() if k in DEFAULTS}}
    owner = env["CNN_COURSE_OWNER"].strip()
    if not owner:
        raise SettingsError(
            "set CNN_COURSE_OWNER to the Unix account that owns the course folder (see hub.env.example)"
        )
    root = env["CNN_COURSE_ROOT"].strip()
    if not root:
        try:
            root = os.path.join(pwd.getpwnam(owner).pw_dir, COURSE_ID)
        except KeyError:
            raise SettingsError(f"CNN_COURSE_OWNER={owner!r} is not a Unix account on this machine") from None
    instructors = [u.strip() for u in env["CNN_COURSE_INSTRUCTORS"].split(",") if u.strip()] or [owner]
    students_csv = Path(env["CNN_COURSE_STUDENTS"].strip() or os.path.join(root, "students.csv"))
    settings = Settings(
        hub_url=env["CNN_COURSE_HUB_URL"],
        hub_api_url=env["CNN_COURSE_HUB_API_URL"],
        proxy_api_url=env["CNN_COURSE_PROXY_API_URL"],
        formgrader_url=env["CNN_COURSE_FORMGRADER_URL"],
        state=Path(env["CNN_COURSE_STATE"]),
        exchange=Path(env["CNN_COURSE_EXCHANGE"]),
        data=Path(env["CNN_COURSE_DATA"]),
        owner=owner,
        root=Path(root),
        instructors=instructors,
        students_csv=students_csv,
        overlay=Path(env["CNN_COURSE_HUB_OVERLAY"]) if env["CNN_COURSE_HUB_OVERLAY"].strip() else None,
        python=env["CNN_COURSE_PYTHON"].strip() or sys.executable,
    )
    if need_students:
        settings.students = read_students(students_csv)
    return settings
