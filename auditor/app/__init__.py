"""Whole runs: scan, event, demo and the Lambda entry point (the only places that run a whole
pipeline).
"""
