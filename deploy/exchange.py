"""nbgrader's local exchange with permissions that keep each student's files to that student.

nbgrader's own exchange (nbgrader/exchange/default/) hides submissions and feedback behind
names nobody can list: ``inbound/`` is 0733 (write, no read) and ``feedback/`` 0711, but a
submission folder is 0777 with 0644 files and a feedback file 0644, so whoever learns a name
can read (and, for a submission, replace) it. These subclasses, configured for every account
in deploy/jupyter/common/nbgrader_config.py, close that:

- ``PrivateReleaseAssignment``: ``inbound/`` also gets the sticky bit, so a student cannot
  rename or delete another student's submission, only the instructor can.
- ``PrivateSubmit``: a submission is 0700 folders and 0600 files, plus one ACL entry that lets
  the owner of ``inbound/`` (the instructor who released the assignment) read it and clean it
  up, and, with ``CourseDirectory.groupshared``, one for the group of ``inbound/`` (several
  graders): its student and the instructors can read it, no other student.
- ``PrivateReleaseFeedback``: a released feedback file is 0600 plus one ACL entry that lets
  its student (the login of the submission's folder, a Unix account on this server) read it.
  Where the file system has no ACLs (some NFS mounts), or the student has no account here,
  files keep nbgrader's modes (hidden by names nobody can list) and a warning says so.

Nothing else changes: the same folders, names and commands as nbgrader's default exchange.
"""

from __future__ import annotations

import errno
import glob
import os
import pwd
import re
import stat

from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import notebook_hash

from deploy import acl


class PrivateReleaseAssignment(ExchangeReleaseAssignment):
    def init_dest(self):
        super().init_dest()
        mode = os.stat(self.inbound_path).st_mode
        if not mode & stat.S_ISVTX and os.stat(self.inbound_path).st_uid == os.geteuid():
            os.chmod(self.inbound_path, stat.S_IMODE(mode) | stat.S_ISVTX)


class PrivateSubmit(ExchangeSubmit):
    def copy_files(self):
        super().copy_files()
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        grader = os.stat(self.inbound_path).st_uid  # the instructor who released (owns inbound/)
        groups = [os.stat(self.inbound_path).st_gid] if self.coursedir.groupshared else []
        try:
            private_tree(dest, grader, groups)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            self.log.warning("the exchange's file system has no ACLs: the submission keeps nbgrader's modes")


def private_tree(top: str, uid: int, gids=()) -> None:
    """Folders under ``top`` 0700, files 0600, plus ACL entries that let the account ``uid`` (and
    the groups ``gids``) read them all and clean the folders up."""
    rwx = acl.READ | acl.WRITE | acl.EXECUTE
    for folder, _, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, 0o600)
            acl.grant_user(path, uid, acl.READ)
            for gid in gids:
                acl.grant_group(path, gid, acl.READ)
    for folder, _, _ in os.walk(top, topdown=False):
        os.chmod(folder, 0o700)
        acl.grant_user(folder, uid, rwx)
        for gid in gids:
            acl.grant_group(folder, gid, rwx)


class PrivateReleaseFeedback(ExchangeReleaseFeedback):
    def copy_files(self):
        super().copy_files()
        for student_id, path in self.released_files():
            self.give_to(student_id, path)

    def released_files(self):
        """(student id, path in the exchange) of every feedback file this release wrote.

        The name of a released file is nbgrader's ``notebook_hash`` of the submission's secret and
        the notebook's name, computed here as nbgrader's ExchangeReleaseFeedback.copy_files does.
        """
        excluded = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = re.escape(os.path.sep).join(
            [
                self.coursedir.format_path(
                    self.coursedir.feedback_directory, "(?P<student_id>.*)", self.coursedir.assignment_id, escape=True
                ),
                "(?P<notebook_id>.*).html",
            ]
        )
        for html in glob.glob(os.path.join(self.src_path, "*.html")):
            match = re.match(pattern, html)
            if match is None or match["student_id"] in excluded:
                continue
            secret_file = os.path.join(os.path.dirname(html), "submission_secret.txt")
            with open(secret_file) as f:
                secret = f.read()
            name = notebook_hash(secret=secret, notebook_id=match["notebook_id"]) + ".html"
            path = os.path.join(self.dest_path, name)
            if os.path.exists(path):
                yield match["student_id"], path

    def give_to(self, student_id: str, path: str) -> None:
        try:
            uid = pwd.getpwnam(student_id).pw_uid
        except KeyError:
            self.log.warning("%s: no Unix account %r here, the feedback file keeps nbgrader's mode", path, student_id)
            return
        mode = os.stat(path).st_mode
        os.chmod(path, 0o600)
        try:
            acl.grant_user(path, uid, acl.READ)
        except OSError as exc:
            os.chmod(path, stat.S_IMODE(mode))
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            self.log.warning(
                "%s: the exchange's file system has no ACLs, the feedback file keeps nbgrader's mode", path
            )
            return
        self.log.info("Feedback file %s readable by %s only", os.path.basename(path), student_id)
