"""glade.eval"""
