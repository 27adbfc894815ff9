"""Error types of hrnet_mm."""


class ConfigError(ValueError, AssertionError):
    """An invalid argument or config value.

    Both a ``ValueError`` (what hrnet_mm documents) and an ``AssertionError`` (what the stock
    OpenMMLab HRNets raise for bad architectures), so code written against either keeps working.
    """
