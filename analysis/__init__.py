"""Analysis of saved runs: reads run folders only (config.json, metrics.csv), never a live network."""
