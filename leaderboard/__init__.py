"""leaderboard: see README."""
