"""The core's typed loader of plugin configuration sections: environment strings and TOML values, one error format."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub import ConfigError, InvalidSetting, config_defaults, load_plugin_config, setting
from hub.config import load_settings
from hub.testing import start_hub

from .test_cli import run_hub


@dataclass(frozen=True)
class Sample:
    grace: float = setting(5.0, "Seconds.", minimum=0)
    workers: int = setting(2, "How many.", minimum=1)
    loud: bool = setting(False, "Shout.")
    name: str = setting("echo", "A name.")
    kinds: tuple[str, ...] = setting(("a", "b"), "Names.")

    def __post_init__(self) -> None:
        if self.loud and self.name == "quiet":
            raise InvalidSetting("loud", "cannot be true when name is 'quiet'")


def test_strings_from_the_environment_become_the_fields_types() -> None:
    loaded = load_plugin_config("sample", {"grace": "0.5", "workers": " 7 ", "loud": "yes", "name": "x", "kinds": "p, q,,"}, Sample)
    assert loaded == Sample(grace=0.5, workers=7, loud=True, name="x", kinds=("p", "q"))
    assert load_plugin_config("sample", {"loud": "off"}, Sample).loud is False


def test_toml_values_keep_their_types_and_defaults_fill_the_rest() -> None:
    loaded = load_plugin_config("sample", {"grace": 2, "workers": 3.0, "loud": True, "kinds": ["x", " y "]}, Sample)
    assert loaded == Sample(grace=2.0, workers=3, loud=True, name="echo", kinds=("x", "y"))
    assert isinstance(loaded.grace, float) and isinstance(loaded.workers, int)
    assert load_plugin_config("sample", {}, Sample) == Sample()
    assert config_defaults(Sample) == {"grace": 5.0, "workers": 2, "loud": False, "name": "echo", "kinds": ("a", "b")}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"grace": "abc"}, "plugin 'sample': setting 'grace' must be a number, got 'abc'"),
        ({"grace": "nan"}, "plugin 'sample': setting 'grace' must be a number, got 'nan'"),
        ({"grace": True}, "plugin 'sample': setting 'grace' must be a number, got True"),
        ({"grace": "-1"}, "plugin 'sample': setting 'grace' must be at least 0, got '-1'"),
        ({"workers": "2.5"}, "plugin 'sample': setting 'workers' must be a whole number, got '2.5'"),
        ({"workers": 2.5}, "plugin 'sample': setting 'workers' must be a whole number, got 2.5"),
        ({"workers": "0"}, "plugin 'sample': setting 'workers' must be at least 1, got '0'"),
        ({"loud": "maybe"}, "plugin 'sample': setting 'loud' must be true or false, got 'maybe'"),
        ({"name": ["a"]}, "plugin 'sample': setting 'name' must be a string, got ['a']"),
        ({"kinds": [1, 2]}, "plugin 'sample': setting 'kinds' must be a list of names (or names separated by commas), got [1, 2]"),
        ({"loud": "1", "name": "quiet"}, "plugin 'sample': setting 'loud' cannot be true when name is 'quiet'"),
    ],
)
def test_one_error_format_naming_the_plugin_and_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_plugin_config("sample", values, Sample)
    assert str(raised.value) == message


def test_unknown_keys_are_reported_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.config"):
        assert load_plugin_config("sample", {"grase": "1"}, Sample) == Sample()
    assert "plugin 'sample': unknown setting(s) 'grase' ignored" in caplog.text


def test_a_schema_must_be_a_dataclass_of_supported_types() -> None:
    with pytest.raises(TypeError, match="is a dataclass"):
        load_plugin_config("sample", {}, dict)

    @dataclass(frozen=True)
    class Odd:
        when: complex = setting(1j)

    with pytest.raises(TypeError, match="str, int, float, bool or tuple"):
        load_plugin_config("odd", {}, Odd)


def test_environment_and_file_reach_the_loader_as_a_hub_merges_them(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[plugins.sample]\ngrace = 1.5\nkinds = ["from-file"]\nname = "file"\n')
    settings = load_settings(
        environ={"HUB_JWT_SECRET": "s" * 32, "HUB_PLUGIN_SAMPLE_WORKERS": "4", "HUB_PLUGIN_SAMPLE_NAME": "env"},
        config_file=str(config),
    )
    loaded = load_plugin_config("sample", settings.plugin_config("sample"), Sample)
    assert loaded == Sample(grace=1.5, workers=4, name="env", kinds=("from-file",))


# The built-in plugins on a real hub --------------------------------------------------


def test_a_bad_value_in_the_toml_file_stops_the_hub_naming_plugin_and_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[plugins.notifications]\npage_size = "lots"\n')
    with pytest.raises(RuntimeError) as failed:
        start_hub(tmp_path / "hub", env={"HUB_CONFIG": str(config)})
    assert "plugin 'notifications': setting 'page_size' must be a whole number, got 'lots'" in str(failed.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUB_PLUGIN_PRESENCE_MAX_IDS", "0", "plugin 'presence': setting 'max_ids' must be at least 1, got '0'"),
        ("HUB_PLUGIN_DOC_PROCESSING_KEEP_FILES", "perhaps",
         "plugin 'doc_processing': setting 'keep_files' must be true or false, got 'perhaps'"),
        ("HUB_PLUGIN_UPLOAD_PROGRESS_MAX_BYTES", "big",
         "plugin 'upload_progress': setting 'max_bytes' must be a whole number, got 'big'"),
    ],
)
def test_a_bad_environment_variable_stops_the_hub_in_the_same_format(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(RuntimeError) as failed:
        start_hub(tmp_path / "hub", env={variable: value})
    assert message in str(failed.value)


async def test_converted_values_reach_the_plugin(tmp_path: Path) -> None:
    # The string "2" becomes max_ids=2: a third id is refused by the presence route.
    hub = start_hub(tmp_path / "hub", env={"HUB_PLUGIN_PRESENCE_MAX_IDS": "2"})
    try:
        async with hub.http() as http:
            headers = {"authorization": f"Bearer {hub.token('alice')}"}
            assert (await http.get("/api/presence/users?ids=a,b", headers=headers)).status_code == 200
            assert (await http.get("/api/presence/users?ids=a,b,c", headers=headers)).status_code == 400
    finally:
        hub.stop()


def test_hub_config_lists_the_plugins_settings(tmp_path: Path) -> None:
    out = run_hub("config", cwd=tmp_path).stdout
    assert "[plugins.presence]" in out and "HUB_PLUGIN_PRESENCE_GRACE_SECONDS  [default: 5.0]" in out
    assert "HUB_PLUGIN_DOC_PROCESSING_EXTERNAL_PROCESSORS  [default: verification]" in out
    assert "HUB_PLUGIN_NOTIFICATIONS_MAX_USERS  [default: 10000]" in out
    assert not (tmp_path / "hub-data").exists()  # listing settings creates no development secret
