"""citebot's settings: one pydantic-settings class, defaults in ``defaults.toml``."""

from config.settings import MAX_TOP_K, Settings, SettingsError, load_settings, unknown_variables

__all__ = ["MAX_TOP_K", "Settings", "SettingsError", "load_settings", "unknown_variables"]
