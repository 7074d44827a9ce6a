"""Pushes after the reports: Security Hub, SNS."""
