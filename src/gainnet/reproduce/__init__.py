"""Paper case studies, each reproduced by one command (``gainnet reproduce NAME``)."""
