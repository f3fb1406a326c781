"""Per-layer parameter tables of the AI-model repository (CSV) and the script that writes them."""
