"""The shipped pipeline files load, and lite.toml is exactly the embedded default."""

from pathlib import Path

from agent.config import AgentConfig

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def test_lite_pipeline_equals_the_embedded_default():
    loaded = AgentConfig.load(PIPELINES / "lite.toml")
    assert loaded.model_dump(exclude={"description"}) == AgentConfig.lite_default().model_dump(exclude={"description"})


def test_every_pipeline_file_loads():
    files = sorted(PIPELINES.glob("*.toml"))
    assert len(files) >= 2
    for path in files:
        config = AgentConfig.load(path)
        assert config.name and config.tools.profile in ("core", "lite", "full")
