"""The evaluate stage: facts, rules and their rehearsal, the engine, evidence, fixes, the
policy file.
"""
