"""A child for the supervisor's tests: 200 lines on stdout, one on stderr, exit code 3."""

import sys

for i in range(200):
    print(f"line {i}")
print("to stderr", file=sys.stderr)
sys.exit(3)
