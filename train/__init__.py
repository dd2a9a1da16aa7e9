"""glade.train"""
