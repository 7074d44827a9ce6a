"""The findings document, merge, the console and the output formats."""
