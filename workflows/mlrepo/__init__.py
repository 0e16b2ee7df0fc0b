"""The ML repository a team pushes: its contract file, its hooks, its tests and its scaffold."""
