"""Every stream as a virtual OPeNDAP (DAP2) dataset: lazy variables, constraints, encoders."""
