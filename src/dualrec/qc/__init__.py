"""Quality inspection: reproducible sampling and automatic recording checks."""
