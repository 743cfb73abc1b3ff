"""Problem families, one file each. Importing this package registers them."""

from gainnet.scenarios import (
    contract,  # noqa: F401
    interference,  # noqa: F401
    power_allocation,  # noqa: F401
    stackelberg_split,  # noqa: F401
)
