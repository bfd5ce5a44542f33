"""citebot's settings: one pydantic-settings class, defaults in ``defaults.toml``."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
