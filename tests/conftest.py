import os

from hypothesis import settings

# In CI, property tests draw the same examples every run: a new random failure is found
# on a developer's machine, not in the run that decides whether a change lands.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
