"""nbgrader configuration: the repository root is the course root.

Run every nbgrader command from the repository root (elsewhere nbgrader silently creates a
stray gradebook.db):

    nbgrader generate_assignment a1_convolution --force
    nbgrader autograde a1_convolution
    nbgrader generate_feedback a1_convolution
    nbgrader export
"""

import os
import warnings

import nbgrader

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "solutions"  # instructor versions, with solutions and hidden tests
c.CourseDirectory.release_directory = "assignments"  # student versions, committed
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# Release: student notebooks without outputs, with locked read-only cells.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True
# Release: the kernelspec that a student's JupyterLab writes ("Python 3 (ipykernel)", ipykernel's
# own python3 kernel; grading/release.py). nbgrader's Validate button saves the notebook before it
# validates it; with the source's "Python 3" a student's checkout showed a diff after validating.
# Same list as nbgrader's default, with StudentKernelspec first (so the gradebook stores it too).
c.GenerateAssignment.preprocessors = [
    "grading.release.StudentKernelspec",
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Collect: `nbgrader zip_collect <aid>` reads the LMS download saved in downloaded/<aid>/archive/
# (zip files or loose files). File names as Canvas writes them:
#   <login>[_LATE]_<number>_<number>_<aid>[-<resubmission>].ipynb -> submitted/<login>/<aid>/<aid>.ipynb
# Another LMS: change the regular expression (named groups student_id and file_id).
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.-]+)_(?:LATE_)?(?:\d+_)*(?P<file_id>[A-Za-z]\w*?)(?:-\d+)?\.ipynb$"
)

# Autograde: student code runs in a sandbox (grading/sandbox.py: bubblewrap, read-only file
# system, course root hidden, user `nobody`); a per-cell time limit; output capped while it
# arrives; a cell that kills the kernel scores zero and the rest is re-run without it
# (grading/execute.py); deleted or changed test and locked cells come back from the source,
# duplicated or renamed cells cannot crash nbgrader, cells added above the setup run after it
# (grading/sanitize.py); minimal tracebacks so that no hidden-test line is printed. Without
# bubblewrap autograde refuses to run unless --SandboxedExecute.allow_unsandboxed=True.
# nbgrader 0.9.6's gradebook code (nbgrader/api.py) makes SQLAlchemy warn "Object of type
# <SubmittedAssignment> not in session, add operation along ... will not proceed" for each
# submission: an autoflush detail, the rows are written right after. Only that message is muted.
warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "grading.sanitize.SafeOverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "grading.execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# a kernel that imports torch in the sandbox can take over a minute to answer on a busy machine
# (several graders at once): wait longer than nbclient's 60 s before giving up on it
c.Execute.startup_timeout = 180
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]
c.SandboxedExecute.max_output_chars = 100_000
# on the course's JupyterHub (deploy/) the kernels run as the instructor, who can read the whole
# exchange: hide it too (CNN_COURSE_EXCHANGE is set there, not on a laptop)
_exchange = os.environ.get("CNN_COURSE_EXCHANGE", "").strip()
c.SandboxKernelManager.hidden_paths = [HERE] + ([_exchange] if _exchange else [])
c.SandboxKernelManager.readonly_paths = [os.path.join(HERE, "utils"), os.path.join(HERE, "data")]
c.OverwriteCells.add_missing_cells = True

# Late submissions: nbgrader compares each submission's timestamp.txt with the assignment's due
# date (`nbgrader db assignment add <aid> --duedate=...`). "none" (nbgrader's default) records how
# late a submission is and takes no point off; "zero" gives a late notebook 0 (see the README).
c.LateSubmissionPlugin.penalty_method = "none"

# Feedback: hidden tests are removed before the HTML is written, and so is every output line
# that quotes one (grading/feedback.py). A failed hidden-test cell shows its score and the
# error's one-line message, e.g. "AssertionError: conv_param_count(1, 1, 1, bias=False):
# expected 1, got 2." (the failing case, as the instructor wrote it). False: the cell shows
# only "AssertionError: a hidden test failed (its message is not shown)".
c.RedactHiddenTestOutput.show_hidden_failure_message = True
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grading.feedback.RedactHiddenTestOutput",
    "grading.feedback.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Feedback pages carry MathJax 3 (grading/offline_math.py): their formulas render offline, where
# nbgrader's template loads MathJax 2 from a CDN and shows raw $...$. The template is nbgrader's
# feedback template with only its mathjax macro replaced (grading/templates/feedback_offline).
# (The formgrader sets its own template for its pages; these settings do not reach it.)
c.HTMLExporter.template_name = "feedback_offline"
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(HERE, "grading", "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
c.HTMLExporter.filters = {"course_mathjax": "grading.offline_math.mathjax_html"}
