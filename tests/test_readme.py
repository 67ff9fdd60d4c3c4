"""The README's Python examples run as written, and its set-up commands are the ones CI runs."""

import re

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_python_examples_run():
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        exec(compile(block, "README.md", "exec"), {})


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    setup = README.split("## Set up on a fresh machine")[1].split("\n## ")[0]
    commands = re.findall(r"```bash\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2
    test_command = commands[1].split("&&")[-2:]  # the part after installing
    ci = (REPO / ".ci" / "run").read_text()
    assert all(part.strip().replace("pytest", "python -m pytest") in ci for part in test_command)
