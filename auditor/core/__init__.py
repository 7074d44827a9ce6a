"""Records, resource kinds, the request, URI parsing and text safety: plain data every layer
reads.
"""
