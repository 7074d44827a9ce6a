"""The collect stage: scope (accounts, regions, credentials), inventory, List and Describe."""
