"""nbgrader settings shared by every account of the course's JupyterHub (students, instructors,
the formgrader service). JupyterHub puts this folder on every user's JUPYTER_CONFIG_PATH
(deploy/jupyterhub_config.py), so the Assignments tab, the formgrader and `nbgrader` in a
terminal all read it. The instructor's course folder adds the repository's own
nbgrader_config.py (course root, gradebook, the grading sandbox) on top of it.

The exchange root comes from CNN_COURSE_EXCHANGE (set by the hub for every server). The exchange
classes of deploy/exchange.py replace nbgrader's default ones: a submission is readable by its
student and the instructors' group only, released feedback by its student only, and no student
can rename or delete another's submission.
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

_code_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if _code_root not in sys.path:
    sys.path.append(_code_root)  # the deploy package

c.CourseDirectory.course_id = "cnn-course"
c.Exchange.root = os.environ.get("CNN_COURSE_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True  # students' copies land in ~/cnn-course/<assignment>/
c.ExchangeFactory.release_assignment = "deploy.exchange.PrivateReleaseAssignment"
c.ExchangeFactory.submit = "deploy.exchange.PrivateSubmit"
c.ExchangeFactory.release_feedback = "deploy.exchange.PrivateReleaseFeedback"
