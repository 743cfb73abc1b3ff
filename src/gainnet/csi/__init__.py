"""CSI feedback: the user compresses its downlink channel into bits, the base station rebuilds it.

- :mod:`~gainnet.csi.preprocess`: CsiNet's truncated angular-delay domain;
- :mod:`~gainnet.csi.metrics`: NMSE (truncated domain and full band) and the cosine correlation;
- :mod:`~gainnet.csi.rate_distortion`: the Gaussian rate-distortion limit (reverse water-filling).
"""
