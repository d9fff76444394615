"""JupyterHub for the course on one server: real Unix accounts, nbgrader's exchange, the formgrader.

Start it with ``sudo python -m deploy up --env /etc/cnn-course/hub.env`` (which runs
``jupyterhub -f deploy/jupyterhub_config.py`` in the state folder); every setting comes from the
``CNN_COURSE_*`` variables of deploy/settings.py (listed in deploy/hub.env.example).

- Authentication: PAM, the accounts of the machine (JupyterHub's default). Only the students
  of the class list (``CNN_COURSE_STUDENTS``, the CSV that ``nbgrader db student import``
  reads) and the instructors may log in.
- Each user's server is a local process running as that user (JupyterHub's default
  LocalProcessSpawner, so the hub runs as root), with the course's Python, which has the
  pinned requirements and ``utils`` installed; its kernels inherit the environment below:
  the data root (``CNN_COURSE_DATA``), the exchange root and the nbgrader configuration
  shared by every account (deploy/jupyter/common/nbgrader_config.py: course id, exchange,
  ``path_includes_course``, the private exchange of deploy/exchange.py).
- The formgrader is a hub-managed service named like the course (``/services/cnn-course/``),
  a Jupyter server run as the course's owner in the course folder. Instructors reach it
  through the group ``formgrade-cnn-course`` and the role of the same name; students are in
  ``nbgrader-cnn-course`` (the names of nbgrader's JupyterHub documentation).
- Students' servers load deploy/jupyter/student/ first: no formgrader and no course list
  there (nbgrader's table of which extension each account needs).

Not set here: TLS (put the hub behind a reverse proxy that terminates HTTPS, or set
``c.JupyterHub.ssl_cert``/``ssl_key`` in the overlay file ``CNN_COURSE_HUB_OVERLAY``),
resource limits (the local spawner enforces none; see jupyterhub-systemdspawner).
"""

import os
import shutil
import sys

c = get_config()  # noqa: F821 - provided by traitlets when JupyterHub loads this file

_here = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(_here) not in sys.path:
    sys.path.insert(0, os.path.dirname(_here))

from deploy import settings as _settings  # noqa: E402

s = _settings.load()

# -- network: the proxy is public, the hub, its proxy API and the formgrader stay local --------
c.JupyterHub.bind_url = s.hub_url
c.JupyterHub.hub_bind_url = s.hub_api_url
c.ConfigurableHTTPProxy.api_url = s.proxy_api_url
_chp = shutil.which("configurable-http-proxy")
if _chp:
    c.ConfigurableHTTPProxy.command = [_chp]
c.ConfigurableHTTPProxy.pid_file = str(s.state / "proxy.pid")

# -- the hub's own files: root only ---------------------------------------------------------
c.JupyterHub.db_url = "sqlite:///" + str(s.state / "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = str(s.state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(s.state / "jupyterhub.pid")
# restarting the hub (to read a changed class list) leaves running servers running
c.JupyterHub.cleanup_servers = False

# -- who may log in ---------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allow_all = False
c.Authenticator.allowed_users = set(s.allowed_users)
c.Authenticator.admin_users = set()  # instructors get the smaller role "instructor" below

c.JupyterHub.load_groups = {
    _settings.INSTRUCTORS_GROUP: {"users": sorted(s.instructors)},
    _settings.STUDENTS_GROUP: {"users": sorted(s.student_ids)},
}
c.JupyterHub.load_roles = [
    {
        # the formgrader service, and finding it (nbgrader's course list asks the hub)
        "name": _settings.INSTRUCTORS_GROUP,
        "groups": [_settings.INSTRUCTORS_GROUP],
        "scopes": [
            f"access:services!service={_settings.SERVICE_NAME}",
            "list:services",
            f"read:services!service={_settings.SERVICE_NAME}",
        ],
    },
    {
        "name": _settings.STUDENTS_GROUP,
        "groups": [_settings.STUDENTS_GROUP],
        "scopes": ["list:services", f"read:services!service={_settings.SERVICE_NAME}"],
    },
    {
        # the admin page: see the class, start and stop servers; no access to students' servers
        "name": "instructor",
        "groups": [_settings.INSTRUCTORS_GROUP],
        "scopes": ["admin-ui", "list:users", "read:users", "admin:servers"],
    },
    {
        # the token of each user's server: what its owner may do, within this list (the course
        # list extension of an instructor's server looks up the formgrader service with it)
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!user",
            "list:services",
            f"read:services!service={_settings.SERVICE_NAME}",
            f"access:services!service={_settings.SERVICE_NAME}",
        ],
    },
]

# -- users' servers ---------------------------------------------------------------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [s.python, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 120  # a busy server takes a while to start a Jupyter server
c.Spawner.start_timeout = 300
_instructors = set(s.instructors)
_student_env = s.user_environment(student=True)
_instructor_env = s.user_environment(student=False)
c.Spawner.environment = {
    key: (lambda spawner, key=key: (_instructor_env if spawner.user.name in _instructors else _student_env)[key])
    for key in _student_env
}

# -- the formgrader: a Jupyter server of the course's owner, in the course folder ---------------
c.JupyterHub.services = [
    {
        "name": _settings.SERVICE_NAME,
        "display": True,
        "url": s.formgrader_url,
        "command": [s.python, "-m", "jupyterhub.singleuser"],
        "user": s.owner,
        "cwd": str(s.root),
        "environment": {**_instructor_env, "JUPYTERHUB_DEFAULT_URL": "/formgrader"},
        "oauth_no_confirm": True,
    }
]

# -- site settings (TLS, another authenticator, limits) go in an extra file, loaded last ------
if s.overlay is not None:
    load_subconfig(str(s.overlay))  # noqa: F821 - provided by traitlets
