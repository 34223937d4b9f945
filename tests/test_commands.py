"""Console commands: each [project.scripts] entry of pyproject.toml names a main(argv) that runs."""

import importlib
import inspect
import tomllib

import pytest

from tests.conftest import REPO

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_use_has_a_command():
    assert SCRIPTS == {"ram-train": "train:main", "ram-view": "ram.view:main", "ram-compare": "ram.compare:main",
                       "ram-evaluate": "ram.evaluate:main"}
    assert f"`{'`, `'.join(SCRIPTS)}`" in (REPO / "README.md").read_text()  # and the README names them


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_every_command_resolves_to_a_main_that_takes_argv_and_answers_help(command, capsys):
    module, function = SCRIPTS[command].split(":")
    main = getattr(importlib.import_module(module), function)
    assert list(inspect.signature(main).parameters) == ["argv"]  # the console script calls main() without it
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage:")
