"""The course for a whole class: JupyterHub with nbgrader's exchange on one server (and, not
tested here, on Kubernetes with Zero to JupyterHub: deploy/kubernetes/).

    jupyterhub_config.py     the hub: PAM, local user servers, the formgrader service, groups, roles
    settings.py              its CNN_COURSE_* settings (hub.env.example lists them)
    jupyter/common/          nbgrader configuration shared by every account (course id, exchange)
    jupyter/student/         students' servers: formgrader and course list switched off
    exchange.py, acl.py      nbgrader's exchange with private submissions and feedback
    cli.py                   python -m deploy {init,check,up}
    kubernetes/              Zero to JupyterHub: Helm values, the single-user image (untested)

Tested end to end by tests/test_jupyterhub.py; the README's "Run it for a class" section is
what that test does.
"""
