"""Talking to AWS: sessions, clients, lean service models, the pacing/retry engine, error
classification, the task pool.
"""
