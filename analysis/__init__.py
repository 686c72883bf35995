"""Analysis of saved runs: reads run folders only (config.json and the tables of protocols/runs.py)."""
