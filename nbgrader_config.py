"""nbgrader configuration: the repository root is the course root.

Run every nbgrader command from the repository root (elsewhere nbgrader silently creates a
stray gradebook.db):

    nbgrader generate_assignment a1_convolution --force
    nbgrader autograde a1_convolution
    nbgrader generate_feedback a1_convolution
    nbgrader export
"""

import os

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

# Autograde: a per-cell time limit; deleted or changed test cells come back from the source;
# minimal tracebacks so that no hidden-test line is printed into the graded notebook.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]
c.OverwriteCells.add_missing_cells = True

# Feedback: hidden tests are removed before the HTML is written.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
