"""glade's lm-eval tasks: YAML plus utils.py, package data read by glade.eval.harness."""
