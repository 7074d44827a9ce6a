"""Remediation: plan, confirm, apply, verify."""
