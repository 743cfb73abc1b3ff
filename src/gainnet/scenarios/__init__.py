"""Problem families, one file each. Importing this package registers them."""

from gainnet.scenarios import power_allocation  # noqa: F401
