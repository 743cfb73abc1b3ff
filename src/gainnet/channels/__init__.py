"""3GPP TR 38.901 channel datasets generated with Sionna (the ``channels`` extra).

- :class:`ChannelConfig`: the model (CDL-A..E, TDL-A..E, UMi / UMa / InH drops) and the radio
  (carrier, OFDM grid, antennas), validated;
- :func:`generate_dataset`: sharded, resumable, hashed generation (``gainnet channels generate``);
- :func:`load_dataset`: a checked :class:`ChannelDataset` (``H [n, ut, bs, subcarriers]``
  complex64 plus per-sample metadata).

Importing this package does not import Sionna; only generation does.
"""

from gainnet.channels.config import MODELS, ChannelConfig
from gainnet.channels.dataset import ChannelDataset, generate_dataset, load_dataset

__all__ = ["MODELS", "ChannelConfig", "ChannelDataset", "generate_dataset", "load_dataset"]
