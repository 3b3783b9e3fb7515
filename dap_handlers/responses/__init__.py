"""DAP2 response encoders, one module per response kind."""
