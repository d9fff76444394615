"""Robust autograding for this course: a sandbox for student code, parallel grading, safe feedback.

- grading.sandbox   SandboxKernelManager: the grading kernel runs under bubblewrap, as `nobody`.
- grading.execute   SandboxedExecute: nbgrader's Execute + sandbox, output cap, kernel-death recovery.
- grading.sanitize  SafeOverwriteCells: duplicated/renamed/deleted cells, cells added above the setup.
- grading.feedback  RedactHiddenTestOutput: no hidden-test line in feedback outputs.
- grading.cli       `python -m grading autograde ASSIGNMENT`: pre-checks every file, grades in parallel.

nbgrader_config.py wires the first four into `nbgrader autograde` and `nbgrader generate_feedback`.
"""
